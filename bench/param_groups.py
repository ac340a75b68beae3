"""Time building an optimizer of many param groups, its first step and a later step.

One 2-element float32 tensor per group, so the time is all per-group bookkeeping: validating each
group, binding it, checking that no two arrays share memory (one sorted pass over every array),
preparing the step. Before that check was one pass, building and first-stepping 1,000 groups took
about 25 s and 2,000 did not finish in a minute (every pair of groups was compared).

    python bench/param_groups.py --groups 100,1000,10000 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import optkern


def _time_once(groups: int, algorithm: str) -> tuple[float, float, float]:
    params = [np.zeros(2, np.float32) for _ in range(groups)]
    grads = [np.ones(2, np.float32) for _ in range(groups)]
    cls = getattr(optkern, algorithm)
    start = time.perf_counter()
    opt = cls([{"params": [p]} for p in params])
    built = time.perf_counter()
    opt.step(grads)
    first = time.perf_counter()
    opt.step(grads)
    later = time.perf_counter()
    return built - start, first - built, later - first


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--groups", default="100,1000,10000", help="comma-separated group counts")
    parser.add_argument("--algorithm", default="Adam", help="an optkern class name")
    parser.add_argument("--repeats", type=int, default=3, help="medians of this many runs")
    args = parser.parse_args(argv)
    counts = [int(float(g)) for g in args.groups.split(",")]
    print(f"{args.algorithm}, one 2-element float32 tensor per group, median of {args.repeats}\n")
    print("| groups | build s | first step s | later step ms |")
    print("|---:|---:|---:|---:|")
    for count in counts:
        runs = [_time_once(count, args.algorithm) for _ in range(args.repeats)]
        build, first, later = (statistics.median(column) for column in zip(*runs, strict=True))
        print(f"| {count:,} | {build:.3f} | {first:.3f} | {later * 1e3:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
