"""RMSprop."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from . import _validation as v
from .optimizer import Backend, Coefficients, Optimizer, ParamsArg


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
        num_threads: int | None = None,
        backend: Backend = "fused",
    ) -> None:
        defaults = dict(
            lr=lr,
            alpha=alpha,
            eps=eps,
            weight_decay=weight_decay,
            momentum=momentum,
            centered=centered,
            maximize=maximize,
        )
        super().__init__(params, defaults, num_threads=num_threads, backend=backend)

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
