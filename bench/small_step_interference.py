"""What other code between two calls costs a small step (issue 19, item 4): a small Adam step
timed right after itself ("alone") and right after other code that pushes the step's code and
data out of the core's caches, next to the two smallest calls a NumPy training loop makes, an
empty Python function and an ``np.add`` of the same size, timed the same way.

    .venv/bin/python bench/small_step_interference.py --sizes 16,1000 --rounds 401

The code between the calls (untimed):

- ``alone``: the same call once more, so its code and data are in L1 and L2;
- ``torch Adam``: torch's fused, foreach and for-loop Adam steps of the same size, one thread
  each (the interleaved case of bench/peer_benchmark.py), when torch is installed;
- ``Python pass``: a loop over 20,000 small dicts (about 6 MB of objects: more than the L2);
- ``NumPy pass``: a sum over 16 MB (a reduction: not the ``np.add`` loop timed below, whose
  code it would leave in cache).

Each round runs every scenario in an order rotated by one per round, and each call is timed on
its own (``time.perf_counter_ns``); the table gives medians, each median's ratio to the same
call's ``alone`` median and the extra time over it. The reference calls show what a call that
touches little pays on the machine; the step's extra time over theirs is the cost of its own
larger footprint (its Python code and objects, its C++ code and data). optkern runs on one
thread (``num_threads=1``), as torch does.
"""

from __future__ import annotations

import argparse
import functools
import gc
import statistics
import time
from collections.abc import Callable

import numpy as np
import optkern
from optkern.benchmarks import machine


def disturbances(size: int) -> dict[str, Callable[[], object] | None]:
    """The untimed code run before each timed call; None: the timed call itself."""
    found: dict[str, Callable[[], object] | None] = {"alone": None}
    try:
        import torch
    except ImportError:
        pass
    else:
        torch.set_num_threads(1)
        params = [torch.zeros(size) for _ in range(3)]
        for p in params:
            p.grad = torch.ones(size)
        peers = [
            torch.optim.Adam([params[0]], fused=True),
            torch.optim.Adam([params[1]], foreach=True),
            torch.optim.Adam([params[2]], foreach=False),
        ]

        def torch_steps() -> None:
            for peer in peers:
                peer.step()

        found["torch Adam"] = torch_steps
    objects = [{"a": i, "b": str(i)} for i in range(20_000)]

    def python_pass() -> None:
        total = 0
        for item in objects:
            total += item["a"]

    found["Python pass"] = python_pass
    big = np.zeros(4_000_000, np.float32)

    def numpy_pass() -> None:
        big.sum()

    found["NumPy pass"] = numpy_pass
    return found


def calls(size: int) -> dict[str, Callable[[], object]]:
    """The timed calls: the step and the two reference calls, each called straight from the
    timing loop (partial adds no Python frame)."""
    rng = np.random.default_rng(0)
    param = rng.standard_normal(size).astype(np.float32)
    grads = [rng.standard_normal(size).astype(np.float32)]
    opt = optkern.Adam([param], num_threads=1)
    a, b = np.ones(size, np.float32), np.ones(size, np.float32)
    out = np.empty(size, np.float32)

    def empty() -> None:
        pass

    return {
        "optkern Adam step": functools.partial(opt.step, grads),
        "np.add": functools.partial(np.add, a, b, out=out),
        "empty Python call": empty,
    }


def run(size: int, rounds: int, warmup: int) -> dict[tuple[str, str], list[int]]:
    """Nanoseconds of each (call, scenario) over `rounds` rounds after `warmup`."""
    timed = calls(size)
    before = disturbances(size)
    names = list(before)
    found: dict[tuple[str, str], list[int]] = {(c, s): [] for c in timed for s in names}
    clock = time.perf_counter_ns
    gc.disable()  # a collection inside a timed call would be nobody's cost
    try:
        for r in range(warmup + rounds):
            for scenario in names[r % len(names) :] + names[: r % len(names)]:
                disturb = before[scenario]
                for name, call in timed.items():
                    (call if disturb is None else disturb)()
                    start = clock()
                    call()
                    elapsed = clock() - start
                    if r >= warmup:
                        found[(name, scenario)].append(elapsed)
    finally:
        gc.enable()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="16,1000", help="elements per step, comma-separated")
    parser.add_argument("--rounds", type=int, default=401)
    parser.add_argument("--warmup", type=int, default=50)
    args = parser.parse_args()
    print(
        f"{machine.cpu_model()}; optkern {optkern.__version__}, ISA {optkern.active_isa()}, 1 thread"
    )
    print(
        f"medians of {args.rounds} rounds after {args.warmup} warm-up; "
        "(ratio to alone, + extra time over it)\n"
    )
    before = machine.snapshot()
    for size in (int(float(s)) for s in args.sizes.split(",")):
        found = run(size, args.rounds, args.warmup)
        scenarios = list(dict.fromkeys(s for _, s in found))
        print(f"| {size:,} elements | " + " | ".join(scenarios) + " |")
        print("|---" * (len(scenarios) + 1) + "|")
        for name in dict.fromkeys(c for c, _ in found):
            alone = statistics.median(found[(name, "alone")])
            cells = []
            for scenario in scenarios:
                median = statistics.median(found[(name, scenario)])
                extra = (median - alone) / 1e3
                ratio = "" if scenario == "alone" else f" ({median / alone:.2f}x, +{extra:.2f})"
                cells.append(f"{median / 1e3:.2f} µs{ratio}")
            print(f"| {name} | " + " | ".join(cells) + " |")
        print()
    print(machine.report(before, machine.snapshot()))


if __name__ == "__main__":
    main()
