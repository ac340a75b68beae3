"""Adamax."""

from __future__ import annotations

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
from .records import Bench, NaiveState, NaiveStep, record


class Adamax(Optimizer):
    r"""Adamax (Adam with the infinity norm), as torch.optim.Adamax.

    Per element, with gradient g, parameter p, first moment m, exponentially weighted infinity norm
    u, step t (1, 2, ...), learning rate lr, β1, β2, ε and weight decay λ::

        g ← −g                                  if maximize
        g ← g + λ·p                             if λ ≠ 0
        m ← β1·m + (1 − β1)·g
        u ← max(β2·u, |g| + ε)                  (a NaN in either argument propagates)
        p ← p − clr·(m / u),    clr = lr / (1 − β1^t)   (only m is bias-corrected)

    clr is computed once per step in float64. ``AdaMax`` is the same class under the lecture
    notes' name.
    """

    _kernel = "adamax"
    _rules: ClassVar[Mapping[str, v.Rule]] = {
        "lr": v.non_negative,
        "betas": v.betas,
        "eps": v.non_negative,
        "weight_decay": v.non_negative,
        "maximize": v.boolean,
    }

    def __init__(
        self,
        params: ParamsArg = None,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
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
        return {"exp_avg": 0.0, "exp_inf": 0.0}

    @staticmethod
    def _fixed_coefficients(group: Mapping[str, Any]) -> Coefficients:
        beta1, beta2 = map(float, group["betas"])
        return dict(
            beta1=beta1,
            one_minus_beta1=1.0 - beta1,
            beta2=beta2,
            eps=float(group["eps"]),
            weight_decay=float(group["weight_decay"]),
            maximize=group["maximize"],
        )

    @staticmethod
    def _step_coefficients(context: StepContext) -> Coefficients:
        group = context.group
        return {"clr": group["lr"] / (1.0 - group["betas"][0] ** context.step)}


AdaMax = Adamax


def naive_adamax(
    lr: float = 2e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
) -> NaiveStep:
    s = NaiveState("m", "u")

    def step(p: NDArray[Any], g: NDArray[Any]) -> None:
        m, u = s.get(p)
        m[...] = beta1 * m + (1 - beta1) * g
        u[...] = np.maximum(beta2 * u, np.abs(g) + eps)
        p -= lr / (1 - beta1**s.t) * m / u

    return step


record(
    Adamax,
    torch="Adamax",
    configs={
        "adamax": {},
        "adamax-wd-maximize": dict(lr=1e-2, weight_decay=0.1, maximize=True),
        "adamax-betas-eps": dict(betas=(0.5, 0.9), eps=1e-3),
    },
    bench=(Bench("adamax", naive_adamax),),
    compare="adamax",
)
