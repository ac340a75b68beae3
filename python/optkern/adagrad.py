"""Adagrad."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from . import _validation as v
from .optimizer import Backend, Coefficients, Optimizer, ParamsArg, StepContext


class Adagrad(Optimizer):
    r"""Adagrad, as torch.optim.Adagrad.

    Per element, with gradient g, parameter p, accumulated squares s (started at
    ``initial_accumulator_value``), step t (1, 2, ...), learning rate lr, decay η, ε, weight decay λ::

        g ← −g                          if maximize
        g ← g + λ·p                     if λ ≠ 0
        s ← s + g·g
        p ← p − clr·(g / (√s + ε)),     clr = lr / (1 + (t − 1)·η)   (clr in float64, once per step)

    ``AdaGrad`` is the same class under the textbook's name.
    """

    _kernel = "adagrad"
    _rules: ClassVar[Mapping[str, v.Rule]] = {
        "lr": v.non_negative,
        "lr_decay": v.non_negative,
        "weight_decay": v.non_negative,
        "initial_accumulator_value": v.non_negative,
        "eps": v.non_negative,
        "maximize": v.boolean,
    }

    def __init__(
        self,
        params: ParamsArg = None,
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        *,
        maximize: bool = False,
        num_threads: int | None = None,
        backend: Backend = "fused",
    ) -> None:
        defaults = dict(
            lr=lr,
            lr_decay=lr_decay,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            eps=eps,
            maximize=maximize,
        )
        super().__init__(params, defaults, num_threads=num_threads, backend=backend)

    @staticmethod
    def _state_init(group: Mapping[str, Any]) -> dict[str, float]:
        return {"sum": float(group["initial_accumulator_value"])}

    @staticmethod
    def _fixed_coefficients(group: Mapping[str, Any]) -> Coefficients:
        return dict(
            eps=float(group["eps"]),
            weight_decay=float(group["weight_decay"]),
            maximize=group["maximize"],
        )

    @staticmethod
    def _step_coefficients(context: StepContext) -> Coefficients:
        group = context.group
        return {"clr": group["lr"] / (1.0 + (context.step - 1) * group["lr_decay"])}


AdaGrad = Adagrad
