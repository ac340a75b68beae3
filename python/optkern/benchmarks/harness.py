"""The timing loop and the memory ceiling shared by the Python benchmarks."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from numpy.typing import NDArray

from .. import _core
from ..optimizer import Optimizer


def measure(
    contenders: dict[str, Callable[[], object]],
    rounds: int,
    warmup: int,
    label: str | None = None,
    calls: int = 1,
    warmup_seconds: float = 0.25,
    stream: TextIO | None = None,
    before: Callable[[], object] | None = None,
) -> dict[str, list[float]]:
    """Seconds per call of each contender over `rounds` rounds after at least `warmup` rounds and
    at least `warmup_seconds` of warm-up. Each round runs every contender once, in an order
    rotated by one per round, so that machine noise hits all of them alike. With a `label`,
    shows progress on `stream` (stderr): on a terminal one line redrawn per timed round (once
    for the whole warm-up); elsewhere (a pipe, a log) one line when the case is done, since
    carriage returns would pile every redraw into one long line of the log.

    The time floor matters for tiny cases: a few rounds of microsecond calls right after start-up
    or after a big case are over before the CPU has left its low clock, and the first case of a
    run came out up to 2.7x slower than the same case later in the run.

    Each sample is `calls` back-to-back calls, divided by `calls`. With 1 (the default) a call
    runs right after the other contenders' code, with cold caches, as a step does between a
    model's forward and backward passes; with many, the contender's own code and data stay in
    cache, which isolates the cost of the call itself (what matters for tiny steps).

    `before`, when given, runs before every call, outside the timing (a scenario's matrix
    product); each call is then timed on its own and the sample is their mean."""
    if calls < 1:
        raise ValueError(f"calls must be >= 1, got {calls}")
    names = list(contenders)
    times: dict[str, list[float]] = {name: [] for name in names}
    out = sys.stderr if stream is None else stream
    isatty = getattr(out, "isatty", None)
    live = label is not None and callable(isatty) and bool(isatty())
    started = time.perf_counter()
    warm_until = started + warmup_seconds
    r = warmed = 0
    while warmed < rounds:
        warming = r < warmup or time.perf_counter() < warm_until
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            contender = contenders[name]
            if before is None:
                t0 = time.perf_counter()
                for _ in range(calls):
                    contender()
                elapsed = (time.perf_counter() - t0) / calls
            else:
                elapsed = 0.0
                for _ in range(calls):
                    before()
                    t0 = time.perf_counter()
                    contender()
                    elapsed += time.perf_counter() - t0
                elapsed /= calls
            if not warming:
                times[name].append(elapsed)
        r += 1
        warmed += not warming
        if live and (not warming or r == 1):  # one redraw for all warm-up rounds
            progress = "warm-up" if warming else f"round {warmed}/{rounds}"
            print(f"\r  {label}: {progress}   ", end="", file=out, flush=True)
    if live:
        print(file=out, flush=True)
    elif label is not None:
        summary = f"{rounds} rounds after {r - rounds} warm-up"
        print(f"  {label}: {summary}, {time.perf_counter() - started:.1f} s", file=out, flush=True)
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


def ceiling_or_reason(
    optimizer: Optimizer, grads: list[NDArray[Any]], num_threads: int
) -> tuple[Callable[[], None] | None, str | None]:
    """``same_traffic_ceiling``, called once, or (None, why) where this build has no ceiling for
    the optimizer's storage (a ValueError from ``_core._same_traffic_step``, e.g. for 16-bit
    storage in builds that lack it): the table then prints "n/a" for it with the reason."""
    step = same_traffic_ceiling(optimizer, grads, num_threads)
    try:
        step()
    except ValueError as error:
        return None, str(error)
    return step, None
