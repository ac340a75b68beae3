"""Learning-rate schedulers with torch.optim.lr_scheduler's names, signatures, defaults and
semantics, for every optkern optimizer; and the schedules themselves as plain functions of the
step count (optax style).

A scheduler works on the optimizer's torch-style ``param_groups``: the constructor sets each
group's ``initial_lr`` (unless resuming with ``last_epoch >= 0``, which requires it) and applies
step 0; ``step()`` moves to the next step and writes the groups' ``lr`` (and ``momentum`` or
``betas[0]`` for ``CyclicLR`` and ``OneCycleLR``); ``get_last_lr()`` gives the lrs last written;
``state_dict()`` / ``load_state_dict()`` save and restore the scheduler (together with the
optimizer's own checkpoint, which holds the groups' values) so that a resumed run continues with
the same values. The optimizer validates the new values at its next step.

The recursive ("chainable") schedulers multiply the group's current lr by a factor, as torch's
do (so ``ChainedScheduler`` composes them), with torch's arithmetic: their values equal torch's
exactly. ``LambdaLR``, ``CosineAnnealingWarmRestarts``, ``CyclicLR`` and ``OneCycleLR`` compute
from the base values (the last three with the helpers of the functions below), also in torch's
order. A scheduler is built for the optimizer's param groups of the time: after
``add_param_group`` its ``step()`` raises a ``ValueError`` (torch silently skips the new group).

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

import bisect
import copy
import math
import numbers
import types
import warnings
import weakref
from collections import Counter
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from typing import Any, SupportsFloat

from .optimizer import Optimizer

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

#: A schedule: the value at a step count (0, 1, ...; a float for warm restarts).
Schedule = Callable[[float], float]

# ----------------------------------------------------------------------------- argument checks


def _real(name: str, value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: {name} must be a real number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{where}: {name} must be finite, got {value!r}")
    return number


def _non_negative(name: str, value: Any, where: str) -> float:
    number = _real(name, value, where)
    if number < 0:
        raise ValueError(f"{where}: {name} must be >= 0, got {value!r}")
    return number


def _in_range(
    name: str, value: Any, where: str, low: float, high: float, *, open_low: bool = False
) -> float:
    number = _real(name, value, where)
    if not (low < number if open_low else low <= number) or not number <= high:
        bracket = "(" if open_low else "["
        raise ValueError(f"{where}: {name} must be in {bracket}{low}, {high}], got {value!r}")
    return number


def _integer(name: str, value: Any, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{where}: {name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{where}: {name} must be >= {minimum}, got {value!r}")
    return int(value)


def _callable(name: str, value: Any, where: str) -> None:
    if not callable(value):
        raise TypeError(f"{where}: {name} must be callable, got {type(value).__name__}")


# ----------------------------------------------------------------------------- schedules


def constant_schedule(value: float) -> Schedule:
    """``value`` at every step."""
    value = _real("value", value, "constant_schedule")
    return lambda step: value


def linear_schedule(
    init_value: float, end_value: float, transition_steps: int, transition_begin: int = 0
) -> Schedule:
    """``init_value`` until ``transition_begin``, then linear to ``end_value`` over
    ``transition_steps`` steps, then ``end_value`` (optax's ``linear_schedule``)."""
    where = "linear_schedule"
    init = _real("init_value", init_value, where)
    end = _real("end_value", end_value, where)
    steps = _integer("transition_steps", transition_steps, where, 1)
    begin = _integer("transition_begin", transition_begin, where, 0)

    def schedule(step: float) -> float:
        fraction = min(max(step - begin, 0), steps) / steps
        return init + (end - init) * fraction

    return schedule


def exponential_schedule(init_value: float, gamma: float) -> Schedule:
    """``init_value · gammaᵗ`` (ExponentialLR)."""
    init = _real("init_value", init_value, "exponential_schedule")
    rate = _non_negative("gamma", gamma, "exponential_schedule")
    return lambda step: init * rate**step


def step_schedule(init_value: float, step_size: int, gamma: float = 0.1) -> Schedule:
    """``init_value · gamma^⌊t / step_size⌋`` (StepLR)."""
    where = "step_schedule"
    init = _real("init_value", init_value, where)
    size = _integer("step_size", step_size, where, 1)
    rate = _non_negative("gamma", gamma, where)
    return lambda step: init * rate ** (step // size)


def multistep_schedule(
    init_value: float, milestones: Sequence[int], gamma: float = 0.1
) -> Schedule:
    """``init_value · gammaⁿ``, n the number of milestones <= t (MultiStepLR)."""
    where = "multistep_schedule"
    init = _real("init_value", init_value, where)
    points = sorted(_milestones(milestones, where))
    rate = _non_negative("gamma", gamma, where)
    return lambda step: init * rate ** bisect.bisect_right(points, step)


def polynomial_schedule(
    init_value: float, end_value: float, power: float, transition_steps: int
) -> Schedule:
    """``end + (init − end)·(1 − min(t, T)/T)^power`` (PolynomialLR: end_value 0)."""
    where = "polynomial_schedule"
    init = _real("init_value", init_value, where)
    end = _real("end_value", end_value, where)
    exponent = _real("power", power, where)
    total = _integer("transition_steps", transition_steps, where, 1)
    return lambda step: end + (init - end) * (1.0 - min(total, step) / total) ** exponent


def cosine_annealing_schedule(init_value: float, T_max: int, eta_min: float = 0.0) -> Schedule:
    """``eta_min + (init − eta_min)·(1 + cos(π·t/T_max))/2`` (CosineAnnealingLR's closed form:
    after ``T_max`` it rises again, a period of ``2·T_max``)."""
    where = "cosine_annealing_schedule"
    init = _real("init_value", init_value, where)
    period = _integer("T_max", T_max, where, 1)
    low = _real("eta_min", eta_min, where)
    return lambda step: low + (init - low) * (1 + math.cos(math.pi * step / period)) / 2


def _restart_position(epoch: float, t0: int, t_mult: int) -> tuple[float, int]:
    """(T_cur, T_i) at ``epoch`` for warm restarts."""
    if epoch < t0:
        return epoch, t0
    if t_mult == 1:
        return epoch % t0, t0
    n = int(math.log(epoch / t0 * (t_mult - 1) + 1, t_mult))
    return epoch - t0 * (t_mult**n - 1) / (t_mult - 1), t0 * t_mult**n


def _cosine(base: float, low: float, t_cur: float, t_i: float) -> float:
    return low + (base - low) * (1 + math.cos(math.pi * t_cur / t_i)) / 2


def cosine_warm_restarts_schedule(
    init_value: float,
    T_0: int,
    T_mult: int = 1,
    eta_min: float = 0.0,
) -> Schedule:
    """SGDR: cosine from ``init_value`` to ``eta_min`` over ``T_0`` steps, then restarts, each
    period ``T_mult`` times the last (CosineAnnealingWarmRestarts). Takes float steps."""
    where = "cosine_warm_restarts_schedule"
    init = _real("init_value", init_value, where)
    t0 = _integer("T_0", T_0, where, 1)
    t_mult = _integer("T_mult", T_mult, where, 1)
    low = _real("eta_min", eta_min, where)

    def schedule(step: float) -> float:
        step = _non_negative("step", step, where)
        return _cosine(init, low, *_restart_position(step, t0, t_mult))

    return schedule


_CYCLIC_MODES = ("triangular", "triangular2", "exp_range")


def _cyclic_scale(mode: str, gamma: float) -> tuple[Callable[[float], float], str]:
    if mode == "triangular":
        return (lambda x: 1.0), "cycle"
    if mode == "triangular2":
        return (lambda x: 1 / (2.0 ** (x - 1))), "cycle"
    return (lambda x: gamma**x), "iterations"


def _cyclic_position(step: float, total: float, ratio: float) -> tuple[int, float]:
    """(cycle, scale factor) of CyclicLR at ``step``."""
    cycle = math.floor(1 + step / total)
    x = 1.0 + step / total - cycle
    factor = x / ratio if x <= ratio else (x - 1) / (ratio - 1)
    return cycle, factor


def cyclic_schedule(
    base_value: float,
    max_value: float,
    step_size_up: int = 2000,
    step_size_down: int | None = None,
    mode: str = "triangular",
    gamma: float = 1.0,
    scale_fn: Callable[[float], float] | None = None,
    scale_mode: str = "cycle",
) -> Schedule:
    """CyclicLR's lr: from ``base_value`` up to ``max_value`` in ``step_size_up`` steps and back
    in ``step_size_down`` (default: as up), the amplitude scaled by ``mode`` (``triangular``: 1,
    ``triangular2``: halved each cycle, ``exp_range``: ``gamma**step``) or ``scale_fn`` of the
    cycle or the step (``scale_mode``). For momentum pass the bounds the other way round."""
    where = "cyclic_schedule"
    base = _real("base_value", base_value, where)
    top = _real("max_value", max_value, where)
    total, ratio, scale, by = _cyclic_shape(
        step_size_up, step_size_down, mode, gamma, scale_fn, scale_mode, where
    )

    return lambda step: _cyclic_value(base, top, step, total, ratio, scale, by)


def _cyclic_value(
    base: float,
    top: float,
    step: float,
    total: float,
    ratio: float,
    scale: Callable[[float], float],
    by: str,
) -> float:
    cycle, factor = _cyclic_position(step, total, ratio)
    return base + (top - base) * factor * scale(cycle if by == "cycle" else step)


def _cyclic_shape(
    step_size_up: Any,
    step_size_down: Any,
    mode: Any,
    gamma: Any,
    scale_fn: Any,
    scale_mode: Any,
    where: str,
) -> tuple[float, float, Callable[[float], float], str]:
    up = float(_positive_number("step_size_up", step_size_up, where))
    down = (
        up
        if step_size_down is None
        else float(_positive_number("step_size_down", step_size_down, where))
    )
    gamma = _real("gamma", gamma, where)
    if scale_fn is None:
        if mode not in _CYCLIC_MODES:
            raise ValueError(f"{where}: mode must be one of {_CYCLIC_MODES}, got {mode!r}")
        scale, by = _cyclic_scale(mode, gamma)
    else:
        _callable("scale_fn", scale_fn, where)
        if scale_mode not in ("cycle", "iterations"):
            raise ValueError(
                f"{where}: scale_mode must be 'cycle' or 'iterations', got {scale_mode!r}"
            )
        scale, by = scale_fn, scale_mode
    total = up + down
    return total, up / total, scale, by


def _positive_number(name: str, value: Any, where: str) -> float:
    number = _real(name, value, where)
    if number <= 0:
        raise ValueError(f"{where}: {name} must be > 0, got {value!r}")
    return number


def _anneal(strategy: str, start: float, end: float, pct: float) -> float:
    if strategy == "cos":
        return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
    return (end - start) * pct + start


def _one_cycle_phases(total: int, pct_start: float, three_phase: bool) -> list[float]:
    """The last step of each phase."""
    if three_phase:
        return [float(pct_start * total) - 1, float(2 * pct_start * total) - 2, total - 1]
    return [float(pct_start * total) - 1, total - 1]


def _one_cycle_value(step: float, ends: list[float], points: list[float], strategy: str) -> float:
    """Anneal between ``points[i]`` and ``points[i + 1]`` in phase i (ending at ``ends[i]``)."""
    start = 0.0
    for i, end in enumerate(ends):
        if step <= end or i == len(ends) - 1:
            return _anneal(strategy, points[i], points[i + 1], (step - start) / (end - start))
        start = end
    raise AssertionError("unreachable")


def _one_cycle_args(
    total_steps: Any, pct_start: Any, anneal_strategy: Any, where: str
) -> tuple[int, float, str]:
    total = _integer("total_steps", total_steps, where, 1)
    pct = _in_range("pct_start", pct_start, where, 0.0, 1.0)
    if anneal_strategy not in ("cos", "linear"):
        raise ValueError(
            f"{where}: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}"
        )
    return total, pct, anneal_strategy


def one_cycle_schedule(
    max_value: float,
    total_steps: int,
    pct_start: float = 0.3,
    anneal_strategy: str = "cos",
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
    three_phase: bool = False,
) -> Schedule:
    """OneCycleLR's lr: from ``max_value / div_factor`` up to ``max_value`` over the first
    ``pct_start`` of ``total_steps``, then down to ``max_value / div_factor / final_div_factor``
    (``three_phase``: back to the start, then down), annealed by ``cos`` or ``linear``."""
    where = "one_cycle_schedule"
    top = _real("max_value", max_value, where)
    total, pct, strategy = _one_cycle_args(total_steps, pct_start, anneal_strategy, where)
    initial = top / _positive_number("div_factor", div_factor, where)
    low = initial / _positive_number("final_div_factor", final_div_factor, where)
    ends = _one_cycle_phases(total, pct, bool(three_phase))
    points = [initial, top, initial, low] if three_phase else [initial, top, low]

    def schedule(step: float) -> float:
        if step > total:
            raise ValueError(f"{where}: step {step} is beyond total_steps={total}")
        return _one_cycle_value(step, ends, points, strategy)

    return schedule


def warmup_cosine_decay_schedule(
    init_value: float,
    peak_value: float,
    warmup_steps: int,
    decay_steps: int,
    end_value: float = 0.0,
) -> Schedule:
    """Linear warm-up from ``init_value`` to ``peak_value`` over ``warmup_steps``, then cosine
    decay to ``end_value`` until step ``decay_steps`` (warm-up included), then ``end_value``
    (optax's ``warmup_cosine_decay_schedule``)."""
    where = "warmup_cosine_decay_schedule"
    init = _real("init_value", init_value, where)
    peak = _real("peak_value", peak_value, where)
    end = _real("end_value", end_value, where)
    warmup = _integer("warmup_steps", warmup_steps, where, 0)
    decay = _integer("decay_steps", decay_steps, where, 1)
    if decay <= warmup:
        raise ValueError(
            f"{where}: decay_steps ({decay}) must be > warmup_steps ({warmup}); it counts the "
            "warm-up too"
        )
    cosine_steps = decay - warmup

    def schedule(step: float) -> float:
        if step < warmup:
            return init + (peak - init) * (step / warmup)
        t = min(step - warmup, cosine_steps)
        return end + (peak - end) * (1 + math.cos(math.pi * t / cosine_steps)) / 2

    return schedule


def join_schedules(schedules: Sequence[Schedule], boundaries: Sequence[int]) -> Schedule:
    """``schedules[i]`` from ``boundaries[i - 1]`` on, each counting from 0 at its boundary
    (optax's ``join_schedules``): ``len(boundaries) == len(schedules) - 1``, non-decreasing."""
    where = "join_schedules"
    parts = list(schedules)
    if not parts:
        raise ValueError(f"{where}: schedules must not be empty")
    for i, part in enumerate(parts):
        _callable(f"schedules[{i}]", part, where)
    points = _milestones(boundaries, where, "boundaries")
    if len(points) != len(parts) - 1:
        raise ValueError(
            f"{where}: expected {len(parts) - 1} boundaries for {len(parts)} schedules, got "
            f"{len(points)}"
        )
    if points != sorted(points):
        raise ValueError(f"{where}: boundaries must be non-decreasing, got {points}")

    def schedule(step: float) -> float:
        index = bisect.bisect_right(points, step)
        return parts[index](step - points[index - 1] if index else step)

    return schedule


def _milestones(values: Any, where: str, name: str = "milestones") -> list[int]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"{where}: {name} must be a list of ints, got {type(values).__name__}")
    return [_integer(f"{name}[{i}]", m, where, 0) for i, m in enumerate(values)]


# ----------------------------------------------------------------------------- param groups


# Keys a scheduler adds to the group of a textbook-style optimizer that has no group yet, kept
# here until its first update() makes one.
_UNBOUND_EXTRAS: weakref.WeakKeyDictionary[Optimizer, dict[str, Any]] = weakref.WeakKeyDictionary()
# Steps a loss scaler skipped, per optimizer (see mark_step_skipped).
_SKIPPED: weakref.WeakKeyDictionary[Optimizer, int] = weakref.WeakKeyDictionary()


def mark_step_skipped(optimizer: Optimizer) -> None:
    """Record that ``optimizer.step()`` was skipped on purpose (a loss scaler found inf/NaN
    gradients): a scheduler then counts it as a step for its "scheduler.step() before
    optimizer.step()" warning. A future ``GradScaler`` calls this where it skips a step."""
    _check_optimizer(optimizer, "mark_step_skipped")
    _SKIPPED[optimizer] = _SKIPPED.get(optimizer, 0) + 1


class _UnboundGroup(MutableMapping[str, Any]):
    """The one param group of a textbook-style optimizer before its first ``update()``: its
    hyperparameters are the optimizer's defaults (and a pending checkpoint's group), other keys
    are kept in ``_UNBOUND_EXTRAS``."""

    def __init__(self, optimizer: Optimizer) -> None:
        self._optimizer = optimizer
        self._extras = _UNBOUND_EXTRAS.setdefault(optimizer, {})

    def _hyper(self) -> dict[str, Any]:
        pending = self._optimizer._pending
        return pending["param_groups"][0] if pending is not None else self._optimizer.defaults

    def __getitem__(self, key: str) -> Any:
        if key in self._optimizer.defaults:
            return self._hyper()[key]
        return self._extras[key]

    def __setitem__(self, key: str, value: Any) -> None:
        optimizer = self._optimizer
        if key not in optimizer.defaults:
            self._extras[key] = value
            return
        optimizer.defaults[key] = value
        if optimizer._pending is not None:
            optimizer._pending["param_groups"][0][key] = value

    def __delitem__(self, key: str) -> None:
        del self._extras[key]

    def __iter__(self) -> Iterator[str]:
        yield from self._optimizer.defaults
        yield from self._extras

    def __len__(self) -> int:
        return len(self._optimizer.defaults) + len(self._extras)


def _check_optimizer(optimizer: Any, where: str) -> None:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            f"{where}: optimizer must be an optkern optimizer (optkern.Optimizer), got "
            f"{type(optimizer).__module__}.{type(optimizer).__qualname__}"
        )


