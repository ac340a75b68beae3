"""Learning-rate schedulers with torch.optim.lr_scheduler's names, signatures, defaults and
semantics, for every optkern optimizer; and the schedules themselves as plain functions of the
step count (optax style).

A scheduler works on the optimizer's torch-style ``param_groups``: the constructor sets each
group's ``initial_lr`` (unless resuming with ``last_epoch >= 0``, which requires it) and applies
step 0; ``step()`` moves to the next step and writes the groups' ``lr`` (and ``momentum`` or
``betas[0]``, or textbook Adam's ``beta1``, for ``CyclicLR`` and ``OneCycleLR``); ``get_last_lr()`` gives the lrs last written;
``state_dict()`` / ``load_state_dict()`` save and restore the scheduler (together with the
optimizer's own checkpoint, which holds the groups' values) so that a resumed run continues with
the same values. The new values are checked by the optimizer's rules before anything is
written (a ``ValueError`` naming the scheduler, where torch would train on with a negative lr).

The recursive ("chainable") schedulers multiply the group's current lr by a factor, as torch's
do (so ``ChainedScheduler`` composes them), with torch's arithmetic: their values equal torch's
exactly. ``LambdaLR``, ``CosineAnnealingWarmRestarts``, ``CyclicLR`` and ``OneCycleLR`` compute
from the base values (the last three with the helpers of the functions below), also in torch's
order. A scheduler is built for the optimizer's param groups of the time: after
``add_param_group`` its ``step()`` raises a ``ValueError`` (torch silently skips the new group;
``ReduceLROnPlateau`` schedules it, as torch's, when ``min_lr`` was one number).

A textbook-style optimizer that has not seen ``update()`` yet has no param group: a scheduler then
works on its ``defaults`` (the values its first ``update()`` starts from: ``lr``, and for momentum
cycling ``momentum`` / ``betas``), with the keys a scheduler adds to groups (``initial_lr`` ...)
kept aside and put into the group that first ``update()`` makes. The textbook classes' ``opt.lr``
reads the scheduled value before and after.

A warning (``UserWarning``) is given when the first ``scheduler.step()`` after the constructor
comes before any ``optimizer.step()``/``update()`` (the schedule's first value would be skipped),
as in torch. A loss scaler that skips ``optimizer.step()`` because of inf/NaN gradients calls
``mark_step_skipped(optimizer)``, so that no warning is given then (torch warns there by mistake:
pytorch/pytorch#44511).

Where optkern differs from torch (besides raising ``TypeError``/``ValueError`` for bad arguments,
before anything is changed): ``step(epoch)`` (deprecated in torch) is offered only by
``CosineAnnealingWarmRestarts`` (torch's non-deprecated form) and ``ReduceLROnPlateau``;
``SequentialLR`` follows its documented intent where torch has open bugs (see its docstring);
``OneCycleLR`` stepping past ``total_steps`` raises without changing ``last_epoch``; resumed with
``last_epoch >= 0``, ``CosineAnnealingWarmRestarts`` (``T_mult > 1``) is in the period of step
``last_epoch + 1`` and ``CyclicLR`` computes from ``base_lr`` at once (torch 2.13 is not, and does
not: see those classes).
"""

from __future__ import annotations

from ._base import LRScheduler
from ._basic import (
    ConstantLR,
    CosineAnnealingLR,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    MultiplicativeLR,
    MultiStepLR,
    PolynomialLR,
    StepLR,
)
from ._composite import ChainedScheduler, SequentialLR
from ._cyclic import CosineAnnealingWarmRestarts, CyclicLR, OneCycleLR
from ._groups import mark_step_skipped
from ._plateau import ReduceLROnPlateau
from .schedules import (
    Schedule,
    constant_schedule,
    cosine_annealing_schedule,
    cosine_warm_restarts_schedule,
    cyclic_schedule,
    exponential_schedule,
    join_schedules,
    linear_schedule,
    multistep_schedule,
    one_cycle_schedule,
    polynomial_schedule,
    step_schedule,
    warmup_cosine_decay_schedule,
)

__all__ = [
    "ChainedScheduler",
    "ConstantLR",
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "CyclicLR",
    "ExponentialLR",
    "LRScheduler",
    "LambdaLR",
    "LinearLR",
    "MultiStepLR",
    "MultiplicativeLR",
    "OneCycleLR",
    "PolynomialLR",
    "ReduceLROnPlateau",
    "Schedule",
    "SequentialLR",
    "StepLR",
    "constant_schedule",
    "cosine_annealing_schedule",
    "cosine_warm_restarts_schedule",
    "cyclic_schedule",
    "exponential_schedule",
    "join_schedules",
    "linear_schedule",
    "mark_step_skipped",
    "multistep_schedule",
    "one_cycle_schedule",
    "polynomial_schedule",
    "step_schedule",
    "warmup_cosine_decay_schedule",
]

# The public path, not the private module that defines them, in reprs and pickles.
for _name in __all__:
    _value = globals()[_name]
    if isinstance(_value, type) or (callable(_value) and hasattr(_value, "__code__")):
        _value.__module__ = __name__
del _name, _value
