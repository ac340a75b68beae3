"""The timing loop shared by the Python benchmarks."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable


def measure(
    contenders: dict[str, Callable[[], None]], rounds: int, warmup: int, label: str | None = None
) -> dict[str, list[float]]:
    """Seconds per call of each contender over `rounds` rounds after `warmup` rounds. Each round
    runs every contender once, in an order rotated by one per round, so that machine noise hits
    all of them alike. With a `label`, prints a progress line per round on stderr."""
    names = list(contenders)
    times: dict[str, list[float]] = {name: [] for name in names}
    total = warmup + rounds
    for r in range(total):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            t0 = time.perf_counter()
            contenders[name]()
            elapsed = time.perf_counter() - t0
            if r >= warmup:
                times[name].append(elapsed)
        if label is not None:
            print(f"\r  {label}: round {r + 1}/{total}   ", end="", file=sys.stderr, flush=True)
    if label is not None:
        print(file=sys.stderr)
    return times
