"""optkern.distributed over real MPI ranks: ``mpiexec -n K python -m mpi4py`` for K = 1..4.

All cases of one rank count run in one launch (tests/distributed/cases.py) so that the module
stays fast on a 2-core machine: each launch compares DataParallel and ZeroOptimizer with one
process stepping on the rank-order mean gradients, byte for byte, over every algorithm, float32,
float64 and the 16-bit dtypes, uneven and zero-size parameters, two param groups, the sharded
norm, GradScaler and a non-finite gradient on one rank, the fault cases and checkpoints resumed
at other rank counts. Skipped, with the reason, where mpi4py or mpiexec is missing (the ``mpi``
extra: ``pip install 'optkern[mpi]'``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent / "distributed"


def _mpiexec() -> str:
    pytest.importorskip("mpi4py", reason="the mpi extra (mpi4py, mpich) is not installed")
    found = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which(
        "mpiexec"
    )
    if found is None:
        pytest.skip("no mpiexec: install the mpi extra (pip install 'optkern[mpi]')")
    return found


def _launch(ranks: int, script: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    # One OpenMP thread per rank: the ranks already share the cores.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [_mpiexec(), "-n", str(ranks), sys.executable, "-m", "mpi4py", str(script)]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


@pytest.mark.parametrize("ranks", [1, 2, 3, 4])
def test_bit_identical_to_one_process(ranks: int) -> None:
    result = _launch(ranks, HERE / "cases.py", timeout=180)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    assert f"cases ok at {ranks} ranks" in result.stdout, result.stdout[-3000:]


def test_a_rank_that_raises_ends_the_job() -> None:
    # Without `-m mpi4py` rank 0 would wait in the barrier until the timeout.
    result = _launch(2, HERE / "raises.py", timeout=60)
    assert result.returncode != 0
    assert "rank 1 fails on purpose" in result.stderr
