"""Storage types: the dtypes parameters, gradients and states may have, and what a param group's
``state_dtype`` and ``master_weights`` options make of them. Written once, here; the kernels
(``cpp/optkern/loop.h``, the Converted signature) and the reference (``reference.stored_step``)
follow it.

- Parameters are float32, float64, float16 or bfloat16 (``ml_dtypes.bfloat16``, an optional
  dependency: ``pip install optkern[bf16]``; nothing imports it unless such an array or option
  appears). A gradient has its parameter's dtype, or float32 for a 16-bit parameter.
- Arithmetic runs in float64 for float64 parameters and in float32 for all others.
- ``state_dtype`` (None, "float32" or "bfloat16"): the dtype of the state arrays (moments,
  accumulators). None means the parameter's dtype, float32 for a 16-bit parameter. bfloat16 state
  halves its memory; float64 parameters keep float64 state.
- ``master_weights=True`` (16-bit parameters only) keeps a float32 copy of each parameter as its
  state ``"master_weight"``: the step updates the copy and writes it, rounded to nearest even, to
  the parameter, so updates smaller than half a 16-bit ulp are not lost.

- ``rounding`` ("nearest" or "stochastic") and ``seed`` (an int in [0, 2**64)): with
  "stochastic", every store into a 16-bit array (a float16 or bfloat16 parameter without master
  weights, and bfloat16 states) rounds stochastically, unbiased, with random bits that are a hash
  of (seed, step, tensor, role, element) (``cpp/optkern/rounding_hash.h``), so the same on every
  thread count and ISA. float32 master copies and the master-to-parameter store are not affected
  (that store rounds to nearest); a group that stores no 16-bit array (float32 parameters with
  float32 state, or 16-bit ones with master weights and float32 state) is an error.

Every other store into a 16-bit array rounds to nearest even, bit for bit as NumPy's
``astype(np.float16)`` and ml_dtypes' ``astype(bfloat16)``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

#: The options every algorithm takes, with their defaults: group keys like its hyperparameters.
OPTIONS: Mapping[str, Any] = {
    "state_dtype": None,
    "master_weights": False,
    "rounding": "nearest",
    "seed": 0,
}
#: The state array of a parameter's float32 master copy.
MASTER = "master_weight"

_STATE_DTYPES = ("float32", "bfloat16")
_ROUNDINGS = ("nearest", "stochastic")
#: Seeds are 64-bit: the rounding hash takes them as two 32-bit words.
SEED_LIMIT = 2**64


def bfloat16() -> np.dtype[Any]:
    """``ml_dtypes.bfloat16``, imported on first use."""
    try:
        import ml_dtypes
    except ImportError as error:
        raise ValueError(
            "bfloat16 needs the ml_dtypes package, which is not installed: "
            "pip install 'optkern[bf16]' (or ml_dtypes)"
        ) from error
    dtype: np.dtype[Any] = np.dtype(ml_dtypes.bfloat16)
    return dtype


def is_bfloat16(dtype: np.dtype[Any]) -> bool:
    """Without importing ml_dtypes: an array of its bfloat16 exists only once it is imported."""
    module = sys.modules.get("ml_dtypes")
    return module is not None and dtype == np.dtype(module.bfloat16)


def is_16_bit(dtype: np.dtype[Any]) -> bool:
    return dtype == np.float16 or is_bfloat16(dtype)


def check_state_dtype(name: str, value: Any, where: str) -> None:
    """The rule of the ``state_dtype`` option: None, "float32" or "bfloat16" (or those dtypes)."""
    if value is None:
        return
    if isinstance(value, str):
        if value not in _STATE_DTYPES:
            raise ValueError(
                f"{where}: invalid {name}={value!r}: expected None (the parameter's dtype, "
                f"float32 for 16-bit parameters), {' or '.join(map(repr, _STATE_DTYPES))}"
            )
        if value == "bfloat16":
            bfloat16()  # a clear error now if ml_dtypes is missing
        return
    try:
        dtype = np.dtype(value)
    except TypeError:
        dtype = None
    if dtype is None or not (dtype == np.float32 or is_bfloat16(dtype)):
        raise TypeError(f"{where}: {name} must be None, 'float32' or 'bfloat16', got {value!r}")


def state_dtype(param_dtype: np.dtype[Any], option: Any, label: str) -> np.dtype[Any] | None:
    """The dtype of the state arrays of a parameter of ``param_dtype`` under ``option`` (checked
    by ``check_state_dtype``); ValueError naming ``label`` if the two do not go together. None for
    a parameter dtype no kernel takes (the TensorGroup then names the parameter)."""
    if not (param_dtype in (np.float32, np.float64) or is_16_bit(param_dtype)):
        return None
    if param_dtype.byteorder not in ("=", "|"):
        return None
    if option is None:
        return np.dtype(np.float32) if is_16_bit(param_dtype) else param_dtype
    wanted = bfloat16() if isinstance(option, str) and option == "bfloat16" else np.dtype(option)
    if param_dtype == np.float64:
        raise ValueError(
            f"{label}: state_dtype={dtype_name(wanted)!r} does not go with a float64 parameter, "
            "whose state is float64 (leave state_dtype=None)"
        )
    return wanted


def check_rounding(name: str, value: Any, where: str) -> None:
    """The rule of the ``rounding`` option: "nearest" or "stochastic"."""
    if not isinstance(value, str):
        raise TypeError(f"{where}: {name} must be 'nearest' or 'stochastic', got {value!r}")
    if value not in _ROUNDINGS:
        raise ValueError(
            f"{where}: invalid {name}={value!r}: expected 'nearest' or 'stochastic' "
            "(stochastic rounding of float16 and bfloat16 stores)"
        )


def check_seed(name: str, value: Any, where: str) -> None:
    """The rule of the ``seed`` option: an int (a NumPy integer too, not a bool) in [0, 2**64)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{where}: {name} must be an int in [0, 2**64), got {value!r}")
    if not 0 <= int(value) < SEED_LIMIT:
        raise ValueError(f"{where}: invalid {name}={value!r}: must be in [0, 2**64)")


