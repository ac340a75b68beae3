"""The schedulers from ``LambdaLR`` to ``PolynomialLR``, and ``CosineAnnealingLR``."""

from __future__ import annotations

import math
import numbers
from collections import Counter
from collections.abc import Callable, MutableMapping, Sequence
from typing import Any, ClassVar

from ..optimizer import Optimizer
from ._base import LRScheduler, _Checks
from ._checks import _callable, _in_range, _integer, _non_negative
from ._groups import _check_optimizer, _param_groups, _per_group
from .schedules import _milestones


def _lambdas(lr_lambda: Any, count: int, where: str) -> list[Callable[[int], float]]:
    functions = _per_group("lr_lambda", lr_lambda, count, where)
    for i, f in enumerate(functions):
        _callable(
            f"lr_lambda[{i}]" if isinstance(lr_lambda, (list, tuple)) else "lr_lambda", f, where
        )
    return functions


def _factor(function: Callable[[int], float], epoch: int, index: int, where: str) -> float:
    """``function(epoch)``, which must be a real number (not a bool)."""
    value = function(epoch)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{where}: the lr_lambda of param_groups[{index}] returned {type(value).__name__} "
            f"{value!r} at epoch {epoch}; it must return a real number"
        )
    return value


class _WithLambdas(LRScheduler):
    """A scheduler driven by ``lr_lambda``: one function, or one per param group."""

    _functions = "lr_lambdas"

    def __init__(
        self,
        optimizer: Optimizer,
        lr_lambda: Callable[[int], float] | Sequence[Callable[[int], float]],
        last_epoch: int = -1,
    ) -> None:
        where = type(self).__name__
        _check_optimizer(optimizer, where)
        self.lr_lambdas = _lambdas(lr_lambda, len(_param_groups(optimizer)), where)
        super().__init__(optimizer, last_epoch)


class LambdaLR(_WithLambdas):
    """``lr = initial_lr · lr_lambda(epoch)``, ``lr_lambda`` one function or one per group."""

    def _values(self, epoch: int, groups: list[MutableMapping[str, Any]]) -> list[float]:
        return [
            base * _factor(f, epoch, i, type(self).__name__)
            for i, (base, f) in enumerate(zip(self.base_lrs, self.lr_lambdas, strict=True))
        ]


class MultiplicativeLR(_WithLambdas):
    """``lr ← lr · lr_lambda(epoch)`` at every step after step 0."""

    def _values(self, epoch: int, groups: list[MutableMapping[str, Any]]) -> list[float]:
        if epoch > 0 and not self._resuming:
            return [
                g["lr"] * _factor(f, epoch, i, type(self).__name__)
                for i, (g, f) in enumerate(zip(groups, self.lr_lambdas, strict=True))
            ]
        return [g["lr"] for g in groups]


class StepLR(LRScheduler):
    """``lr ← lr · gamma`` every ``step_size`` steps (``initial_lr · gamma^⌊t/step_size⌋``)."""

    _loaded_checks: ClassVar[_Checks] = {
        "step_size": lambda k, v, w: _integer(k, v, w, 1),
        "gamma": _non_negative,
    }

    def __init__(
        self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1
    ) -> None:
        where = type(self).__name__
        self.step_size = _integer("step_size", step_size, where, 1)
        self.gamma = _non_negative("gamma", gamma, where)
        super().__init__(optimizer, last_epoch)

    def _values(self, epoch: int, groups: list[MutableMapping[str, Any]]) -> list[float]:
        if epoch == 0 or epoch % self.step_size != 0:
            return [g["lr"] for g in groups]
        return [g["lr"] * self.gamma for g in groups]


class MultiStepLR(LRScheduler):
    """``lr ← lr · gamma`` at each milestone (``initial_lr · gammaⁿ``, n milestones passed; a
    milestone listed twice counts twice)."""

    _loaded_checks: ClassVar[_Checks] = {"gamma": _non_negative}

    def _converted(self, state_dict: dict[str, Any], where: str) -> dict[str, Any]:
        # A JSON round trip turns the milestones' int keys into str: back to int (or refused).
        milestones = state_dict.get("milestones")
        if not isinstance(milestones, dict):
            return state_dict
        counts: Counter[int] = Counter()
        for key, count in milestones.items():
            point: Any = key
            if isinstance(key, str):
                try:
                    point = int(key)
                except ValueError:
                    point = None
            if isinstance(point, bool) or not isinstance(point, numbers.Integral) or point < 0:
                raise ValueError(f"{where}: milestones has {key!r}, not a step (an int >= 0)")
            _integer(f"milestones[{key!r}]", count, where, 1)
            counts[int(point)] += int(count)
        return {**state_dict, "milestones": counts}

    def __init__(
        self,
        optimizer: Optimizer,
        milestones: Sequence[int],
        gamma: float = 0.1,
        last_epoch: int = -1,
    ) -> None:
        where = type(self).__name__
        self.milestones = Counter(sorted(_milestones(milestones, where)))
        self.gamma = _non_negative("gamma", gamma, where)
        super().__init__(optimizer, last_epoch)

    def _values(self, epoch: int, groups: list[MutableMapping[str, Any]]) -> list[float]:
        if epoch not in self.milestones:
            return [g["lr"] for g in groups]
        return [g["lr"] * self.gamma ** self.milestones[epoch] for g in groups]


