"""Property-based tests (hypothesis): every fused kernel is bit-identical to ``optkern.reference``.

test_matches_reference.py runs a fixed table of configurations on fixed data. Here hypothesis draws
the whole situation instead, once per optimizer class, so that the corners no table lists are
reached and, when the property fails, shrunk to a minimal example:

* the algorithm: every optimizer class exported by ``optkern`` and ``optkern.textbook`` (aliases
  such as ``AdaGrad``/``Adagrad`` are one class), one per record (``optkern.records``);
  ``test_every_optimizer_class_is_covered`` fails when a class is added without a record;
* the tensors: one to four per optimizer, in one or two param groups, of 0 to 3 dimensions
  (0-size and single-element tensors included), float32, float64, float16, bfloat16 (with
  ml_dtypes) or a mix (one tensor group per dtype), a 16-bit parameter's gradients of its dtype
  or float32, the fused side's parameters placed at every offset inside a cache line (the
  kernel peels a scalar head up to the next 64-byte boundary); per group, master weights where
  every parameter is 16-bit and bfloat16 state where none is float64, each half the time;
* the values: ordinary numbers, exact zeros of both signs, subnormals of both signs, the smallest
  normal and values up to the dtype's maximum; gradients may also hold inf, -inf and NaN. Each
  array spreads a small drawn palette of such values with a seeded generator (see ArrayMaker:
  drawing every element through hypothesis would be several times slower). Parameters start
  finite; the state starts at its initial value, or is loaded with ``load_state_dict`` from
  finite arrays at a drawn step count (0 up to 2**53), which reaches RAdam's rectified branch,
  NAdam's running ``mu_product`` and SGD's non-first momentum step without running many steps;
* the hyperparameters: anywhere in their valid range (``_validation`` rules: any finite value
  >= 0, [0, 1) or [0, 1] as declared, subnormal and huge values included) and every flag, under
  the cross-constraints (nesterov needs momentum > 0 and dampening = 0), per param group, and
  optionally changed by a "schedule" before a later step. Each is drawn from its rule through one
  map (RULE_STRATEGIES), weight_decay 0 half the time for every class (FIELD_STRATEGIES), unless
  the class's record names another way (OVERRIDES: an option that is off at 0, a momentum that
  must be positive, torch's nesterov rule, a field left at the class's default ...);
* the execution: 1 to 3 steps, the ISA (``_core.supported_isas()``), 1 to 3 threads with a grain
  of one element per thread, so that thread boundaries fall anywhere.

The property: after the same steps, ``backend="fused"`` and ``backend="reference"`` hold
bit-identical parameters and state (``selfcheck.identical``: any NaN matches any NaN, -0.0 differs
from +0.0), equal ``state_dict()`` scalars (step, ``mu_product``) and untouched gradients.
``test_the_property_can_fail`` shows that the comparison catches a one-ulp difference, and that
hypothesis finds such a difference when one side runs with a learning rate one ulp larger.

Each algorithm runs 300 examples on at most 48 parameter elements, so that the file takes about a
minute or less on a 2-core machine; ``database=None`` keeps hypothesis from writing a .hypothesis/
directory into the repository.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import optkern
import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st
from optkern import _core, _storage, textbook
from optkern import _validation as v
from optkern.optimizer import Optimizer
from optkern.records import Record, records
from optkern.selfcheck import identical

SUPPORTED_ISAS = list(_core.supported_isas())
try:
    import ml_dtypes

    BFLOAT16: type | None = ml_dtypes.bfloat16
except ImportError:  # the cases then draw no bfloat16
    BFLOAT16 = None
#: The dtypes a parameter may have, by name.
STORAGE_NAMES: dict[str, type] = {
    "float32": np.float32,
    "float64": np.float64,
    "float16": np.float16,
    **({"bfloat16": BFLOAT16} if BFLOAT16 is not None else {}),
}
STORAGE_TYPES = tuple(STORAGE_NAMES.values())
ELEMENT_BUDGET = 48  # parameter elements per example, over all its tensors
MAX_TENSORS = 4
MAX_STEPS = 3
MAX_THREADS = 3
MAX_OFFSET = 16  # elements: every offset inside a 64-byte cache line, for both dtypes

PROPERTY_SETTINGS = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)

# ------------------------------------------------------------------------- hyperparameters

HyperStrategy = Callable[[st.DrawFn], dict[str, Any]]


def _non_negative() -> st.SearchStrategy[float]:
    """Any valid value of an lr, eps, weight_decay, momentum ... rule: finite and >= 0."""
    return st.one_of(
        st.sampled_from([0.0, 1e-8, 1e-3, 0.1, 0.5, 1.0, 2.0]),
        st.floats(0.0, 10.0),
        st.floats(min_value=0.0, allow_infinity=False),  # subnormals up to 1.8e308
    )


def _positive() -> st.SearchStrategy[float]:
    return st.one_of(
        st.sampled_from([1e-3, 0.5, 0.9, 0.99, 1.0, 2.0]),
        st.floats(0.0, 10.0, exclude_min=True),
        st.floats(min_value=0.0, exclude_min=True, allow_infinity=False),
    )


def _unit_interval() -> st.SearchStrategy[float]:
    """[0, 1): alpha, each Adam-style beta."""
    return st.one_of(
        st.sampled_from([0.0, 0.5, 0.9, 0.99, 0.999, math.nextafter(1.0, 0.0)]),
        st.floats(0.0, 1.0, exclude_max=True),
    )


def _closed_unit_interval() -> st.SearchStrategy[float]:
    """[0, 1]: dampening, rho, decay_rate, Lion's betas."""
    return st.one_of(st.sampled_from([0.0, 0.5, 0.9, 1.0]), st.floats(0.0, 1.0))


