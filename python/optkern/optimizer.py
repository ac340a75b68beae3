"""The Optimizer base class that every algorithm shares.

A subclass declares only what is particular to it: its torch.optim hyperparameters and defaults
(its ``__init__`` signature), their validation rules (``_rules``), the state arrays its options
need (``_state_init``), any float64 scalars it carries from step to step (``_scalar_state``, such as
NAdam's running product of momentum coefficients), the float64 coefficients of a step, split into
those fixed by the hyperparameters (``_fixed_coefficients``) and those that change with the step
number (``_step_coefficients``, from a ``StepContext``), and its kernel name (``_kernel``:
``_core.<kernel>_prepare`` and ``reference.<kernel>``).

Everything else lives here, once: parsing param groups, allocating state, binding tensors to the
compiled kernels, the torch-style ``step(grads)`` and the textbook-style ``update(params, grads)``,
checkpoints. A step checks all hyperparameters here and all arrays in C++ before any array is
written, and runs every tensor of the optimizer in one kernel call per (group, dtype).
"""

from __future__ import annotations

import functools
import inspect
import numbers
import operator
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, ClassVar, Literal, ParamSpec, TypeGuard, TypeVar

import numpy as np
from numpy.typing import NDArray

from . import _arena, _checkpoint, _core, _runtime, _storage, _validation, reference
from ._validation import Rule
from .ema import EMA

ParamsArg = Iterable[NDArray[Any]] | Iterable[Mapping[str, Any]] | None
StateDict = dict[str, Any]
#: ``"fused"``: the compiled kernels; ``"reference"``: their NumPy twins in ``optkern.reference``.
Backend = Literal["fused", "reference"]
#: The ``state_dtype`` option (see ``optkern._storage``): None is the parameter's dtype (float32
#: for 16-bit parameters).
StateDType = Literal["float32", "bfloat16"] | None
#: The ``rounding`` option: how stores into 16-bit arrays round (see ``optkern._storage``).
Rounding = Literal["nearest", "stochastic"]
#: step()'s keywords as PreparedStep.run takes them: (max_grad_norm or None, grad_scale,
#: skip_if_nonfinite, the EMA's averages or None, the EMA update's weight).
GradOptions = tuple[float | None, float, bool, list[NDArray[Any]] | None, float]
#: The float64 scalars of one step, keyed by the fields of the kernel's Params struct
#: (cpp/optkern/params.h): floats, and bools for the flags.
Coefficients = dict[str, float | bool]
#: ``_core.<kernel>_prepare``: per param group its tensor groups; the param groups and bindings the
#: step is prepared from; per param group its fixed coefficients; the optimizer's ThreadChoice.
PrepareStep = Callable[
    [
        list[list[_core.TensorGroup]],
        list[dict[str, Any]],
        list[Any],
        list[Coefficients],
        _core.ThreadChoice,
    ],
    _core.PreparedStep,
]

