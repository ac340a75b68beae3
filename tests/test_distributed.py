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

import json
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


def _launch(
    ranks: int, script: Path | None, timeout: float, *arguments: str
) -> subprocess.CompletedProcess[str]:
    """``mpiexec -n ranks python -m mpi4py`` ``script`` (None: ``-m``, for ``-m optkern``)."""
    # One OpenMP thread per rank: the ranks already share the cores.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    target = [] if script is None else [str(script)]
    command = [_mpiexec(), "-n", str(ranks), sys.executable, "-m", "mpi4py", *target, *arguments]
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


# ---------------------------------------------------------- optkern compare --distributed

COMPARE_RUNS = [
    # ZeroOptimizer with a schedule, clipping (the sharded norm) and an EMA, textbook and
    # torch-style classes; DataParallel on 3 ranks with batch norm (each rank's own running
    # statistics) and an uneven parameter partition.
    (
        "zero",
        2,
        [
            *("--optimizers", "adam,momentum,adamw", "--clip", "1", "--ema", "0.9"),
            *("--schedule", "cosine", "--iters", "30"),
        ],
    ),
    ("dp", 3, ["--experiment", "batchnorm", "--batch-size", "96", "--iters", "12"]),
]


@pytest.mark.parametrize(("mode", "ranks", "options"), COMPARE_RUNS)
def test_compare_distributed_is_bit_identical_to_one_process(
    mode: str, ranks: int, options: list[str], tmp_path: Path
) -> None:
    pytest.importorskip("sklearn", reason="the digits data set needs scikit-learn")
    arguments = ["-m", "optkern", "compare", "--distributed", mode, "--no-plots", "--quiet"]
    result = _launch(ranks, None, 120, *arguments, "--out", str(tmp_path), *options)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    document = json.loads((tmp_path / "results.json").read_text())
    count = len(document["results"])
    assert count >= 2
    assert (
        f"--distributed {mode} over {ranks} ranks: the curves of {count} of {count} variants are "
        "bit-identical to one process" in result.stdout
    )
    config = document["config"]["distributed"]
    assert (config["mode"], config["ranks"], config["deterministic"]) == (mode, ranks, True)
    for entry in document["results"]:
        assert entry["identical"] is True
        assert sorted(entry["runs"]) == ["one process", "optkern"]
        assert entry["optimizer_steps"] == int(options[options.index("--iters") + 1])
    assert result.stdout.count("wrote results.csv") == 1  # rank 0 alone reports


def test_compare_distributed_refuses_an_uneven_share(tmp_path: Path) -> None:
    pytest.importorskip("sklearn", reason="the digits data set needs scikit-learn")
    arguments = ["-m", "optkern", "compare", "--distributed", "zero", "--iters", "5"]
    result = _launch(3, None, 60, *arguments, "--out", str(tmp_path), "--no-plots")
    assert result.returncode == 2
    assert "--batch-size 128 is not a multiple of the 3 ranks" in result.stderr
    assert not (tmp_path / "results.json").exists()
