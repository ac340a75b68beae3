"""The schedulers made of schedulers: ``SequentialLR`` and ``ChainedScheduler``."""

from __future__ import annotations

import bisect
import copy
from collections.abc import Sequence
from typing import Any

from ..optimizer import Optimizer
from ._base import LRScheduler, _saved_attributes
from ._checks import _integer
from ._groups import _check_optimizer, _param_groups, _Transaction
from ._plateau import ReduceLROnPlateau
from .schedules import _boundaries


def _snapshot(scheduler: LRScheduler) -> list[tuple[LRScheduler, dict[str, Any]]]:
    """The attributes of ``scheduler`` and of its children (recursively), copied so that they can
    be put back; the optimizer, the children and user callables are kept by reference."""
    kept = ("optimizer", "_schedulers", scheduler._functions)
    attributes = {k: v if k in kept else copy.deepcopy(v) for k, v in vars(scheduler).items()}
    saved = [(scheduler, attributes)]
    for child in getattr(scheduler, "_schedulers", []):
        saved.extend(_snapshot(child))
    return saved


class _Composite(LRScheduler):
    """What SequentialLR and ChainedScheduler share: child schedulers of one optimizer."""

    _schedulers: list[LRScheduler]
    #: The children (which hold the optimizer) are saved by their own state dicts.
    _not_saved: frozenset[str] = frozenset({"optimizer", "_schedulers"})

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

    def _state_keys(self) -> set[str]:
        return super()._state_keys() | {"_schedulers"}

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

    def _advance(self) -> None:
        """One step of the children, all or nothing: on an error every child, the composite
        and the groups' keys are as before."""
        saved = _snapshot(self)
        with _Transaction(_param_groups(self.optimizer)):
            try:
                self._step_children()
            except BaseException:
                for scheduler, attributes in saved:
                    vars(scheduler).clear()
                    vars(scheduler).update(attributes)
                raise

    def _step_children(self) -> None:
        raise NotImplementedError

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
        points = _boundaries(milestones, len(children), "schedulers", where, "milestones")
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

    def _step_children(self) -> None:
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

    def _step_children(self) -> None:
        for child in self._schedulers:
            child._advance()
        self.last_epoch += 1
        self._write_last()

    def _restart(self) -> None:
        for child in self._schedulers:
            child._restart()
        self.last_epoch = 0
        self._write_last()
