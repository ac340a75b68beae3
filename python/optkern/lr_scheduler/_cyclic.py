"""The cyclic schedulers: ``CosineAnnealingWarmRestarts``, ``CyclicLR`` and ``OneCycleLR``."""

from __future__ import annotations

import math
from collections.abc import Callable, MutableMapping, Sequence
from typing import Any, ClassVar

from ..optimizer import Optimizer
from ._base import LRScheduler, _Checks
from ._checks import _boolean, _integer, _non_negative
from ._groups import (
    _check_optimizer,
    _check_values,
    _momentum_key,
    _momentum_value,
    _param_groups,
    _per_group,
    _set_momentum,
    _Transaction,
)
from .schedules import (
    _cosine,
    _cyclic_scale,
    _cyclic_shape,
    _cyclic_value,
    _one_cycle_args,
    _one_cycle_phases,
    _one_cycle_value,
    _positive_number,
    _restart_position,
)


def _check_momentums(
    optimizer: Optimizer,
    groups: list[MutableMapping[str, Any]],
    key: str,
    lows: list[float],
    highs: list[float],
    where: str,
) -> None:
    """The momentums a cycle goes through, at both ends, checked by the optimizer's rules."""
    for ends in (lows, highs):
        updates = [{key: _momentum_value(g, key, m)} for g, m in zip(groups, ends, strict=True)]
        _check_values(optimizer, groups, updates, where)


class CosineAnnealingWarmRestarts(LRScheduler):
    """SGDR: ``eta_min + (initial_lr − eta_min)·(1 + cos(π·T_cur/T_i))/2``, restarting when
    ``T_cur`` reaches ``T_i`` (``T_0`` steps, then ``T_mult`` times longer each time).

    ``step()`` counts ``T_cur`` up by one; ``step(epoch)`` sets the position from ``epoch``,
    which may be a float (``epoch + i / iters_per_epoch`` within an epoch), and sets
    ``last_epoch`` to ``floor(epoch)``. Resumed with ``last_epoch=k``, the constructor takes the
    position of step k + 1 as ``step(k + 1)`` does; torch 2.13 there keeps ``T_i`` a period
    short when ``T_mult > 1`` (k = 33, T_0 = 10, T_mult = 2: ``T_i`` 20 instead of 40)."""

    _real_keys = frozenset({"T_cur"})  # step(epoch) takes a float
    _loaded_checks: ClassVar[_Checks] = {
        "T_mult": lambda k, v, w: _integer(k, v, w, 1),
        "eta_min": _non_negative,
    }

    def __init__(
        self,
        optimizer: Optimizer,
        T_0: int,
        T_mult: int = 1,
        eta_min: float = 0.0,
        last_epoch: int = -1,
    ) -> None:
        where = type(self).__name__
        self.T_0 = _integer("T_0", T_0, where, 1)
        self.T_i: float = self.T_0
        self.T_mult = _integer("T_mult", T_mult, where, 1)
        self.eta_min = _non_negative("eta_min", eta_min, where)
        _integer("last_epoch", last_epoch, where, -1)
        self.T_cur: float = 0
        super().__init__(optimizer, last_epoch)

    def _initial_step(self) -> None:
        # Resuming at last_epoch=k: the position of step k + 1, from the closed form (torch
        # 2.13 counts T_i one period short there when T_mult > 1).
        self._step_to(None if self.last_epoch < 0 else self.last_epoch + 1)
        self._start_counting()

    def _values(self, epoch: int, groups: list[MutableMapping[str, Any]]) -> list[float]:
        return [_cosine(base, self.eta_min, self.T_cur, self.T_i) for base in self.base_lrs]

    def step(self, epoch: float | None = None) -> None:
        """Next step (``epoch`` None), or the position at ``epoch`` (a number >= 0)."""
        if epoch is not None:
            epoch = _non_negative("epoch", epoch, f"{type(self).__name__}.step")
        self._warn_once()
        self._step_to(epoch)

    def _advance(self) -> None:
        self._step_to(None)

    def _step_to(self, epoch: float | None) -> None:
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            t_cur, t_i = self.T_cur + 1, self.T_i
            if t_cur >= t_i:
                t_cur, t_i = t_cur - t_i, t_i * self.T_mult
        elif epoch >= self.T_0:
            t_cur, t_i = _restart_position(epoch, self.T_0, self.T_mult)
            if self.T_mult == 1:
                t_i = self.T_i
        else:
            t_cur, t_i = epoch, self.T_0
        groups = self._groups()
        values = [_cosine(base, self.eta_min, t_cur, t_i) for base in self.base_lrs]
        self._write(math.floor(epoch), groups, values, None)
        self.T_cur, self.T_i = t_cur, t_i

    def _restart(self) -> None:
        self.T_cur, self.T_i, self.last_epoch = -1, self.T_0, -1
        self._step_to(None)


