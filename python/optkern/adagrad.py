"""Adagrad."""

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


def naive_adagrad(lr: float = 1e-2) -> NaiveStep:
    s = NaiveState("h")

    def step(p: NDArray[Any], g: NDArray[Any]) -> None:
        (h,) = s.get(p)
        h += g * g
        p -= lr * g / (np.sqrt(h) + 1e-7)

    return step


record(
    Adagrad,
    torch="Adagrad",
    configs={
        "adagrad": dict(lr=0.1),
        "adagrad-decay-wd-init": dict(
            lr=0.1, lr_decay=0.01, weight_decay=0.05, initial_accumulator_value=0.1, eps=1e-6
        ),
        "adagrad-maximize": dict(lr=0.05, maximize=True),
    },
    draw={"initial_accumulator_value": "accumulator"},
    bench=(Bench("adagrad", naive_adagrad, tables=frozenset({"step", "grain", "peers"})),),
)