def _param_groups(optimizer: Optimizer) -> list[MutableMapping[str, Any]]:
    """The groups a scheduler changes (see the module docstring for the unbound case)."""
    groups = optimizer.param_groups
    if groups:
        extras = _UNBOUND_EXTRAS.pop(optimizer, None)
        if extras:  # bound since: the kept keys go into its group
            for key, value in extras.items():
                groups[0].setdefault(key, value)
        return list(groups)
    return [_UnboundGroup(optimizer)]


def _per_group(name: str, value: Any, count: int, where: str) -> list[Any]:
    """``value`` for every group: a list or tuple of one per group, or one for all."""
    if isinstance(value, (list, tuple)):
        if len(value) != count:
            raise ValueError(
                f"{where}: expected {count} values for {name} (one per param group), got "
                f"{len(value)}"
            )
        return list(value)
    return [value] * count


class _Transaction:
    """Restores the groups' keys if the block raises: a failed constructor or step leaves the
    optimizer as it was."""

    def __init__(self, groups: list[MutableMapping[str, Any]]) -> None:
        self._groups = groups
        self._saved = [dict(group) for group in groups]

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is None:
            return
        for group, saved in zip(self._groups, self._saved, strict=True):
            for key in [k for k in group if k not in saved]:
                del group[key]
            for key, value in saved.items():
                if key not in group or group[key] is not value:
                    group[key] = value