# Built once: building a strategy costs more than drawing from it.
NON_NEGATIVE = _non_negative()
ZERO_OR_NON_NEGATIVE = st.one_of(st.just(0.0), NON_NEGATIVE)  # the option off, half the time
POSITIVE = _positive()
UNIT_INTERVAL = _unit_interval()
CLOSED_UNIT_INTERVAL = _closed_unit_interval()
BOOLEANS = st.booleans()
# Adagrad's state starts at initial_accumulator_value; beyond float32's range a float32 state
# starts at inf (see test_adagrad_initial_accumulator_beyond_float32).
FLOAT32_MAX = float(np.finfo(np.float32).max)
INITIAL_ACCUMULATOR = st.one_of(
    st.sampled_from([0.0, 0.1, 1.0, FLOAT32_MAX, 1e39]),
    st.floats(0.0, 10.0),
    st.floats(0.0, FLOAT32_MAX),
    st.floats(0.0, allow_infinity=False),
)


# How a hyperparameter is drawn: by its record's override (``Record.draw``), else by the field
# every algorithm shares, else by its ``_validation`` rule. Fields a variant class fixes (AdamW's
# decoupled_weight_decay) are not drawn.
FieldStrategy = Callable[[st.DrawFn, dict[str, Any]], Any]  # (draw, the fields drawn so far)


def _drawn(strategy: st.SearchStrategy[Any]) -> FieldStrategy:
    return lambda draw, drawn: draw(strategy)


def _nesterov(draw: st.DrawFn, drawn: dict[str, Any]) -> bool:
    """torch's rule: nesterov needs momentum > 0 and dampening = 0 (set here when it is on)."""
    nesterov = drawn["momentum"] > 0 and draw(BOOLEANS)
    if nesterov:
        drawn["dampening"] = 0.0
    return nesterov


RULE_STRATEGIES: dict[Any, FieldStrategy] = {
    v.non_negative: _drawn(NON_NEGATIVE),
    v.unit_interval: _drawn(UNIT_INTERVAL),
    v.closed_unit_interval: _drawn(CLOSED_UNIT_INTERVAL),
    v.boolean: _drawn(BOOLEANS),
    v.betas: _drawn(st.tuples(UNIT_INTERVAL, UNIT_INTERVAL)),
    v.closed_betas: _drawn(st.tuples(CLOSED_UNIT_INTERVAL, CLOSED_UNIT_INTERVAL)),
}
FIELD_STRATEGIES: dict[str, FieldStrategy] = {"weight_decay": _drawn(ZERO_OR_NON_NEGATIVE)}
OVERRIDES: dict[str, FieldStrategy | None] = {  # the names of optkern.records.DRAWS
    "default": None,  # not drawn: the class's default
    "optional": _drawn(ZERO_OR_NON_NEGATIVE),
    "positive": _drawn(POSITIVE),
    "accumulator": _drawn(INITIAL_ACCUMULATOR),
    "nesterov": _nesterov,
}


