"""SGD with optional momentum and Nesterov momentum, and its textbook aliases."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from . import _validation as v
from .optimizer import Backend, Coefficients, Optimizer, ParamsArg, StepContext


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
        num_threads: int | None = None,
        backend: Backend = "fused",
    ) -> None:
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            maximize=maximize,
        )
        super().__init__(params, defaults, num_threads=num_threads, backend=backend)

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


class Momentum(SGD):
    """SGD with momentum, textbook defaults (lr=0.01, momentum=0.9); torch's formula (see SGD)::

        b ← g (first step), else b ← μ·b + (1 − τ)·g;   p ← p − lr·b

    The textbook's own rule (v ← μ·v − lr·g; p ← p + v) is the same method but rounds differently.
    """

    def __init__(
        self,
        params: ParamsArg = None,
        lr: float = 0.01,
        momentum: float = 0.9,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        num_threads: int | None = None,
        backend: Backend = "fused",
    ) -> None:
        super().__init__(
            params,
            lr,
            momentum,
            dampening,
            weight_decay,
            nesterov,
            maximize=maximize,
            num_threads=num_threads,
            backend=backend,
        )


class Nesterov(SGD):
    """SGD with Nesterov momentum (NAG), textbook defaults (lr=0.01, momentum=0.9); torch's
    formula (see SGD)::

        b ← g (first step), else b ← μ·b + g;   p ← p − lr·(g + μ·b)
    """

    def __init__(
        self,
        params: ParamsArg = None,
        lr: float = 0.01,
        momentum: float = 0.9,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = True,
        *,
        maximize: bool = False,
        num_threads: int | None = None,
        backend: Backend = "fused",
    ) -> None:
        super().__init__(
            params,
            lr,
            momentum,
            dampening,
            weight_decay,
            nesterov,
            maximize=maximize,
            num_threads=num_threads,
            backend=backend,
        )


NAG = Nesterov
