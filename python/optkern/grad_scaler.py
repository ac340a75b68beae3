"""``GradScaler``: dynamic loss scaling (torch's ``torch.amp.GradScaler``) for optkern optimizers.

Training with 16-bit gradients, the loss is multiplied by a large scale before the backward pass
so that small gradients do not underflow; the step then divides the gradients by the scale. Here
that division happens inside the fused update (``opt.step(grads, grad_scale=s)``): the gradients
are never written. A step whose gradients hold an inf or NaN is skipped entirely (parameters,
state and step count untouched; one read-only statistics pass found it), and ``update()`` then
backs the scale off; after ``growth_interval`` steps without one it grows the scale again.

    scaler = optkern.GradScaler()
    for x, y in batches:
        loss = model.loss(x, y)
        grads = model.backward(scaler.scale(1.0))  # the upstream gradient, scaled
        scaler.step(opt, grads)                     # or scaler.step(opt, grads, max_grad_norm=1.0)
        scaler.update()
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from . import _validation
from .lr_scheduler import mark_step_skipped
from .optimizer import Optimizer


def _positive(name: str, value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: {name} must be a real number, got {type(value).__name__}")
    number = float(value)
    if not (math.isfinite(number) and number > 0):
        raise ValueError(f"{where}: invalid {name}={value!r}: must be finite and > 0")
    return number


class GradScaler:
    """torch's ``GradScaler`` defaults and rules: ``init_scale=2.0**16``, ``growth_factor=2.0``,
    ``backoff_factor=0.5``, ``growth_interval=2000``; ``enabled=False`` makes every method a
    pass-through (``scale`` returns its argument, ``step`` a plain step).

    Differences from torch, on purpose: ``step(optimizer, grads)`` takes the gradients (optkern
    optimizers are given them per step), and unscales, checks and clips them inside the fused
    step (``max_grad_norm=`` clips by the norm of the unscaled gradients) instead of writing them
    in ``unscale_``, which this class therefore has not. The scale is a Python float (torch
    keeps a float32 tensor; with the default power-of-two factors the values are the same)."""

    _scale: float
    _growth_factor: float
    _backoff_factor: float
    _growth_interval: int
    _enabled: bool
    _growth_tracker: int

    def __init__(
        self,
        init_scale: float = 2.0**16,
        growth_factor: float = 2.0,
        backoff_factor: float = 0.5,
        growth_interval: int = 2000,
        enabled: bool = True,
    ) -> None:
        where = "GradScaler"
        self._scale = _positive("init_scale", init_scale, where)
        self._growth_factor = _positive("growth_factor", growth_factor, where)
        if self._growth_factor <= 1.0:
            raise ValueError(f"{where}: growth_factor must be > 1, got {growth_factor!r}")
        self._backoff_factor = _positive("backoff_factor", backoff_factor, where)
        if self._backoff_factor >= 1.0:
            raise ValueError(f"{where}: backoff_factor must be < 1, got {backoff_factor!r}")
        if isinstance(growth_interval, bool) or not isinstance(growth_interval, numbers.Integral):
            raise TypeError(f"{where}: growth_interval must be an int, got {growth_interval!r}")
        if growth_interval < 1:
            raise ValueError(f"{where}: growth_interval must be >= 1, got {growth_interval}")
        self._growth_interval = int(growth_interval)
        _validation.boolean("enabled", enabled, where)
        self._enabled = enabled
        self._growth_tracker = 0
        # Whether a step since the last update() found an inf or NaN (None: no step yet).
        self._found_inf: bool | None = None

    def is_enabled(self) -> bool:
        return self._enabled

    def get_scale(self) -> float:
        """The current scale (1.0 when disabled)."""
        return self._scale if self._enabled else 1.0

    def get_growth_factor(self) -> float:
        return self._growth_factor

    def get_backoff_factor(self) -> float:
        return self._backoff_factor

    def get_growth_interval(self) -> int:
        return self._growth_interval

    def scale(self, outputs: Any) -> Any:
        """``outputs`` times the scale: a number, a NumPy array (a new array of its dtype), or a
        list/tuple of them, recursively."""
        if not self._enabled:
            return outputs
        return self._scaled(outputs)

    def _scaled(self, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return type(value)(self._scaled(item) for item in value)
        if isinstance(value, np.ndarray):
            if value.dtype.itemsize < 4:  # float16's range ends at 65504, below the scale 2**16
                scaled = value.astype(np.float32) * np.float32(self._scale)
                with np.errstate(over="ignore"):  # a product beyond the range is inf, as in torch
                    return scaled.astype(value.dtype)
            return value * value.dtype.type(self._scale)
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return float(value) * self._scale
        raise TypeError(
            f"GradScaler.scale: takes numbers, numpy arrays and lists or tuples of them, got "
            f"{type(value).__name__}"
        )

    def step(
        self, optimizer: Any, grads: Any, *, max_grad_norm: float | None = None
    ) -> float | None:
        """One step of ``optimizer`` on the scaled ``grads``: divided by the scale and clipped
        (``max_grad_norm``) inside the update, or skipped if any element is inf or NaN. Returns
        the unscaled gradients' norm (inf or NaN for a skipped step)."""
        # optkern.distributed's DataParallel and ZeroOptimizer step like an optimizer and hold
        # the plain one they step (``.optimizer``), which a skipped step is marked on.
        inner = (
            optimizer if isinstance(optimizer, Optimizer) else getattr(optimizer, "optimizer", None)
        )
        if not isinstance(inner, Optimizer):
            raise TypeError(
                f"GradScaler.step: optimizer must be an optkern optimizer (or an "
                f"optkern.distributed one), got {type(optimizer).__name__}"
            )
        if not self._enabled:
            result: float | None = optimizer.step(grads, max_grad_norm=max_grad_norm)
            return result
        before = optimizer.step_count
        norm: float | None = optimizer.step(
            grads, grad_scale=self._scale, max_grad_norm=max_grad_norm, skip_if_nonfinite=True
        )
        skipped = optimizer.step_count == before
        if skipped:
            mark_step_skipped(inner)  # no "scheduler.step() before optimizer.step()" warning
        self._found_inf = skipped or bool(self._found_inf)
        return norm

    def update(self, new_scale: float | None = None) -> None:
        """After the step(s) of an iteration: backs the scale off (times ``backoff_factor``) if
        any step since the last update found an inf or NaN, else counts a good iteration and
        grows the scale (times ``growth_factor``, while that stays finite) after
        ``growth_interval`` of them in a row. ``new_scale`` sets the scale instead."""
        if not self._enabled:
            return
        if new_scale is not None:
            self._scale = _positive("new_scale", new_scale, "GradScaler.update")
        elif self._found_inf is None:
            raise ValueError("GradScaler.update: no step() since the last update()")
        elif self._found_inf:
            self._scale *= self._backoff_factor
            self._growth_tracker = 0
        else:
            self._growth_tracker += 1
            if self._growth_tracker == self._growth_interval:
                grown = self._scale * self._growth_factor
                if math.isfinite(grown):
                    self._scale = grown
                self._growth_tracker = 0
        self._found_inf = None

    def state_dict(self) -> dict[str, Any]:
        """torch's keys: scale, growth_factor, backoff_factor, growth_interval,
        _growth_tracker (empty when disabled, as torch)."""
        if not self._enabled:
            return {}
        return {
            "scale": self._scale,
            "growth_factor": self._growth_factor,
            "backoff_factor": self._backoff_factor,
            "growth_interval": self._growth_interval,
            "_growth_tracker": self._growth_tracker,
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restores ``state_dict()``'s values (also a torch GradScaler's, its scale as a
        float), checked before any is set."""
        if not self._enabled:
            return
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"GradScaler.load_state_dict: expected a dict, got {state_dict!r}")
        expected = ("scale", "growth_factor", "backoff_factor", "growth_interval")
        missing = [key for key in expected if key not in state_dict]
        if missing:
            raise ValueError(f"GradScaler.load_state_dict: missing key {missing[0]!r}")
        fresh = GradScaler(
            init_scale=float(state_dict["scale"]),
            growth_factor=state_dict["growth_factor"],
            backoff_factor=state_dict["backoff_factor"],
            growth_interval=state_dict["growth_interval"],
        )
        tracker = state_dict.get("_growth_tracker", 0)
        if isinstance(tracker, bool) or not isinstance(tracker, numbers.Integral) or tracker < 0:
            raise ValueError(
                f"GradScaler.load_state_dict: _growth_tracker must be an int >= 0, got {tracker!r}"
            )
        self._scale = fresh._scale
        self._growth_factor = fresh._growth_factor
        self._backoff_factor = fresh._backoff_factor
        self._growth_interval = fresh._growth_interval
        self._growth_tracker = int(tracker)
        self._found_inf = None

    def __repr__(self) -> str:
        return (
            f"GradScaler(scale={self.get_scale()}, growth_factor={self._growth_factor}, "
            f"backoff_factor={self._backoff_factor}, growth_interval={self._growth_interval}, "
            f"enabled={self._enabled})"
        )
