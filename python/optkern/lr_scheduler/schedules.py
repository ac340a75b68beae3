"""The schedules as plain functions of the step count (optax style), the helpers the
schedulers share with them, and ``join_schedules`` / ``warmup_cosine_decay_schedule``."""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from typing import Any

from ._checks import _callable, _in_range, _integer, _non_negative, _real

__all__ = [
    "Schedule",
    "constant_schedule",
    "cosine_annealing_schedule",
    "cosine_warm_restarts_schedule",
    "cyclic_schedule",
    "exponential_schedule",
    "join_schedules",
    "linear_schedule",
    "multistep_schedule",
    "one_cycle_schedule",
    "polynomial_schedule",
    "step_schedule",
    "warmup_cosine_decay_schedule",
]

#: A schedule: the value at a step count (0, 1, ...; a float for warm restarts).
Schedule = Callable[[float], float]


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
    points = _boundaries(boundaries, len(parts), "schedules", where, "boundaries")

    def schedule(step: float) -> float:
        index = bisect.bisect_right(points, step)
        return parts[index](step - points[index - 1] if index else step)

    return schedule


def _milestones(values: Any, where: str, name: str = "milestones") -> list[int]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"{where}: {name} must be a list of ints, got {type(values).__name__}")
    return [_integer(f"{name}[{i}]", m, where, 0) for i, m in enumerate(values)]


def _boundaries(values: Any, parts: int, of: str, where: str, name: str) -> list[int]:
    """The step counts at which one of ``parts`` consecutive ``of`` hands over to the next:
    ``parts - 1`` ints >= 0, non-decreasing (join_schedules, SequentialLR)."""
    points = _milestones(values, where, name)
    if len(points) != parts - 1:
        raise ValueError(
            f"{where}: expected {parts - 1} {name} for {parts} {of}, got {len(points)}"
        )
    if points != sorted(points):
        raise ValueError(f"{where}: {name} must be non-decreasing, got {points}")
    return points
