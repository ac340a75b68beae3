"""Issue 17's targets: the step time of DataParallel, ZeroOptimizer and one process, Adam float32.

    .venv/bin/python bench/distributed_step.py --sizes 1e6,1e7 --ranks 2,4 --rounds 7

The driver (this script without ``--worker``) times one process (a plain ``optkern.Adam`` step
on one OpenMP thread, as each rank has) and launches ``mpiexec -n K python -m mpi4py`` this
script ``--worker`` for each rank count K; rank 0 of each launch prints one JSON line, and the
driver prints the table and the targets. Per size and rank count, contenders:

- ``dp det`` / ``dp native``: ``DataParallel(Adam).step(grads)``, deterministic (fixed rank order:
  Alltoallv + sums in rank order + Allgatherv) or MPI's own Allreduce.
- ``zero det`` / ``zero native``: ``ZeroOptimizer(Adam).step(grads)``: reduce-scatter (ordered,
  or MPI's Reduce_scatter), the shard update, the in-place Allgatherv.
- ``reduce det`` / ``Reduce_scatter_block``: the raw reduction alone, side by side: optkern's
  fixed-order reduce-scatter (``Reducer.reduce_scatter``, no division) of the gradient buffer
  into equal blocks, and ``comm.Reduce_scatter_block`` of the same buffer.

Each round runs every contender once, in an order rotated by one per round; every call starts
after a barrier, and its time is the slowest rank's (a step is as slow as its slowest rank).
Medians, min and max over the rounds, after one warm-up round. Optimizer-state bytes: what each
rank's optimizer holds (``state_bytes()``; the largest over ranks).

Targets (issue 17): ZeroOptimizer's state per rank <= single-process state / N + 1 %; the
deterministic reduction <= 1.1x Reduce_scatter_block; ZeroOptimizer's step (deterministic)
within 1.2x of DataParallel's (deterministic) at 1e7 on 2 ranks.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import optkern

LR = 1e-3
RESULT = "RESULT "


def _sizes(text: str) -> list[int]:
    return [int(float(item)) for item in text.split(",") if item]


def _ints(text: str) -> list[int]:
    return [int(item) for item in text.split(",") if item]


def _state_bytes(opt: optkern.Optimizer) -> int:
    return sum(a.nbytes for s in opt.state.values() for a in s.values())


def _summary(times: list[float]) -> dict[str, float]:
    return {"median": statistics.median(times), "min": min(times), "max": max(times)}


# ------------------------------------------------------------------------------ one process


def single_process(size: int, rounds: int) -> dict[str, Any]:
    """A plain Adam step on one thread (each rank runs on one), median over rounds."""
    rng = np.random.default_rng(0)
    param = rng.standard_normal(size).astype(np.float32)
    grad = rng.standard_normal(size).astype(np.float32)
    opt = optkern.Adam(params=[param], lr=LR, num_threads=1)
    opt.step([grad])  # the state exists from here on
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        opt.step([grad])
        times.append(time.perf_counter() - started)
    return {"step": _summary(times), "state_bytes": _state_bytes(opt)}


# ---------------------------------------------------------------------------------- worker


def _contenders(comm: Any, size: int) -> tuple[dict[str, Callable[[], object]], dict[str, int]]:
    """The contenders at ``size`` (each over buffers of its own, stepped once so that the state
    and the staging buffers exist), and each one's optimizer-state bytes on this rank."""
    from mpi4py import MPI
    from optkern.distributed import DataParallel, ZeroOptimizer
    from optkern.distributed.reduction import Reducer

    rank, ranks = comm.Get_rank(), comm.Get_size()
    rng = np.random.default_rng(rank)
    grads = [rng.standard_normal(size).astype(np.float32)]
    contenders: dict[str, Callable[[], object]] = {}
    state: dict[str, int] = {}
    for name, deterministic in (("det", True), ("native", False)):
        local = optkern.Adam(params=[np.zeros(size, np.float32)], lr=LR, num_threads=1)
        dp = DataParallel(local, comm, deterministic=deterministic)
        zero = ZeroOptimizer(
            optkern.Adam,
            [np.zeros(size, np.float32)],
            comm,
            deterministic=deterministic,
            lr=LR,
            num_threads=1,
        )
        dp.step(grads)
        zero.step(grads)
        contenders[f"dp {name}"] = functools.partial(dp.step, grads)
        contenders[f"zero {name}"] = functools.partial(zero.step, grads)
        state[f"dp {name}"] = _state_bytes(local)
        state[f"zero {name}"] = zero.state_bytes()
    # The raw reductions: the same buffer into N equal blocks (Reduce_scatter_block's form).
    block = size // ranks
    buffer = rng.standard_normal(block * ranks).astype(np.float32)
    ranges = [(r * block, (r + 1) * block) for r in range(ranks)]
    reducer = Reducer(comm, deterministic=True, bucket_bytes=32 * 1024 * 1024)
    contenders["reduce det"] = functools.partial(
        reducer.reduce_scatter, buffer, ranges, np.empty(block, np.float32), mean=False
    )
    contenders["Reduce_scatter_block"] = functools.partial(
        comm.Reduce_scatter_block,
        [buffer, MPI.FLOAT],
        [np.empty(block, np.float32), MPI.FLOAT],
        op=MPI.SUM,
    )
    return contenders, state


