"""Param-group plumbing of the schedulers: the groups a scheduler changes (an unbound
textbook-style optimizer's defaults included), per-group arguments, the transaction that
restores the groups on an error, momentum cycling and ``mark_step_skipped``."""

from __future__ import annotations

import copy
import types
import weakref
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

from ..optimizer import Optimizer

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
    are kept in the optimizer's ``_unbound_group_keys`` (copied and pickled with it), which its
    first ``update()`` puts into the group it makes."""

    def __init__(self, optimizer: Optimizer) -> None:
        self._optimizer = optimizer
        self._extras = optimizer._unbound_group_keys

    def _hyper(self) -> dict[str, Any]:
        pending = self._optimizer._pending
        return pending["param_groups"][0] if pending is not None else self._optimizer.defaults

    def _loaded(self) -> dict[str, Any]:
        """The pending checkpoint's group (its other keys too), or an empty dict."""
        pending = self._optimizer._pending
        return pending["param_groups"][0] if pending is not None else {}

    def __getitem__(self, key: str) -> Any:
        if key in self._optimizer.defaults:
            return self._hyper()[key]
        if key in self._extras:
            return self._extras[key]
        loaded = self._loaded()
        if key != "params" and key in loaded:
            return loaded[key]
        raise KeyError(key)

    def __setitem__(self, key: str, value: Any) -> None:
        optimizer = self._optimizer
        if key in optimizer.defaults:
            optimizer.defaults[key] = value
        else:
            self._extras[key] = value
        if optimizer._pending is not None:
            optimizer._pending["param_groups"][0][key] = value

    def __delitem__(self, key: str) -> None:
        found = self._extras.pop(key, None) is not None or key in self._loaded()
        self._loaded().pop(key, None)
        if not found:
            raise KeyError(key)

    def _other_keys(self) -> list[str]:
        defaults = self._optimizer.defaults
        loaded = [k for k in self._loaded() if k != "params" and k not in defaults]
        return [*self._extras, *(k for k in loaded if k not in self._extras)]

    def __iter__(self) -> Iterator[str]:
        yield from self._optimizer.defaults
        yield from self._other_keys()

    def __len__(self) -> int:
        return len(self._optimizer.defaults) + len(self._other_keys())


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
        extras = optimizer._unbound_group_keys
        if extras:  # bound since (update() put them into its group; a loaded group may lack them)
            for key, value in extras.items():
                groups[0].setdefault(key, value)
            optimizer._unbound_group_keys = {}
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
    if "beta1" in optimizer.defaults:  # textbook Adam
        return "beta1"
    if "momentum" in optimizer.defaults:
        return "momentum"
    raise ValueError(
        f"{where}: cycle_momentum=True needs an optimizer with 'momentum', 'betas' (betas[0] "
        f"is cycled) or 'beta1'; {type(optimizer).__name__} has {sorted(optimizer.defaults)}: pass "
        "cycle_momentum=False"
    )


def _momentum_value(group: Mapping[str, Any], key: str, value: float) -> Any:
    """What ``group[key]`` becomes when its momentum (or beta1) is ``value``."""
    return (value, *group["betas"][1:]) if key == "betas" else value


def _set_momentum(group: MutableMapping[str, Any], key: str, value: float) -> None:
    group[key] = _momentum_value(group, key, value)


def _check_values(
    optimizer: Optimizer,
    groups: list[MutableMapping[str, Any]],
    updates: list[dict[str, Any]],
    where: str,
) -> None:
    """Checks each group with ``updates`` applied (on a copy) by the optimizer's own rules, so
    that a scheduler never writes a value the optimizer's next step would refuse."""
    for i, (group, update) in enumerate(zip(groups, updates, strict=True)):
        trial = dict(group)
        trial.update(update)
        try:
            optimizer._check_hyperparameters(trial, f"param_groups[{i}]")
        except (TypeError, ValueError) as error:
            shown = ", ".join(f"{k}={v!r}" for k, v in update.items())
            raise ValueError(
                f"{where}: would set param_groups[{i}] {shown}, which "
                f"{type(optimizer).__name__} refuses: {error}"
            ) from None


def _functions_state(functions: list[Any]) -> list[dict[str, Any] | None]:
    """Callable objects are saved by their ``__dict__``; plain functions are not saved."""
    return [
        None
        if isinstance(f, (types.FunctionType, types.BuiltinFunctionType, types.MethodType))
        or not hasattr(f, "__dict__")
        else copy.deepcopy(vars(f))
        for f in functions
    ]
