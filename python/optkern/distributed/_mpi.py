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

#: The most elements one flat buffer (one dtype's parameters) or one broadcast array may have:
#: MPI's counts and displacements are C ints (Alltoallv's and Allgatherv's displacements address
#: the whole buffer, Bcast sends a whole array), so 2**31 - 1. A module attribute so that the
#: tests can lower it.
MAX_ELEMENTS = 2**31 - 1


def check_elements(count: int, what: str, where: str) -> None:
    """ValueError where ``count`` elements are more than one MPI message can address. Called
    after the ranks agreed on the shapes, so every rank raises it alike."""
    if count > MAX_ELEMENTS:
        raise ValueError(
            f"{where}: {what} has {count:,} elements, more than the {MAX_ELEMENTS:,} that MPI's "
            "32-bit counts and displacements address (optkern.distributed does not split a "
            "buffer into several); keep each parameter dtype under that, e.g. part of the "
            "model in another dtype or a second optimizer over the rest"
        )


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