def _field_strategies(entry: Record) -> dict[str, FieldStrategy]:
    """The strategy of each hyperparameter drawn for the record's class, in ``_rules`` order."""
    fields: dict[str, FieldStrategy] = {}
    for name, rule in entry.cls._rules.items():
        if name in entry.cls._fixed:
            continue
        if name in entry.draw:
            override = OVERRIDES[entry.draw[name]]
            if override is not None:
                fields[name] = override
        else:
            fields[name] = FIELD_STRATEGIES.get(name, RULE_STRATEGIES[rule])
    return fields


def _hyper_strategy(fields: dict[str, FieldStrategy]) -> HyperStrategy:
    def hyper(draw: st.DrawFn) -> dict[str, Any]:
        drawn: dict[str, Any] = {}
        for name, strategy in fields.items():
            drawn[name] = strategy(draw, drawn)
        return drawn

    return hyper


@dataclass(frozen=True)
class Algorithm:
    cls: type[Optimizer]
    hyper: HyperStrategy  # the group's hyperparameters (keys left out keep the class default)

    def build(self, groups: list[dict[str, Any]], **options: Any) -> Optimizer:
        """The textbook classes take hyperparameters first and ``params`` by keyword."""
        if issubclass(self.cls, textbook._Textbook):
            return self.cls(params=groups, **options)
        return self.cls(groups, **options)


def _algorithm_name(cls: type[Optimizer]) -> str:
    return f"textbook.{cls.__name__}" if issubclass(cls, textbook._Textbook) else cls.__name__


ALGORITHMS: dict[str, Algorithm] = {
    _algorithm_name(entry.cls): Algorithm(entry.cls, _hyper_strategy(_field_strategies(entry)))
    for entry in records()
}
HYPERPARAMETERS = {name: st.composite(a.hyper)() for name, a in ALGORITHMS.items()}

# ------------------------------------------------------------------------------ arrays


def _finfo(dtype: type) -> Any:
    return ml_dtypes.finfo(dtype) if dtype is BFLOAT16 else np.finfo(dtype)


def _below_max(dtype: type) -> float:
    """The largest finite value but one."""
    info = _finfo(dtype)
    if np.dtype(dtype).itemsize == 2:  # (np.nextafter has no bfloat16 loop)
        bits = np.array(info.max, dtype).view(np.uint16) - np.uint16(1)
        return float(bits.view(dtype))
    return float(np.nextafter(info.max, 0, dtype=dtype))


def _special_values(dtype: type, finite: bool) -> list[float]:
    info = _finfo(dtype)
    subnormal = float(info.smallest_subnormal)
    largest_subnormal = float(info.smallest_normal) - subnormal
    values = [0.0, -0.0, 1.0, -1.0, float(info.eps), float(info.max), -float(info.max)]
    values += [_below_max(dtype), float(info.max) / 2]
    values += [subnormal, -subnormal, largest_subnormal, -largest_subnormal]
    values += [float(info.smallest_normal), -float(info.smallest_normal)]
    if not finite:
        values += [math.inf, -math.inf, math.nan]
    return values


def _elements(dtype: type, finite: bool) -> st.SearchStrategy[float]:
    width = np.dtype(dtype).itemsize * 8
    return st.one_of(
        st.floats(-4.0, 4.0, width=width),
        st.sampled_from(_special_values(dtype, finite)),
        st.floats(width=width, allow_nan=not finite, allow_infinity=not finite),
    )


PALETTE_SIZE = 8
PALETTES = {
    (dtype, finite): st.lists(_elements(dtype, finite), min_size=1, max_size=PALETTE_SIZE)
    for dtype in STORAGE_TYPES
    for finite in (True, False)
}
SEEDS = st.integers(0, 2**32 - 1)


