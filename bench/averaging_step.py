"""Issue 16's accumulation and EMA targets, side by side in one run (float32).

    .venv/bin/python bench/averaging_step.py --sizes 1e5,1e7 --shapes 2000x512 --threads 1,2

Per case (each contender over arrays of its own):

- ``accumulate``: ``optkern.accumulate(buffers, grads)``; ``python loop``: ``for b, g in ...:
  b += g``, NumPy's one call per tensor (the target: >= 5x at 2,000 x 512).
- ``ema.update``: ``optkern.EMA.update()`` (reads each average and parameter, writes the
  average); ``ema ceiling``: ``np.add(a, p, out=a)`` per tensor, the same bytes through NumPy's
  add, and ``accumulate`` itself is the same traffic with one multiply-add (the target: the EMA
  within 5 % of its same-traffic ceiling at 1e7).
- ``step + ema.update``: ``opt.step(grads); ema.update()`` with Adam; ``step(ema=)``:
  ``opt.step(grads, ema=ema)``, the EMA fused into the step; ``param read``: a pure read of the
  parameters' bytes (``p.view(np.uint32).max()``), what fusing saves. The target: the fused step
  is cheaper than the pair by at least that read.

Medians of rounds interleaved in rotating order (``optkern.benchmarks.harness.measure``).
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
from collections.abc import Callable
from typing import Any

import numpy as np
import optkern
from optkern.benchmarks.harness import measure
from optkern.benchmarks.peers import case_shapes

Arrays = list[np.ndarray[Any, Any]]


def _arrays(shapes: list[tuple[int, ...]], seed: int) -> Arrays:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(np.float32) for shape in shapes]


def _contenders(shapes: list[tuple[int, ...]], threads: int) -> dict[str, Callable[[], object]]:
    grads = _arrays(shapes, 1)
    buffers = _arrays(shapes, 2)
    loop_buffers = _arrays(shapes, 2)

    def python_loop() -> None:
        for b, g in zip(loop_buffers, grads, strict=True):
            b += g

    ema_params = _arrays(shapes, 3)
    ema = optkern.EMA(ema_params, decay=0.999)
    ema.update()  # past the first update, which copies
    ceiling_averages, ceiling_params = _arrays(shapes, 4), _arrays(shapes, 5)

    def ema_ceiling() -> None:
        for a, p in zip(ceiling_averages, ceiling_params, strict=True):
            np.add(a, p, out=a)

    pair_params = _arrays(shapes, 6)
    pair_opt = optkern.Adam(pair_params, lr=1e-9, num_threads=threads)
    pair_ema = optkern.EMA(pair_params, decay=0.999)
    fused_params = _arrays(shapes, 6)
    fused_opt = optkern.Adam(fused_params, lr=1e-9, num_threads=threads)
    fused_ema = optkern.EMA(fused_params, decay=0.999)
    for opt, average in ((pair_opt, pair_ema), (fused_opt, fused_ema)):
        opt.step(grads, ema=average)

    def pair() -> None:
        pair_opt.step(grads)
        pair_ema.update()

    read_params = _arrays(shapes, 7)

    def param_read() -> None:
        for p in read_params:
            p.view(np.uint32).max()

    return {
        "accumulate": lambda: optkern.accumulate(buffers, grads),
        "python loop": python_loop,
        "ema.update": ema.update,
        "ema ceiling": ema_ceiling,
        "step + ema.update": pair,
        "step(ema=)": lambda: fused_opt.step(grads, ema=fused_ema),
        "param read": param_read,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1e5,1e7", help="single-tensor sizes")
    parser.add_argument("--shapes", default="2000x512", help="tensor lists (as peer_benchmark)")
    parser.add_argument("--threads", default="1,2", help="thread counts")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    cases = [
        (f"{float(s):.0e}".replace("+0", ""), [(int(float(s)),)]) for s in args.sizes.split(",")
    ]
    cases += [(name, case_shapes(name)) for name in args.shapes.split(",") if name]
    print(f"date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(
        f"CPU: {_cpu()}; optkern {optkern.__version__} ({optkern.active_isa()}), numpy {np.__version__}"
    )
    print()
    print("| case | threads | contender | min µs | median µs | max µs |")
    print("|---|---:|---|---:|---:|---:|")
    verdicts = []
    for name, shapes in cases:
        for threads in (int(t) for t in args.threads.split(",")):
            optkern.set_num_threads(threads)
            times = measure(_contenders(shapes, threads), args.rounds, 3, label=f"{name}/{threads}")
            medians = {k: statistics.median(v) for k, v in times.items()}
            for contender, samples in times.items():
                print(
                    f"| {name} | {threads} | {contender} | {min(samples) * 1e6:,.1f} | "
                    f"{medians[contender] * 1e6:,.1f} | {max(samples) * 1e6:,.1f} |"
                )
            saved = medians["step + ema.update"] - medians["step(ema=)"]
            verdicts += [
                (
                    name,
                    threads,
                    "accumulate vs python loop (>= 5x at 2000x512)",
                    medians["python loop"] / medians["accumulate"],
                ),
                (
                    name,
                    threads,
                    "ema ceiling / ema.update (>= 0.95 at 1e7)",
                    medians["ema ceiling"] / medians["ema.update"],
                ),
                (
                    name,
                    threads,
                    "(pair - fused) / param read (>= 1)",
                    saved / medians["param read"],
                ),
            ]
    optkern.set_num_threads(None)
    print()
    print("| case | threads | measure | value |")
    print("|---|---:|---|---:|")
    for name, threads, what, value in verdicts:
        print(f"| {name} | {threads} | {what} | {value:.2f} |")


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            pairs = [line.split(":", 1) for line in info.read().split("\n\n")[0].splitlines()]
            fields = {key.strip(): value for key, value in (p for p in pairs if len(p) == 2)}
        return (
            f"{fields['model name'].strip()}, family {fields['cpu family'].strip()}, "
            f"model {fields['model'].strip()}"
        )
    except (OSError, KeyError):
        return platform.processor() or platform.machine()


if __name__ == "__main__":
    main()
