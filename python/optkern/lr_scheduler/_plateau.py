"""``ReduceLROnPlateau``: the scheduler driven by a metric."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar, SupportsFloat

from ..optimizer import Optimizer
from ._base import LRScheduler, _Checks
from ._checks import _integer, _non_negative, _real
from ._groups import _check_optimizer, _param_groups, _per_group


class ReduceLROnPlateau(LRScheduler):
    """Multiply the lr by ``factor`` (not below ``min_lr``) when the metric passed to
    ``step(metrics)`` has not improved for more than ``patience`` steps, then wait ``cooldown``
    steps. Improvement: ``mode`` ``"min"`` or ``"max"``, by more than ``threshold`` relative
    (``threshold_mode="rel"``) or absolute (``"abs"``). A change smaller than ``eps`` is not
    made. It sets no ``initial_lr`` and changes nothing at construction, as in torch. As in
    torch, groups added later are scheduled too (with ``min_lr``) if ``min_lr`` was one number;
    with a list of ``min_lr`` its ``step()`` raises then."""

    _loaded_checks: ClassVar[_Checks] = {
        "patience": lambda k, v, w: _integer(k, v, w, 0),
        "threshold": _non_negative,
        "cooldown": lambda k, v, w: _integer(k, v, w, 0),
        "eps": _non_negative,
    }
    _optional_keys = frozenset({"default_min_lr"})

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float | Sequence[float] = 0,
        eps: float = 1e-8,
    ) -> None:
        where = type(self).__name__
        _check_optimizer(optimizer, where)
        if mode not in ("min", "max"):
            raise ValueError(f"{where}: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(
                f"{where}: threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}"
            )
        factor_value = _real("factor", factor, where)
        if not 0.0 <= factor_value < 1.0:
            raise ValueError(f"{where}: factor must be in [0, 1), got {factor!r}")
        groups = _param_groups(optimizer)
        self.default_min_lr = (
            None if isinstance(min_lr, (list, tuple)) else _non_negative("min_lr", min_lr, where)
        )
        self.min_lrs = [
            _non_negative(f"min_lr[{i}]", v, where)
            for i, v in enumerate(_per_group("min_lr", min_lr, len(groups), where))
        ]
        self.factor = factor_value
        self.patience = _integer("patience", patience, where, 0)
        self.threshold = _non_negative("threshold", threshold, where)
        self.cooldown = _integer("cooldown", cooldown, where, 0)
        self.eps = _non_negative("eps", eps, where)
        self.mode, self.threshold_mode = mode, threshold_mode
        self._setup(optimizer, -1, where)
        self.last_epoch = 0
        self._last_lr = [g["lr"] for g in groups]
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def step(self, metrics: SupportsFloat, epoch: int | None = None) -> None:  # type: ignore[override]
        """One step with the metric's value (a number)."""
        where = f"{type(self).__name__}.step"
        try:
            current = float(metrics)
        except (TypeError, ValueError):
            raise TypeError(
                f"{where}: metrics must be a number, got {type(metrics).__name__}"
            ) from None
        if epoch is not None:
            epoch = _integer("epoch", epoch, where, 0)
        groups = _param_groups(self.optimizer)
        if len(groups) != len(self.min_lrs):
            # As torch 2.13: a scalar min_lr applies to groups added since; a list cannot.
            if self.default_min_lr is None:
                raise ValueError(
                    f"{where}: the optimizer has {len(groups)} param groups, but min_lr was a "
                    f"list of {len(self.min_lrs)}; build a new scheduler after add_param_group() "
                    "(or pass one min_lr for all groups)"
                )
            self.min_lrs = [self.default_min_lr] * len(groups)
        self.last_epoch = self.last_epoch + 1 if epoch is None else epoch
        if self._better(current):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for group, low in zip(groups, self.min_lrs, strict=True):
                old = float(group["lr"])
                new = max(old * self.factor, low)
                if old - new > self.eps:
                    group["lr"] = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [g["lr"] for g in groups]

    def _better(self, current: float) -> bool:
        best = self.best
        if self.mode == "min":
            if self.threshold_mode == "rel":
                return current < best * (1.0 - self.threshold)
            return current < best - self.threshold
        if self.threshold_mode == "rel":
            return current > best * (self.threshold + 1.0)
        return current > best + self.threshold

    @property
    def in_cooldown(self) -> bool:
        """True while waiting ``cooldown`` steps after a reduction."""
        return self.cooldown_counter > 0