def _momentum_key(optimizer: Optimizer, where: str) -> str:
    if "betas" in optimizer.defaults:
        return "betas"
    if "momentum" in optimizer.defaults:
        return "momentum"
    raise ValueError(
        f"{where}: cycle_momentum=True needs an optimizer with 'momentum' or 'betas' (beta1 is "
        f"cycled); {type(optimizer).__name__} has {sorted(optimizer.defaults)}: pass "
        "cycle_momentum=False"
    )


def _set_momentum(group: MutableMapping[str, Any], key: str, value: float) -> None:
    if key == "betas":
        group["betas"] = (value, *group["betas"][1:])
    else:
        group["momentum"] = value


def _functions_state(functions: list[Any]) -> list[dict[str, Any] | None]:
    """Callable objects are saved by their ``__dict__``; plain functions are not saved."""
    return [
        None
        if isinstance(f, (types.FunctionType, types.BuiltinFunctionType, types.MethodType))
        or not hasattr(f, "__dict__")
        else copy.deepcopy(vars(f))
        for f in functions
    ]


# ----------------------------------------------------------------------------- schedulers


def _saved_attributes(scheduler: Any) -> dict[str, Any]:
    return {
        k: copy.deepcopy(v)
        for k, v in vars(scheduler).items()
        if k not in scheduler._not_saved and k != scheduler._functions
    }


