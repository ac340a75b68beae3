"""Weight initialisation: random normal matrices with a standard deviation chosen per layer.

All three schemes draw W ~ N(0, std²) element-wise; they differ only in ``std``, where ``n_in``
is the fan-in (the number of inputs of the layer, ``shape[0]`` of an ``(n_in, n_out)`` matrix)::

    normal(std):  std as given
    xavier:       std = √(1 / n_in)     (keeps the variance of sigmoid/tanh pre-activations ≈ 1)
    he:           std = √(2 / n_in)     (ReLU zeroes half its inputs, so the variance is doubled)

Samples are always drawn in float64 and then cast to the requested dtype, so a float32 and a
float64 network built from the same seed start from the same weights up to rounding.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

#: Names accepted by :func:`resolve_std`, mapped to the scheme they select.
INIT_NAMES: dict[str, str] = {
    "he": "he",
    "relu": "he",
    "xavier": "xavier",
    "sigmoid": "xavier",
    "tanh": "xavier",
}

Shape = int | Sequence[int]
InitSpec = str | float


def _fan_in(shape: Shape) -> int:
    """The fan-in of a weight of this shape: its first dimension (1 for a 0-d shape)."""
    # int and float are numbers.Integral and numbers.Real at run time; naming them too (here and
    # below) keeps the checked types int and float, as mypy does not know those registrations.
    dims = (shape,) if isinstance(shape, (int, numbers.Integral)) else tuple(shape)
    if not dims:
        return 1
    n_in = int(dims[0])
    if n_in <= 0:
        raise ValueError(f"fan-in must be positive, got shape {dims}")
    return n_in


def normal(
    shape: Shape,
    std: float,
    rng: np.random.Generator | int | None = None,
    dtype: DTypeLike = np.float32,
) -> NDArray[np.floating[Any]]:
    """W ~ N(0, std²), a C-contiguous array of ``shape`` in ``dtype``.

    ``rng`` is a ``np.random.Generator`` or a seed for ``np.random.default_rng``.
    """
    if isinstance(std, bool) or not isinstance(std, (int, float, numbers.Real)):
        raise TypeError(f"std must be a real number, got {type(std).__name__}")
    if not (math.isfinite(std) and std >= 0):
        raise ValueError(f"std must be finite and >= 0, got {std!r}")
    gen = np.random.default_rng(rng)
    # Draw in float64, scale, *then* cast: the product of a float64 sample and a Python float is
    # float64, and casting once at the end is both explicit and dtype-independent.
    sample = gen.standard_normal(shape) * float(std)
    return np.ascontiguousarray(sample, dtype=dtype)


def xavier(
    shape: Shape,
    rng: np.random.Generator | int | None = None,
    dtype: DTypeLike = np.float32,
) -> NDArray[np.floating[Any]]:
    """Xavier (Glorot) normal init as in the textbook: std = √(1 / n_in), n_in = ``shape[0]``."""
    return normal(shape, math.sqrt(1.0 / _fan_in(shape)), rng, dtype)


def he(
    shape: Shape,
    rng: np.random.Generator | int | None = None,
    dtype: DTypeLike = np.float32,
) -> NDArray[np.floating[Any]]:
    """He (Kaiming) normal init: std = √(2 / n_in), n_in = ``shape[0]``."""
    return normal(shape, math.sqrt(2.0 / _fan_in(shape)), rng, dtype)


def resolve_std(spec: InitSpec, n_in: int) -> float:
    """The standard deviation that ``spec`` selects for a layer with ``n_in`` inputs.

    ``spec`` is exactly one of:

    * ``"he"`` or ``"relu"`` (any case): √(2 / n_in);
    * ``"xavier"``, ``"sigmoid"`` or ``"tanh"`` (any case): √(1 / n_in);
    * a real number (not a bool) that is finite and > 0: that number itself, used as the std
      for every layer (e.g. the textbook's ``0.01``).

    Anything else raises ``ValueError`` (unknown name, non-positive number) or ``TypeError``.
    """
    if n_in <= 0:
        raise ValueError(f"n_in must be positive, got {n_in}")
    if isinstance(spec, str):
        scheme = INIT_NAMES.get(spec.lower())
        if scheme is None:
            raise ValueError(
                f"unknown weight init {spec!r}: expected one of {sorted(INIT_NAMES)} or a std > 0"
            )
        return math.sqrt((2.0 if scheme == "he" else 1.0) / n_in)
    if isinstance(spec, bool) or not isinstance(spec, (int, float, numbers.Real)):
        raise TypeError(f"weight init must be a name or a number, got {type(spec).__name__}")
    std = float(spec)
    if not (math.isfinite(std) and std > 0):
        raise ValueError(f"a numeric weight init is the std and must be finite and > 0, got {spec}")
    return std


def initialize(
    shape: Shape,
    spec: InitSpec,
    rng: np.random.Generator | int | None = None,
    dtype: DTypeLike = np.float32,
) -> NDArray[np.floating[Any]]:
    """W ~ N(0, resolve_std(spec, shape[0])²) in ``dtype``: one call for a name or a float."""
    return normal(shape, resolve_std(spec, _fan_in(shape)), rng, dtype)
