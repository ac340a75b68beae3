"""One record per optimizer class: everything beyond the class itself that lists algorithms.

Each class module declares its classes' records next to them (``record(Adam, ...)``), and every
table that lists algorithms is derived from ``records()``: the configurations of the self-check
and the tests (``optkern.configs``), the hypothesis strategies of tests/test_properties.py, the
torch-parity names of tests/test_torch_parity.py, the naive NumPy formulas and the benchmark
tables (bench/step_benchmark.py, bench/grain.py, ``optkern bench``), and the optimizer names of
``optkern compare``. So adding an algorithm in Python touches its class module, the export in
``optkern/__init__.py`` and its function in ``optkern/reference.py``, and nothing else.

A record names what it cannot derive from its class; the rest comes from the class: its
hyperparameters and defaults from ``__init__``'s signature, their valid ranges from ``_rules``,
its state arrays from ``_state_init``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from .optimizer import Optimizer

#: A naive NumPy formula's step: ``step(p, g)`` updates ``p`` in place and keeps its own state.
NaiveStep = Callable[[NDArray[Any], NDArray[Any]], None]

#: The benchmark tables a ``Bench`` entry can appear in.
TABLES = frozenset({"step", "grain", "peers"})

#: How tests/test_properties.py may draw a hyperparameter other than by its rule (``Record.draw``).
DRAWS = frozenset({"default", "optional", "positive", "accumulator", "nesterov"})


@dataclass(frozen=True)
class Bench:
    """One algorithm of the benchmark tables: the class's step with ``kwargs`` against
    ``naive()``, what a NumPy user writes without optkern (the same algorithm and defaults, not the
    same rounding).

    ``tables``: ``"step"`` bench/step_benchmark.py (optkern against the naive formula), ``"grain"``
    bench/grain.py (one thread against all), ``"peers"`` ``optkern bench`` (also against torch.optim,
    named by the record's ``torch``, with the same ``kwargs``)."""

    name: str
    naive: Callable[[], NaiveStep]
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    tables: frozenset[str] = frozenset({"step"})


@dataclass(frozen=True)
class Record:
    """What the tables need of one optimizer class (aliases such as ``AdaGrad`` share the
    record of their class; a variant with other defaults, such as ``Momentum``, has its own).

    * ``configs``: row name → keyword arguments, the rows of ``optkern.configs.CONFIGS`` (every
      option of the algorithm on and off between them);
    * ``torch``: the torch.optim class it matches (None: none, as for Lion and the textbook);
    * ``draw``: per hyperparameter, how the property tests draw it when not by its rule alone:
      ``"default"`` not drawn (the class's value), ``"optional"`` 0 half the time (an option
      that is off when 0), ``"positive"`` > 0, ``"accumulator"`` Adagrad's initial accumulator
      (beyond float32's range too), ``"nesterov"`` torch's rule (needs momentum > 0 and sets
      dampening to 0);
    * ``bench``: its entries in the benchmark tables;
    * ``compare``: its name in ``optkern compare`` (None: not offered there).
    """

    cls: type[Optimizer]
    configs: Mapping[str, Mapping[str, Any]]
    torch: str | None = None
    draw: Mapping[str, str] = field(default_factory=dict)
    bench: tuple[Bench, ...] = ()
    compare: str | None = None

    def __post_init__(self) -> None:
        unknown_draws = {k: d for k, d in self.draw.items() if d not in DRAWS}
        unknown_tables = [t for b in self.bench for t in b.tables if t not in TABLES]
        if unknown_draws or unknown_tables or set(self.draw) - set(self.cls._rules):
            raise ValueError(
                f"record of {self.cls.__name__}: unknown draws {unknown_draws} (known: "
                f"{sorted(DRAWS)}) or tables {unknown_tables} (known: {sorted(TABLES)}), or draws "
                f"for no hyperparameter: {sorted(set(self.draw) - set(self.cls._rules))}"
            )


_RECORDS: list[Record] = []


def record(cls: type[Optimizer], **fields: Any) -> Record:
    """Declares the record of ``cls`` (see ``Record``); called by the class modules."""
    if any(r.cls is cls for r in _RECORDS):
        raise ValueError(f"{cls.__name__} already has a record")
    entry = Record(cls, **fields)
    _RECORDS.append(entry)
    return entry


def records() -> tuple[Record, ...]:
    """Every record: optkern's classes in the order of their modules' import by
    ``optkern/__init__.py`` (then of definition), then ``optkern.textbook``'s."""
    importlib.import_module("optkern")
    importlib.import_module("optkern.textbook")
    return tuple(_RECORDS)


def record_of(cls: type[Optimizer]) -> Record:
    """The record of ``cls`` (KeyError if it has none)."""
    for entry in records():
        if entry.cls is cls:
            return entry
    raise KeyError(cls.__name__)


class NaiveState:
    """For the naive formulas: state arrays allocated like the first parameter seen, plus a
    step counter (``get`` counts one step)."""

    def __init__(self, *names: str) -> None:
        self.names = names
        self.t = 0
        self.arrays: dict[str, NDArray[Any]] = {}

    def get(self, p: NDArray[Any]) -> list[NDArray[Any]]:
        if not self.arrays:
            self.arrays = {n: np.zeros_like(p) for n in self.names}
        self.t += 1
        return [self.arrays[n] for n in self.names]