def worker(sizes: list[int], rounds: int) -> None:
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    for size in sizes:
        contenders, state = _contenders(comm, size)
        times: dict[str, list[float]] = {name: [] for name in contenders}
        names = list(contenders)
        for r in range(rounds + 1):  # round 0 warms up
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in order:
                comm.Barrier()
                started = time.perf_counter()
                contenders[name]()
                elapsed = comm.allreduce(time.perf_counter() - started, op=MPI.MAX)
                if r:
                    times[name].append(elapsed)
        largest = {name: comm.allreduce(value, op=MPI.MAX) for name, value in state.items()}
        if comm.Get_rank() == 0:
            record = {
                "size": size,
                "ranks": comm.Get_size(),
                "times": {name: _summary(t) for name, t in times.items()},
                "state_bytes": largest,
            }
            print(RESULT + json.dumps(record), flush=True)
        del contenders  # free this size's buffers before the next size's


# ---------------------------------------------------------------------------------- driver


def _mpiexec() -> str:
    found = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which(
        "mpiexec"
    )
    if found is None:
        sys.exit("no mpiexec: pip install 'optkern[mpi]'")
    return found


def launch(ranks: int, sizes: list[int], rounds: int) -> list[dict[str, Any]]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [
        _mpiexec(),
        "-n",
        str(ranks),
        sys.executable,
        "-m",
        "mpi4py",
        __file__,
        "--worker",
        "--sizes",
        ",".join(map(str, sizes)),
        "--rounds",
        str(rounds),
    ]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    lines = [line[len(RESULT) :] for line in done.stdout.splitlines() if line.startswith(RESULT)]
    return [json.loads(line) for line in lines]


def _ms(summary: dict[str, float]) -> str:
    return f"{summary['median'] * 1e3:.1f} ({summary['min'] * 1e3:.1f}-{summary['max'] * 1e3:.1f})"


def _mb(count: float) -> str:
    return f"{count / 1e6:.1f}"


def report(single: dict[int, dict[str, Any]], records: list[dict[str, Any]]) -> str:
    columns = [
        "dp det",
        "dp native",
        "zero det",
        "zero native",
        "reduce det",
        "Reduce_scatter_block",
    ]
    head = ["size", "ranks", "1 process", *columns, "state MB/rank: 1 process / dp / zero"]
    lines = [
        "step ms, median (min-max) over the rounds; the slowest rank's time of each call",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for record in records:
        size, ranks = record["size"], record["ranks"]
        times = record["times"]
        one = single[size]
        state = record["state_bytes"]
        cells = [
            f"{size:.0e}",
            str(ranks),
            _ms(one["step"]),
            *(_ms(times[c]) for c in columns),
            f"{_mb(one['state_bytes'])} / {_mb(state['dp det'])} / {_mb(state['zero det'])}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("targets:")
    for record in records:
        size, ranks = record["size"], record["ranks"]
        times, state = record["times"], record["state_bytes"]
        bound = single[size]["state_bytes"] / ranks * 1.01
        zero_state = max(state["zero det"], state["zero native"])
        lines.append(
            f"  {size:.0e} x {ranks}: zero state/rank {_mb(zero_state)} MB <= 1/N + 1 % = "
            f"{_mb(bound)} MB: {'met' if zero_state <= bound else 'NOT met'}"
        )
        ratio = times["reduce det"]["median"] / times["Reduce_scatter_block"]["median"]
        lines.append(
            f"  {size:.0e} x {ranks}: deterministic reduction / Reduce_scatter_block = "
            f"{ratio:.2f}x <= 1.1x: {'met' if ratio <= 1.1 else 'NOT met'}"
        )
        if ranks == 2 and size == 10_000_000:
            ratio = times["zero det"]["median"] / times["dp det"]["median"]
            lines.append(
                f"  {size:.0e} x {ranks}: zero step / dp step (deterministic) = {ratio:.2f}x "
                f"<= 1.2x: {'met' if ratio <= 1.2 else 'NOT met'}"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=_sizes, default=[1_000_000, 10_000_000])
    parser.add_argument("--ranks", type=_ints, default=[2, 4])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.sizes, args.rounds)
        return
    print(
        f"optkern {optkern.__version__}, numpy {np.__version__}, python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs",
        flush=True,
    )
    single = {size: single_process(size, args.rounds) for size in args.sizes}
    records = []
    for ranks in args.ranks:
        print(f"mpiexec -n {ranks} ...", file=sys.stderr, flush=True)
        records += launch(ranks, args.sizes, args.rounds)
    print(report(single, records))


if __name__ == "__main__":
    main()