def stochastic(group: Mapping[str, Any]) -> tuple[bool, int]:
    """Whether the group rounds stochastically, and its seed (checked already)."""
    return group.get("rounding", "nearest") == "stochastic", int(group.get("seed", 0))


def check_stochastic_group(group: Mapping[str, Any], where: str) -> None:
    """Stochastic rounding applies to the stores into 16-bit arrays: a group asking for it must
    store one (a 16-bit parameter without master weights, or bfloat16 state), else the option
    would be accepted and do nothing. A group without its arrays yet (a checkpoint's, checked
    before loading) is not judged; non-arrays are named by the TensorGroup."""
    if group.get("rounding") != "stochastic":
        return
    dtypes = [p.dtype for p in group.get("params", ()) if isinstance(p, np.ndarray)]
    if not dtypes:
        return
    state = group.get("state_dtype")
    bfloat16_state = (isinstance(state, str) and state == "bfloat16") or (
        state is not None and not isinstance(state, str) and is_bfloat16(np.dtype(state))
    )
    stored_parameter = not group.get("master_weights", False) and any(map(is_16_bit, dtypes))
    if bfloat16_state or stored_parameter:
        return
    hint = (
        "with master_weights=True the parameter receives the master copy rounded to nearest; "
        "use state_dtype='bfloat16' or master_weights=False"
        if any(map(is_16_bit, dtypes))
        else "it applies to float16 and bfloat16 parameters without master weights and to "
        "state_dtype='bfloat16'"
    )
    raise ValueError(
        f"{where}: rounding='stochastic' rounds stores into 16-bit arrays, and this group stores "
        f"none ({hint})"
    )