class ArrayMaker:
    """Arrays from drawn palettes: one palette of up to PALETTE_SIZE drawn values per role
    (parameters, gradients, loaded state) and dtype, spread over the arrays by a generator seeded
    from one drawn seed, each array with or without ordinary normal values in between.

    Drawing every element through hypothesis would cost about 50-100 us apiece, and 300 examples
    per algorithm would take minutes; this way an array costs one draw, and a failure still
    shrinks to a one-value palette (constant arrays) when one value is to blame."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw
        self.rng = np.random.default_rng(draw(SEEDS))
        self.palettes: dict[tuple[str, type], np.ndarray] = {}

    def __call__(self, role: str, dtype: type, shape: tuple[int, ...]) -> np.ndarray:
        if (role, dtype) not in self.palettes:
            values = self.draw(PALETTES[dtype, role != "grad"])  # only gradients hold inf, NaN
            self.palettes[role, dtype] = np.array(values, dtype)
        palette = self.palettes[role, dtype]
        size = math.prod(shape)
        out = palette[self.rng.integers(0, palette.size, size)]
        if self.draw(BOOLEANS):
            ordinary = self.rng.random(size) < 0.5
            out[ordinary] = self.rng.standard_normal(int(ordinary.sum())).astype(dtype)
        return out.reshape(shape)


@functools.cache
def _integers(low: int, high: int) -> st.SearchStrategy[int]:
    return st.integers(low, high)


def _shape(draw: st.DrawFn, budget: int) -> tuple[int, ...]:
    """0 to 3 dimensions, 0-size allowed, at most max(budget, 1) elements."""
    sides: list[int] = []
    size = 1
    for _ in range(draw(_integers(0, 3))):
        side = draw(_integers(0, max(budget, 1) // size if size else 3))
        sides.append(side)
        size *= side
    return tuple(sides)


# ------------------------------------------------------------------------------- a case


@dataclass
class Case:
    """One drawn situation: everything both runs start from."""

    algorithm: str
    isa: str
    threads: int
    groups: list[dict[str, Any]]  # hyperparameters per param group
    sizes: list[int]  # tensors per param group
    params: list[np.ndarray]
    offsets: list[int]  # where each fused parameter starts in its buffer, in elements
    grads: list[list[np.ndarray]]  # per step
    saved: dict[int, dict[str, Any]] | None = None  # state to load (state_dict()["state"])
    schedule: tuple[int, list[dict[str, Any]]] | None = None  # (before step, new hyperparameters)


def _needed_state(algorithm: Algorithm, hyper: dict[str, Any]) -> tuple[dict[str, float], dict]:
    """The state arrays this group's options need, and the class's float64 scalar state."""
    hyper = {k: v for k, v in hyper.items() if k not in _storage.OPTIONS}  # (a float64 probe)
    probe = algorithm.build([{"params": [np.zeros(1)], **hyper}], backend="reference")
    return probe._state_init(probe.param_groups[0]), dict(probe._scalar_state)


DTYPES = st.sampled_from(list(STORAGE_NAMES))
DTYPES_OR_MIXED = st.sampled_from([*STORAGE_NAMES, "mixed"])  # mixed: each tensor draws
ISAS = st.sampled_from(SUPPORTED_ISAS)


def _is_16_bit(dtype: type) -> bool:
    return np.dtype(dtype).itemsize == 2


def _storage_options(draw: st.DrawFn, dtypes: list[type]) -> dict[str, Any]:
    """A group's storage options, where its parameters allow them: master weights if every one
    is 16-bit, bfloat16 state unless one is float64."""
    options: dict[str, Any] = {}
    if dtypes and all(map(_is_16_bit, dtypes)) and draw(BOOLEANS):
        options["master_weights"] = True
    if BFLOAT16 is not None and np.float64 not in dtypes and draw(BOOLEANS):
        options["state_dtype"] = "bfloat16"
    return options


# 2**53 is the limit of step counts: the case's own steps must stay within it.
SAVED_STEPS = st.one_of(st.integers(0, 8), st.integers(0, 2**53 - MAX_STEPS))
# NAdam's running product of momentum coefficients, each in [0, 1): in [0, 1) after a step, and
# exactly 1 before the first
MU_PRODUCT = st.floats(0.0, 1.0, exclude_max=True)


@st.composite
def cases(draw: st.DrawFn, name: str) -> Case:
    algorithm = ALGORITHMS[name]
    dtype_choice = draw(DTYPES_OR_MIXED)
    count = draw(_integers(1, MAX_TENSORS))
    budget = ELEMENT_BUDGET
    shapes, dtypes = [], []
    for _ in range(count):
        shape = _shape(draw, budget)
        budget -= math.prod(shape)
        shapes.append(shape)
        choice = draw(DTYPES) if dtype_choice == "mixed" else dtype_choice
        dtypes.append(STORAGE_NAMES[choice])
    first = draw(_integers(1, count)) if count > 1 else 1
    sizes = [first, count - first] if first < count else [count]
    hyperparameters = HYPERPARAMETERS[name]
    groups = [draw(hyperparameters) for _ in sizes]
    start = 0
    for group, size in zip(groups, sizes, strict=True):
        group.update(_storage_options(draw, dtypes[start : start + size]))
        start += size
    # a 16-bit parameter's gradients: of its dtype or float32, per tensor
    grad_dtypes = [np.float32 if _is_16_bit(d) and draw(BOOLEANS) else d for d in dtypes]
    make = ArrayMaker(draw)
    params = [make("param", d, s) for d, s in zip(dtypes, shapes, strict=True)]
    offsets = [draw(_integers(0, MAX_OFFSET - 1)) for _ in params]
    steps = draw(_integers(1, MAX_STEPS))
    grads = [
        [make("grad", d, s) for d, s in zip(grad_dtypes, shapes, strict=True)] for _ in range(steps)
    ]
    case = Case(
        algorithm=name,
        isa=draw(ISAS),
        threads=draw(_integers(1, MAX_THREADS)),
        groups=groups,
        sizes=sizes,
        params=params,
        offsets=offsets,
        grads=grads,
    )
    if draw(BOOLEANS):
        case.saved = {}
        index = 0
        for hyper, size in zip(groups, sizes, strict=True):
            needed, scalars = _needed_state(algorithm, hyper)
            step = draw(SAVED_STEPS)
            scalar_values = {k: draw(MU_PRODUCT) if step else 1.0 for k in scalars}
            for position in range(index, index + size):
                param = params[position]
                case.saved[position] = {"step": step, **scalar_values}
                state_type = _storage.state_dtype(param.dtype, hyper.get("state_dtype"), "")
                assert state_type is not None
                for state_name in needed:
                    case.saved[position][state_name] = make("state", state_type.type, param.shape)
            index += size
    if steps > 1 and draw(BOOLEANS):
        at = draw(_integers(1, steps - 1))
        case.schedule = (at, [draw(hyperparameters) for _ in sizes])
    return case


# ---------------------------------------------------------------------------- the property


@dataclass
class Run:
    optimizer: Optimizer
    params: list[np.ndarray]


def _placed(param: np.ndarray, offset: int) -> np.ndarray:
    """A C-contiguous copy of ``param`` starting ``offset`` elements into a fresh buffer."""
    buffer = np.zeros(param.size + offset, param.dtype)
    view = buffer[offset : offset + param.size].reshape(param.shape)
    view[...] = param
    return view


def run(case: Case, backend: str, lr_scale_ulps: int = 0) -> Run:
    """Build the optimizer of ``case`` (on copies of its parameters), load its saved state, and
    take its steps. ``lr_scale_ulps`` moves every lr that many ulps up: a deliberate difference
    for the can-fail test."""
    algorithm = ALGORITHMS[case.algorithm]
    if backend == "fused":
        params = [_placed(p, o) for p, o in zip(case.params, case.offsets, strict=True)]
        options: dict[str, Any] = {"backend": "fused", "num_threads": case.threads}
    else:
        params = [p.copy() for p in case.params]
        options = {"backend": "reference"}

    def hyper(values: dict[str, Any]) -> dict[str, Any]:
        values = dict(values)
        for _ in range(lr_scale_ulps):
            values["lr"] = math.nextafter(values["lr"], math.inf)
        return values

    groups, start = [], 0
    for values, size in zip(case.groups, case.sizes, strict=True):
        groups.append({"params": params[start : start + size], **hyper(values)})
        start += size
    optimizer = algorithm.build(groups, **options)
    if case.saved is not None:
        saved = {
            i: {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in entry.items()}
            for i, entry in case.saved.items()
        }
        state_dict = optimizer.state_dict()
        optimizer.load_state_dict({"state": saved, "param_groups": state_dict["param_groups"]})
    for step, grads in enumerate(case.grads):
        if case.schedule is not None and step == case.schedule[0]:
            for group, values in zip(optimizer.param_groups, case.schedule[1], strict=True):
                group.update(hyper(values))
        optimizer.step(grads)
    return Run(optimizer, params)


def _describe(a: np.ndarray, b: np.ndarray) -> str:
    """Where two arrays first differ, with the exact values."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return f"{a.dtype}{a.shape} vs {b.dtype}{b.shape}"
    flat_a, flat_b = a.reshape(-1), b.reshape(-1)
    for i in range(flat_a.size):
        if not identical(flat_a[i : i + 1], flat_b[i : i + 1]):
            x, y = float(flat_a[i]), float(flat_b[i])
            return f"element {i}: fused {x!r} ({x.hex()}) vs reference {y!r} ({y.hex()})"
    return "identical"