class LRScheduler:
    """Base class (torch's ``LRScheduler``): ``step()``, ``get_last_lr()``, ``last_epoch``,
    ``base_lrs``, ``state_dict()``, ``load_state_dict()``. A subclass gives ``_values`` (and
    ``_momentums`` if it cycles momentum)."""

    #: Attributes left out of state_dict.
    _not_saved: frozenset[str] = frozenset({"optimizer"})
    #: The attribute holding a list of user callables, saved as their ``__dict__`` (or None).
    _functions: str | None = None

    optimizer: Optimizer
    last_epoch: int
    base_lrs: list[float]

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        # A subclass checks its own arguments first (``_setup``), then calls this.
        where = type(self).__name__
        self._setup(optimizer, last_epoch, where)
        groups = _param_groups(optimizer)
        with _Transaction(groups):
            self._set_initial(groups, last_epoch, where)
            self._initial_step()

    def _setup(self, optimizer: Any, last_epoch: Any, where: str) -> None:
        _check_optimizer(optimizer, where)
        _integer("last_epoch", last_epoch, where, -1)
        self.optimizer = optimizer
        self._step_count = 0
        self._resuming = False

    def _set_initial(
        self, groups: list[MutableMapping[str, Any]], last_epoch: int, where: str
    ) -> None:
        if last_epoch == -1:
            for group in groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            missing = [i for i, group in enumerate(groups) if "initial_lr" not in group]
            if missing:
                raise ValueError(
                    f"{where}: last_epoch={last_epoch} resumes a schedule, which needs "
                    f"'initial_lr' in every param group; param_groups{missing} have none (build "
                    "with last_epoch=-1, or load the optimizer's checkpoint first)"
                )
        self.base_lrs = [group["initial_lr"] for group in groups]
        self.last_epoch = last_epoch

    def _initial_step(self) -> None:
        # Resuming (last_epoch >= 0): the groups hold the lrs of the checkpoint, which the
        # recursive schedulers that scale the lr at every step keep for this step (as torch).
        self._resuming = self.last_epoch >= 0
        try:
            self._apply(self.last_epoch + 1)
        finally:
            self._resuming = False
        self._start_counting()

    def _start_counting(self) -> None:
        optimizer = self.optimizer
        self._steps_at_start = optimizer.step_count + _SKIPPED.get(optimizer, 0)
        self._checked = False

    def _values(self, epoch: int, groups: list[MutableMapping[str, Any]]) -> list[float]:
        """The groups' lrs at ``epoch`` (torch's ``get_lr`` there)."""
        raise NotImplementedError

    def _momentums(self, epoch: int, groups: list[MutableMapping[str, Any]]) -> list[float] | None:
        """The groups' momentum (or beta1) at ``epoch``, if the scheduler cycles it."""
        del epoch, groups
        return None

    def _apply(self, epoch: int) -> None:
        """Computes everything at ``epoch`` first, then writes it."""
        groups = self._groups()
        self._write(epoch, groups, self._values(epoch, groups), self._momentums(epoch, groups))

    def _write(
        self,
        epoch: int,
        groups: list[MutableMapping[str, Any]],
        values: list[float],
        momentums: list[float] | None,
    ) -> None:
        with _Transaction(groups):
            for group, value in zip(groups, values, strict=True):
                group["lr"] = value
            if momentums is not None:
                key = _momentum_key(self.optimizer, type(self).__name__)
                for group, momentum in zip(groups, momentums, strict=True):
                    _set_momentum(group, key, momentum)
        self.last_epoch = epoch
        self._step_count += 1
        self._last_lr = [group["lr"] for group in groups]

    def _groups(self) -> list[MutableMapping[str, Any]]:
        """The optimizer's groups, as many as the scheduler was built for."""
        groups = _param_groups(self.optimizer)
        if len(groups) != len(self.base_lrs):
            raise ValueError(
                f"{type(self).__name__}: the optimizer has {len(groups)} param groups, but the "
                f"scheduler was built for {len(self.base_lrs)}; build a new scheduler after "
                "add_param_group()"
            )
        return groups

    def _warn_once(self) -> None:
        """torch's warning for a first ``scheduler.step()`` before ``optimizer.step()``."""
        if self._checked:
            return
        self._checked = True
        optimizer = self.optimizer
        if optimizer.step_count + _SKIPPED.get(optimizer, 0) == self._steps_at_start:
            warnings.warn(
                "lr_scheduler.step() was called before optimizer.step() (or update()): the "
                "schedule's first value was skipped. Call optimizer.step() first, then "
                "scheduler.step() (a loss scaler that skips a step calls "
                "optkern.lr_scheduler.mark_step_skipped(optimizer))",
                UserWarning,
                stacklevel=3,
            )

    def step(self) -> None:
        """Move to the next step, ``last_epoch + 1``, and write the groups' values."""
        self._warn_once()
        self._advance()

    def _advance(self) -> None:
        self._apply(self.last_epoch + 1)

    def _restart(self) -> None:
        """Back to step 0 from the base lrs (``SequentialLR`` at a milestone)."""
        groups = _param_groups(self.optimizer)
        with _Transaction(groups):
            for group, base in zip(groups, self.base_lrs, strict=True):
                group["lr"] = base
            self._apply(0)

    def get_last_lr(self) -> list[float]:
        """The lrs the last step wrote, one per param group."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """The scheduler's state (not the optimizer's: save that too, it holds the groups'
        values). User callables are not saved, but the ``__dict__`` of callable objects is."""
        state = _saved_attributes(self)
        if self._functions is not None:
            state[self._functions] = _functions_state(getattr(self, self._functions))
        state["scheduler"] = type(self).__name__
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a ``state_dict()`` of the same class (checked first: nothing changes on
        error)."""
        where = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, dict):
            raise TypeError(f"{where}: expected a dict, got {type(state_dict).__name__}")
        if state_dict.get("scheduler") != type(self).__name__:
            raise ValueError(
                f"{where}: the state dict is of {state_dict.get('scheduler')!r}, not "
                f"{type(self).__name__!r}"
            )
        expected, given = set(self.state_dict()), set(state_dict)
        if given != expected:
            raise ValueError(
                f"{where}: keys differ: missing {sorted(expected - given)}, unexpected "
                f"{sorted(given - expected)}"
            )
        functions: list[Any] = []
        if self._functions is not None:
            functions = getattr(self, self._functions)
            saved = state_dict[self._functions]
            if not isinstance(saved, list) or len(saved) != len(functions):
                raise ValueError(
                    f"{where}: {self._functions} must be a list of {len(functions)} entries, "
                    f"got {saved!r}"
                )
        self._load(state_dict, where)
        for f, entry in zip(functions, state_dict.get(self._functions or "", []), strict=False):
            if entry is not None:
                vars(f).update(copy.deepcopy(entry))

    def _load(self, state_dict: dict[str, Any], where: str) -> None:
        del where
        for key, value in state_dict.items():
            if key not in ("scheduler", self._functions):
                setattr(self, key, copy.deepcopy(value))


