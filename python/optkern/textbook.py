r"""The textbook's optimizer classes, exact, on fused kernels.

A drop-in for the optimizer module of *Deep Learning from Scratch* (``common/optimizer.py``), which
the lecture notes in this project's history build on: same class names, same defaults, same
``update(params, grads)`` with dicts of arrays keyed alike, and the same bits. Each kernel performs
the textbook's NumPy statements in the textbook's order (NumPy evaluates ``lr*g/(x)`` as
``(lr*g)/x``; a Python-float scalar is rounded to the array dtype, as NumPy does), so replacing::

    from common.optimizer import *

with::

    from optkern.textbook import *

changes nothing but the speed. The update rules, per element (g gradient, p parameter)::

    SGD(lr=0.01)                       p ← p − lr·g
    Momentum(lr=0.01, momentum=0.9)    v ← momentum·v − lr·g;  p ← p + v
    Nesterov(lr=0.01, momentum=0.9)    p ← p + (momentum·momentum)·v;  p ← p − ((1+momentum)·lr)·g;
                                       v ← v·momentum;  v ← v − lr·g
    AdaGrad(lr=0.01)                   h ← h + g·g;  p ← p − lr·g / (√h + 1e-7)
    RMSprop(lr=0.01, decay_rate=0.99)  h ← h·decay_rate;  h ← h + (1−decay_rate)·g·g;
                                       p ← p − lr·g / (√h + 1e-7)
    Adam(lr=0.001, beta1=0.9, beta2=0.999)
                                       t ← t+1;  lr_t = lr·√(1−β2ᵗ)/(1−β1ᵗ);
                                       m ← m + (1−β1)·(g−m);  v ← v + (1−β2)·(g·g − v);
                                       p ← p − lr_t·m / (√v + 1e-7)

One NumPy subtlety is reproduced on purpose: the textbook's Adam computes ``lr_t`` with
``np.sqrt``, a NumPy float64 scalar, and NumPy 2 (NEP 50) then computes the last line of a float32
parameter in float64 (rounding once to float32) where NumPy 1 stayed in float32. The kernel
follows whichever NumPy is installed.

Scalars (``lr``, ``momentum`` ...) are read as Python floats; the state is created on the first
``update`` call, one array per key, as the textbook does (``opt.v``, ``opt.h``, ``opt.m`` show it
keyed by name). Every class also takes the keyword-only arguments of the other optkern classes:
``params`` (a list of arrays, for the torch-style ``step(grads)``), ``num_threads`` and
``backend="reference"`` (the NumPy twin in ``optkern.reference``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from . import _validation as v
from .optimizer import (
    Backend,
    Coefficients,
    Optimizer,
    ParamsArg,
    Rounding,
    StateDType,
    StepContext,
)
from .records import record

__all__ = ["SGD", "AdaGrad", "Adam", "Momentum", "Nesterov", "RMSprop"]

_EPS = 1e-7  # the textbook's constant in AdaGrad, RMSprop and Adam

# True under NumPy 2's promotion rules: a NumPy float64 scalar times a float32 array is float64.
_NUMPY_SCALARS_WIDEN = (np.float64(1.0) * np.ones(1, np.float32)).dtype == np.float64


class _Textbook(Optimizer):
    """Shared plumbing: the textbook signature puts hyperparameters first and has no params, and
    its hyperparameters are plain attributes (``opt.lr``, ``opt.momentum`` ...), which the
    textbook's lr-decay code assigns."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in cls._rules:
            if name not in vars(cls) and not isinstance(getattr(cls, name, None), property):
                setattr(cls, name, _hyperparameter_attribute(name))

    def _keyed(self, name: str) -> dict[str, NDArray[Any]] | None:
        """State ``name`` keyed by parameter name (None before the first update, as in the
        textbook)."""
        if self._keys is None or not self._state:
            return None
        return {
            key: self._state[i][name]
            for i, key in enumerate(self._keys)
            if name in self._state.get(i, {})
        }


def _hyperparameter_attribute(name: str) -> property:
    """``opt.<name>``: reads the live hyperparameter; assigning validates it, then sets it for
    every update from now on (the optimizer's default and its param group)."""

    def read(self: _Textbook) -> Any:
        if self.param_groups:
            return self.param_groups[0][name]
        if self._pending is not None:  # a load waiting for the first update() sets it then
            return self._pending["param_groups"][0][name]
        return self.defaults[name]

    def write(self: _Textbook, value: Any) -> None:
        where = f"{type(self).__name__}.{name}"
        self._rules[name](name, value, where)
        self._check_group({**self.defaults, name: value}, where)
        self.defaults[name] = value
        groups = self.param_groups or (self._pending["param_groups"] if self._pending else [])
        for group in groups:
            group[name] = value

    return property(read, write, doc=f"The hyperparameter {name!r} (read and assign).")


