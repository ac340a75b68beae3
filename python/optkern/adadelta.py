"""Adadelta."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from . import _validation as v
from .optimizer import Backend, Coefficients, Optimizer, ParamsArg, Rounding, StateDType
from .records import Bench, NaiveState, NaiveStep, record


class Adadelta(Optimizer):
    r"""Adadelta, as torch.optim.Adadelta.

    Per element, with gradient g, parameter p, running average of squared gradients v, running
    average of squared updates u, learning rate lr, decay ρ, ε and weight decay λ::

        g ← −g                                  if maximize
        g ← g + λ·p                             if λ ≠ 0
        v ← ρ·v + (1 − ρ)·(g·g)
        Δ ← (√(u + ε) / √(v + ε))·g             (ε inside both square roots)
        u ← ρ·u + (1 − ρ)·(Δ·Δ)                 (u accumulates the update before lr scales it)
        p ← p − lr·Δ

    ``AdaDelta`` is the same class under the lecture notes' name.
    """

    _kernel = "adadelta"
    _rules: ClassVar[Mapping[str, v.Rule]] = {
        "lr": v.non_negative,
        "rho": v.closed_unit_interval,
        "eps": v.non_negative,
        "weight_decay": v.non_negative,
        "maximize": v.boolean,
    }

    def __init__(
        self,
        params: ParamsArg = None,
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0.0,
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

    @staticmethod
    def _state_init(group: Mapping[str, Any]) -> dict[str, float]:
        return {"square_avg": 0.0, "acc_delta": 0.0}

    @staticmethod
    def _fixed_coefficients(group: Mapping[str, Any]) -> Coefficients:
        rho = float(group["rho"])
        return dict(
            lr=float(group["lr"]),
            rho=rho,
            one_minus_rho=1.0 - rho,
            eps=float(group["eps"]),
            weight_decay=float(group["weight_decay"]),
            maximize=group["maximize"],
        )


AdaDelta = Adadelta


def naive_adadelta(lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6) -> NaiveStep:
    s = NaiveState("v", "u")

    def step(p: NDArray[Any], g: NDArray[Any]) -> None:
        v, u = s.get(p)
        v[...] = rho * v + (1 - rho) * g * g
        delta = np.sqrt(u + eps) / np.sqrt(v + eps) * g
        u[...] = rho * u + (1 - rho) * delta * delta
        p -= lr * delta

    return step


record(
    Adadelta,
    torch="Adadelta",
    configs={
        "adadelta": {},
        "adadelta-wd-maximize": dict(lr=0.5, rho=0.8, weight_decay=0.1, maximize=True),
        "adadelta-rho-0-eps": dict(rho=0.0, eps=1e-3),
    },
    bench=(Bench("adadelta", naive_adadelta),),
    compare="adadelta",
)