class CyclicLR(LRScheduler):
    """The cyclical learning rate of Smith (2017) between ``base_lr`` and ``max_lr`` (per group
    or one for all), with momentum (or beta1) cycled the other way between ``max_momentum`` and
    ``base_momentum``; see ``cyclic_schedule``. The constructor sets the groups' ``lr`` to
    ``base_lr`` (and ``momentum`` / ``betas[0]`` to ``max_momentum``) and their ``max_momentum``
    and ``base_momentum`` keys. Resuming (``last_epoch >= 0``) computes from ``base_lr`` from
    the first step on; torch's first step there uses the groups' ``initial_lr`` instead."""

    _functions = "_custom_scale"
    _not_saved = frozenset({"optimizer", "_scale"})

    def __init__(
        self,
        optimizer: Optimizer,
        base_lr: float | Sequence[float],
        max_lr: float | Sequence[float],
        step_size_up: int = 2000,
        step_size_down: int | None = None,
        mode: str = "triangular",
        gamma: float = 1.0,
        scale_fn: Callable[[float], float] | None = None,
        scale_mode: str = "cycle",
        cycle_momentum: bool = True,
        base_momentum: float | Sequence[float] = 0.8,
        max_momentum: float | Sequence[float] = 0.9,
        last_epoch: int = -1,
    ) -> None:
        where = type(self).__name__
        _check_optimizer(optimizer, where)
        _integer("last_epoch", last_epoch, where, -1)
        groups = _param_groups(optimizer)
        count = len(groups)
        base_lrs = [
            _non_negative(f"base_lr[{i}]", v, where)
            for i, v in enumerate(_per_group("base_lr", base_lr, count, where))
        ]
        self.max_lrs = [
            _non_negative(f"max_lr[{i}]", v, where)
            for i, v in enumerate(_per_group("max_lr", max_lr, count, where))
        ]
        self.total_size, self.step_ratio, self._scale, self.scale_mode = _cyclic_shape(
            step_size_up, step_size_down, mode, gamma, scale_fn, scale_mode, where
        )
        self.mode, self.gamma = mode, float(gamma)
        self._custom_scale = [] if scale_fn is None else [scale_fn]
        self.cycle_momentum = _boolean("cycle_momentum", cycle_momentum, where)
        if cycle_momentum:
            key = _momentum_key(optimizer, where)
            self.base_momentums = [
                _non_negative(f"base_momentum[{i}]", v, where)
                for i, v in enumerate(_per_group("base_momentum", base_momentum, count, where))
            ]
            self.max_momentums = [
                _non_negative(f"max_momentum[{i}]", v, where)
                for i, v in enumerate(_per_group("max_momentum", max_momentum, count, where))
            ]
            _check_momentums(optimizer, groups, key, self.base_momentums, self.max_momentums, where)
        self._setup(optimizer, last_epoch, where)
        with _Transaction(groups):
            if last_epoch == -1:
                for lr, group in zip(base_lrs, groups, strict=True):
                    group["lr"] = lr
                if cycle_momentum:
                    for high, low, group in zip(
                        self.max_momentums, self.base_momentums, groups, strict=True
                    ):
                        _set_momentum(group, key, high)
                        group["max_momentum"] = high
                        group["base_momentum"] = low
            self._set_initial(groups, last_epoch, where)
            self.base_lrs = base_lrs
            self._initial_step()

    def _values(self, epoch: int, groups: list[MutableMapping[str, Any]]) -> list[float]:
        return [
            _cyclic_value(
                base, top, epoch, self.total_size, self.step_ratio, self._scale, self.scale_mode
            )
            for base, top in zip(self.base_lrs, self.max_lrs, strict=True)
        ]

    def _momentums(self, epoch: int, groups: list[MutableMapping[str, Any]]) -> list[float] | None:
        if not self.cycle_momentum:
            return None
        return [
            _cyclic_value(
                high, low, epoch, self.total_size, self.step_ratio, self._scale, self.scale_mode
            )
            for low, high in zip(self.base_momentums, self.max_momentums, strict=True)
        ]

    def _load(self, state_dict: dict[str, Any], where: str) -> None:
        super()._load(state_dict, where)
        if not self._custom_scale:
            self._scale, _ = _cyclic_scale(self.mode, self.gamma)
        else:
            self._scale = self._custom_scale[0]


