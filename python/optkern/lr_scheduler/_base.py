"""``LRScheduler``, the base class of the schedulers."""

from __future__ import annotations

import copy
import numbers
import warnings
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any, ClassVar

from ..optimizer import Optimizer
from ._checks import _integer
from ._groups import (
    _SKIPPED,
    _check_optimizer,
    _check_values,
    _functions_state,
    _momentum_key,
    _momentum_value,
    _param_groups,
    _Transaction,
)

#: A check of a loaded value: (name, value, where), raising as the constructor's check.
_Checks = Mapping[str, Callable[[str, Any, str], object]]


def _at_least(minimum: int) -> Callable[[str, Any, str], object]:
    return lambda name, value, where: _integer(name, value, where, minimum)


def _same_kind(name: str, current: Any, value: Any, where: str, real: bool = False) -> None:
    """``value`` is of the kind of ``current``: bool, int, real number, str, dict, or a list or
    tuple of as many entries, each of its entry's kind."""
    if isinstance(current, bool):
        ok, kind = isinstance(value, bool), "True or False"
    elif isinstance(current, numbers.Integral) and not real:
        ok, kind = isinstance(value, numbers.Integral) and not isinstance(value, bool), "an int"
    elif isinstance(current, numbers.Real):
        ok, kind = isinstance(value, numbers.Real) and not isinstance(value, bool), "a number"
    elif isinstance(current, str):
        ok, kind = isinstance(value, str), "a str"
    elif isinstance(current, dict):
        ok, kind = isinstance(value, dict), "a dict"
    elif isinstance(current, (list, tuple)):
        ok, kind = isinstance(value, (list, tuple)), "a list"
        if ok and len(value) != len(current):
            raise ValueError(
                f"{where}: {name} must have {len(current)} entries, got {len(value)}: {value!r}"
            )
        if ok:
            for i, (now, new) in enumerate(zip(current, value, strict=True)):
                _same_kind(f"{name}[{i}]", now, new, where)
    else:
        return
    if not ok:
        raise TypeError(f"{where}: {name} must be {kind}, got {type(value).__name__} {value!r}")


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

    #: Checks of loaded values: the constructor's check of the argument of that name.
    _loaded_checks: ClassVar[_Checks] = {}
    #: Attributes that start as an int but may hold any real number.
    _real_keys: frozenset[str] = frozenset()
    #: Attributes that may also hold None.
    _optional_keys: frozenset[str] = frozenset()

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
        updates: list[dict[str, Any]] = [{"lr": value} for value in values]
        if momentums is not None:
            key = _momentum_key(self.optimizer, type(self).__name__)
            for group, update, momentum in zip(groups, updates, momentums, strict=True):
                update[key] = _momentum_value(group, key, momentum)
        _check_values(self.optimizer, groups, updates, type(self).__name__)
        with _Transaction(groups):
            for group, update in zip(groups, updates, strict=True):
                group.update(update)
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

    def _state_keys(self) -> set[str]:
        """The keys of ``state_dict()``, without building it (nothing is copied)."""
        keys = {k for k in vars(self) if k not in self._not_saved and k != self._functions}
        if self._functions is not None:
            keys.add(self._functions)
        keys.add("scheduler")
        return keys

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
        expected, given = self._state_keys(), set(state_dict)
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
        state_dict = self._converted(state_dict, where)
        self._check_loaded(state_dict, where)
        self._load(state_dict, where)
        for f, entry in zip(functions, state_dict.get(self._functions or "", []), strict=False):
            if entry is not None:
                vars(f).update(copy.deepcopy(entry))

    def _converted(self, state_dict: dict[str, Any], where: str) -> dict[str, Any]:
        """``state_dict`` with values a round trip (JSON ...) changed put back (a new dict)."""
        del where
        return state_dict

    def _check_loaded(self, state_dict: dict[str, Any], where: str) -> None:
        """Each loaded value is of the kind of the current one, and passes the constructor's
        check of that argument (``_loaded_checks``)."""
        checks = {"last_epoch": _at_least(-1), **self._loaded_checks}
        for key, value in state_dict.items():
            if key in ("scheduler", "_schedulers", self._functions):
                continue
            current = getattr(self, key)
            if key in self._optional_keys and (value is None or current is None):
                if value is not None:
                    _same_kind(key, 0.0, value, where)
                continue
            _same_kind(key, current, value, where, key in self._real_keys)
            if key in checks:
                checks[key](key, value, where)

    def _load(self, state_dict: dict[str, Any], where: str) -> None:
        del where
        for key, value in state_dict.items():
            if key not in ("scheduler", self._functions):
                setattr(self, key, copy.deepcopy(value))
