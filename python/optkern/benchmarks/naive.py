"""What a NumPy user writes without optkern: each optimizer's update as plain NumPy expressions
on whole arrays (the textbook / lecture-notes style), allocating a temporary per operation.

These are the "naive NumPy" contenders of the benchmarks (bench/, `optkern bench`). They follow the
same algorithms and defaults as the optkern classes the benchmark pairs them with, but not their
rounding. Each formula lives beside its class, in the ``bench`` entries of the class's record
(``optkern.records``); this module lists them by benchmark name. Each factory returns
``step(p, g)`` that updates ``p`` in place and keeps its own state.
"""

from __future__ import annotations

from collections.abc import Callable

from ..records import NaiveStep, records

Step = NaiveStep

#: benchmark name (``sgd``, ``sgd-momentum``, ``adam`` ...) → the factory of its naive step.
FORMULAS: dict[str, Callable[[], Step]] = {
    bench.name: bench.naive for entry in records() for bench in entry.bench
}
