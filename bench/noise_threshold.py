"""The data behind the benchmark's spread flag (optkern.benchmarks.noise.SPREAD_LIMIT): many short
cases of optkern's Adam step and its same-traffic ceiling, each with the CPUs other processes kept
busy during it, and the spread, (max - min) / median, of its rounds, grouped by that load.

    .venv/bin/python bench/noise_threshold.py --sizes 1e3,1e5,1e6 --cases 40 --rounds 15

One thread, float32, no peers (their spinning threads would count as this process's load).
"""

from __future__ import annotations

import argparse
import itertools
import statistics

import numpy as np
import optkern
from optkern.benchmarks import machine, noise
from optkern.benchmarks.harness import measure, same_traffic_ceiling

BINS = (0.0, 0.25, 0.5, 1.0, 1.5, 99.0)  # others' CPUs


def _spreads(size: int, cases: int, rounds: int) -> list[tuple[float, float]]:
    """(others' CPUs, spread) of each contender of each case."""
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(size).astype(np.float32)]
    opt = optkern.Adam([rng.standard_normal(size).astype(np.float32)], num_threads=1)
    ceiling = same_traffic_ceiling(
        optkern.Adam([np.zeros(size, np.float32)], num_threads=1), grads, 1
    )
    contenders = {"optkern": lambda: opt.step(grads), "ceiling": ceiling}
    found = []
    for _ in range(cases):
        before = machine.snapshot()
        times = measure(contenders, rounds, 3)
        others = machine.other_cpus(before, machine.snapshot())
        if others is None:
            raise SystemExit("needs /proc/stat")
        found += [(others, noise.spread(t)) for t in times.values()]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1e3,1e5,1e6")
    parser.add_argument("--cases", type=int, default=40, help="cases per size")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    print(f"{machine.affinity()}; quota {machine.cpu_quota()}; ISA {optkern.active_isa()}")
    print("| size | others' CPUs | cases | spread: median | 90th pct | max | over the limit |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for size in (int(float(s)) for s in args.sizes.split(",")):
        found = _spreads(size, args.cases, args.rounds)
        for low, high in itertools.pairwise(BINS):
            spreads = sorted(spread for o, spread in found if low <= o < high)
            if not spreads:
                continue
            over = sum(s > noise.SPREAD_LIMIT for s in spreads) / len(spreads)
            print(
                f"| {size:.0e} | {low:g}-{high:g} | {len(spreads)} | "
                f"{statistics.median(spreads):.2f} | {spreads[int(0.9 * (len(spreads) - 1))]:.2f} "
                f"| {spreads[-1]:.2f} | {over:.0%} |"
            )


if __name__ == "__main__":
    main()
