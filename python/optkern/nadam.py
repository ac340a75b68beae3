"""NAdam."""

from __future__ import annotations

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


class NAdam(Optimizer):
    r"""NAdam (Adam with Nesterov momentum), as torch.optim.NAdam.

    Per element, with gradient g, parameter p, moments m and v, step t (1, 2, ...), learning
    rate lr, β1, β2, ε, weight decay λ and momentum decay ψ::

        g ← −g                                  if maximize
        p ← p·(1 − lr·λ)                        if λ ≠ 0 and decoupled_weight_decay
        g ← g + λ·p                             if λ ≠ 0 otherwise
        m ← β1·m + (1 − β1)·g
        v ← β2·v + (1 − β2)·(g·g)
        d ← √(v·(1 / (1 − β2^t))) + ε
        p ← p − (c_g·g + c_m·m) / d,
            c_g = lr·(1 − μ_t) / (1 − Π_t),   c_m = lr·μ_{t+1} / (1 − Π_t·μ_{t+1})

    with μ_t = β1·(1 − 0.5·0.96^(t·ψ)) and Π_t = μ_1·μ_2·…·μ_t, the running product kept in
    float64 from step to step (``state_dict`` saves it per parameter as ``"mu_product"``, as
    torch does; torch keeps it in its default scalar dtype, float32 unless the default dtype is
    float64). All these scalars are computed once per step in float64. torch applies the g and m
    terms as two separate divisions by d; one division of their sum is the same math, faster.
    """

    _kernel = "nadam"
    _rules: ClassVar[Mapping[str, v.Rule]] = {
        "lr": v.non_negative,
        "betas": v.betas,
        "eps": v.non_negative,
        "weight_decay": v.non_negative,
        "momentum_decay": v.non_negative,
        "decoupled_weight_decay": v.boolean,
        "maximize": v.boolean,
    }
    _scalar_state: ClassVar[Mapping[str, float]] = {"mu_product": 1.0}

    def __init__(
        self,
        params: ParamsArg = None,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum_decay: float = 4e-3,
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

    def _check_scalars(
        self, step: int, scalars: Mapping[str, float], group: Mapping[str, Any], where: str
    ) -> None:
        # Π_t is a product of μ_i in [β1/2, β1) ⊂ [0, 1): below 1 once a step was taken (1 - Π_t
        # is a divisor), exactly 1 before.
        value = scalars["mu_product"]
        if (step == 0 and value != 1.0) or (step > 0 and not 0.0 <= value < 1.0):
            expected = "it is 1.0" if step == 0 else "it lies in [0, 1)"
            raise ValueError(
                f"{where}: mu_product={value!r} is out of range: after {step} steps {expected}"
            )

    @staticmethod
    def _step_coefficients(context: StepContext) -> Coefficients:
        group, step, scalars = context.group, context.step, context.scalars
        lr, psi = group["lr"], group["momentum_decay"]
        beta1, beta2 = group["betas"]
        # torch's expressions, in torch's order
        mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * psi)))
        mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * psi)))
        mu_product = scalars["mu_product"] * mu
        scalars["mu_product"] = mu_product
        mu_product_next = mu_product * mu_next
        return dict(
            inv_bias_correction2=1.0 / (1.0 - beta2**step),
            grad_coef=lr * (1.0 - mu) / (1.0 - mu_product),
            exp_avg_coef=lr * mu_next / (1.0 - mu_product_next),
        )


def naive_nadam(
    lr: float = 2e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8, psi: float = 4e-3
) -> NaiveStep:
    s = NaiveState("m", "v")
    product = [1.0]

    def step(p: NDArray[Any], g: NDArray[Any]) -> None:
        m, v = s.get(p)
        t = s.t
        mu = beta1 * (1 - 0.5 * 0.96 ** (t * psi))
        mu_next = beta1 * (1 - 0.5 * 0.96 ** ((t + 1) * psi))
        product[0] *= mu
        m[...] = beta1 * m + (1 - beta1) * g
        v[...] = beta2 * v + (1 - beta2) * g * g
        denom = np.sqrt(v / (1 - beta2**t)) + eps
        p -= lr * (1 - mu) / (1 - product[0]) * g / denom
        p -= lr * mu_next / (1 - product[0] * mu_next) * m / denom

    return step


record(
    NAdam,
    torch="NAdam",
    configs={
        "nadam": {},
        "nadam-l2-maximize": dict(lr=1e-2, weight_decay=0.1, maximize=True),
        "nadam-decoupled-psi": dict(
            lr=1e-2,
            betas=(0.8, 0.99),
            weight_decay=0.1,
            decoupled_weight_decay=True,
            momentum_decay=0.5,
        ),
        "nadam-psi-0": dict(momentum_decay=0.0),
    },
    bench=(Bench("nadam", naive_nadam),),
    compare="nadam",
)
