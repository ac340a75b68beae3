"""Limiting NumPy's BLAS threads for the duration of a run.

The networks here multiply small matrices (a batch of 128 by 100 units), where BLAS threads save
little and, on a machine with few cores that other processes also use, cost a lot: a training
run was measured going from 0.6 s to 47 s when OpenBLAS threads fought busy cores. So a run uses
one BLAS thread by default.

The limit is set with ``threadpoolctl`` (installed with scikit-learn, which the digits data
needs anyway). Without it nothing is limited: the BLAS reads its thread count once, when NumPy
is loaded, so the only other way is setting e.g. ``OPENBLAS_NUM_THREADS=1`` before starting.
optkern's own kernels are not limited here: they decide per step how many threads pay off.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def limit_blas_threads(count: int) -> Iterator[str]:
    """Runs the block with at most ``count`` BLAS threads (0: leave them as they are).

    Yields a one-line description of what was done, for the results' config.
    """
    if count <= 0:
        yield "not limited (--blas-threads 0)"
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield "not limited (threadpoolctl is not installed; set OPENBLAS_NUM_THREADS instead)"
        return
    with threadpool_limits(limits=count, user_api="blas"):
        yield f"limited to {count} (threadpoolctl)"
