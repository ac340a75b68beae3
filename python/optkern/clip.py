"""torch's gradient clipping functions on NumPy arrays, through optkern's gradient kernels
(cpp/grad_stats.cpp): ``get_total_norm``, ``clip_grad_norm_`` and ``clip_grad_value_``.

They take the gradients themselves (torch's take parameters and read their ``.grad``). The norm is
computed in float64 from the elements (16-bit ones exactly through float32), in a fixed order that
makes it the same bits for every thread count and ISA; ``optkern.reference.grad_norm`` is its
NumPy twin. A step can clip without writing the gradients at all: ``opt.step(grads,
max_grad_norm=c)`` folds the clip coefficient into the update.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

from numpy.typing import NDArray

from . import _core, _runtime
from ._validation import boolean

#: norm_type -> the kernels' NormKind (cpp/optkern/grad_call.h).
_NORM_KINDS = {2.0: 0, 1.0: 1, math.inf: 2}

Grads = NDArray[Any] | Sequence[NDArray[Any]]


def _as_list(grads: Any) -> list[Any] | tuple[Any, ...]:
    # A single array, as torch accepts a single tensor.
    if isinstance(grads, (list, tuple)):
        return grads
    if hasattr(grads, "__array__") and not isinstance(grads, (str, bytes)):
        return [grads]
    try:
        return list(grads)
    except TypeError:
        raise TypeError(
            f"grads must be a numpy array or a list of them, got {type(grads).__name__}"
        ) from None


def _norm_kind(norm_type: Any, where: str) -> int:
    if isinstance(norm_type, str) and norm_type == "inf":
        return _NORM_KINDS[math.inf]
    if isinstance(norm_type, bool) or not isinstance(norm_type, numbers.Real):
        raise TypeError(f"{where}: norm_type must be 1, 2 or inf, got {norm_type!r}")
    kind = _NORM_KINDS.get(float(norm_type))
    if kind is None:
        raise ValueError(
            f"{where}: norm_type={norm_type!r} is not supported: 1, 2 or inf (other orders need "
            "a power per element, which no ISA computes exactly alike)"
        )
    return kind


def _non_negative(name: str, value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: {name} must be a real number, got {type(value).__name__}")
    number = float(value)
    if not number >= 0:  # NaN too
        raise ValueError(f"{where}: invalid {name}={value!r}: must be >= 0")
    return number


def _nonfinite_error(where: str, norm_type: Any, norm: float) -> ValueError:
    return ValueError(
        f"{where}: the total norm of order {norm_type} of the gradients is non-finite ({norm}): "
        "a gradient has an inf or NaN element, or their squares overflow float64 "
        "(error_if_nonfinite=True; torch raises RuntimeError here)"
    )


def get_total_norm(
    tensors: Grads, norm_type: float | str = 2.0, error_if_nonfinite: bool = False
) -> float:
    """The norm of all ``tensors`` together, as if concatenated (torch's
    ``nn.utils.get_total_norm``), as a Python float: ``norm_type`` 2, 1 or inf. Reads the arrays
    only. With ``error_if_nonfinite``, a non-finite norm (an inf or NaN element, or an overflow)
    is a ValueError."""
    where = "get_total_norm"
    kind = _norm_kind(norm_type, where)
    boolean("error_if_nonfinite", error_if_nonfinite, where)
    norm, _ = _core.grad_norm(_as_list(tensors), kind, _runtime.get_num_threads())
    if error_if_nonfinite and not math.isfinite(norm):
        raise _nonfinite_error(where, norm_type, norm)
    return float(norm)


def clip_grad_norm_(
    grads: Grads,
    max_norm: float,
    norm_type: float | str = 2.0,
    error_if_nonfinite: bool = False,
) -> float:
    """torch's ``clip_grad_norm_`` on the gradient arrays: multiplies every element in place by
    ``min(1, max_norm / (total_norm + 1e-6))`` (in float32 for float32 and 16-bit arrays, which
    are stored back rounded to nearest even; in float64 for float64) and returns the total norm
    before clipping. Gradients whose coefficient is 1 are not written. Everything is checked
    before anything is written (two arrays sharing memory are refused); with
    ``error_if_nonfinite``, a non-finite norm (as torch's) is a ValueError and nothing is
    written."""
    where = "clip_grad_norm_"
    max_value = _non_negative("max_norm", max_norm, where)
    kind = _norm_kind(norm_type, where)
    boolean("error_if_nonfinite", error_if_nonfinite, where)
    norm, _ = _core.clip_grad_norm(
        _as_list(grads), max_value, kind, error_if_nonfinite, _runtime.get_num_threads()
    )
    if error_if_nonfinite and not math.isfinite(norm):
        raise _nonfinite_error(where, norm_type, norm)
    return float(norm)


def clip_grad_value_(grads: Grads, clip_value: float) -> None:
    """torch's ``clip_grad_value_``: clamps every element in place to ``[-clip_value,
    clip_value]`` (the bound rounded to the arithmetic type: float32 for float32 and 16-bit
    arrays); NaN stays NaN."""
    where = "clip_grad_value_"
    bound = _non_negative("clip_value", clip_value, where)
    _core.clamp_grads(_as_list(grads), bound, _runtime.get_num_threads())