def mismatches(fused: Run, reference: Run) -> list[str]:
    """Every difference between the two runs' parameters and state; empty when bit-identical."""
    found = [
        f"param {i}: {_describe(a, b)}"
        for i, (a, b) in enumerate(zip(fused.params, reference.params, strict=True))
        if not identical(a, b)
    ]
    ours, theirs = fused.optimizer.state_dict(), reference.optimizer.state_dict()
    if ours["param_groups"] != theirs["param_groups"]:
        found.append(f"param_groups: {ours['param_groups']} vs {theirs['param_groups']}")
    if set(ours["state"]) != set(theirs["state"]):
        found.append(f"state indices: {sorted(ours['state'])} vs {sorted(theirs['state'])}")
    for index in sorted(set(ours["state"]) & set(theirs["state"])):
        a_entry, b_entry = ours["state"][index], theirs["state"][index]
        if set(a_entry) != set(b_entry):
            found.append(f"state[{index}] keys: {sorted(a_entry)} vs {sorted(b_entry)}")
            continue
        for key, a in a_entry.items():
            b = b_entry[key]
            if not isinstance(a, np.ndarray) and (type(a) is not type(b) or a != b):
                found.append(f"state[{index}][{key!r}]: {a!r} vs {b!r}")  # step, mu_product
    # the arrays: those the kernels are bound to (state_dict() holds copies of them), fresh
    # (never stepped) ones included
    ours_bound, theirs_bound = fused.optimizer.state, reference.optimizer.state
    if set(ours_bound) != set(theirs_bound):
        found.append(f"opt.state indices: {sorted(ours_bound)} vs {sorted(theirs_bound)}")
    for index in sorted(set(ours_bound) & set(theirs_bound)):
        a_arrays, b_arrays = ours_bound[index], theirs_bound[index]
        if set(a_arrays) != set(b_arrays):
            found.append(f"opt.state[{index}] keys: {sorted(a_arrays)} vs {sorted(b_arrays)}")
            continue
        found += [
            f"opt.state[{index}][{key!r}]: {_describe(a, b_arrays[key])}"
            for key, a in a_arrays.items()
            if not identical(a, b_arrays[key])
        ]
    return found


