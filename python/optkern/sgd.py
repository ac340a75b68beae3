"""SGD with optional momentum and Nesterov momentum, and its textbook aliases."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

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
from .records import Bench, NaiveState, NaiveStep, record


class SGD(Optimizer):
    r"""Stochastic gradient descent, Momentum and Nesterov momentum (NAG), as torch.optim.SGD.

    Per element, with gradient g, parameter p, momentum buffer b, learning rate lr, momentum μ,
    dampening τ and weight decay λ::

        g ← −g                      if maximize
        g ← g + λ·p                 if λ ≠ 0
        if μ ≠ 0:
            b ← g                   on the first step (torch's rule)
            b ← μ·b + (1 − τ)·g     afterwards
            g ← g + μ·b             if nesterov
            g ← b                   otherwise
        p ← p − lr·g

    Nesterov needs μ > 0 and τ = 0. ``num_threads`` overrides ``optkern.get_num_threads()``;
    ``backend="reference"`` runs ``optkern.reference.sgd`` instead of the fused kernel.
    """

    _kernel = "sgd"
    _rules: ClassVar[Mapping[str, v.Rule]] = {
        "lr": v.non_negative,
        "momentum": v.non_negative,
        "dampening": v.closed_unit_interval,
        "weight_decay": v.non_negative,
        "nesterov": v.boolean,
        "maximize": v.boolean,
    }

    def __init__(
        self,
        params: ParamsArg = None,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        state_dtype: StateDType = None,
        master_weights: bool = False,
        rounding: Rounding = "nearest",
        seed: int = 0,
        num_threads: int | None = None,
        backend: Backend = "fused",
    ) -> None:
        self._init_from(locals())

    @classmethod
    def _check_group(cls, group: Mapping[str, Any], where: str) -> None:
        if group.get("nesterov") and (group.get("momentum", 0) <= 0 or group.get("dampening", 0)):
            raise ValueError(f"{where}: nesterov requires momentum > 0 and dampening = 0")

    @staticmethod
    def _state_init(group: Mapping[str, Any]) -> dict[str, float]:
        return {"momentum_buffer": 0.0} if group["momentum"] != 0 else {}

    @staticmethod
    def _fixed_coefficients(group: Mapping[str, Any]) -> Coefficients:
        return dict(
            lr=float(group["lr"]),
            momentum=float(group["momentum"]),
            one_minus_dampening=1.0 - float(group["dampening"]),
            weight_decay=float(group["weight_decay"]),
            nesterov=group["nesterov"],
            maximize=group["maximize"],
        )

    @staticmethod
    def _step_coefficients(context: StepContext) -> Coefficients:
        return {"first_step": "momentum_buffer" in context.fresh}


class Momentum(SGD, defaults={"lr": 0.01, "momentum": 0.9}):
    """SGD with momentum, textbook defaults (lr=0.01, momentum=0.9); torch's formula (see SGD)::

        b ← g (first step), else b ← μ·b + (1 − τ)·g;   p ← p − lr·b

    The textbook's own rule (v ← μ·v − lr·g; p ← p + v) is the same method but rounds differently.
    """


class Nesterov(SGD, defaults={"lr": 0.01, "momentum": 0.9, "nesterov": True}):
    """SGD with Nesterov momentum (NAG), textbook defaults (lr=0.01, momentum=0.9); torch's
    formula (see SGD)::

        b ← g (first step), else b ← μ·b + g;   p ← p − lr·(g + μ·b)
    """


NAG = Nesterov


def naive_sgd(lr: float = 1e-3) -> NaiveStep:
    def step(p: NDArray[Any], g: NDArray[Any]) -> None:
        p -= lr * g

    return step


def naive_momentum(lr: float = 1e-3, mu: float = 0.9) -> NaiveStep:
    s = NaiveState("v")

    def step(p: NDArray[Any], g: NDArray[Any]) -> None:
        (v,) = s.get(p)
        v[...] = mu * v - lr * g
        p += v

    return step


record(
    SGD,
    torch="SGD",
    configs={
        "sgd": dict(lr=0.1),
        "sgd-wd-maximize": dict(lr=0.05, weight_decay=0.1, maximize=True),
        "sgd-momentum": dict(lr=0.05, momentum=0.9),
        "sgd-momentum-dampening-wd": dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.01),
        "sgd-nesterov": dict(lr=0.05, momentum=0.9, nesterov=True),
        "sgd-nesterov-wd-maximize": dict(
            lr=0.05, momentum=0.5, nesterov=True, weight_decay=0.02, maximize=True
        ),
    },
    draw={"momentum": "optional", "nesterov": "nesterov"},
    bench=(
        Bench("sgd", naive_sgd, {"lr": 1e-3}, frozenset({"step", "grain"})),
        Bench(
            "sgd-momentum",
            naive_momentum,
            {"lr": 1e-3, "momentum": 0.9},
            frozenset({"step", "grain", "peers"}),
        ),
    ),
)
record(Momentum, torch="SGD", configs={"momentum": {}}, draw={"nesterov": "default"})
record(
    Nesterov,
    torch="SGD",
    configs={"nesterov": {}},
    draw={"momentum": "positive", "dampening": "default", "nesterov": "default"},
    compare="nag",
)