def _lambdas(lr_lambda: Any, count: int, where: str) -> list[Callable[[int], float]]:
    functions = _per_group("lr_lambda", lr_lambda, count, where)
    for i, f in enumerate(functions):
        _callable(
            f"lr_lambda[{i}]" if isinstance(lr_lambda, (list, tuple)) else "lr_lambda", f, where
        )
    return functions


class LambdaLR(LRScheduler):
    """``lr = initial_lr · lr_lambda(epoch)``, ``lr_lambda`` one function or one per group."""

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

    def _values(self, epoch: int, groups: list[MutableMapping[str, Any]]) -> list[float]:
        return [base * f(epoch) for base, f in zip(self.base_lrs, self.lr_lambdas, strict=True)]


class MultiplicativeLR(LRScheduler):
    """``lr ← lr · lr_lambda(epoch)`` at every step after step 0."""

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

    def _values(self, epoch: int, groups: list[MutableMapping[str, Any]]) -> list[float]:
        if epoch > 0 and not self._resuming:
            return [g["lr"] * f(epoch) for g, f in zip(groups, self.lr_lambdas, strict=True)]
        return [g["lr"] for g in groups]


class StepLR(LRScheduler):
    """``lr ← lr · gamma`` every ``step_size`` steps (``initial_lr · gamma^⌊t/step_size⌋``)."""

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

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = _non_negative("gamma", gamma, type(self).__name__)
        super().__init__(optimizer, last_epoch)

    def _values(self, epoch: int, groups: list[MutableMapping[str, Any]]) -> list[float]:
        if epoch == 0 or self._resuming:
            return [g["lr"] for g in groups]
        return [g["lr"] * self.gamma for g in groups]


