"""The timing loop and the memory ceiling shared by the Python benchmarks."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from numpy.typing import NDArray

from .. import _core
from ..optimizer import Optimizer


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


def same_traffic_ceiling(
    optimizer: Optimizer, grads: list[NDArray[Any]], num_threads: int
) -> Callable[[], None]:
    """The memory ceiling of ``optimizer.step(grads)``: a loop that moves exactly the bytes the
    step moves (each parameter, gradient and bound state array), on the same per-thread plan, with
    no math (cpp/optkern/ceiling.h). It adds the gradient to the parameters and states, so give it
    an optimizer of its own, over copies. The optimizer must have stepped once (state exists)."""
    optimizer.step(grads)
    prepared = optimizer._prepared
    if prepared is None:
        raise ValueError("same_traffic_ceiling: the optimizer's groups are not in a steady state")
    groups = prepared.tensor_groups
    return lambda: _core._same_traffic_step(groups, grads, num_threads)
