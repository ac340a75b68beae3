"""Rank 1 raises while rank 0 waits in a collective: under ``python -m mpi4py`` the uncaught
exception calls MPI_Abort, which ends every rank (tests/test_distributed.py times it out)."""

from mpi4py import MPI

if MPI.COMM_WORLD.Get_rank() == 1:
    raise RuntimeError("rank 1 fails on purpose")
MPI.COMM_WORLD.barrier()  # never completed: rank 1 is gone
