"""Lion."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from . import _validation as v
from .optimizer import Backend, Coefficients, Optimizer, ParamsArg, Rounding, StateDType
from .records import Bench, NaiveState, NaiveStep, record


class Lion(Optimizer):
    r"""Lion (EvoLved Sign Momentum), from "Symbolic Discovery of Optimization Algorithms"
    (Chen et al., 2023). torch.optim has no Lion; this follows the paper's algorithm.

    Per element, with gradient g, parameter p, momentum m, learning rate lr, β1, β2 and
    (decoupled) weight decay λ::

        g ← −g                                  if maximize
        c ← β1·m + (1 − β1)·g
        p ← p·(1 − lr·λ)                        if λ ≠ 0
        p ← p − lr·sign(c)                      (sign(0) = 0; a NaN stays NaN)
        m ← β2·m + (1 − β2)·g

    Every update has magnitude lr, so Lion's lr is usually 3–10× smaller than AdamW's, and its
    λ correspondingly larger. β1 and β2 may be anywhere in [0, 1].
    """

    _kernel = "lion"
    _rules: ClassVar[Mapping[str, v.Rule]] = {
        "lr": v.non_negative,
        "betas": v.closed_betas,
        "weight_decay": v.non_negative,
        "maximize": v.boolean,
    }

    def __init__(
        self,
        params: ParamsArg = None,
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.9, 0.99),
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
        return {"exp_avg": 0.0}

    @staticmethod
    def _fixed_coefficients(group: Mapping[str, Any]) -> Coefficients:
        lr = float(group["lr"])
        beta1, beta2 = map(float, group["betas"])
        weight_decay = float(group["weight_decay"])
        return dict(
            lr=lr,
            beta1=beta1,
            one_minus_beta1=1.0 - beta1,
            beta2=beta2,
            one_minus_beta2=1.0 - beta2,
            weight_decay=weight_decay,
            decay_factor=1.0 - lr * weight_decay,
            maximize=group["maximize"],
        )


def naive_lion(lr: float = 1e-4, beta1: float = 0.9, beta2: float = 0.99) -> NaiveStep:
    s = NaiveState("m")

    def step(p: NDArray[Any], g: NDArray[Any]) -> None:
        (m,) = s.get(p)
        p -= lr * np.sign(beta1 * m + (1 - beta1) * g)
        m[...] = beta2 * m + (1 - beta2) * g

    return step


record(
    Lion,
    configs={
        "lion": {},
        "lion-wd-maximize": dict(lr=1e-3, weight_decay=0.1, maximize=True),
        "lion-betas-closed": dict(lr=1e-3, betas=(1.0, 0.0), weight_decay=1.0),
    },
    bench=(Bench("lion", naive_lion, tables=frozenset({"step", "grain"})),),
    compare="lion",
)