def check_master_weights(param_dtype: np.dtype[Any], master_weights: bool, label: str) -> None:
    if master_weights and not is_16_bit(param_dtype):
        raise ValueError(
            f"{label}: master_weights=True needs a 16-bit (float16 or bfloat16) parameter, got "
            f"{dtype_name(param_dtype)}: a float32 copy of it would change nothing"
        )


def dtype_name(dtype: np.dtype[Any]) -> str:
    return "bfloat16" if is_bfloat16(dtype) else str(dtype)


class Combination(NamedTuple):
    """One way to store a step's arrays, for the self-check and the tests: the parameter's and
    the gradient's dtype (names; "bfloat16" is ml_dtypes') and the storage options."""

    name: str
    param: str
    grad: str
    state_dtype: str | None = None
    master_weights: bool = False
    rounding: str = "nearest"
    seed: int = 0

    def dtype(self, which: str) -> np.dtype[Any]:
        return bfloat16() if which == "bfloat16" else np.dtype(which)

    @property
    def options(self) -> dict[str, Any]:
        return {
            "state_dtype": self.state_dtype,
            "master_weights": self.master_weights,
            "rounding": self.rounding,
            "seed": self.seed,
        }


#: Every combination the kernels take: each parameter dtype with its own gradients, a 16-bit
#: parameter with float32 gradients, bfloat16 state, and master weights.
COMBINATIONS = (
    Combination("float32", "float32", "float32"),
    Combination("float64", "float64", "float64"),
    Combination("float16", "float16", "float16"),
    Combination("bfloat16", "bfloat16", "bfloat16"),
    Combination("float16-grad32", "float16", "float32"),
    Combination("bfloat16-grad32", "bfloat16", "float32"),
    Combination("bfloat16-state16", "bfloat16", "bfloat16", state_dtype="bfloat16"),
    Combination("float16-state16", "float16", "float16", state_dtype="bfloat16"),
    Combination("float32-state16", "float32", "float32", state_dtype="bfloat16"),
    Combination("float16-master", "float16", "float16", master_weights=True),
    Combination("bfloat16-master", "bfloat16", "bfloat16", master_weights=True),
    Combination(
        "bfloat16-master-grad32-state16",
        "bfloat16",
        "float32",
        state_dtype="bfloat16",
        master_weights=True,
    ),
    # Stochastic rounding, most the twin of a combination above (bench/storage_step.py compares
    # the two): the bfloat16 parameter, bfloat16 state beside it or beside float32 parameters,
    # and with master weights (only the state rounds stochastically). Seeds past 2**32 and 2**63,
    # so both halves of the seed reach the hash.
    Combination("bfloat16-stochastic", "bfloat16", "bfloat16", rounding="stochastic", seed=7),
    Combination(
        "bfloat16-state16-stochastic",
        "bfloat16",
        "bfloat16",
        state_dtype="bfloat16",
        rounding="stochastic",
        seed=2**40 + 3,
    ),
    Combination(
        "float32-state16-stochastic",
        "float32",
        "float32",
        state_dtype="bfloat16",
        rounding="stochastic",
        seed=2**64 - 1,
    ),
    # float16 parameters round stochastically too: alone, and beside bfloat16 state (two formats
    # rounding stochastically in one step).
    Combination("float16-stochastic", "float16", "float16", rounding="stochastic", seed=2**33 + 5),
    Combination(
        "float16-grad32-state16-stochastic",
        "float16",
        "float32",
        state_dtype="bfloat16",
        rounding="stochastic",
        seed=99,
    ),
    Combination(
        "bfloat16-master-grad32-state16-stochastic",
        "bfloat16",
        "float32",
        state_dtype="bfloat16",
        master_weights=True,
        rounding="stochastic",
        seed=12345,
    ),
)


def available_combinations() -> tuple[Combination, ...]:
    """COMBINATIONS, less those needing bfloat16 when ml_dtypes is not installed."""
    try:
        bfloat16()
    except ValueError:
        return tuple(c for c in COMBINATIONS if "bfloat16" not in (c.param, c.grad, c.state_dtype))
    return COMBINATIONS
