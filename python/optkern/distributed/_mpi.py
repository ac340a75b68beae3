"""mpi4py, imported only when a distributed object is made (the core needs only NumPy).

Also the MPI datatypes this package moves data with: a parameter or gradient buffer travels as
unsigned integers of its element size (MPI never looks at the bits), so float16 and bfloat16,
which MPI has no type for, move like any other dtype. Only the library's own reductions
(``deterministic=False``) need real floating-point types.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray


def mpi() -> Any:
    """The ``mpi4py.MPI`` module, or an ImportError that says how to get it."""
    try:
        from mpi4py import MPI
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "optkern.distributed needs mpi4py and an MPI library: pip install 'optkern[mpi]' "
            "(mpi4py and MPICH from PyPI), or mpi4py built against your cluster's MPI"
        ) from error
    return MPI


def world_or(comm: Any) -> Any:
    """``comm``, or ``MPI.COMM_WORLD`` when it is None."""
    return mpi().COMM_WORLD if comm is None else comm


def raw(array: NDArray[Any]) -> tuple[NDArray[Any], Any]:
    """A view of ``array``'s bytes as unsigned integers of its element size, and their MPI type:
    for moving elements without arithmetic."""
    MPI = mpi()
    kinds = {
        2: (np.uint16, MPI.UINT16_T),
        4: (np.uint32, MPI.UINT32_T),
        8: (np.uint64, MPI.UINT64_T),
    }
    view_dtype, mpi_type = kinds[array.dtype.itemsize]
    return array.view(view_dtype), mpi_type


def float_type(dtype: np.dtype[Any]) -> Any:
    """The MPI type that sums ``dtype`` (float32 or float64) in the library's reductions."""
    MPI = mpi()
    return MPI.DOUBLE if dtype == np.float64 else MPI.FLOAT