_BACKENDS: tuple[Backend, ...] = ("fused", "reference")

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _exclusive(method: Callable[_P, _R]) -> Callable[_P, _R]:
    """One thread at a time per optimizer: a step reads and advances the step counts, binds state
    arrays and caches the kernels' plans, so a second thread in the middle of that (stepping,
    loading a checkpoint, ...) would silently repeat a step number or race on the state. It is
    refused instead. Re-entrant, because update() binds, loads and steps through these methods."""

    @functools.wraps(method)
    def guarded(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        self = args[0]
        assert isinstance(self, Optimizer)
        if not self._in_use.acquire(blocking=False):
            raise _in_use_error(self, method.__name__)
        try:
            return method(*args, **kwargs)
        finally:
            self._in_use.release()

    return guarded


# Rebuilt by Optimizer.__setstate__ instead of copied or pickled.
_REBUILT = frozenset(
    {
        "_in_use",
        "_prepared",
        "_roles",
        "_prepare_step",
        "_reference_step",
        "_state_proxies",
        "_state_view",
        "_thread_choice",
    }
)


def _in_use_error(optimizer: Optimizer, method: str) -> RuntimeError:
    if _core.forked_child():
        return RuntimeError(
            f"{type(optimizer).__name__}.{method}(): this process was forked while another "
            "thread was using this optimizer (stepping it, say), so its arrays may be partly "
            "updated and it stays locked here: load a checkpoint into a new optimizer in this "
            "process, or fork when no thread is using it"
        )
    return RuntimeError(
        f"{type(optimizer).__name__}.{method}(): another thread is using this optimizer right "
        "now; an optimizer must be used by one thread at a time"
    )


_MAX_STEP = _checkpoint.MAX_STEP


@dataclass
class _Binding:
    """The compiled-side view of one param group, rebuilt when its params or needed states change."""

    needed: tuple[str, ...]  # the state arrays bound
    # the group's state_dtype, master_weights, stochastic rounding and seed when bound
    storage: tuple[Any, bool, bool, int]
    tensor_groups: list[_core.TensorGroup]  # one per dtype


@dataclass(slots=True, eq=False)
class StepContext:
    """What ``Optimizer._step_coefficients`` computes one param group's step coefficients from.

    One object per param group, made when the optimizer prepares its groups and updated in place
    on every step (a new object per step would cost a small model's step a few percent): read it
    during the call, do not keep it."""

    #: The group's hyperparameters as validated, every number a Python float (``_as_floats``).
    group: Mapping[str, Any]
    #: The number of this step, 1-based.
    step: int = 0
    #: The state arrays that hold only their initial values (not stepped yet).
    fresh: AbstractSet[str] = frozenset()
    #: A copy of the group's scalar state (see ``Optimizer._scalar_state``) to advance in place:
    #: kept only if the step succeeds.
    scalars: dict[str, float] = field(default_factory=dict)


def _unprepared() -> StepContext:
    return StepContext({})


@dataclass(slots=True, eq=False)
class _Group:
    """The optimizer's record of one param group: ``Optimizer._groups[i]`` belongs to
    ``param_groups[i]``. ``dataclasses.replace`` keeps what the group was built with and its
    step's state, and drops the caches (``validated``, ``binding``, ``context``)."""

    params: tuple[NDArray[Any], ...]  # bound with; the group's "params" must keep them
    first: int  # the flat index of its first parameter
    labels: tuple[list[str], list[str]]  # of its parameters and gradients, for errors
    probe: list[_core.TensorGroup]  # its params only, for overlap checks; one per dtype
    step: int  # steps done
    scalars: dict[str, float]  # see Optimizer._scalar_state
    fresh: set[str]  # states created but not yet stepped
    # The hyperparameters as last validated (see _snapshot), or None.
    validated: dict[str, Any] | None = field(default=None, init=False)
    binding: _Binding | None = field(default=None, init=False)
    # What _step_coefficients reads; made by _prepare (holding _as_floats of the group).
    context: StepContext = field(default_factory=_unprepared, init=False)


class Optimizer:
    """Base class: see the algorithm classes (``optkern.Adam`` ...) for the public signatures."""

    _kernel: ClassVar[str]
    _rules: ClassVar[Mapping[str, Rule]]
    #: The hyperparameters a variant class (see ``__init_subclass__``) fixes, with their values:
    #: AdamW's ``decoupled_weight_decay=True``.
    _fixed: ClassVar[Mapping[str, Any]] = MappingProxyType({})
    # Scalar state per param group, in float64, with its initial value. `_step_coefficients` advances
    # it; it is saved per parameter in state_dict (torch's layout), like "step".
    _scalar_state: ClassVar[Mapping[str, float]] = {}

    def __init_subclass__(
        cls,
        *,
        defaults: Mapping[str, Any] | None = None,
        fixed: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Declaring an algorithm: its hyperparameters are the parameters of its ``__init__``
        (all but ``self``, ``params``, ``num_threads`` and ``backend``), in order, with their
        defaults; ``__init__``'s body is ``self._init_from(locals())``. A class that sets
        ``_rules`` must give a rule to exactly those hyperparameters (else a TypeError here).

        A variant of an algorithm with other defaults is a subclass with class keywords:
        ``class Momentum(SGD, defaults={"lr": 0.01, "momentum": 0.9})``; ``fixed={...}`` also
        sets hyperparameters for good and takes them out of the signature (AdamW's
        ``decoupled_weight_decay=True``). Its ``__init__`` is generated: a real function with
        the parent's signature and the new defaults (what ``help()`` and ``inspect`` show)."""
        super().__init_subclass__(**kwargs)
        if defaults is not None or fixed is not None:
            _make_variant(cls, dict(defaults or {}), dict(fixed or {}))
        if "_rules" in vars(cls):
            # The storage options are every algorithm's, with rules of their own.
            declared = tuple(k for k in _hyperparameters_of(cls) if k not in _storage.OPTIONS)
            if set(declared) | set(cls._fixed) != set(cls._rules):
                missing = [k for k in declared if k not in cls._rules]
                extra = [k for k in cls._rules if k not in declared and k not in cls._fixed]
                raise TypeError(
                    f"{cls.__name__}: _rules must name exactly the hyperparameters of __init__ "
                    f"{list(declared)}: no rule for {missing}, a rule but no parameter for {extra}"
                )

    def _init_from(self, arguments: Mapping[str, Any]) -> None:
        """The body of an algorithm's ``__init__``: ``self._init_from(locals())``. Its
        hyperparameters, in the signature's order, are the optimizer's ``defaults``."""
        hyperparameters = {k: v for k, v in arguments.items() if k not in _NOT_HYPERPARAMETERS}
        Optimizer.__init__(
            self,
            arguments["params"],
            hyperparameters,
            num_threads=arguments["num_threads"],
            backend=arguments["backend"],
        )

    def __init__(
        self,
        params: ParamsArg,
        defaults: Mapping[str, Any],
        *,
        num_threads: int | None = None,
        backend: Backend = "fused",
    ) -> None:
        name = type(self).__name__
        self._in_use = threading.RLock()  # see _exclusive
        self._check_hyperparameters(defaults, name)
        _validation.num_threads(num_threads, name)
        if backend not in _BACKENDS:
            raise ValueError(f"{name}: backend must be one of {_BACKENDS}, got {backend!r}")
        self.defaults: dict[str, Any] = dict(defaults)
        if isinstance(self.defaults.get("betas"), list):  # stored as torch does: a tuple
            self.defaults["betas"] = tuple(self.defaults["betas"])
        self._num_threads = num_threads  # see the num_threads property
        self.backend = backend
        self.param_groups: list[dict[str, Any]] = []
        # _state[i] holds the arrays of the i-th parameter (param groups in order, then position);
        # users see it through the read-only `state` property, because the kernels are bound to
        # these very arrays.
        self._state: dict[int, dict[str, NDArray[Any]]] = {}
        self._state_proxies: dict[int, Mapping[str, NDArray[Any]]] = {}
        self._state_view: Mapping[int, Mapping[str, NDArray[Any]]] = MappingProxyType(
            self._state_proxies
        )
        # The optimizer's record of each group, parallel to param_groups (which users own).
        self._groups: list[_Group] = []
        self._keys: list[str] | None = None  # textbook style: the dict keys, in order
        self._pending: dict[str, Any] | None = None
        # Textbook style, before the first update(): keys other than hyperparameters given to the
        # one group to be (a scheduler's initial_lr ...); that update() puts them into its group.
        self._unbound_group_keys: dict[str, Any] = {}
        self._prepared: _core.PreparedStep | None = None  # see _prepare
        # Whether default-thread steps run on OpenMP's maximum or on one thread, from the times
        # of this optimizer's own steps (cpp/thread_choice.h). It outlives the prepared steps (a
        # schedule's new lr prepares anew) and starts afresh when the bound arrays change.
        self._thread_choice = _core.ThreadChoice()
        self._roles: tuple[str, ...] = _core.array_roles[self._kernel]
        self._prepare_step: PrepareStep = getattr(_core, f"{self._kernel}_prepare")
        # reference.<kernel>(param, grad, *states, coefficients)
        self._reference_step: Callable[..., None] = getattr(reference, self._kernel)
        if params is None:
            return
        if isinstance(params, Mapping):
            raise TypeError(
                f"{name}: params is a dict ({_some_keys(params)}); pass list(d.values()) to "
                f"step(grads) with a list of gradients in that order, or build {name}() without "
                "params and call update(params, grads) with dicts keyed alike (the textbook style)"
            )
        if isinstance(params, np.ndarray) or not isinstance(params, Iterable):
            raise TypeError(
                f"{name}: params must be a list of numpy arrays or of param-group dicts, got "
                f"{type(params).__name__}"
                + (" (wrap a single array in a list)" if isinstance(params, np.ndarray) else "")
            )
        items = list(params)
        if not items:
            raise ValueError(f"{name}: got an empty parameter list")
        self._add_groups(items if _all_mappings(items) else [{"params": items}], None)

    @property
    def step_count(self) -> int:
        """Steps done (read-only): the largest step count of the param groups, 0 before the
        first step (and with no param groups yet). ``load_state_dict`` restores it. Learning-rate
        schedulers read it to tell whether the optimizer stepped (``optkern.lr_scheduler``)."""
        return max((record.step for record in self._groups), default=0)

    @property
    def num_threads(self) -> int | None:
        """Threads of this optimizer's steps; None: ``optkern.get_num_threads()``."""
        return self._num_threads

    @num_threads.setter
    def num_threads(self, value: int | None) -> None:
        _validation.num_threads(value, f"{type(self).__name__}.num_threads")
        self._num_threads = value

    @property
    def state(self) -> Mapping[int, Mapping[str, NDArray[Any]]]:
        """The state arrays per parameter index, as read-only mappings: the arrays are the ones
        the kernels are bound to, so they may be read or changed in place but not replaced."""
        return self._state_view

    def _state_entry(self, index: int) -> dict[str, NDArray[Any]]:
        """The state dict of parameter `index`, created (with its read-only view) if missing."""
        if index not in self._state:
            self._state[index] = {}
            self._state_proxies[index] = MappingProxyType(self._state[index])
        return self._state[index]

    # ----------------------------------------------------------------------------- declarations

    @staticmethod
    def _state_init(group: Mapping[str, Any]) -> dict[str, float]:
        """The state arrays the group's options need, in role order, with their initial value."""
        raise NotImplementedError

    @staticmethod
    def _fixed_coefficients(group: Mapping[str, Any]) -> Coefficients:
        """The scalars of a step that depend only on the group's hyperparameters, in float64,
        keyed by the fields of the kernel's Params struct (cpp/optkern/params.h). Computed when
        the optimizer prepares its groups and reused while no hyperparameter changes."""
        raise NotImplementedError

    @staticmethod
    def _step_coefficients(context: StepContext) -> Coefficients:
        """The remaining fields, which depend on the step number ``context.step`` (1-based): bias
        corrections and the like, computed every step. ``context.group`` holds the
        hyperparameters as validated, every number already a Python float (``_as_floats``): this
        runs on every step.

        ``context.fresh`` names the state arrays that hold only their initial values;
        ``context.scalars`` is a copy of the group's scalar state (see ``_scalar_state``) to
        advance in place: it is kept only if the step succeeds. See ``StepContext``."""
        del context  # by default, nothing depends on the step
        return {}

    @classmethod
    def _check_group(cls, group: Mapping[str, Any], where: str) -> None:
        """Checks across hyperparameters (override where options constrain each other)."""

    # ----------------------------------------------------------------------------- param groups

    @_exclusive
    def add_param_group(self, param_group: Mapping[str, Any]) -> None:
        """Add a group: ``{"params": [arrays], <hyperparameter>: value, ...}``; hyperparameters
        left out take the optimizer's defaults. Works before and after steps. Keys that are no
        hyperparameter name (``"name"``, say) are kept, as torch keeps them, and saved in
        checkpoints; a misspelled hyperparameter is an error."""
        if self._keys is not None:
            raise TypeError(
                f"{type(self).__name__} is bound to the dicts of update(params, grads); "
                "add_param_group works with the torch-style step(grads)"
            )
        self._add_groups([param_group], None)

    def _add_groups(
        self,
        param_groups: Sequence[Mapping[str, Any]],
        labels: tuple[list[str], list[str]] | None,
        commit: Mapping[str, Any] = MappingProxyType({}),
    ) -> None:
        """Checks every new group, then the memory of all arrays at once (one sorted pass over
        every array, so that building an optimizer of many groups stays O(n log n)), then adds
        them, and sets the attributes of ``commit`` in the same C call. Adds nothing if anything
        fails."""
        last = self._groups[-1] if self._groups else None
        first = last.first + len(last.params) if last is not None else 0
        added: list[tuple[dict[str, Any], _Group]] = []
        for offset, param_group in enumerate(param_groups):
            index = len(self.param_groups) + offset
            where = f"param_groups[{index}]"
            if not isinstance(param_group, Mapping) or "params" not in param_group:
                raise TypeError(
                    f"{where}: a param group is a dict with a 'params' list, got "
                    f"{_describe(param_group)}"
                )
            self._check_group_keys(param_group, where, defaults_fill_in=True)
            params = param_group["params"]
            if isinstance(params, np.ndarray):
                params = [params]
            elif isinstance(params, Mapping):
                raise TypeError(
                    f"{where}['params'] is a dict; pass a list of arrays (list(d.values()))"
                )
            params = list(params)
            group = {**self.defaults, **{k: v for k, v in param_group.items() if k != "params"}}
            group["params"] = params
            self._check_hyperparameters(group, where)
            group_labels = labels or (
                [f"{where}['params'][{i}]" for i in range(len(params))],
                [f"grads[{first + i}] (for {where}['params'][{i}])" for i in range(len(params))],
            )
            # Fails (and adds nothing) on a non-array, unsupported dtype, bad layout or read-only
            # parameter, or two parameters of the group sharing memory.
            probe = self._tensor_groups(
                params, group_labels, first, [{} for _ in params], (), group
            )
            record = _Group(
                tuple(params), first, group_labels, probe, 0, dict(self._scalar_state), set()
            )
            added.append((group, record))
            first += len(params)
        _core.check_disjoint(
            self._bound_tensor_groups() + [tg for _, record in added for tg in record.probe]
        )
        # Both lists grow in one C call (in place: param_groups stays the list users hold), so a
        # KeyboardInterrupt cannot leave them of different lengths.
        _core.set_attributes(
            self,
            dict(commit),
            [
                (self.param_groups, [group for group, _ in added]),
                (self._groups, [record for _, record in added]),
            ],
        )

    def _bound_tensor_groups(self) -> list[_core.TensorGroup]:
        """Every array the optimizer holds, each once: a bound group's parameters and states, an
        unbound group's parameters."""
        out = []
        for record in self._groups:
            out += record.binding.tensor_groups if record.binding is not None else record.probe
        return out

    def _check_hyperparameters(self, group: Mapping[str, Any], where: str) -> None:
        for key, rule in self._rules.items():
            if key in group:
                rule(key, group[key], where)
        if "state_dtype" in group:
            _storage.check_state_dtype("state_dtype", group["state_dtype"], where)
        if "master_weights" in group:
            _validation.boolean("master_weights", group["master_weights"], where)
        if "rounding" in group:
            _storage.check_rounding("rounding", group["rounding"], where)
        if "seed" in group:
            _storage.check_seed("seed", group["seed"], where)
        _storage.check_stochastic_group(group, where)
        self._check_group(group, where)

    def _check_group_keys(
        self, group: Mapping[str, Any], where: str, *, defaults_fill_in: bool = False
    ) -> None:
        """Every hyperparameter is there (unless the defaults fill in), and no other key looks
        like one: a misspelling (``learning_rate``, ``lrr``) or another class's hyperparameter
        would otherwise be carried along silently and never used."""
        name = type(self).__name__
        for key in group:
            if key == "params" or key in self.defaults:
                continue
            if not isinstance(key, str):
                raise TypeError(f"{where}: param group keys must be str, got {key!r}")
            meant = _validation.looks_like_hyperparameter(
                key, self.defaults, _all_hyperparameter_names()
            )
            if meant is not None:
                raise TypeError(
                    f"{where}: unknown hyperparameter {key!r} for {name}{meant}; its "
                    f"hyperparameters: {sorted(self.defaults)}"
                )
        if not defaults_fill_in:
            missing = [k for k in self.defaults if k not in group]
            if missing:
                raise ValueError(
                    f"{where} has no {', '.join(map(repr, missing))}: every param group of "
                    f"{name} holds all of {sorted(self.defaults)}"
                )

    def _tensor_groups(
        self,
        params: list[NDArray[Any]],
        labels: tuple[list[str], list[str]],
        first: int,
        states: Sequence[Mapping[str, NDArray[Any]]],
        needed: tuple[str, ...],
        group: Mapping[str, Any],
    ) -> list[_core.TensorGroup]:
        """One _core.TensorGroup per dtype (in order of first appearance), with the state dtype
        and master weights the group's options give it (``needed`` empty: its parameters only, to
        check them and the options)."""
        buckets: dict[np.dtype[Any] | None, list[int]] = {}
        for position, param in enumerate(params):
            key = param.dtype if isinstance(param, np.ndarray) else None
            buckets.setdefault(key, []).append(position)
        masters = bool(group.get("master_weights", False))
        stochastic, seed = _storage.stochastic(group)
        groups = []
        for dtype, positions in buckets.items():
            state_dtype = None
            if dtype is not None:  # else the TensorGroup names the bad parameter
                label = labels[0][positions[0]]
                state_dtype = _storage.state_dtype(dtype, group.get("state_dtype"), label)
                _storage.check_master_weights(dtype, masters, label)
            groups.append(
                _core.TensorGroup(
                    self._roles,
                    [params[i] for i in positions],
                    [
                        [states[i].get(r) if r in needed else None for r in self._roles[2:]]
                        for i in positions
                    ],
                    [labels[0][i] for i in positions],
                    [labels[1][i] for i in positions],
                    [first + i for i in positions],
                    state_dtype,
                    [states[i][_storage.MASTER] for i in positions] if masters and needed else [],
                    stochastic,
                    seed,
                )
            )
        return groups

    def _binding(self, group_index: int) -> tuple[_Binding, bool]:
        """The group's binding, and whether it is new (then _prepare checks it against the other
        groups' arrays before keeping it)."""
        group = self.param_groups[group_index]
        params = group["params"]
        record = self._groups[group_index]
        expected = record.params
        if len(params) != len(expected) or not all(map(operator.is_, params, expected)):
            raise ValueError(
                f"param_groups[{group_index}]['params'] was changed after the optimizer was "
                "built; its state belongs to the original arrays. Build a new optimizer (or use "
                "add_param_group for new parameters)"
            )
        init = self._state_init(group)
        masters = bool(group.get("master_weights", False))
        storage = (group.get("state_dtype"), masters, *_storage.stochastic(group))
        needed = (*init, _storage.MASTER) if masters else tuple(init)
        bound = record.binding
        if bound is not None and bound.needed == needed and bound.storage == storage:
            return bound, False
        first = record.first
        labels = record.labels[0]
        dtypes = [  # (None: a parameter no kernel takes, which its TensorGroup names below)
            _storage.state_dtype(p.dtype, storage[0], label) or p.dtype
            for p, label in zip(params, labels, strict=True)
        ]
        states = [self._state_entry(first + position) for position in range(len(params))]
        for position, state in enumerate(states):  # before anything is created
            for name in init:
                if name in state and state[name].dtype != dtypes[position]:
                    raise ValueError(
                        f"{labels[position]}: its state {name!r} is {state[name].dtype}, but "
                        f"state_dtype={storage[0]!r} asks for {dtypes[position]}: the state "
                        "dtype cannot change once the state exists (build a new optimizer)"
                    )
        for name, value in init.items():
            missing = [position for position, state in enumerate(states) if name not in state]
            if missing:  # marked before it exists, so an interrupt cannot leave it unmarked
                record.fresh.add(name)
            created = _arena.arrays_like(
                [params[position] for position in missing],
                value,
                [dtypes[position] for position in missing],
            )
            for position, array in zip(missing, created, strict=True):
                states[position][name] = array
        if masters:
            for param, label in zip(params, labels, strict=True):
                _storage.check_master_weights(param.dtype, True, label)
            missing = [
                position for position, state in enumerate(states) if _storage.MASTER not in state
            ]
            created = _arena.arrays_like(
                [params[position] for position in missing],
                None,
                [np.dtype(np.float32)] * len(missing),
            )
            for position, array in zip(missing, created, strict=True):
                np.copyto(array, params[position], casting="unsafe")  # exact: 16 bits to 32
                states[position][_storage.MASTER] = array
        else:  # a master copy left from before would be stale if master weights came back
            for state in states:
                state.pop(_storage.MASTER, None)
        tensor_groups = self._tensor_groups(params, record.labels, first, states, needed, group)
        return _Binding(needed, storage, tensor_groups), True

    # ----------------------------------------------------------------------------- stepping

    def step(
        self,
        grads: list[NDArray[Any]] | tuple[NDArray[Any], ...],
        *,
        max_grad_norm: float | None = None,
        grad_scale: float | None = None,
        skip_if_nonfinite: bool = False,
        ema: EMA | None = None,
    ) -> float | None:
        """Update every parameter in place from ``grads``, one array per parameter, in the order
        the parameters were given (group by group).

        Everything is checked first: on any error nothing is modified.

        The keywords act on the gradients inside the update, without writing them:

        - ``grad_scale=s``: the update uses ``grad / s`` (the gradients of a loss multiplied by
          ``s``, as ``optkern.GradScaler`` scales it): each element is multiplied by ``1 / s``
          rounded to the arithmetic type, exact for a power of two.
        - ``max_grad_norm=c``: clips by the global L2 norm of all of this step's gradients
          together (every param group; not per group or per tensor), divided by ``grad_scale``:
          the update uses ``grad * min(1, c / (norm + 1e-6))``, torch's ``clip_grad_norm_``
          coefficient. Returns that pre-clip norm. A non-finite gradient gives a non-finite norm
          and, as in torch, non-finite parameters, unless ``skip_if_nonfinite`` is set.
        - ``skip_if_nonfinite=True``: if any gradient element is inf or NaN the step is skipped:
          parameters, states and step counts stay as they were. Returns the norm (inf or NaN
          then), so the caller can tell.
        - ``ema=ema``: also updates ``ema`` (an ``optkern.EMA`` of exactly this optimizer's
          parameters, in order) from each block of the parameters right after the kernel wrote
          it, so each parameter is read once for both: the same bits as ``ema.update()`` after
          the step. A skipped step updates nothing.

        The norm is one read-only pass over every gradient (before any array is written), in a
        fixed order, so it is the same bits for every thread count and ISA
        (``optkern.reference.grad_norm`` computes it in NumPy). Returns None when neither
        ``max_grad_norm`` nor ``skip_if_nonfinite`` is given.
        """
        # This method is the whole overhead of a small model's step, so it is written for speed
        # (bench/step_benchmark.py; a 1,000-element Adam step costs about 3 µs): _exclusive's
        # guard is written out (the decorator's call costs ~0.5 µs; a positional `False` saves
        # ~0.1 µs over `blocking=False`), and a plain loop replaces a comprehension (a call less).
        options = None
        if (
            max_grad_norm is not None
            or grad_scale is not None
            or skip_if_nonfinite is not False
            or ema is not None
        ):
            where = f"{type(self).__name__}.step"
            options = (
                *_validation.grad_options(max_grad_norm, grad_scale, skip_if_nonfinite, where),
                *self._ema_option(ema, where),
            )
        if not self._in_use.acquire(False):
            raise _in_use_error(self, "step")
        try:
            prepared = self._prepared
            records = self._groups
            if prepared is None or not prepared.is_current(self.param_groups, records):
                prepared = self._prepare()
            # The bookkeeping of the step, per group, committed all at once with the update (see
            # run): only what changes, since each entry costs a little on every step of a small
            # model. Scalar state is advanced on a copy, committed only after the kernels ran.
            if len(records) == 1:  # the usual case, without a loop's ~0.1 µs
                record = records[0]
                step = record.step + 1
                if step > _MAX_STEP:
                    raise _step_limit_error(self, 0)
                context = record.context
                context.step = step
                context.fresh = fresh = record.fresh
                commit: dict[str, Any] = {"step": step}
                if self._scalar_state:
                    context.scalars = commit["scalars"] = dict(record.scalars)
                if fresh:
                    commit["fresh"] = set()
                coefficients = [self._step_coefficients(context)]
                commits = [commit]
            else:
                coefficients, commits = self._multi_group_coefficients(records)
            # 0: set_num_threads's value is unset, so the kernels take OpenMP's maximum
            threads = self._num_threads or _runtime._num_threads or 0
            if options is None:
                if self.backend == "fused":
                    prepared.run(coefficients, grads, threads, records, commits)
                    return None
                return self._reference_steps(prepared, coefficients, grads, records, commits)[0]
            # The EMA's update count commits with the step, in the same C call.
            extra: list[tuple[Any, dict[str, Any]]] = []
            if ema is not None:
                extra = [(ema, {"num_updates": ema.num_updates + 1})]
            if self.backend == "fused":
                owners = [*records, *(owner for owner, _ in extra)]
                every = [*commits, *(commit for _, commit in extra)]
                # (norm or None, skipped): a skipped step committed nothing
                return prepared.run(coefficients, grads, threads, owners, every, options)[0]
            return self._reference_steps(
                prepared, coefficients, grads, records, commits, options, extra
            )[0]
        finally:
            self._in_use.release()

    def _ema_option(self, ema: Any, where: str) -> tuple[list[NDArray[Any]] | None, float]:
        """step()'s ``ema``, checked: (its averages, the update's weight), or (None, 0.0)."""
        if ema is None:
            return None, 0.0
        if not isinstance(ema, EMA):
            raise TypeError(f"{where}: ema must be an optkern.EMA, got {type(ema).__name__}")
        flat = [p for record in self._groups for p in record.params]
        own = ema._params
        if len(own) != len(flat) or any(a is not b for a, b in zip(own, flat, strict=False)):
            raise ValueError(
                f"{where}: ema averages other arrays than this optimizer's parameters (it must be "
                "an EMA of exactly the optimizer's parameters, in the same order)"
            )
        if ema._swapped is not None:
            raise ValueError(f"{where}: the parameters hold the EMA's averages (swap() back first)")
        return ema._averages, 1.0 - ema.get_decay()

    def _multi_group_coefficients(
        self, records: list[_Group]
    ) -> tuple[list[Coefficients], list[dict[str, Any]]]:
        """step()'s coefficients and commits for several groups (see the one-group case there)."""
        for index, record in enumerate(records):
            if record.step + 1 > _MAX_STEP:
                raise _step_limit_error(self, index)
        has_scalars = bool(self._scalar_state)
        coefficients = []
        commits = []
        for record in records:
            context = record.context
            context.step = step = record.step + 1
            context.fresh = fresh = record.fresh
            commit: dict[str, Any] = {"step": step}
            if has_scalars:
                context.scalars = commit["scalars"] = dict(record.scalars)
            if fresh:
                commit["fresh"] = set()
            coefficients.append(self._step_coefficients(context))
            commits.append(commit)
        return coefficients, commits

    def _prepare(self) -> _core.PreparedStep:
        """Checks the hyperparameters that changed since the last step, (re)binds the groups
        whose parameters or needed states changed and computes their fixed coefficients. The
        result is reused while nothing changes (PreparedStep.is_current, cpp/prepared_step.h: the
        same group dicts holding the very same objects, compared by identity, so a new float for
        ``lr``, even an equal one, counts as a change and is validated). This is what makes a step
        of a small model cost microseconds: no hyperparameter is looked at again."""
        name = type(self).__name__
        if not self.param_groups:
            raise ValueError(
                f"{name} has no parameters: pass them to the constructor, or use "
                "update(params, grads) with dicts"
            )
        self._prepared = None
        groups = self.param_groups
        records = self._groups
        if not isinstance(groups, list) or len(groups) != len(records):
            count = len(groups) if isinstance(groups, list) else type(groups).__name__
            raise ValueError(
                f"{name}.param_groups holds {count} groups, but the optimizer was built with "
                f"{len(records)}: add groups with add_param_group(), not by editing "
                "the list"
            )
        for index, group in enumerate(groups):
            where = f"param_groups[{index}]"
            if not isinstance(group, dict):
                raise TypeError(f"{where} must be a dict, got {_describe(group)}")
            # Schedules may change hyperparameters between steps; unchanged ones were checked.
            record = records[index]
            if not _unchanged(group, record.validated):
                self._check_group_keys(group, where)
                self._check_hyperparameters(group, where)
                record.validated = _snapshot(group, self.defaults)
        results = [self._binding(index) for index in range(len(groups))]
        bindings = [binding for binding, _ in results]
        if any(new for _, new in results):  # one sorted pass over every array of every group
            _core.check_disjoint([tg for binding in bindings for tg in binding.tensor_groups])
            # One C call: all groups take their new bindings, or none does.
            _core.set_attributes(
                self, {}, owners=records, commits=[{"binding": b} for b in bindings]
            )
            self._thread_choice.reset()  # the step's work changed: its times are measured anew
        for record, group in zip(records, groups, strict=True):
            record.context = StepContext(_as_floats(group))
        prepared = self._prepare_step(
            [binding.tensor_groups for binding in bindings],
            groups,
            list(bindings),
            [self._fixed_coefficients(group) for group in groups],
            self._thread_choice,
        )
        # A group with a hyperparameter of an unusual type (see _snapshot) is validated anew on
        # every step, so it never takes the short way.
        if all(record.validated is not None for record in records):
            self._prepared = prepared
        return prepared

    def _reference_steps(
        self,
        prepared: _core.PreparedStep,
        step_coefficients: list[Coefficients],
        grads: list[NDArray[Any]] | tuple[NDArray[Any], ...],
        records: list[_Group],
        commits: list[dict[str, Any]],
        options: GradOptions | None = None,
        extra: Sequence[tuple[Any, dict[str, Any]]] = (),
    ) -> tuple[float | None, bool]:
        """The reference backend's step, as atomic as the fused one: the reference updates one
        array after another in Python, where a KeyboardInterrupt can land between any two, so
        every array it writes is copied first and put back unless the step was committed.
        ``options`` and the result (norm, skipped): as ``PreparedStep.run``'s (see step);
        ``extra``: (owner, commit) pairs committed with the groups' (a fused EMA's count)."""
        # the same checks as the fused path
        checked = _core.check_grads(prepared.tensor_groups, grads)
        norm = None
        averages: list[NDArray[Any]] | None = None
        multiplier = 1.0
        if options is not None:
            max_norm, scale, skip, averages, ema_weight = options
            norm, multiplier, skipped = reference.grad_options(checked, max_norm, scale, skip)
            if skipped:
                return norm, True
        checked = [reference.scaled_grad(grad, multiplier) for grad in checked]
        # Per tensor: [param, *states, master], its gradient, the coefficients, and (stochastic
        # rounding) the (seed, step, tensor) its random bits are made from.
        calls: list[
            tuple[
                list[NDArray[Any] | None], NDArray[Any], Coefficients, tuple[int, int, int] | None
            ]
        ] = []
        for record, fixed, step, commit in zip(
            records, prepared.fixed_coefficients, step_coefficients, commits, strict=True
        ):
            binding = record.binding
            assert binding is not None  # bound by _prepare
            values = {**fixed, **step}
            stochastic, seed = binding.storage[2], binding.storage[3]
            for tensor_group in binding.tensor_groups:
                for param, states, master, index in zip(
                    tensor_group.params,
                    tensor_group.states,
                    tensor_group.masters,
                    tensor_group.grad_index,
                    strict=False,
                ):
                    # Plain ndarray views: a subclass (np.memmap, ...) is plain memory to the
                    # kernel, so its operators must not run here either.
                    arrays = [_plain_view(a) for a in (param, *states, master)]
                    grad = _plain_view(checked[index])
                    assert grad is not None
                    rounding = (seed, commit["step"], index) if stochastic else None
                    calls.append((arrays, grad, values, rounding))
        written = [array for arrays, _, _, _ in calls for array in arrays if array is not None]
        if averages is not None:
            written += averages
        backup = [array.copy() for array in written]
        try:
            for arrays, grad, values, rounding in calls:
                updated, *states, master = arrays
                assert updated is not None
                if master is None and not _converted(updated, grad, states):
                    self._reference_step(updated, grad, *states, values)
                else:
                    reference.stored_step(
                        self._reference_step, updated, grad, states, values, master, rounding
                    )
            if averages is not None:
                # plain ndarray views, as the parameters above
                params = [p.view(np.ndarray) for record in records for p in record.params]
                reference.ema_update(averages, params, ema_weight)
            _core.set_attributes(
                self,
                {},
                owners=[*records, *(owner for owner, _ in extra)],
                commits=[*commits, *(commit for _, commit in extra)],
            )
        except BaseException:
            if records[0].step != commits[0]["step"]:  # not committed: undo the writes
                for array, saved in zip(written, backup, strict=True):
                    np.copyto(array, saved)
            raise
        return norm, False

    @_exclusive
    def update(self, params: Mapping[str, NDArray[Any]], grads: Mapping[str, NDArray[Any]]) -> None:
        """Textbook style: ``params`` and ``grads`` are dicts of arrays keyed alike.

        The first call binds the keys (one param group with this optimizer's defaults) and
        creates the state; later calls must use the same keys.
        """
        if not isinstance(params, Mapping) or not isinstance(grads, Mapping):
            raise TypeError(
                "update(params, grads) takes two dicts of numpy arrays keyed alike, got "
                f"{type(params).__name__} and {type(grads).__name__}"
            )
        if self._keys is None:
            if self.param_groups:
                raise TypeError(
                    f"{type(self).__name__} was built with a parameter list: call step(grads)"
                )
            keys = list(params)
            _check_same_keys(keys, grads, "grads", "params")
            labels = ([f"params[{k!r}]" for k in keys], [f"grads[{k!r}]" for k in keys])
            bad = [k for k in keys if not isinstance(k, str)]
            if bad:
                raise TypeError(
                    f"update(): parameter names must be str (as the textbook's 'W1', 'b1'), got "
                    f"{bad[0]!r}; checkpoints store them by name"
                )
            try:
                group = {**self._unbound_group_keys, "params": [params[k] for k in keys]}
                self._add_groups([group], labels, {"_keys": keys})
                if self._pending is not None:
                    self._load_pending(self._pending)
            except (TypeError, ValueError):
                raise  # bad arrays (nothing was bound) or a dropped load (unbound already)
            except BaseException:  # interrupted, out of memory ...: unbound, any load kept
                self._unbind_all(keep_pending=True)
                raise
        else:
            _check_same_keys(self._keys, params, "params", "the first update() call")
            _check_same_keys(self._keys, grads, "grads", "the first update() call")
            self._rebind_replaced_params([params[k] for k in self._keys])
        assert self._keys is not None  # bound above (set_attributes hides that from mypy)
        self.step([grads[k] for k in self._keys])

    def _load_pending(self, pending: Mapping[str, Any]) -> None:
        """Loads a state dict loaded before the first update(), now that the arrays are bound;
        clears it in the same C call as the load commits."""
        try:
            self._load_state_dict(pending, {"_pending": None})
        except (TypeError, ValueError) as error:
            # Unbound again, and the state dropped: it cannot fit these arrays, and keeping it
            # would make every later update() fail the same way.
            self._unbind_all(keep_pending=False)
            raise type(error)(
                "update(): the state loaded before the first update() does not fit these "
                f"arrays, so it was dropped (the next update() starts without it): {error}"
            ) from error

    def _unbind_all(self, *, keep_pending: bool) -> None:
        """Back to the state of a textbook-style optimizer before its first update()."""
        _core.set_attributes(
            self,
            dict(
                param_groups=[],
                _keys=None,
                _pending=self._pending if keep_pending else None,
                _prepared=None,
                _groups=[],
                **_state_attributes({}),
            ),
        )

    def _rebind_replaced_params(self, new: list[NDArray[Any]]) -> None:
        """The textbook classes key state by name, so a key may get a new array: allowed when it
        has the shape and dtype of the old one (the state still fits)."""
        group = self.param_groups[0]
        old = group["params"]
        if all(a is b for a, b in zip(new, old, strict=False)):
            return
        assert self._keys is not None
        for key, a, b in zip(self._keys, new, old, strict=False):
            if a is not b and (
                not isinstance(a, np.ndarray) or a.shape != b.shape or a.dtype != b.dtype
            ):
                got = f"{a.dtype}{a.shape}" if isinstance(a, np.ndarray) else type(a).__name__
                raise ValueError(
                    f"params[{key!r}] is a new array ({got}) that does not match the bound one "
                    f"({b.dtype}{b.shape}); its optimizer state would not fit"
                )
        record = self._groups[0]
        # Checks layout and writeability.
        probe = self._tensor_groups(new, record.labels, 0, [{} for _ in new], (), group)
        # Bound again on the next step; the hyperparameters stay validated.
        new_record = replace(record, params=tuple(new), probe=probe)
        new_record.validated = record.validated
        # One C call: the group and the optimizer's record of its arrays change together.
        _core.set_attributes(self, {"_groups": [new_record]}, items=[(group, "params", new)])

    # ----------------------------------------------------------------------------- checkpoints

    @_exclusive
    def state_dict(self) -> StateDict:
        """A copy of the hyperparameters, step counts and state arrays (torch's layout: state keyed
        by parameter index, param_groups holding the indices), plus ``optimizer``: the class
        that wrote it, which ``load_state_dict`` checks. A textbook-style optimizer holding a load
        for its first ``update()`` gives (a copy of) that load."""
        if not self.param_groups and self._pending is not None:
            return dict(_copied(self._pending))
        groups = []
        state: dict[int, dict[str, Any]] = {}
        for group, record in zip(self.param_groups, self._groups, strict=True):
            indices = list(range(record.first, record.first + len(record.params)))
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": indices})
            # States never stepped hold only their initial values (and SGD treats a fresh
            # momentum buffer specially): leave them out, so that a load re-creates them fresh.
            fresh = record.fresh
            for i in indices:
                arrays = {k: v for k, v in self._state.get(i, {}).items() if k not in fresh}
                if arrays or record.step:
                    state[i] = {"step": record.step, **record.scalars}
                    state[i].update({k: np.array(v, copy=True) for k, v in arrays.items()})
        out: StateDict = {
            "state": state,
            "param_groups": groups,
            "optimizer": self._checkpoint_names()[0],
        }
        if self._keys is not None:
            out["keys"] = list(self._keys)
        return out

    @_exclusive
    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore hyperparameters (and user keys), step counts and state (copied). Everything is
        checked against the bound parameters first; on any error nothing changes.

        A textbook-style optimizer that has not seen ``update()`` yet checks all it can now
        (everything but the arrays' shapes and dtypes), keeps a copy, and loads it on its first
        ``update()``; a later load before then replaces it, as a second load would. If the
        copy does not fit the first ``update()``'s arrays, that call raises and the copy is
        dropped, so the next ``update()`` starts afresh."""
        self._load_state_dict(state_dict, {})

    def _load_state_dict(self, state_dict: Mapping[str, Any], commit: dict[str, Any]) -> None:
        """load_state_dict, setting the attributes of ``commit`` in the same C call."""
        where = "load_state_dict"
        keys = state_dict.get("keys") if isinstance(state_dict, Mapping) else None
        if keys is not None and (
            not isinstance(keys, list)
            or not all(isinstance(k, str) for k in keys)
            or len(set(keys)) != len(keys)
        ):
            raise TypeError(f"{where}: 'keys' must be a list of distinct str, got {keys!r}")
        if not self.param_groups and keys is not None and self._keys is None:
            _checkpoint.check(self, state_dict, [len(keys)], None, where)
            self._pending = _copied(state_dict)
            return
        if keys is not None and self._keys is not None and list(keys) != self._keys:
            raise ValueError(f"{where}: saved keys {keys} differ from the bound {self._keys}")
        params = [list(record.params) for record in self._groups]
        loaded = _checkpoint.check(self, state_dict, [len(p) for p in params], params, where)
        new_state: dict[int, dict[str, NDArray[Any]]] = {}
        for index, group_params in enumerate(params):
            first = self._groups[index].first
            # Copies, laid out as _binding lays out new state (see _arena).
            group_state: list[dict[str, NDArray[Any]]] = [{} for _ in group_params]
            saved = loaded.arrays[index]
            for name in saved[0] if saved else ():
                copies = _arena.arrays_like(  # each filled just below
                    group_params, None, [entry[name].dtype for entry in saved]
                )
                for position, copy in enumerate(copies):
                    np.copyto(copy, saved[position][name])
                    group_state[position][name] = copy
            new_state.update(enumerate(group_state, start=first))
        new_groups = [
            {**hyper, "params": self.param_groups[index]["params"]}
            for index, hyper in enumerate(loaded.groups)
        ]
        # New records (validated and bound again on the next step) with the loaded step counts
        # and scalars.
        new_records = [
            replace(record, step=step, scalars=scalars, fresh=set())
            for record, step, scalars in zip(
                self._groups, loaded.steps, loaded.scalars, strict=True
            )
        ]
        # One C call, so that a KeyboardInterrupt cannot land half-way.
        _core.set_attributes(
            self,
            dict(
                param_groups=new_groups,
                _groups=new_records,
                **_state_attributes(new_state),
                **commit,
            ),
        )

    def _checkpoint_names(self) -> tuple[str, ...]:
        """The names of checkpoints this optimizer loads: its class's (first), and for a user's
        subclass also that of the optkern class it extends."""
        names = []
        for cls in type(self).__mro__:
            if cls is Optimizer or not issubclass(cls, Optimizer):
                break
            module = cls.__module__
            names.append(
                f"textbook.{cls.__name__}" if module == "optkern.textbook" else cls.__name__
            )
            if module.startswith("optkern."):
                break
        return tuple(names)

    def _check_scalars(
        self, step: int, scalars: Mapping[str, float], group: Mapping[str, Any], where: str
    ) -> None:
        """Range checks of loaded scalar state (see ``_scalar_state``); override where needed."""

    def save_state(self, path: str | os.PathLike[str]) -> None:
        """Write ``state_dict()`` to a ``.npz`` file (arrays as arrays, the rest as JSON).

        Atomic: the file is written beside ``path`` under a temporary name, flushed to disk and
        renamed over ``path``; if anything fails (a value JSON cannot hold, a full disk, an
        interrupt), ``path`` keeps its previous content."""
        _checkpoint.write_npz(path, self.state_dict(), tuple(self._scalar_state))

    def load_state(self, path: str | os.PathLike[str]) -> None:
        """Load a file written by ``save_state`` (checked like ``load_state_dict``)."""
        self.load_state_dict(_checkpoint.read_npz(path))

    # ----------------------------------------------------------------------------- copies

    @_exclusive
    def __getstate__(self) -> dict[str, Any]:
        """For ``copy.deepcopy`` and ``pickle``: the optimizer's data without what is rebuilt from
        it (the lock, the compiled bindings and prepared step, the read-only state views)."""
        # (Reading __dict__ moves CPython's inline attribute values into a dict, which makes
        # this object's later attribute lookups a little slower; copies are rare.)
        state = {k: v for k, v in self.__dict__.items() if k not in _REBUILT}
        # Without the caches (re-validated and bound on first use) and the probes (rebuilt).
        state["_groups"] = [replace(record, probe=[]) for record in self._groups]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        _core.set_attributes(self, state)
        _core.set_attributes(
            self,
            dict(
                _in_use=threading.RLock(),
                _prepared=None,
                _thread_choice=_core.ThreadChoice(),
                _roles=_core.array_roles[self._kernel],
                _prepare_step=getattr(_core, f"{self._kernel}_prepare"),
                _reference_step=getattr(reference, self._kernel),
                **_state_attributes(self._state),
            ),
        )
        # Copied state arrays lose their place in the arena: laid out anew, as a load does.
        for record, group in zip(self._groups, self.param_groups, strict=True):
            params, first = record.params, record.first
            for name in {n for i in range(len(params)) for n in self._state.get(first + i, {})}:
                entries = [self._state.get(first + i, {}) for i in range(len(params))]
                dtypes = [
                    e[name].dtype if name in e else p.dtype
                    for e, p in zip(entries, params, strict=True)
                ]
                copies = _arena.arrays_like(list(params), None, dtypes)
                for position, copy in enumerate(copies):
                    entry = entries[position]
                    if name in entry:
                        np.copyto(copy, entry[name])
                        entry[name] = copy
            record.probe = self._tensor_groups(
                list(params), record.labels, first, [{} for _ in params], (), group
            )

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for index, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {index} ({len(group['params'])} arrays)")
            lines += [f"    {k}: {v}" for k, v in group.items() if k != "params"]
        if not self.param_groups:
            lines += [f"    {k}: {v}" for k, v in self.defaults.items()]
        return "\n".join([*lines, ")"])


def _state_attributes(state: dict[int, dict[str, NDArray[Any]]]) -> dict[str, Any]:
    """The optimizer attributes that hold ``state`` and its read-only views."""
    proxies = {i: MappingProxyType(s) for i, s in state.items()}
    return {"_state": state, "_state_proxies": proxies, "_state_view": MappingProxyType(proxies)}


def _copied(value: Any) -> Any:
    """A copy of a state dict's nested dicts, lists and arrays (kept until a deferred load)."""
    if isinstance(value, np.ndarray):
        return np.array(value, copy=True)
    if isinstance(value, Mapping):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copied(v) for v in value]
    return value


def _converted(param: NDArray[Any], grad: NDArray[Any], states: list[NDArray[Any] | None]) -> bool:
    """Whether the kernel takes the Converted signature for these arrays: any 16-bit one, or
    float32 beside another dtype (see TensorGroup::storage_signature)."""
    dtypes = {param.dtype, grad.dtype, *(s.dtype for s in states if s is not None)}
    return len(dtypes) > 1 or _storage.is_16_bit(param.dtype)


def _plain_view(array: NDArray[Any] | None) -> NDArray[Any] | None:
    """``array`` as a base-class ndarray sharing its memory (None stays None)."""
    if array is None or type(array) is np.ndarray:
        return array
    return array.view(np.ndarray)


def _step_limit_error(optimizer: Optimizer, group: int) -> ValueError:
    return ValueError(
        f"{type(optimizer).__name__}: param_groups[{group}] has reached the largest step count "
        f"optkern supports, 2**53 (step numbers are used in float64)"
    )


# The parameters of an algorithm's __init__ that are no hyperparameter (and __class__, which
# locals() holds when the body uses super()).
_NOT_HYPERPARAMETERS = frozenset({"self", "params", "num_threads", "backend", "__class__"})


def _hyperparameters_of(cls: type[Optimizer]) -> tuple[str, ...]:
    """The hyperparameters ``cls.__init__`` declares (see ``Optimizer.__init_subclass__``)."""
    parameters = inspect.signature(cls.__init__).parameters
    return tuple(name for name in parameters if name not in _NOT_HYPERPARAMETERS)


def _make_variant(cls: type[Optimizer], defaults: dict[str, Any], fixed: dict[str, Any]) -> None:
    """Gives the variant ``cls`` its ``__init__``: the parent's signature with ``defaults``
    changed and ``fixed`` left out, calling the parent's ``__init__`` with ``fixed`` added. The
    function is compiled from source, so that it is an ordinary function: Python's own errors
    for a wrong argument, and the real signature for ``help()`` and ``inspect.signature``."""
    parent = super(cls, cls).__init__
    declared = _hyperparameters_of(cls)
    unknown = [k for k in [*defaults, *fixed] if k not in declared]
    if unknown or set(defaults) & set(fixed):
        raise TypeError(
            f"{cls.__name__}: defaults and fixed must name distinct hyperparameters of "
            f"{list(declared)}, got {list(defaults)} and {list(fixed)}"
        )
    signature = inspect.signature(parent)
    kept = [p for name, p in signature.parameters.items() if name not in fixed]
    if any(p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) for p in kept):
        raise TypeError(f"{cls.__name__}: a variant's parent __init__ takes no *args or **kwargs")
    kept = [p.replace(default=defaults.get(p.name, p.default)) for p in kept]
    names = [p.name for p in kept]
    arguments = [f"{n}={n}" for n in names[1:]] + [f"{n}=_fixed[{n!r}]" for n in fixed]
    star = next((i for i, p in enumerate(kept) if p.kind is p.KEYWORD_ONLY), len(kept))
    header = ", ".join(names[:star] + (["*"] if star < len(kept) else []) + names[star:])
    source = (
        f"def __init__({header}):\n    super(_cls, {names[0]}).__init__({', '.join(arguments)})\n"
    )
    namespace: dict[str, Any] = {"_cls": cls, "_fixed": fixed}
    # Our own source, built from the parent's signature (as dataclasses builds __init__).
    exec(source, namespace)  # noqa: S102
    init = namespace["__init__"]
    qualname = f"{cls.__qualname__}.__init__"
    if hasattr(init.__code__, "co_qualname"):  # Python >= 3.11: used by argument errors
        init.__code__ = init.__code__.replace(co_qualname=qualname)
    init.__qualname__ = qualname
    init.__module__ = cls.__module__
    init.__defaults__ = tuple(p.default for p in kept[:star] if p.default is not p.empty) or None
    init.__kwdefaults__ = {p.name: p.default for p in kept[star:] if p.default is not p.empty}
    init.__annotations__ = {k: v for k, v in parent.__annotations__.items() if k not in fixed}
    cls.__init__ = init  # type: ignore[method-assign]
    cls._fixed = MappingProxyType({**cls._fixed, **fixed})


def _all_hyperparameter_names() -> set[str]:
    """The hyperparameters of every optimizer class defined so far (optkern's and users')."""
    names: set[str] = set()
    pending: list[type[Optimizer]] = [Optimizer]
    while pending:
        cls = pending.pop()
        names.update(getattr(cls, "_rules", {}))
        pending += cls.__subclasses__()
    return names


def _all_mappings(items: list[Any]) -> TypeGuard[list[Mapping[str, Any]]]:
    """True if every item is a Mapping: a list of param groups rather than of arrays."""
    return all(isinstance(item, Mapping) for item in items)


_PLAIN_TYPES = (bool, int, float, str, type(None))


def _snapshot(
    group: Mapping[str, Any], hyperparameters: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The group's hyperparameters as just validated, or None when one is of an unusual type
    (a NumPy scalar, a list ...): such groups are re-validated on every step. User keys (not
    hyperparameters: ``"name"`` ...) are recorded by presence only, whatever their value."""
    snapshot: dict[str, Any] = {}
    for key, value in group.items():
        if key == "params":
            continue
        if key not in hyperparameters:
            snapshot[key] = _USER_KEY
        elif type(value) in _PLAIN_TYPES or (
            type(value) is tuple and all(type(v) in _PLAIN_TYPES for v in value)
        ):
            snapshot[key] = value
        else:
            return None
    return snapshot


def _as_floats(group: Mapping[str, Any]) -> dict[str, Any]:
    """The hyperparameters of `group` (not its params) with every number as a Python float,
    tuples of numbers (betas) as tuples of floats, and flags left as they are."""

    def converted(value: Any) -> Any:
        if isinstance(value, (bool, np.bool_)):
            return value
        if isinstance(value, numbers.Real):
            return float(value)
        if isinstance(value, (tuple, list)):
            return tuple(converted(v) for v in value)
        return value

    return {key: converted(value) for key, value in group.items() if key != "params"}


def _unchanged(group: Mapping[str, Any], snapshot: dict[str, Any] | None) -> bool:
    """True if every hyperparameter has the same type and value as when last validated (types
    too: lr=True equals lr=1 but is invalid)."""
    if snapshot is None or len(group) != len(snapshot) + 1:
        return False
    for key, old in snapshot.items():
        new = group.get(key, _MISSING)
        if old is _USER_KEY:
            if new is _MISSING:
                return False
            continue
        if type(new) is not type(old) or new != old:
            return False
        if type(old) is tuple and any(
            type(a) is not type(b) for a, b in zip(new, old, strict=True)
        ):
            return False
    return True


_MISSING = object()
_USER_KEY = object()  # in a snapshot: a user key, whose value is never looked at


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"[:80]


def _some_keys(mapping: Mapping[Any, Any]) -> str:
    keys = [repr(k) for k in list(mapping)[:3]]
    return "keys " + ", ".join(keys) + (", ..." if len(mapping) > 3 else "") if keys else "empty"


def _check_same_keys(expected: list[str], given: Mapping[str, Any], what: str, of: str) -> None:
    if set(given) != set(expected):
        missing = [k for k in expected if k not in given]
        extra = [k for k in given if k not in set(expected)]
        raise ValueError(f"{what} keys differ from {of}: missing {missing}, unexpected {extra}")
