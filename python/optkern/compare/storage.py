"""How a variant stores its parameters: their dtype (``--dtype``, or the variant's own) and the
16-bit options its optimizer gets (``master_weights``, ``rounding``; see ``optkern._storage``).

The 16-bit dtypes are storage only: the network keeps its ``params`` in float16 or bfloat16, the
optimizer updates those arrays in place, and the forward and backward passes (and the data) are
float32 (``optkern.nn.MultiLayerNet(param_dtype=...)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import _storage

#: The values of ``--dtype``.
DTYPES = ("float32", "float64", "float16", "bfloat16")
#: The dtypes stored in 16 bits and computed with in float32.
SIXTEEN_BIT = ("float16", "bfloat16")


def compute_dtype(dtype: str) -> str:
    """The dtype of the data, activations and gradients for parameters of ``dtype``."""
    return "float32" if dtype in SIXTEEN_BIT else dtype


def check_available(dtype: str) -> None:
    """ValueError with a one-line message if ``dtype`` is bfloat16 and ml_dtypes is missing."""
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; known: {', '.join(DTYPES)}")
    if dtype == "bfloat16":
        _storage.bfloat16()


@dataclass(frozen=True)
class Storage:
    """A variant's parameter storage. The defaults mean "as ``--dtype`` says, nearest rounding".

    ``stochastic`` asks for ``rounding="stochastic"`` with the fixed ``seed`` (fixed rather than
    ``--seed``, so that the experiments' other variants, which have no such stream, and this one
    differ only in the rounding). Both options are only meaningful with bfloat16 (master weights:
    any 16-bit) parameters; the optimizer rejects them otherwise.
    """

    dtype: str | None = None  # None: the run's --dtype
    master_weights: bool = False
    stochastic: bool = False
    seed: int = 0

    def param_dtype(self, run_dtype: str) -> str:
        return run_dtype if self.dtype is None else self.dtype

    def optimizer_options(self) -> dict[str, Any]:
        """The keyword arguments for the optimizer: only those that differ from the defaults,
        so that float32 and plain 16-bit variants build (and describe) the very same call."""
        options: dict[str, Any] = {}
        if self.master_weights:
            options["master_weights"] = True
        if self.stochastic:
            options["rounding"] = "stochastic"
            options["seed"] = self.seed
        return options
