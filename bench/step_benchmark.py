"""Time one optimizer step from Python: optkern (fused) against optkern.reference and the naive
textbook NumPy formula, on one tensor.

Method: every contender gets its own copy of the arrays; after warm-up, rounds run the contenders
one after another in a rotating order (so machine noise hits all alike), and the table reports
min / median / max per step over the rounds, ns per element, GB/s of the algorithm's own traffic
(Adam: read p, g, m, v; write p, m, v = 7 arrays), and each median as a multiple of optkern's.

A bandwidth figure for comparison is measured in the same run: NumPy's np.copyto over arrays of
the same size (read 1 + write 1, one thread). It is not the same-traffic ceiling of issue 4's C++
benchmark (which moves exactly the algorithm's bytes); it only anchors the GB/s column.

    python bench/step_benchmark.py --size 10000000 --dtype float32 --rounds 15
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import optkern


def naive_adam(lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999) -> Callable:
    """The textbook's Adam.update written as plain NumPy expressions (allocates temporaries)."""
    state: dict[str, object] = {"t": 0}

    def step(p: np.ndarray, g: np.ndarray) -> None:
        if "m" not in state:
            state["m"], state["v"] = np.zeros_like(p), np.zeros_like(p)
        m, v = state["m"], state["v"]
        state["t"] = t = int(state["t"]) + 1  # type: ignore[call-overload]
        lr_t = lr * math.sqrt(1.0 - beta2**t) / (1.0 - beta1**t)
        m += (1 - beta1) * (g - m)  # type: ignore[operator]
        v += (1 - beta2) * (g**2 - v)  # type: ignore[operator]
        p -= lr_t * m / (np.sqrt(v) + 1e-7)  # type: ignore[operator]

    return step


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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
    dtype = np.dtype(args.dtype)
    n = args.size
    threads = args.threads or sorted({1, optkern.get_num_threads()})
    rng = np.random.default_rng(0)
    start = rng.standard_normal(n).astype(dtype)
    grad = rng.standard_normal(n).astype(dtype)

    contenders: dict[str, Callable[[], None]] = {}
    for k in threads:
        p = start.copy()
        opt = optkern.Adam([p], lr=1e-3, num_threads=k)
        contenders[f"optkern.Adam ({k} thread{'s' if k > 1 else ''})"] = lambda opt=opt: opt.step(
            [grad]
        )
    p_ref = start.copy()
    ref = optkern.Adam([p_ref], lr=1e-3, backend="reference")
    contenders["optkern.reference.adam"] = lambda: ref.step([grad])
    p_naive = start.copy()
    naive = naive_adam()
    contenders["naive NumPy (textbook formula)"] = lambda: naive(p_naive, grad)
    src, dst = start.copy(), np.empty_like(start)
    contenders["np.copyto (bandwidth anchor)"] = lambda: np.copyto(dst, src)

    names = list(contenders)
    times: dict[str, list[float]] = {name: [] for name in names}
    total = args.warmup + args.rounds
    for r in range(total):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            t0 = time.perf_counter()
            contenders[name]()
            elapsed = time.perf_counter() - t0
            if r >= args.warmup:
                times[name].append(elapsed)
        print(f"\r  round {r + 1}/{total}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)

    traffic = dict.fromkeys(names, 7 * dtype.itemsize)
    traffic["np.copyto (bandwidth anchor)"] = 2 * dtype.itemsize
    fused = statistics.median(times[names[0]])
    print(
        f"Adam step, {n:,} {dtype.name} elements, ISA {optkern.active_isa()}, "
        f"{args.rounds} rounds after {args.warmup} warm-up, interleaved\n"
    )
    print(
        "| contender | min ms | median ms | max ms | ns/element | GB/s | median vs optkern (1 thread) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in names:
        ts = times[name]
        med = statistics.median(ts)
        print(
            f"| {name} | {min(ts) * 1e3:.2f} | {med * 1e3:.2f} | {max(ts) * 1e3:.2f} | "
            f"{med / n * 1e9:.3f} | {traffic[name] * n / med / 1e9:.1f} | {med / fused:.2f}x |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