class SGD(_Textbook):
    """Textbook SGD: ``p ← p − lr·g`` (runs the ``sgd`` kernel without momentum)."""

    _kernel = "sgd"
    _rules: ClassVar[Mapping[str, v.Rule]] = {"lr": v.non_negative}

    def __init__(
        self,
        lr: float = 0.01,
        *,
        params: ParamsArg = None,
        state_dtype: StateDType = None,
        master_weights: bool = False,
        rounding: Rounding = "nearest",
        seed: int = 0,
        num_threads: int | None = None,
        backend: Backend = "fused",
    ) -> None:
        self._init_from(locals())

    @staticmethod
    def _state_init(group: Mapping[str, Any]) -> dict[str, float]:
        return {}

    @staticmethod
    def _fixed_coefficients(group: Mapping[str, Any]) -> Coefficients:
        return {
            "lr": float(group["lr"]),
            "momentum": 0.0,
            "one_minus_dampening": 1.0,
            "weight_decay": 0.0,
            "nesterov": False,
            "maximize": False,
            "first_step": False,
        }


class _WithVelocity(_Textbook):
    """Momentum and Nesterov: the same hyperparameters and one state array, v (starts at 0)."""

    _rules: ClassVar[Mapping[str, v.Rule]] = {"lr": v.non_negative, "momentum": v.non_negative}

    def __init__(
        self,
        lr: float = 0.01,
        momentum: float = 0.9,
        *,
        params: ParamsArg = None,
        state_dtype: StateDType = None,
        master_weights: bool = False,
        rounding: Rounding = "nearest",
        seed: int = 0,
        num_threads: int | None = None,
        backend: Backend = "fused",
    ) -> None:
        self._init_from(locals())

    @property
    def v(self) -> dict[str, NDArray[Any]] | None:
        return self._keyed("v")

    @staticmethod
    def _state_init(group: Mapping[str, Any]) -> dict[str, float]:
        return {"v": 0.0}


class Momentum(_WithVelocity):
    """Textbook Momentum: ``v ← momentum·v − lr·g; p ← p + v`` (v starts at 0)."""

    _kernel = "textbook_momentum"

    @staticmethod
    def _fixed_coefficients(group: Mapping[str, Any]) -> Coefficients:
        return {"lr": float(group["lr"]), "momentum": float(group["momentum"])}


class Nesterov(_WithVelocity):
    """Textbook Nesterov (NAG): ``p ← p + momentum·momentum·v; p ← p − (1+momentum)·lr·g;
    v ← v·momentum; v ← v − lr·g`` (the parameter moves with the previous v)."""

    _kernel = "textbook_nesterov"

    @staticmethod
    def _fixed_coefficients(group: Mapping[str, Any]) -> Coefficients:
        lr, momentum = float(group["lr"]), float(group["momentum"])
        return {
            "lr": lr,
            "momentum": momentum,
            "momentum_squared": momentum * momentum,
            "gradient_scale": (1 + momentum) * lr,
        }


class AdaGrad(_Textbook):
    """Textbook AdaGrad: ``h ← h + g·g; p ← p − lr·g / (√h + 1e-7)`` (h starts at 0)."""

    _kernel = "textbook_adagrad"
    _rules: ClassVar[Mapping[str, v.Rule]] = {"lr": v.non_negative}

    def __init__(
        self,
        lr: float = 0.01,
        *,
        params: ParamsArg = None,
        state_dtype: StateDType = None,
        master_weights: bool = False,
        rounding: Rounding = "nearest",
        seed: int = 0,
        num_threads: int | None = None,
        backend: Backend = "fused",
    ) -> None:
        self._init_from(locals())

    @property
    def h(self) -> dict[str, NDArray[Any]] | None:
        return self._keyed("h")

    @staticmethod
    def _state_init(group: Mapping[str, Any]) -> dict[str, float]:
        return {"h": 0.0}

    @staticmethod
    def _fixed_coefficients(group: Mapping[str, Any]) -> Coefficients:
        return {"lr": float(group["lr"]), "eps": _EPS}


