"""RAdam."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from . import _validation as v
from .adam import moment_coefficients
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


class RAdam(Optimizer):
    r"""RAdam (rectified Adam), as torch.optim.RAdam.

    Per element, with gradient g, parameter p, moments m and v, step t (1, 2, ...), learning
    rate lr, β1, β2, ε and weight decay λ::

        g ← −g                                  if maximize
        p ← p·(1 − lr·λ)                        if λ ≠ 0 and decoupled_weight_decay
        g ← g + λ·p                             if λ ≠ 0 otherwise
        m ← β1·m + (1 − β1)·g
        v ← β2·v + (1 − β2)·(g·g)
        ρ∞ = 2 / (1 − β2) − 1,   ρ_t = ρ∞ − 2·t·β2^t / (1 − β2^t)
        if ρ_t > 5 (rectified):
            r_t = √((ρ_t − 4)·(ρ_t − 2)·ρ∞ / ((ρ∞ − 4)·(ρ∞ − 2)·ρ_t))
            p ← p − (lr·r_t·√(1 − β2^t) / (1 − β1^t))·(m / (√v + ε))
        otherwise (the un-adapted step):
            p ← p − (lr / (1 − β1^t))·m

    ε is added to √v, not to the bias-corrected root (torch's placement). ρ_t, r_t and the step
    sizes are computed once per step in float64.
    """

    _kernel = "radam"
    _rules: ClassVar[Mapping[str, v.Rule]] = {
        "lr": v.non_negative,
        "betas": v.betas,
        "eps": v.non_negative,
        "weight_decay": v.non_negative,
        "decoupled_weight_decay": v.boolean,
        "maximize": v.boolean,
    }

    def __init__(
        self,
        params: ParamsArg = None,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decoupled_weight_decay: bool = False,
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
        return {"exp_avg": 0.0, "exp_avg_sq": 0.0}

    _fixed_coefficients = staticmethod(moment_coefficients)

    @staticmethod
    def _step_coefficients(context: StepContext) -> Coefficients:
        group, step = context.group, context.step
        lr = group["lr"]
        beta1, beta2 = group["betas"]
        bias_correction1 = 1.0 - beta1**step
        bias_correction2 = 1.0 - beta2**step
        rho_inf = 2.0 / (1.0 - beta2) - 1.0
        rho_t = rho_inf - 2.0 * step * (beta2**step) / bias_correction2
        rectified = rho_t > 5.0
        if rectified:
            rect = math.sqrt(
                (rho_t - 4.0)
                * (rho_t - 2.0)
                * rho_inf
                / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t)
            )
            step_size = lr * rect * math.sqrt(bias_correction2) / bias_correction1
        else:
            step_size = lr / bias_correction1
        return {"step_size": step_size, "rectified": rectified}


def naive_radam(
    lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
) -> NaiveStep:
    s = NaiveState("m", "v")

    def step(p: NDArray[Any], g: NDArray[Any]) -> None:
        m, v = s.get(p)
        t = s.t
        m[...] = beta1 * m + (1 - beta1) * g
        v[...] = beta2 * v + (1 - beta2) * g * g
        m_hat = m / (1 - beta1**t)
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * t * beta2**t / (1 - beta2**t)
        if rho_t > 5:
            r = math.sqrt(
                (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
            )
            p -= lr * m_hat * r * math.sqrt(1 - beta2**t) / (np.sqrt(v) + eps)
        else:
            p -= lr * m_hat

    return step


record(
    RAdam,
    torch="RAdam",
    # rho_t exceeds 5 from step 6 (beta2 = 0.999 or 0.9) or 7 (beta2 = 0.8) of the 20 steps
    # tested, so every RAdam row runs both the un-adapted and the rectified update.
    configs={
        "radam": {},
        "radam-beta2-0.9": dict(betas=(0.9, 0.9)),
        "radam-default-l2-maximize": dict(lr=1e-2, weight_decay=0.1, maximize=True),
        "radam-decoupled": dict(
            lr=1e-2, betas=(0.8, 0.8), weight_decay=0.1, decoupled_weight_decay=True
        ),
    },
    bench=(Bench("radam", naive_radam),),
    compare="radam",
)
