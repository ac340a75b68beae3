"""Optimizer names on the command line → optimizer factories.

Two families of names:

* The lecture names ``sgd, momentum, nesterov, adagrad, rmsprop, adam`` mean the "Deep Learning
  from Scratch" optimizers of ``optkern.textbook``, built with no arguments, i.e. with the
  textbook defaults (SGD, Momentum, Nesterov, AdaGrad and RMSprop lr=0.01, Adam lr=0.001).
  Those are the learning rates the lecture's comparison used too.
* Every other name is a torch-style ``optkern`` class with its defaults: torch.optim's, except
  ``nag`` (``optkern.NAG``: SGD with Nesterov momentum, lr=0.01, momentum=0.9, as torch's SGD
  has no default momentum).

``name:lr=0.01`` overrides the learning rate (the only hyperparameter the command line takes).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from numpy.typing import NDArray

from .. import textbook
from ..optimizer import Backend, Optimizer
from ..records import records

#: The optimizers of the lecture's comparison (its default selection).
LECTURE_DEFAULT = ("sgd", "momentum", "adagrad", "adam")

# The names of the records (``compare=``): lecture name → its optkern.textbook class, built with
# the textbook defaults; the other names → torch-style classes with torch.optim's defaults.
_LECTURE: dict[str, type[Optimizer]] = {
    r.compare: r.cls for r in records() if r.compare and issubclass(r.cls, textbook._Textbook)
}
_TORCH: dict[str, type[Optimizer]] = {
    r.compare: r.cls for r in records() if r.compare and not issubclass(r.cls, textbook._Textbook)
}

KNOWN_NAMES: tuple[str, ...] = (*_LECTURE, *_TORCH)

#: The backends of the command line → the ``backend=`` argument of the optimizer classes.
BACKENDS: dict[str, Backend] = {"optkern": "fused", "reference": "reference"}


@dataclass(frozen=True)
class OptimizerChoice:
    """One optimizer of a run: a registry name and an optional learning-rate override."""

    name: str
    lr: float | None = None

    @property
    def label(self) -> str:
        """How the user wrote it (normalised), e.g. ``adam`` or ``adam:lr=0.01``."""
        return self.name if self.lr is None else f"{self.name}:lr={self.lr!r}"

    @property
    def is_lecture(self) -> bool:
        return self.name in _LECTURE

    def _target(self) -> tuple[type[Optimizer], dict[str, float], str]:
        """The class to build, its keyword arguments, and the class's dotted name."""
        target = _LECTURE[self.name] if self.is_lecture else _TORCH[self.name]
        kwargs = {} if self.lr is None else {"lr": self.lr}
        module = "optkern.textbook" if self.is_lecture else "optkern"
        return target, kwargs, f"{module}.{target.__name__}"

    def constructor(
        self, backend: str, options: Mapping[str, Any] | None = None
    ) -> tuple[type[Optimizer], dict[str, Any]]:
        """The class and the keyword arguments (without ``params``) that ``build`` calls it with:
        for ``optkern.distributed.ZeroOptimizer``, which builds the optimizer itself."""
        cls, kwargs, _ = self._target()
        return cls, {**kwargs, **(options or {}), "backend": BACKENDS[backend]}

    def build(
        self,
        backend: str,
        options: Mapping[str, Any] | None = None,
        params: list[NDArray[Any]] | None = None,
    ) -> Optimizer:
        """A fresh optimizer: for the textbook call ``update(params, grads)``, or with
        ``params`` (a list of arrays) bound to them for ``step(grads)``.

        ``backend`` is ``"optkern"`` or ``"reference"`` (the pure-NumPy twin); ``options`` are
        further keyword arguments every class takes (the 16-bit storage options of a variant).
        """
        cls, kwargs = self.constructor(backend, options)
        # Every registered class takes its hyperparameters and params by keyword.
        factory: Callable[..., Optimizer] = cls
        bound = {} if params is None else {"params": params}
        return factory(**bound, **kwargs)

    def describe(self, options: Mapping[str, Any] | None = None) -> str:
        """The constructor call this choice stands for, e.g. ``optkern.textbook.Adam()``."""
        _, kwargs, dotted = self._target()
        items = {**kwargs, **(options or {})}
        args = ", ".join(f"{key}={value!r}" for key, value in items.items())
        return f"{dotted}({args})"


def parse_choice(text: str) -> OptimizerChoice:
    """``name`` or ``name:lr=<float>`` → OptimizerChoice; ValueError with a one-line message."""
    name, _, options = text.strip().partition(":")
    name = name.strip().lower()
    if name not in KNOWN_NAMES:
        raise ValueError(f"unknown optimizer {name!r}; known: {', '.join(KNOWN_NAMES)}")
    if not options:
        return OptimizerChoice(name)
    key, equals, value = options.partition("=")
    if key.strip() != "lr" or not equals:
        raise ValueError(f"bad option {options!r} in {text!r}: only lr=<number> is accepted")
    try:
        lr = float(value)
    except ValueError:
        raise ValueError(f"bad learning rate {value!r} in {text!r}: not a number") from None
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"bad learning rate in {text!r}: must be finite and > 0")
    return OptimizerChoice(name, lr)


def parse_choices(text: str) -> tuple[OptimizerChoice, ...]:
    """A comma-separated list, e.g. ``sgd,adam:lr=0.01``; duplicates and empties are errors."""
    items = [item for item in text.split(",") if item.strip()]
    if not items:
        raise ValueError("no optimizer given")
    choices = tuple(parse_choice(item) for item in items)
    labels = [choice.label for choice in choices]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise ValueError(f"optimizer listed twice: {', '.join(duplicates)}")
    return choices