class RMSprop(_Textbook):
    """Textbook RMSprop: ``h ← h·decay_rate; h ← h + (1−decay_rate)·g·g;
    p ← p − lr·g / (√h + 1e-7)`` (h starts at 0)."""

    _kernel = "textbook_rmsprop"
    _rules: ClassVar[Mapping[str, v.Rule]] = {
        "lr": v.non_negative,
        "decay_rate": v.closed_unit_interval,
    }

    def __init__(
        self,
        lr: float = 0.01,
        decay_rate: float = 0.99,
        *,
        params: ParamsArg = None,
        state_dtype: StateDType = None,
        master_weights: bool = False,
        rounding: Rounding = "nearest",
        seed: int = 0,
        num_threads: int | None = None,
        backend: Backend = "fused",
    ) -> None:
        self._init_from(locals())

    @property
    def h(self) -> dict[str, NDArray[Any]] | None:
        return self._keyed("h")

    @staticmethod
    def _state_init(group: Mapping[str, Any]) -> dict[str, float]:
        return {"h": 0.0}

    @staticmethod
    def _fixed_coefficients(group: Mapping[str, Any]) -> Coefficients:
        decay_rate = float(group["decay_rate"])
        return {
            "lr": float(group["lr"]),
            "decay_rate": decay_rate,
            "one_minus_decay_rate": 1 - decay_rate,
            "eps": _EPS,
        }


class Adam(_Textbook):
    """Textbook Adam: ``t ← t+1; lr_t = lr·√(1−β2ᵗ)/(1−β1ᵗ); m ← m + (1−β1)·(g−m);
    v ← v + (1−β2)·(g·g − v); p ← p − lr_t·m / (√v + 1e-7)`` (m, v start at 0)."""

    _kernel = "textbook_adam"
    _rules: ClassVar[Mapping[str, v.Rule]] = {
        "lr": v.non_negative,
        "beta1": v.unit_interval,
        "beta2": v.unit_interval,
    }

    def __init__(
        self,
        lr: float = 0.001,
        beta1: float = 0.9,
        beta2: float = 0.999,
        *,
        params: ParamsArg = None,
        state_dtype: StateDType = None,
        master_weights: bool = False,
        rounding: Rounding = "nearest",
        seed: int = 0,
        num_threads: int | None = None,
        backend: Backend = "fused",
    ) -> None:
        self._init_from(locals())

    @property
    def iter(self) -> int:
        """Updates done so far (the textbook's ``t``)."""
        return self._groups[0].step if self._groups else 0

    @property
    def m(self) -> dict[str, NDArray[Any]] | None:
        return self._keyed("m")

    @property
    def v(self) -> dict[str, NDArray[Any]] | None:
        return self._keyed("v")

    @staticmethod
    def _state_init(group: Mapping[str, Any]) -> dict[str, float]:
        return {"m": 0.0, "v": 0.0}

    @staticmethod
    def _fixed_coefficients(group: Mapping[str, Any]) -> Coefficients:
        return {
            "one_minus_beta1": 1 - float(group["beta1"]),
            "one_minus_beta2": 1 - float(group["beta2"]),
            "eps": _EPS,
            "update_in_float64": _NUMPY_SCALARS_WIDEN,
        }

    @staticmethod
    def _step_coefficients(context: StepContext) -> Coefficients:
        group, step = context.group, context.step
        lr, beta1, beta2 = group["lr"], group["beta1"], group["beta2"]
        return {"lr_t": lr * math.sqrt(1.0 - beta2**step) / (1.0 - beta1**step)}


# The lecture's names in `optkern compare` (built with the textbook defaults).
record(SGD, configs={"textbook-sgd": dict(lr=0.1)}, compare="sgd")
record(Momentum, configs={"textbook-momentum": {}}, compare="momentum")
record(Nesterov, configs={"textbook-nesterov": dict(lr=0.05, momentum=0.8)}, compare="nesterov")
record(AdaGrad, configs={"textbook-adagrad": dict(lr=0.1)}, compare="adagrad")
record(
    RMSprop,
    configs={"textbook-rmsprop": {}, "textbook-rmsprop-decay": dict(lr=0.05, decay_rate=0.9)},
    compare="rmsprop",
)
record(
    Adam,
    configs={"textbook-adam": {}, "textbook-adam-betas": dict(lr=0.01, beta1=0.8, beta2=0.99)},
    compare="adam",
)