def check(case: Case) -> None:
    """The property, under the case's ISA and thread count, with a grain of one element (two
    for the algorithms with a GrainScale of 2)."""
    previous_isa = _core.active_isa()
    previous_grain = _core._min_elements_per_thread()
    grads_before = [[g.copy() for g in step] for step in case.grads]
    try:
        _core._select_isa(case.isa)
        _core._set_min_elements_per_thread(1)
        fused = run(case, "fused")
    finally:
        _core._select_isa(previous_isa)
        _core._set_min_elements_per_thread(previous_grain)
    reference = run(case, "reference")
    found = mismatches(fused, reference)
    for step, (before, after) in enumerate(zip(grads_before, case.grads, strict=True)):
        for i, (a, b) in enumerate(zip(before, after, strict=True)):
            if not identical(a, b):
                found.append(f"grads[{i}] of step {step} was modified")
    assert not found, "fused differs from reference:\n  " + "\n  ".join(found)


# --------------------------------------------------------------------------------- tests


def test_every_optimizer_class_is_covered() -> None:
    exported = {getattr(optkern, name) for name in optkern.__all__}
    exported |= {getattr(textbook, name) for name in textbook.__all__}
    classes = {
        obj
        for obj in exported
        if isinstance(obj, type) and issubclass(obj, Optimizer) and obj is not Optimizer
    }
    assert classes == {algorithm.cls for algorithm in ALGORITHMS.values()}