class ConstantLR(LRScheduler):
    """``initial_lr · factor`` until step ``total_iters``, then ``initial_lr``."""

    _loaded_checks: ClassVar[_Checks] = {
        "factor": lambda k, v, w: _in_range(k, v, w, 0.0, 1.0, open_low=True),
        "total_iters": lambda k, v, w: _integer(k, v, w, 0),
    }

    def __init__(
        self,
        optimizer: Optimizer,
        factor: float = 1.0 / 3,
        total_iters: int = 5,
        last_epoch: int = -1,
    ) -> None:
        where = type(self).__name__
        self.factor = _in_range("factor", factor, where, 0.0, 1.0, open_low=True)
        self.total_iters = _integer("total_iters", total_iters, where, 0)
        super().__init__(optimizer, last_epoch)

    def _values(self, epoch: int, groups: list[MutableMapping[str, Any]]) -> list[float]:
        if epoch == 0:
            return [g["lr"] * self.factor for g in groups]
        if epoch != self.total_iters:
            return [g["lr"] for g in groups]
        return [g["lr"] * (1.0 / self.factor) for g in groups]


class LinearLR(LRScheduler):
    """``initial_lr`` times a factor going linearly from ``start_factor`` to ``end_factor`` over
    ``total_iters`` steps, then ``end_factor``."""

    _loaded_checks: ClassVar[_Checks] = {
        "start_factor": lambda k, v, w: _in_range(k, v, w, 0.0, 1.0, open_low=True),
        "end_factor": lambda k, v, w: _in_range(k, v, w, 0.0, 1.0),
        "total_iters": lambda k, v, w: _integer(k, v, w, 1),
    }

    def __init__(
        self,
        optimizer: Optimizer,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
        last_epoch: int = -1,
    ) -> None:
        where = type(self).__name__
        self.start_factor = _in_range("start_factor", start_factor, where, 0.0, 1.0, open_low=True)
        self.end_factor = _in_range("end_factor", end_factor, where, 0.0, 1.0)
        self.total_iters = _integer("total_iters", total_iters, where, 1)
        super().__init__(optimizer, last_epoch)

    def _values(self, epoch: int, groups: list[MutableMapping[str, Any]]) -> list[float]:
        if epoch == 0:
            return [g["lr"] * self.start_factor for g in groups]
        if epoch > self.total_iters or self._resuming:
            return [g["lr"] for g in groups]
        start, end = self.start_factor, self.end_factor
        ratio = 1.0 + (end - start) / (self.total_iters * start + (epoch - 1) * (end - start))
        return [g["lr"] * ratio for g in groups]


class ExponentialLR(LRScheduler):
    """``lr ← lr · gamma`` every step (``initial_lr · gammaᵗ``)."""

    _loaded_checks: ClassVar[_Checks] = {"gamma": _non_negative}

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = _non_negative("gamma", gamma, type(self).__name__)
        super().__init__(optimizer, last_epoch)

    def _values(self, epoch: int, groups: list[MutableMapping[str, Any]]) -> list[float]:
        if epoch == 0 or self._resuming:
            return [g["lr"] for g in groups]
        return [g["lr"] * self.gamma for g in groups]


class PolynomialLR(LRScheduler):
    """``initial_lr · (1 − min(t, total_iters)/total_iters)^power``, applied as a ratio per step.
    ``power`` must be >= 0 (torch accepts a negative one, then divides by zero at step
    ``total_iters``)."""

    _loaded_checks: ClassVar[_Checks] = {
        "total_iters": lambda k, v, w: _integer(k, v, w, 1),
        "power": _non_negative,
    }

    def __init__(
        self,
        optimizer: Optimizer,
        total_iters: int = 5,
        power: float = 1.0,
        last_epoch: int = -1,
    ) -> None:
        where = type(self).__name__
        self.total_iters = _integer("total_iters", total_iters, where, 1)
        # torch accepts a negative power and fails at step total_iters (division by zero).
        self.power = _non_negative("power", power, where)
        super().__init__(optimizer, last_epoch)

    def _values(self, epoch: int, groups: list[MutableMapping[str, Any]]) -> list[float]:
        if epoch == 0 or epoch > self.total_iters or self._resuming:
            return [g["lr"] for g in groups]
        total = self.total_iters
        decay = ((1.0 - epoch / total) / (1.0 - (epoch - 1) / total)) ** self.power
        return [g["lr"] * decay for g in groups]


class CosineAnnealingLR(LRScheduler):
    """Cosine from ``initial_lr`` to ``eta_min`` over ``T_max`` steps, applied recursively as
    torch does (so it composes with other changes of the lr). After ``T_max`` it rises again
    (period ``2·T_max``): torch's documented behaviour, kept."""

    _loaded_checks: ClassVar[_Checks] = {
        "T_max": lambda k, v, w: _integer(k, v, w, 1),
        "eta_min": _non_negative,
    }

    def __init__(
        self,
        optimizer: Optimizer,
        T_max: int,
        eta_min: float = 0.0,
        last_epoch: int = -1,
    ) -> None:
        where = type(self).__name__
        self.T_max = _integer("T_max", T_max, where, 1)
        self.eta_min = _non_negative("eta_min", eta_min, where)
        super().__init__(optimizer, last_epoch)

    def _values(self, epoch: int, groups: list[MutableMapping[str, Any]]) -> list[float]:
        t_max, low = self.T_max, self.eta_min
        if epoch == 0 or self._resuming:
            return [g["lr"] for g in groups]
        if (epoch - 1 - t_max) % (2 * t_max) == 0:
            return [
                g["lr"] + (base - low) * (1 - math.cos(math.pi / t_max)) / 2
                for g, base in zip(groups, self.base_lrs, strict=True)
            ]
        ratio = (1 + math.cos(math.pi * epoch / t_max)) / (
            1 + math.cos(math.pi * (epoch - 1) / t_max)
        )
        return [ratio * (g["lr"] - low) + low for g in groups]