class OneCycleLR(LRScheduler):
    """The 1cycle policy of Smith and Topin (2018): from ``max_lr / div_factor`` up to
    ``max_lr`` over ``pct_start`` of the steps, then down to ``initial_lr / final_div_factor``
    (``three_phase``: back to ``initial_lr`` first), momentum (or beta1) going the other way
    between ``max_momentum`` and ``base_momentum``; see ``one_cycle_schedule``. The constructor
    sets the groups' ``initial_lr``, ``max_lr``, ``min_lr`` (and ``max_momentum``,
    ``base_momentum``), which each step reads. Stepping past ``total_steps`` raises a
    ``ValueError`` and changes nothing (torch counts the step first)."""

    def __init__(
        self,
        optimizer: Optimizer,
        max_lr: float | Sequence[float],
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum: float | Sequence[float] = 0.85,
        max_momentum: float | Sequence[float] = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        last_epoch: int = -1,
    ) -> None:
        where = type(self).__name__
        _check_optimizer(optimizer, where)
        _integer("last_epoch", last_epoch, where, -1)
        if total_steps is None:
            if epochs is None or steps_per_epoch is None:
                raise ValueError(
                    f"{where}: give total_steps, or epochs and steps_per_epoch, got none"
                )
            total_steps = _integer("epochs", epochs, where, 1) * _integer(
                "steps_per_epoch", steps_per_epoch, where, 1
            )
        self.total_steps, pct, self.anneal_strategy = _one_cycle_args(
            total_steps, pct_start, anneal_strategy, where
        )
        if not isinstance(three_phase, bool):
            raise TypeError(f"{where}: three_phase must be True or False, got {three_phase!r}")
        self.three_phase = three_phase
        self._ends = _one_cycle_phases(self.total_steps, pct, three_phase)
        groups = _param_groups(optimizer)
        count = len(groups)
        max_lrs = [
            _non_negative(f"max_lr[{i}]", v, where)
            for i, v in enumerate(_per_group("max_lr", max_lr, count, where))
        ]
        div = _positive_number("div_factor", div_factor, where)
        final_div = _positive_number("final_div_factor", final_div_factor, where)
        self.cycle_momentum = _boolean("cycle_momentum", cycle_momentum, where)
        if cycle_momentum:
            key = _momentum_key(optimizer, where)
            highs = [
                _non_negative(f"max_momentum[{i}]", v, where)
                for i, v in enumerate(_per_group("max_momentum", max_momentum, count, where))
            ]
            lows = [
                _non_negative(f"base_momentum[{i}]", v, where)
                for i, v in enumerate(_per_group("base_momentum", base_momentum, count, where))
            ]
            _check_momentums(optimizer, groups, key, lows, highs, where)
        self._setup(optimizer, last_epoch, where)
        with _Transaction(groups):
            if last_epoch == -1:
                for top, group in zip(max_lrs, groups, strict=True):
                    group["initial_lr"] = top / div
                    group["max_lr"] = top
                    group["min_lr"] = group["initial_lr"] / final_div
                if cycle_momentum:
                    for high, low, group in zip(highs, lows, groups, strict=True):
                        _set_momentum(group, key, high)
                        group["max_momentum"] = high
                        group["base_momentum"] = low
            elif cycle_momentum:
                missing = [
                    i
                    for i, g in enumerate(groups)
                    if "max_momentum" not in g or "base_momentum" not in g
                ]
                if missing:
                    raise ValueError(
                        f"{where}: last_epoch={last_epoch} resumes, but param_groups{missing} "
                        "have no 'max_momentum'/'base_momentum'"
                    )
            self._set_initial(groups, last_epoch, where)
            self._initial_step()

    def _check_total(self, epoch: int) -> None:
        if epoch > self.total_steps:
            raise ValueError(
                f"{type(self).__name__}: tried to step {epoch} times; the schedule has "
                f"total_steps={self.total_steps}"
            )

    def _values(self, epoch: int, groups: list[MutableMapping[str, Any]]) -> list[float]:
        self._check_total(epoch)
        out = []
        for g in groups:
            points = [g["initial_lr"], g["max_lr"]]
            points += [g["initial_lr"], g["min_lr"]] if self.three_phase else [g["min_lr"]]
            out.append(_one_cycle_value(epoch, self._ends, points, self.anneal_strategy))
        return out

    def _momentums(self, epoch: int, groups: list[MutableMapping[str, Any]]) -> list[float] | None:
        if not self.cycle_momentum:
            return None
        out = []
        for g in groups:
            high, low = g["max_momentum"], g["base_momentum"]
            points = [high, low, high, high] if self.three_phase else [high, low, high]
            out.append(_one_cycle_value(epoch, self._ends, points, self.anneal_strategy))
        return out