@pytest.mark.parametrize("name", list(ALGORITHMS))
@PROPERTY_SETTINGS
@given(data=st.data())
def test_fused_is_bit_identical_to_reference(name: str, data: st.DataObject) -> None:
    check(data.draw(cases(name), label="case"))


def _simple_case(name: str = "Adam") -> Case:
    rng = np.random.default_rng(7)
    params = [rng.standard_normal((3, 5)).astype(np.float32), rng.standard_normal(4)]
    grads = [[rng.standard_normal(p.shape).astype(p.dtype) for p in params] for _ in range(3)]
    return Case(
        algorithm=name,
        isa=SUPPORTED_ISAS[-1],
        threads=2,
        groups=[dict(lr=0.01, betas=(0.9, 0.99), weight_decay=0.1)],
        sizes=[2],
        params=params,
        offsets=[3, 0],
        grads=grads,
    )


def test_the_property_can_fail() -> None:
    """The comparison is not vacuous: it passes on equal runs and reports a one-ulp change in a
    parameter or in a state array, a sign flip of a zero, and a one-ulp larger learning rate,
    which hypothesis also finds on drawn cases."""
    case = _simple_case()
    check(case)
    fused, reference = run(case, "fused"), run(case, "reference")
    assert mismatches(fused, reference) == []

    reference.params[0].flat[4] = np.nextafter(reference.params[0].flat[4], np.float32(np.inf))
    assert [m.split(":")[0] for m in mismatches(fused, reference)] == ["param 0"]

    reference = run(case, "reference")
    exp_avg_sq = reference.optimizer.state[1]["exp_avg_sq"]
    exp_avg_sq[2] = np.nextafter(exp_avg_sq[2], -np.inf)
    assert [m.split(":")[0] for m in mismatches(fused, reference)] == ["opt.state[1]['exp_avg_sq']"]

    zeros = [np.zeros(3), np.zeros(3)]
    zeros[1][1] = -0.0
    assert not identical(zeros[0], zeros[1])

    assert mismatches(fused, run(case, "reference", lr_scale_ulps=1))

    def differs(drawn: Case) -> bool:
        found = mismatches(run(drawn, "reference"), run(drawn, "reference", lr_scale_ulps=1))
        return any(not m.startswith("param_groups") for m in found)  # lr itself differs there

    # no shrinking (it would take seconds): any drawn counterexample will do
    quick = settings(database=None, derandomize=True, max_examples=300, phases=[Phase.generate])
    found = find(cases("textbook.SGD"), differs, settings=quick)
    assert any(p.size for p in found.params)  # a difference needs an element to show in


@pytest.mark.parametrize("backend", ["fused", "reference"])
def test_adagrad_initial_accumulator_beyond_float32(backend: str) -> None:
    """A valid hyperparameter (finite, >= 0) whose float32 rounding is inf: the state should
    start at inf without a warning, as an overflow inside a step does."""
    param = np.ones(3, np.float32)
    optimizer = optkern.Adagrad([param], initial_accumulator_value=1e39, backend=backend)
    optimizer.step([np.ones(3, np.float32)])
    assert np.all(optimizer.state[0]["sum"] == np.inf)
