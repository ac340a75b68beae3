"""Time one optimizer step from Python: optkern (fused) against optkern.reference and the naive
textbook NumPy formula (its record's bench entry, beside the class), on one tensor, for each
algorithm of the records' "step" table asked for.

Method: every contender gets its own copy of the arrays; after warm-up, rounds run the contenders
one after another in a rotating order (so machine noise hits all alike), and the table reports
min / median / max per step over the rounds, ns per element, GB/s of the algorithm's own traffic
(param and each state read and written, gradient read: Adam moves 7 arrays, Lion 5), and each
median as a multiple of optkern's on one thread.

A bandwidth figure for comparison is measured in the same rounds: NumPy's np.copyto over arrays
of the same size (read 1 + write 1, one thread). It is not the same-traffic ceiling of the C++
benchmark (which moves exactly the algorithm's bytes); it only anchors the GB/s column.

    python bench/step_benchmark.py --algorithms adam,lion --size 10000000 --rounds 15
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import optkern
from optkern.benchmarks import naive
from optkern.benchmarks.harness import measure
from optkern.records import records


def _factory(cls: type[optkern.Optimizer], kwargs: Mapping[str, Any]) -> Callable[..., Any]:
    return lambda ps, **kw: cls(ps, **kwargs, **kw)


# algorithm -> (optkern optimizer factory, naive NumPy step factory): the records' "step" entries
ALGORITHMS: dict[str, tuple[Callable[..., optkern.Optimizer], Callable[[], naive.Step]]] = {
    bench.name: (_factory(entry.cls, bench.kwargs), bench.naive)
    for entry in records()
    for bench in entry.bench
    if "step" in bench.tables
}
ANCHOR = "np.copyto (bandwidth anchor)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--algorithms",
        default="adam",
        help=f"comma-separated, or 'all': {','.join(ALGORITHMS)} (default: adam)",
    )
    parser.add_argument("--size", type=int, default=10_000_000)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument(
        "--threads",
        type=int,
        nargs="*",
        default=None,
        help="optkern thread counts to time (default: 1 and all)",
    )
    args = parser.parse_args(argv)
    chosen = list(ALGORITHMS) if args.algorithms == "all" else args.algorithms.split(",")
    unknown = [a for a in chosen if a not in ALGORITHMS]
    if unknown:
        parser.error(f"unknown algorithm(s) {unknown}; choose from {', '.join(ALGORITHMS)}")
    dtype = np.dtype(args.dtype)
    n = args.size
    threads = args.threads or sorted({1, optkern.get_num_threads()})
    rng = np.random.default_rng(0)
    start = rng.standard_normal(n).astype(dtype)
    grad = rng.standard_normal(n).astype(dtype)

    rows = []
    for algorithm in chosen:
        make_optkern, make_naive = ALGORITHMS[algorithm]
        contenders: dict[str, Callable[[], None]] = {}
        for k in threads:
            opt = make_optkern([start.copy()], num_threads=k)
            contenders[f"optkern ({k} thread{'s' if k > 1 else ''})"] = lambda opt=opt: opt.step(
                [grad]
            )
        ref = make_optkern([start.copy()], backend="reference")
        contenders["optkern.reference"] = lambda ref=ref: ref.step([grad])
        p_naive, naive_step = start.copy(), make_naive()
        contenders["naive NumPy"] = lambda p=p_naive, f=naive_step: f(p, grad)
        src, dst = start.copy(), np.empty_like(start)
        contenders[ANCHOR] = lambda dst=dst, src=src: np.copyto(dst, src)

        times = measure(contenders, args.rounds, args.warmup, algorithm)
        states = len(ref.state[0])  # after warm-up every state array exists
        arrays = 3 + 2 * states  # p read+write, g read, each state read+write
        fused = statistics.median(times[next(iter(contenders))])
        for name, ts in times.items():
            med = statistics.median(ts)
            moved = (2 if name == ANCHOR else arrays) * dtype.itemsize * n
            rows.append(
                f"| {algorithm} | {name} | {min(ts) * 1e3:.2f} | {med * 1e3:.2f} | "
                f"{max(ts) * 1e3:.2f} | {med / n * 1e9:.3f} | {moved / med / 1e9:.1f} | "
                f"{med / fused:.2f}x |"
            )

    print(
        f"One step on {n:,} {dtype.name} elements, ISA {optkern.active_isa()}, "
        f"{args.rounds} rounds after {args.warmup} warm-up, interleaved per algorithm\n"
    )
    print(
        "| algorithm | contender | min ms | median ms | max ms | ns/element | GB/s | "
        "median vs optkern (1 thread) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
