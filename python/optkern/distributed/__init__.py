"""optkern.distributed: data-parallel steps and ZeRO-1 sharded optimizer state over MPI.

Bit-identical to one process: by default every sum over ranks is taken in fixed rank order
(``reduction``), so ``DataParallel`` and ``ZeroOptimizer`` give exactly the parameters and state
that one process gets by stepping on ``(g_0 + g_1 + ... + g_{N-1}) / N`` (summed left to right),
for any number of ranks. Needs ``mpi4py`` (``pip install 'optkern[mpi]'``), imported when the
first distributed object is made, not when this package is. Launch with
``mpiexec -n N python -m mpi4py script.py``: then a rank that raises aborts the whole job at
once instead of leaving the others waiting in a collective.
"""

from __future__ import annotations

from .broadcast import broadcast_optimizer_state, broadcast_parameters
from .data_parallel import DataParallel
from .zero import ZeroOptimizer

__all__ = ["DataParallel", "ZeroOptimizer", "broadcast_optimizer_state", "broadcast_parameters"]
