"""Adam, AMSGrad and AdamW."""

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
from .records import Bench, NaiveState, NaiveStep, record


def moment_coefficients(group: Mapping[str, Any]) -> Coefficients:
    """The fixed coefficients Adam, NAdam and RAdam share: the moment decay rates, eps and the
    weight decay, L2 or decoupled (AdamW's factor 1 - lr * weight_decay)."""
    beta1, beta2 = map(float, group["betas"])
    weight_decay = float(group["weight_decay"])
    return dict(
        beta1=beta1,
        one_minus_beta1=1.0 - beta1,
        beta2=beta2,
        one_minus_beta2=1.0 - beta2,
        eps=float(group["eps"]),
        weight_decay=weight_decay,
        decay_factor=1.0 - float(group["lr"]) * weight_decay,
        maximize=group["maximize"],
        decoupled_weight_decay=group["decoupled_weight_decay"],
    )


class Adam(Optimizer):
    r"""Adam (and AMSGrad, and AdamW with ``decoupled_weight_decay=True``), as torch.optim.Adam.

    Per element, with gradient g, parameter p, first moment m, second moment v, step t (1, 2, ...),
    learning rate lr, β1, β2, ε and weight decay λ::

        g ← −g                                  if maximize
        p ← p·(1 − lr·λ)                        if λ ≠ 0 and decoupled_weight_decay (AdamW)
        g ← g + λ·p                             if λ ≠ 0 otherwise (L2)
        m ← β1·m + (1 − β1)·g
        v ← β2·v + (1 − β2)·(g·g)
        v̂ ← max(v̂, v), used instead of v       if amsgrad (max of the uncorrected v, torch's rule)
        p ← p − α_t·(m / (√v·c_t + ε)),   α_t = lr / (1 − β1^t),  c_t = 1 / √(1 − β2^t)

    The step scalars α_t, c_t and 1 − lr·λ are computed once per step in float64. (torch divides
    √v by √(1 − β2^t); multiplying by c_t is the same math with one division less per element.)
    """

    _kernel = "adam"
    _rules: ClassVar[Mapping[str, v.Rule]] = {
        "lr": v.non_negative,
        "betas": v.betas,
        "eps": v.non_negative,
        "weight_decay": v.non_negative,
        "amsgrad": v.boolean,
        "maximize": v.boolean,
        "decoupled_weight_decay": v.boolean,
    }

    def __init__(
        self,
        params: ParamsArg = None,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
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
        init = {"exp_avg": 0.0, "exp_avg_sq": 0.0}
        if group["amsgrad"]:
            init["max_exp_avg_sq"] = 0.0
        return init

    @staticmethod
    def _fixed_coefficients(group: Mapping[str, Any]) -> Coefficients:
        return {**moment_coefficients(group), "amsgrad": group["amsgrad"]}

    @staticmethod
    def _step_coefficients(context: StepContext) -> Coefficients:
        group, step = context.group, context.step
        beta1, beta2 = group["betas"]
        return {
            "step_size": group["lr"] / (1.0 - beta1**step),
            "inv_bias_correction2_sqrt": 1.0 / math.sqrt(1.0 - beta2**step),
        }


class AdamW(Adam, defaults={"weight_decay": 1e-2}, fixed={"decoupled_weight_decay": True}):
    r"""Adam with decoupled weight decay (torch.optim.AdamW): the Adam formula with
    ``decoupled_weight_decay=True`` and ``weight_decay=1e-2`` by default::

        p ← p·(1 − lr·λ);  then the Adam update of p with the un-decayed g
    """


def naive_adam(lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999) -> NaiveStep:
    s = NaiveState("m", "v")

    def step(p: NDArray[Any], g: NDArray[Any]) -> None:
        m, v = s.get(p)
        lr_t = lr * math.sqrt(1.0 - beta2**s.t) / (1.0 - beta1**s.t)
        m += (1 - beta1) * (g - m)
        v += (1 - beta2) * (g**2 - v)
        p -= lr_t * m / (np.sqrt(v) + 1e-7)

    return step


record(
    Adam,
    torch="Adam",
    configs={
        "adam": dict(lr=1e-3),
        "adam-amsgrad": dict(lr=1e-2, amsgrad=True),
        "adam-l2-maximize": dict(lr=1e-2, weight_decay=0.1, maximize=True),
        "adam-decoupled-amsgrad": dict(
            lr=1e-2, betas=(0.8, 0.99), weight_decay=0.1, decoupled_weight_decay=True, amsgrad=True
        ),
    },
    bench=(Bench("adam", naive_adam, tables=frozenset({"step", "grain", "peers"})),),
)
record(AdamW, torch="AdamW", configs={"adamw": dict(lr=1e-2)}, compare="adamw")