class PolynomialLR(LRScheduler):
    """``initial_lr · (1 − min(t, total_iters)/total_iters)^power``, applied as a ratio per step."""

    def __init__(
        self,
        optimizer: Optimizer,
        total_iters: int = 5,
        power: float = 1.0,
        last_epoch: int = -1,
    ) -> None:
        where = type(self).__name__
        self.total_iters = _integer("total_iters", total_iters, where, 1)
        self.power = _real("power", power, where)
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

    def __init__(
        self,
        optimizer: Optimizer,
        T_max: int,
        eta_min: float = 0.0,
        last_epoch: int = -1,
    ) -> None:
        where = type(self).__name__
        self.T_max = _integer("T_max", T_max, where, 1)
        self.eta_min = _real("eta_min", eta_min, where)
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


class CosineAnnealingWarmRestarts(LRScheduler):
    """SGDR: ``eta_min + (initial_lr − eta_min)·(1 + cos(π·T_cur/T_i))/2``, restarting when
    ``T_cur`` reaches ``T_i`` (``T_0`` steps, then ``T_mult`` times longer each time).

    ``step()`` counts ``T_cur`` up by one; ``step(epoch)`` sets the position from ``epoch``,
    which may be a float (``epoch + i / iters_per_epoch`` within an epoch), and sets
    ``last_epoch`` to ``floor(epoch)``. Resumed with ``last_epoch=k``, the constructor takes the
    position of step k + 1 as ``step(k + 1)`` does; torch 2.13 there keeps ``T_i`` a period
    short when ``T_mult > 1`` (k = 33, T_0 = 10, T_mult = 2: ``T_i`` 20 instead of 40)."""

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
        self.eta_min = _real("eta_min", eta_min, where)
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
        if not isinstance(cycle_momentum, bool):
            raise TypeError(
                f"{where}: cycle_momentum must be True or False, got {cycle_momentum!r}"
            )
        self.cycle_momentum = cycle_momentum
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
        if not isinstance(cycle_momentum, bool):
            raise TypeError(
                f"{where}: cycle_momentum must be True or False, got {cycle_momentum!r}"
            )
        self.cycle_momentum = cycle_momentum
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


