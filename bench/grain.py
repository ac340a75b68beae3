"""Measures where a second thread starts to pay: one tensor, Adam (or --algorithm), float32, on 1
thread and on all threads with the serial grain disabled, over sizes around the default grain.
The library's grain (cpp/optkern/config.h, kDefaultMinElementsPerThread: elements each thread must
have before another one is woken) and each algorithm's GrainScale (cpp/optkern/params.h) are
chosen from this table; the README records the runs.

    python bench/grain.py --sizes 4096,8192,16384,32768,65536,131072,262144 --rounds 31
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import optkern
from optkern import _core
from optkern.benchmarks.harness import measure
from optkern.records import records


def _factory(cls: type[optkern.Optimizer], kwargs: Mapping[str, Any]) -> Callable[..., Any]:
    return lambda params, **kw: cls(params, **kwargs, **kw)


# The records' "grain" entries: algorithm -> optimizer factory (params, num_threads=...).
FACTORIES = {
    bench.name: _factory(entry.cls, bench.kwargs)
    for entry in records()
    for bench in entry.bench
    if "grain" in bench.tables
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algorithm", choices=sorted(FACTORIES), default="adam")
    parser.add_argument("--sizes", default="4096,8192,16384,32768,65536,131072,262144,1048576")
    parser.add_argument("--rounds", type=int, default=31)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args(argv)
    threads = optkern.get_num_threads()
    if threads < 2:
        raise SystemExit("grain.py needs at least 2 threads (OMP_NUM_THREADS)")
    default_grain = _core._min_elements_per_thread()
    rng = np.random.default_rng(0)
    print(
        f"{args.algorithm} float32, one tensor, {args.rounds} rounds after {args.warmup} warm-up; "
        f"library grain {default_grain} elements per thread\n"
    )
    print("| elements | 1 thread µs | " + f"{threads} threads µs | speed-up |")
    print("|---:|---:|---:|---:|")
    _core._set_min_elements_per_thread(1)  # let every size use every thread
    try:
        for n in (int(float(s)) for s in args.sizes.split(",")):
            grad = rng.standard_normal(n).astype(np.float32)
            one = FACTORIES[args.algorithm](
                [rng.standard_normal(n).astype(np.float32)], num_threads=1
            )
            many = FACTORIES[args.algorithm](
                [rng.standard_normal(n).astype(np.float32)], num_threads=threads
            )
            times = measure(
                {"1": lambda o=one, g=grad: o.step([g]), "n": lambda o=many, g=grad: o.step([g])},
                args.rounds,
                args.warmup,
                f"{n} elements",
            )
            a, b = statistics.median(times["1"]), statistics.median(times["n"])
            print(f"| {n} | {a * 1e6:.1f} | {b * 1e6:.1f} | {a / b:.2f}x |", flush=True)
    finally:
        _core._set_min_elements_per_thread(default_grain)
    return 0


if __name__ == "__main__":
    sys.exit(main())
