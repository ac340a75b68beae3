"""How every variant is trained besides its network and optimizer: the learning-rate schedule
(``--schedule``), gradient clipping (``--clip``), an EMA of the weights (``--ema``) and gradient
accumulation (``--accumulate``).

All of them use the library's own pieces: ``optkern.lr_scheduler`` (stepped once per optimizer
step, after it), ``opt.step(grads, max_grad_norm=...)`` (the global norm, clipped inside the
fused step), ``opt.step(grads, ema=ema)`` (the EMA updated inside the step) and
``optkern.MultiSteps`` (the mean of K micro-batch gradients, divided inside the step).

An iteration is one optimizer step: with ``--accumulate K`` it takes K micro-batches of
``--batch-size`` samples each, so the schedule, the loss curve (the mean of the K micro-batch
losses) and the evaluation points all count optimizer steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .. import lr_scheduler
from ..optimizer import Optimizer

#: The kinds of ``--schedule`` and their spelling on the command line.
SCHEDULE_FORMS = {
    "constant": "constant",
    "step": "step[:STEP_SIZE[:GAMMA]]",
    "cosine": "cosine",
    "onecycle": "onecycle",
    "warmup-cosine": "warmup-cosine:WARMUP",
}

#: ``step`` without a step size: the lr drops every third of the run (twice in all).
STEP_FRACTION = 3
#: ``step`` without a gamma: the lr drops tenfold.
STEP_GAMMA = 0.1


@dataclass(frozen=True)
class Schedule:
    """A learning-rate schedule over a run of ``steps`` optimizer steps.

    * ``constant``: the optimizer's lr throughout (no scheduler).
    * ``step``: ``StepLR(step_size, gamma)``; without a step size ``ceil(steps / 3)`` (two drops).
    * ``cosine``: ``CosineAnnealingLR(T_max=steps)``: from the lr down to (almost) 0.
    * ``onecycle``: ``OneCycleLR(max_lr=lr, total_steps=steps)``, torch's defaults: up from
      lr / 25 over 30 % of the steps, then down to lr / 25e4, and the momentum (or beta1) cycled
      between 0.95 and 0.85 where the optimizer has one.
    * ``warmup-cosine``: ``LambdaLR`` of ``warmup_cosine_decay_schedule(0, 1, warmup, steps)``: a
      linear warm-up from 0 to the lr over ``warmup`` steps, then a cosine decay to 0 at the end.
    """

    kind: str = "constant"
    step_size: int | None = None
    gamma: float = STEP_GAMMA
    warmup: int = 0

    @property
    def label(self) -> str:
        """The command-line spelling, e.g. ``step:30:0.1`` (``step`` without a step size)."""
        if self.kind == "step":
            if self.step_size is None:
                return "step" if self.gamma == STEP_GAMMA else f"step::{self.gamma!r}"
            return f"step:{self.step_size}:{self.gamma!r}"
        if self.kind == "warmup-cosine":
            return f"warmup-cosine:{self.warmup}"
        return self.kind

    def step_size_for(self, steps: int) -> int:
        return self.step_size or max(1, math.ceil(steps / STEP_FRACTION))

    def check(self, steps: int) -> None:
        """ValueError (one line) if the schedule cannot run ``steps`` optimizer steps."""
        if self.kind == "warmup-cosine" and self.warmup >= steps:
            raise ValueError(
                f"schedule {self.label!r}: the warm-up ({self.warmup} steps) must be shorter than "
                f"the run ({steps} steps)"
            )

    def build(self, optimizer: Optimizer, steps: int) -> lr_scheduler.LRScheduler | None:
        """The scheduler for ``optimizer`` (None for ``constant``); it has applied step 0."""
        self.check(steps)
        if self.kind == "constant":
            return None
        if self.kind == "step":
            return lr_scheduler.StepLR(optimizer, self.step_size_for(steps), self.gamma)
        if self.kind == "cosine":
            return lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
        if self.kind == "onecycle":
            return lr_scheduler.OneCycleLR(
                optimizer,
                max_lr=_lr(optimizer),
                total_steps=steps,
                cycle_momentum=_has_momentum(optimizer),
            )
        if self.kind == "warmup-cosine":
            factor = lr_scheduler.warmup_cosine_decay_schedule(0.0, 1.0, self.warmup, steps)
            return lr_scheduler.LambdaLR(optimizer, factor)
        raise AssertionError(self.kind)  # parse_schedule admits no other kind


def _lr(optimizer: Optimizer) -> float:
    groups = optimizer.param_groups
    return float(groups[0]["lr"] if groups else optimizer.defaults["lr"])


def _has_momentum(optimizer: Optimizer) -> bool:
    """Whether OneCycleLR can cycle a momentum (``momentum``, ``betas`` or textbook ``beta1``)."""
    return any(key in optimizer.defaults for key in ("momentum", "betas", "beta1"))


def _count(text: str, what: str, spec: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"bad {what} {text!r} in {spec!r}: not an integer") from None
    if value < minimum:
        raise ValueError(f"bad {what} in {spec!r}: must be >= {minimum}")
    return value


def parse_schedule(text: str) -> Schedule:
    """``constant``, ``step[:STEP_SIZE[:GAMMA]]``, ``cosine``, ``onecycle`` or
    ``warmup-cosine:WARMUP`` → Schedule; ValueError with a one-line message."""
    spec = text.strip().lower()
    kind, *fields = spec.split(":")
    known = ", ".join(SCHEDULE_FORMS.values())
    if kind not in SCHEDULE_FORMS:
        raise ValueError(f"unknown schedule {text!r}; known: {known}")
    form = SCHEDULE_FORMS[kind]
    if kind in ("constant", "cosine", "onecycle"):
        if fields:
            raise ValueError(f"schedule {kind!r} takes no arguments, got {text!r}")
        return Schedule(kind)
    if kind == "warmup-cosine":
        if len(fields) != 1:
            raise ValueError(f"bad schedule {text!r}: write {form}")
        return Schedule(kind, warmup=_count(fields[0], "warm-up", text, 1))
    if len(fields) > 2:
        raise ValueError(f"bad schedule {text!r}: write {form}")
    step_size = None
    if fields and fields[0]:
        step_size = _count(fields[0], "step size", text, 1)
    gamma = STEP_GAMMA
    if len(fields) == 2:
        try:
            gamma = float(fields[1])
        except ValueError:
            raise ValueError(f"bad gamma {fields[1]!r} in {text!r}: not a number") from None
        if not (math.isfinite(gamma) and gamma > 0):
            raise ValueError(f"bad gamma in {text!r}: must be finite and > 0")
    return Schedule(kind, step_size, gamma)


@dataclass(frozen=True)
class Training:
    """The options every variant of a run is trained with (besides a variant's own schedule)."""

    schedule: Schedule = field(default_factory=Schedule)
    clip: float | None = None  # max_grad_norm
    ema: float | None = None  # the EMA's decay
    accumulate: int = 1  # micro-batches per optimizer step

    def __post_init__(self) -> None:
        if self.clip is not None and not (math.isfinite(self.clip) and self.clip > 0):
            raise ValueError(f"clip {self.clip!r}: must be finite and > 0")
        if self.ema is not None and not 0.0 < self.ema < 1.0:
            raise ValueError(f"ema {self.ema!r}: the decay must be in (0, 1)")
        if isinstance(self.accumulate, bool) or self.accumulate < 1:
            raise ValueError(f"accumulate {self.accumulate!r}: must be an int >= 1")

    def step_options(self) -> dict[str, Any]:
        """The keywords of ``opt.step`` besides ``ema`` (which needs the EMA object)."""
        return {} if self.clip is None else {"max_grad_norm": self.clip}

    def describe(self) -> str:
        """For the table's title: what differs from plain training (empty when nothing)."""
        parts = []
        if self.schedule.kind != "constant":
            parts.append(f"schedule {self.schedule.label}")
        if self.clip is not None:
            parts.append(f"clip {self.clip:g}")
        if self.ema is not None:
            parts.append(f"EMA {self.ema:g} (accuracy of the averaged weights)")
        if self.accumulate > 1:
            parts.append(f"{self.accumulate} micro-batches per step")
        return ", ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        """For results.json."""
        return {
            "schedule": self.schedule.label,
            "clip": self.clip,
            "ema": self.ema,
            "accumulate": self.accumulate,
        }
