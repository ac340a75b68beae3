"""RMSprop."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from . import _validation as v
from .optimizer import Backend, Coefficients, Optimizer, ParamsArg, Rounding, StateDType
from .records import Bench, NaiveState, NaiveStep, record


class RMSprop(Optimizer):
    r"""RMSprop, plain or centered, with optional momentum, as torch.optim.RMSprop.

    Per element, with gradient g, parameter p, mean square v, mean gradient a (centered), momentum
    buffer b, learning rate lr, smoothing α, ε, momentum μ, weight decay λ::

        g ← −g                          if maximize
        g ← g + λ·p                     if λ ≠ 0
        v ← α·v + (1 − α)·(g·g)
        if centered:  a ← α·a + (1 − α)·g;   d ← √(v − a·a) + ε
        else:         d ← √v + ε
        if μ ≠ 0:     b ← μ·b + g/d;         p ← p − lr·b
        else:         p ← p − lr·(g/d)

    ``RMSProp`` is the same class under the textbook's name.
    """

    _kernel = "rmsprop"
    _rules: ClassVar[Mapping[str, v.Rule]] = {
        "lr": v.non_negative,
        "alpha": v.unit_interval,
        "eps": v.non_negative,
        "weight_decay": v.non_negative,
        "momentum": v.non_negative,
        "centered": v.boolean,
        "maximize": v.boolean,
    }

    def __init__(
        self,
        params: ParamsArg = None,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
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
        init = {"square_avg": 0.0}
        if group["momentum"] != 0:
            init["momentum_buffer"] = 0.0
        if group["centered"]:
            init["grad_avg"] = 0.0
        return init

    @staticmethod
    def _fixed_coefficients(group: Mapping[str, Any]) -> Coefficients:
        alpha = float(group["alpha"])
        return dict(
            lr=float(group["lr"]),
            alpha=alpha,
            one_minus_alpha=1.0 - alpha,
            eps=float(group["eps"]),
            weight_decay=float(group["weight_decay"]),
            momentum=float(group["momentum"]),
            centered=group["centered"],
            maximize=group["maximize"],
        )


RMSProp = RMSprop


def naive_rmsprop(lr: float = 1e-2, decay: float = 0.99) -> NaiveStep:
    s = NaiveState("h")

    def step(p: NDArray[Any], g: NDArray[Any]) -> None:
        (h,) = s.get(p)
        h *= decay
        h += (1 - decay) * g * g
        p -= lr * g / (np.sqrt(h) + 1e-7)

    return step


record(
    RMSprop,
    torch="RMSprop",
    configs={
        "rmsprop": dict(lr=0.01),
        "rmsprop-centered": dict(lr=0.01, centered=True),
        "rmsprop-momentum-wd": dict(lr=0.01, momentum=0.9, weight_decay=0.01),
        "rmsprop-centered-momentum-maximize": dict(
            lr=0.01, alpha=0.9, centered=True, momentum=0.5, maximize=True
        ),
    },
    draw={"momentum": "optional"},
    bench=(Bench("rmsprop", naive_rmsprop, tables=frozenset({"step", "grain", "peers"})),),
)