class _Composite(LRScheduler):
    """What SequentialLR and ChainedScheduler share: child schedulers of one optimizer."""

    _schedulers: list[LRScheduler]

    def _children(self, schedulers: Any, optimizer: Any, where: str) -> list[LRScheduler]:
        if isinstance(schedulers, LRScheduler) or not isinstance(schedulers, Sequence):
            raise TypeError(
                f"{where}: schedulers must be a list of schedulers, got {type(schedulers).__name__}"
            )
        children = list(schedulers)
        if not children:
            raise ValueError(f"{where}: schedulers must not be empty")
        for i, child in enumerate(children):
            if not isinstance(child, LRScheduler) or isinstance(child, ReduceLROnPlateau):
                raise TypeError(
                    f"{where}: schedulers[{i}] must be an optkern.lr_scheduler scheduler other "
                    f"than ReduceLROnPlateau, got {type(child).__name__}"
                )
            if child.optimizer is not optimizer:
                raise ValueError(
                    f"{where}: schedulers[{i}] belongs to another optimizer; all must belong to "
                    "the same one"
                )
        return children

    def state_dict(self) -> dict[str, Any]:
        """Its own state and each child's (``_schedulers``)."""
        state = _saved_attributes(self)
        state["_schedulers"] = [child.state_dict() for child in self._schedulers]
        state["scheduler"] = type(self).__name__
        return state

    def _load(self, state_dict: dict[str, Any], where: str) -> None:
        saved = state_dict["_schedulers"]
        if not isinstance(saved, list) or len(saved) != len(self._schedulers):
            raise ValueError(
                f"{where}: _schedulers must be a list of {len(self._schedulers)} state dicts"
            )
        for child, child_state in zip(self._schedulers, saved, strict=True):
            child.load_state_dict(child_state)
        for key, value in state_dict.items():
            if key not in ("scheduler", "_schedulers"):
                setattr(self, key, copy.deepcopy(value))

    def _write_last(self) -> None:
        self._last_lr = [g["lr"] for g in _param_groups(self.optimizer)]


class SequentialLR(_Composite):
    """``schedulers[i]`` from step ``milestones[i - 1]`` on, each starting at its own step 0
    from the base lrs (``initial_lr``) at its milestone.

    Where torch has open bugs, optkern follows the documented intent: a milestone at 0 makes the
    first scheduler(s) never apply (torch applies the first one at step 0 anyway and then steps
    the next from where it was); ``last_epoch=k >= 0`` resumes at step k (the schedule is
    replayed from 0 to k; torch's offset arithmetic gives other values). At a milestone each
    scheduler restarts from the base lrs, also those without a closed form (torch's
    ``MultiplicativeLR`` there keeps the previous lr). Milestones must be non-decreasing."""

    def __init__(
        self,
        optimizer: Optimizer,
        schedulers: Sequence[LRScheduler],
        milestones: Sequence[int],
        last_epoch: int = -1,
    ) -> None:
        where = type(self).__name__
        _check_optimizer(optimizer, where)
        last_epoch = _integer("last_epoch", last_epoch, where, -1)
        children = self._children(schedulers, optimizer, where)
        points = _milestones(milestones, where)
        if len(points) != len(children) - 1:
            raise ValueError(
                f"{where}: expected {len(children) - 1} milestones for {len(children)} "
                f"schedulers, got {len(points)}"
            )
        if points != sorted(points):
            raise ValueError(f"{where}: milestones must be non-decreasing, got {points}")
        self._setup(optimizer, last_epoch, where)
        self._schedulers = children
        self._milestones = points
        groups = _param_groups(optimizer)
        with _Transaction(groups):
            self.base_lrs = [g["initial_lr"] for g in groups]
            self.last_epoch = 0
            children[bisect.bisect_right(points, 0)]._restart()
            for _ in range(max(last_epoch, 0)):
                self._advance()
            self._write_last()
        self._start_counting()

    def _advance(self) -> None:
        self.last_epoch += 1
        index = bisect.bisect_right(self._milestones, self.last_epoch)
        child = self._schedulers[index]
        if index > 0 and self._milestones[index - 1] == self.last_epoch:
            child._restart()
        else:
            child._advance()
        self._last_lr = child.get_last_lr()

    def _restart(self) -> None:
        self.last_epoch = 0
        self._schedulers[bisect.bisect_right(self._milestones, 0)]._restart()
        self._write_last()


class ChainedScheduler(_Composite):
    """Steps every scheduler of ``schedulers`` at each ``step()``, in order: their factors
    multiply (for the recursive schedulers)."""

    def __init__(
        self, schedulers: Sequence[LRScheduler], optimizer: Optimizer | None = None
    ) -> None:
        where = type(self).__name__
        if optimizer is None:
            first = schedulers[0] if isinstance(schedulers, Sequence) and schedulers else None
            if not isinstance(first, LRScheduler):
                self._children(schedulers, None, where)  # raises, naming what is wrong
                raise AssertionError("unreachable")
            optimizer = first.optimizer
        _check_optimizer(optimizer, where)
        self._schedulers = self._children(schedulers, optimizer, where)
        self._setup(optimizer, -1, where)
        self.last_epoch = 0
        self.base_lrs = list(self._schedulers[0].base_lrs)
        self._write_last()
        self._start_counting()

    def _advance(self) -> None:
        for child in self._schedulers:
            child._advance()
        self.last_epoch += 1
        self._write_last()

    def _restart(self) -> None:
        for child in self._schedulers:
            child._restart()
        self.last_epoch = 0
        self._write_last()


class ReduceLROnPlateau(LRScheduler):
    """Multiply the lr by ``factor`` (not below ``min_lr``) when the metric passed to
    ``step(metrics)`` has not improved for more than ``patience`` steps, then wait ``cooldown``
    steps. Improvement: ``mode`` ``"min"`` or ``"max"``, by more than ``threshold`` relative
    (``threshold_mode="rel"``) or absolute (``"abs"``). A change smaller than ``eps`` is not
    made. It sets no ``initial_lr`` and changes nothing at construction, as in torch."""

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
            raise ValueError(
                f"{where}: the optimizer has {len(groups)} param groups, but the scheduler was "
                f"built for {len(self.min_lrs)}; build a new scheduler after add_param_group()"
            )
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
