"""optkern.lr_scheduler: value for value against torch.optim.lr_scheduler (when torch is
installed) over >= 1,000 steps, against recorded values otherwise, checkpoints resuming exactly,
textbook optimizers, the warning and bad input.

Every comparison with torch is exact (``==`` on Python floats): optkern's schedulers perform
torch's documented recurrences in the same order of operations, so no tolerance is needed. The
one place where values are compared within a tolerance is the plain functions against the
recursive classes (a recurrence of products rounds differently from the closed form)."""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import optkern
import pytest
from optkern import lr_scheduler as ok
from optkern import textbook

STEPS = 1000
LRS = (0.1, 0.03)


def _lambda_a(epoch: int) -> float:
    return 0.99**epoch


def _lambda_b(epoch: int) -> float:
    return 1.0 / (1.0 + epoch)


class _Decay:
    """A callable object: its __dict__ is saved in the scheduler's state dict."""

    def __init__(self) -> None:
        self.rate = 0.999

    def __call__(self, epoch: int) -> float:
        return self.rate


Factory = Callable[[Any, Any], Any]  # (module, optimizer) -> scheduler
Build = Callable[[Any], Any]  # optimizer -> scheduler

# name → (optimizer class, its keywords, scheduler factory (module, optimizer) → scheduler).
CASES: dict[str, tuple[str, dict[str, Any], Factory]] = {
    "lambda": ("SGD", {}, lambda m, o: m.LambdaLR(o, _lambda_a)),
    "lambda-per-group": ("Adam", {}, lambda m, o: m.LambdaLR(o, [_lambda_a, _lambda_b])),
    "multiplicative": ("SGD", {}, lambda m, o: m.MultiplicativeLR(o, lambda e: 0.999)),
    "multiplicative-object": ("RMSprop", {}, lambda m, o: m.MultiplicativeLR(o, _Decay())),
    "step": ("SGD", {}, lambda m, o: m.StepLR(o, 7, 0.5)),
    "step-default-gamma": ("Adagrad", {}, lambda m, o: m.StepLR(o, step_size=300)),
    "multistep": ("SGD", {}, lambda m, o: m.MultiStepLR(o, [3, 10, 10, 500], 0.5)),
    "multistep-unsorted": ("Adam", {}, lambda m, o: m.MultiStepLR(o, [700, 30], 0.3)),
    "constant": ("SGD", {}, lambda m, o: m.ConstantLR(o, 0.3, 40)),
    "constant-default": ("Adadelta", {}, lambda m, o: m.ConstantLR(o)),
    "linear": ("SGD", {}, lambda m, o: m.LinearLR(o, 0.1, 0.9, 300)),
    "linear-default": ("NAdam", {}, lambda m, o: m.LinearLR(o)),
    "exponential": ("SGD", {}, lambda m, o: m.ExponentialLR(o, 0.995)),
    "polynomial": ("SGD", {}, lambda m, o: m.PolynomialLR(o, 700, 2.0)),
    "polynomial-default": ("RAdam", {}, lambda m, o: m.PolynomialLR(o)),
    "cosine": ("SGD", {}, lambda m, o: m.CosineAnnealingLR(o, 90, 0.001)),
    "cosine-past-T_max": ("Adamax", {}, lambda m, o: m.CosineAnnealingLR(o, 300)),
    "warm-restarts": ("SGD", {}, lambda m, o: m.CosineAnnealingWarmRestarts(o, 10, 2, 0.001)),
    "warm-restarts-mult1": ("Adam", {}, lambda m, o: m.CosineAnnealingWarmRestarts(o, 37)),
    "cyclic-sgd-momentum": (
        "SGD",
        {"momentum": 0.9},
        lambda m, o: m.CyclicLR(o, 0.01, [0.2, 0.1], 30, 20, "triangular2"),
    ),
    "cyclic-exp-range": (
        "SGD",
        {"momentum": 0.9},
        lambda m, o: m.CyclicLR(
            o, [0.01, 0.02], 0.2, 30, mode="exp_range", gamma=0.999, base_momentum=[0.7, 0.75]
        ),
    ),
    "cyclic-adam-betas": ("Adam", {}, lambda m, o: m.CyclicLR(o, 0.001, 0.01, 100)),
    "cyclic-no-momentum": (
        "Adagrad",
        {},
        lambda m, o: m.CyclicLR(o, 0.001, 0.01, 50, cycle_momentum=False),
    ),
    "cyclic-scale-fn": (
        "SGD",
        {"momentum": 0.5},
        lambda m, o: m.CyclicLR(
            o, 0.001, 0.01, 40, scale_fn=lambda x: 1.0 / (1.0 + 0.01 * x), scale_mode="iterations"
        ),
    ),
    "one-cycle-sgd-momentum": (
        "SGD",
        {"momentum": 0.9},
        lambda m, o: m.OneCycleLR(o, [0.5, 0.2], total_steps=STEPS + 1),
    ),
    "one-cycle-adam-betas": (
        "Adam",
        {},
        lambda m, o: m.OneCycleLR(o, 0.01, epochs=10, steps_per_epoch=101, pct_start=0.25),
    ),
    "one-cycle-three-phase-linear": (
        "AdamW",
        {},
        lambda m, o: m.OneCycleLR(
            o, 0.5, total_steps=STEPS + 1, three_phase=True, anneal_strategy="linear"
        ),
    ),
    "one-cycle-no-momentum": (
        "Adagrad",
        {},
        lambda m, o: m.OneCycleLR(
            o, 0.1, total_steps=STEPS + 5, cycle_momentum=False, div_factor=10.0
        ),
    ),
    "sequential": (
        "SGD",
        {},
        lambda m, o: m.SequentialLR(
            o,
            [
                m.LinearLR(o, 0.1, total_iters=50),
                m.CosineAnnealingLR(o, 400),
                m.ExponentialLR(o, 0.99),
            ],
            [50, 600],
        ),
    ),
    "sequential-step-constant": (
        "Adam",
        {},
        lambda m, o: m.SequentialLR(o, [m.ConstantLR(o, 0.5, 10), m.StepLR(o, 100, 0.7)], [20]),
    ),
    "chained": (
        "SGD",
        {},
        lambda m, o: m.ChainedScheduler([m.ConstantLR(o, 0.5, 100), m.ExponentialLR(o, 0.999)]),
    ),
    "chained-three": (
        "Adam",
        {},
        lambda m, o: m.ChainedScheduler(
            [m.LinearLR(o, 0.2, total_iters=30), m.StepLR(o, 100, 0.8), m.MultiStepLR(o, [400])],
            optimizer=o,
        ),
    ),
}


def _optkern_optimizer(name: str, kwargs: dict[str, Any], lrs: tuple[float, ...] = LRS) -> Any:
    arrays = [np.zeros(3) for _ in lrs]
    groups = [{"params": [a], "lr": lr} for a, lr in zip(arrays, lrs, strict=True)]
    return getattr(optkern, name)(groups, **kwargs)


def _grads(optimizer: Any) -> list[np.ndarray]:
    return [np.zeros(3) for group in optimizer.param_groups for _ in group["params"]]


def _momentum(group: dict[str, Any]) -> Any:
    return group["betas"][0] if "betas" in group else group.get("momentum")


def _values(optimizer: Any) -> list[tuple[Any, Any]]:
    return [(g["lr"], _momentum(g)) for g in optimizer.param_groups]


def _run_optkern(optimizer: Any, scheduler: Any, steps: int) -> list[list[tuple[Any, Any]]]:
    grads = _grads(optimizer)
    out = [_values(optimizer)]
    for _ in range(steps):
        optimizer.step(grads)
        scheduler.step()
        out.append(_values(optimizer))
        assert scheduler.get_last_lr() == [g["lr"] for g in optimizer.param_groups]
    return out


# ----------------------------------------------------------------------------- torch parity


@pytest.fixture
def torch() -> Any:
    return pytest.importorskip("torch")


def _torch_run(torch: Any, name: str, kwargs: dict[str, Any], factory: Factory, steps: int) -> Any:
    import torch.optim.lr_scheduler as tl

    groups = [
        {"params": [torch.zeros(3, dtype=torch.float64, requires_grad=True)], "lr": lr}
        for lr in LRS
    ]
    optimizer = getattr(torch.optim, name)(groups, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's deprecation warnings (SequentialLR's step(0))
        scheduler = factory(tl, optimizer)
        out = [_values(optimizer)]
        for _ in range(steps):
            optimizer.step()  # no gradients: changes nothing but counts the call
            scheduler.step()
            out.append(_values(optimizer))
    return out


@pytest.mark.parametrize("case", list(CASES))
def test_matches_torch(torch: Any, case: str) -> None:
    name, kwargs, factory = CASES[case]
    optimizer = _optkern_optimizer(name, kwargs)
    ours = _run_optkern(optimizer, factory(ok, optimizer), STEPS)
    theirs = _torch_run(torch, name, kwargs, factory, STEPS)
    assert ours == theirs


def test_warm_restarts_float_epochs_match_torch(torch: Any) -> None:
    import torch.optim.lr_scheduler as tl

    for t_mult in (1, 2, 3):
        optimizer = _optkern_optimizer("SGD", {})
        reference = torch.optim.SGD(
            [{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in LRS]
        )
        ours = ok.CosineAnnealingWarmRestarts(optimizer, 5, t_mult, 1e-4)
        theirs = tl.CosineAnnealingWarmRestarts(reference, 5, t_mult, 1e-4)
        grads = _grads(optimizer)
        iters = 7
        for epoch in range(150):
            for i in range(iters):
                optimizer.step(grads)
                reference.step()
                ours.step(epoch + i / iters)
                theirs.step(epoch + i / iters)
                assert ours.get_last_lr() == theirs.get_last_lr()
                assert (ours.last_epoch, ours.T_cur, ours.T_i) == (
                    theirs.last_epoch,
                    theirs.T_cur,
                    theirs.T_i,
                )


PLATEAU_CONFIGS = [
    {},
    {"mode": "max", "patience": 3},
    {"threshold_mode": "abs", "threshold": 0.01, "patience": 2, "cooldown": 4},
    {"mode": "max", "threshold_mode": "abs", "factor": 0.5, "cooldown": 1, "patience": 0},
    {"factor": 0.5, "patience": 1, "min_lr": [0.01, 0.001], "eps": 1e-3},
    {"factor": 0.3, "patience": 2, "min_lr": 0.005, "cooldown": 2},
]


def _metrics(steps: int) -> list[float]:
    """Falling, rising and flat stretches with noise (fixed seed)."""
    rng = np.random.default_rng(16)
    t = np.arange(steps)
    curve = 1.0 / (1.0 + 0.01 * t) + 0.2 * np.sin(t / 40.0) + 0.02 * rng.standard_normal(steps)
    curve[300:420] = curve[300]  # a plateau
    return [float(x) for x in curve]


@pytest.mark.parametrize("config", PLATEAU_CONFIGS, ids=str)
def test_reduce_on_plateau_matches_torch(torch: Any, config: dict[str, Any]) -> None:
    import torch.optim.lr_scheduler as tl

    optimizer = _optkern_optimizer("SGD", {})
    reference = torch.optim.SGD(
        [{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in LRS]
    )
    ours = ok.ReduceLROnPlateau(optimizer, **config)
    theirs = tl.ReduceLROnPlateau(reference, **config)
    grads = _grads(optimizer)
    for metric in _metrics(STEPS):
        optimizer.step(grads)
        reference.step()
        ours.step(metric)
        theirs.step(metric)
        assert [g["lr"] for g in optimizer.param_groups] == [
            g["lr"] for g in reference.param_groups
        ]
        assert (ours.best, ours.num_bad_epochs, ours.cooldown_counter, ours.last_epoch) == (
            theirs.best,
            theirs.num_bad_epochs,
            theirs.cooldown_counter,
            theirs.last_epoch,
        )


def test_resuming_with_last_epoch_matches_torch(torch: Any) -> None:
    """A scheduler built with last_epoch=k on groups that carry initial_lr (the optimizer's
    checkpoint) continues as torch's does."""
    import torch.optim.lr_scheduler as tl

    for make in (
        lambda m, o, e: m.StepLR(o, 7, 0.5, last_epoch=e),
        lambda m, o, e: m.StepLR(o, 17, 0.5, last_epoch=e),
        lambda m, o, e: m.MultiStepLR(o, [34, 50], 0.5, last_epoch=e),
        lambda m, o, e: m.ConstantLR(o, 0.5, 34, last_epoch=e),
        lambda m, o, e: m.LinearLR(o, 0.5, total_iters=60, last_epoch=e),
        lambda m, o, e: m.PolynomialLR(o, 60, 1.5, last_epoch=e),
        lambda m, o, e: m.MultiplicativeLR(o, _Decay(), last_epoch=e),
        lambda m, o, e: m.LambdaLR(o, _lambda_b, last_epoch=e),
        lambda m, o, e: m.CosineAnnealingLR(o, 50, 0.01, last_epoch=e),
        lambda m, o, e: m.CosineAnnealingLR(o, 20, last_epoch=e),
        lambda m, o, e: m.ExponentialLR(o, 0.99, last_epoch=e),
        lambda m, o, e: m.CosineAnnealingWarmRestarts(o, 10, last_epoch=e),
        # base_lr = initial_lr: torch's first step of a resumed CyclicLR computes from the
        # groups' initial_lr instead of base_lr (optkern: base_lr).
        lambda m, o, e: m.CyclicLR(o, [0.2, 0.06], 0.5, 10, cycle_momentum=False, last_epoch=e),
    ):
        optimizer = _optkern_optimizer("SGD", {})
        reference = torch.optim.SGD(
            [{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in LRS]
        )
        for group in [*optimizer.param_groups, *reference.param_groups]:
            group["initial_lr"] = group["lr"] * 2
        ours, theirs = make(ok, optimizer, 33), make(tl, reference, 33)
        grads = _grads(optimizer)
        for _ in range(200):
            assert ours.get_last_lr() == theirs.get_last_lr()
            optimizer.step(grads)
            reference.step()
            ours.step()
            theirs.step()


def test_warm_restarts_resume_in_the_right_period() -> None:
    """last_epoch=33 with T_0=10, T_mult=2 (periods 10, 20, 40): step 34 is 4 steps into the
    40-step period (torch 2.13 gives T_i=20 there)."""
    optimizer = _optkern_optimizer("SGD", {})
    for group in optimizer.param_groups:
        group["initial_lr"] = group["lr"]
    scheduler = ok.CosineAnnealingWarmRestarts(optimizer, 10, 2, last_epoch=33)
    assert (scheduler.last_epoch, scheduler.T_cur, scheduler.T_i) == (34, 4, 40)
    fresh_optimizer = _optkern_optimizer("SGD", {})
    fresh = ok.CosineAnnealingWarmRestarts(fresh_optimizer, 10, 2)
    for _ in range(34):
        fresh_optimizer.step(_grads(fresh_optimizer))
        fresh.step()
    assert fresh.get_last_lr() == scheduler.get_last_lr()


# ----------------------------------------------------------------------------- checkpoints


@pytest.mark.parametrize("case", list(CASES))
def test_state_dict_resumes_exactly(case: str) -> None:
    name, kwargs, factory = CASES[case]
    optimizer = _optkern_optimizer(name, kwargs)
    scheduler = factory(ok, optimizer)
    _run_optkern(optimizer, scheduler, 400)
    saved_optimizer = optimizer.state_dict()
    saved_scheduler = copy.deepcopy(scheduler.state_dict())
    expected = _run_optkern(optimizer, scheduler, 600)

    resumed_optimizer = _optkern_optimizer(name, kwargs)
    resumed = factory(ok, resumed_optimizer)
    resumed_optimizer.load_state_dict(saved_optimizer)
    resumed.load_state_dict(saved_scheduler)
    assert _run_optkern(resumed_optimizer, resumed, 600) == expected


def test_state_dict_of_reduce_on_plateau_resumes_exactly() -> None:
    metrics = _metrics(STEPS)
    optimizer = _optkern_optimizer("SGD", {})
    scheduler = ok.ReduceLROnPlateau(optimizer, patience=2, cooldown=3, factor=0.5)
    for metric in metrics[:500]:
        scheduler.step(metric)
    saved = (optimizer.state_dict(), scheduler.state_dict())
    expected = []
    for metric in metrics[500:]:
        scheduler.step(metric)
        expected.append(scheduler.get_last_lr())
    optimizer = _optkern_optimizer("SGD", {})
    scheduler = ok.ReduceLROnPlateau(optimizer, patience=2, cooldown=3, factor=0.5)
    optimizer.load_state_dict(saved[0])
    scheduler.load_state_dict(saved[1])
    got = []
    for metric in metrics[500:]:
        scheduler.step(metric)
        got.append(scheduler.get_last_lr())
    assert got == expected


def test_state_dict_saves_callable_objects_not_functions() -> None:
    optimizer = _optkern_optimizer("SGD", {})
    decay = _Decay()
    scheduler = ok.MultiplicativeLR(optimizer, decay)
    decay.rate = 0.5
    state = scheduler.state_dict()
    assert state["lr_lambdas"] == [{"rate": 0.5}, {"rate": 0.5}]
    other = _Decay()
    resumed = ok.MultiplicativeLR(_optkern_optimizer("SGD", {}), other)
    resumed.load_state_dict(state)
    assert other.rate == 0.5
    assert ok.LambdaLR(optimizer, _lambda_a).state_dict()["lr_lambdas"] == [None, None]


def test_load_state_dict_checks_first() -> None:
    optimizer = _optkern_optimizer("SGD", {})
    scheduler = ok.StepLR(optimizer, 3)
    before = scheduler.state_dict()
    with pytest.raises(ValueError, match="'ExponentialLR', not 'StepLR'"):
        scheduler.load_state_dict(ok.ExponentialLR(optimizer, 0.9).state_dict())
    with pytest.raises(ValueError, match="missing \\['gamma'\\]"):
        scheduler.load_state_dict({k: v for k, v in before.items() if k != "gamma"})
    with pytest.raises(TypeError, match="expected a dict"):
        scheduler.load_state_dict([])  # type: ignore[arg-type]
    assert scheduler.state_dict() == before


# ----------------------------------------------------------------------------- recorded values

# Recorded from torch 2.13.0 (and equal to optkern's): the lr of one group of lr 0.1 at steps
# 0, 1, 2, ...
RECORDED: dict[str, tuple[Build, list[float]]] = {
    "StepLR(3, 0.5)": (
        lambda o: ok.StepLR(o, 3, 0.5),
        [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025],
    ),
    "LinearLR(0.5, total_iters=4)": (
        lambda o: ok.LinearLR(o, 0.5, total_iters=4),
        [0.05, 0.0625, 0.075, 0.08750000000000001, 0.1, 0.1],
    ),
    "ConstantLR(0.5, 2)": (
        lambda o: ok.ConstantLR(o, 0.5, 2),
        [0.05, 0.05, 0.1, 0.1],
    ),
    "CosineAnnealingLR(4)": (
        lambda o: ok.CosineAnnealingLR(o, 4),
        [
            0.1,
            0.08535533905932738,
            0.05,
            0.014644660940672627,
            0.0,
            0.014644660940672622,
            0.05000000000000001,
        ],
    ),
    "CosineAnnealingWarmRestarts(2, 2)": (
        lambda o: ok.CosineAnnealingWarmRestarts(o, 2, 2),
        [0.1, 0.05, 0.1, 0.08535533905932738, 0.05],
    ),
    "PolynomialLR(4, 2.0)": (
        lambda o: ok.PolynomialLR(o, 4, 2.0),
        [0.1, 0.05625, 0.024999999999999998, 0.0062499999999999995, 0.0, 0.0],
    ),
    "CyclicLR(0.01, 0.1, 2, cycle_momentum=False)": (
        lambda o: ok.CyclicLR(o, 0.01, 0.1, 2, cycle_momentum=False),
        [0.01, 0.05500000000000001, 0.1, 0.05500000000000001, 0.01, 0.05500000000000001],
    ),
    "MultiStepLR([2, 4, 4], 0.5)": (
        lambda o: ok.MultiStepLR(o, [2, 4, 4], 0.5),
        [0.1, 0.1, 0.05, 0.05, 0.0125, 0.0125],
    ),
    "ExponentialLR(0.5)": (lambda o: ok.ExponentialLR(o, 0.5), [0.1, 0.05, 0.025, 0.0125]),
    "LambdaLR(1 / (e + 1))": (
        lambda o: ok.LambdaLR(o, lambda e: 1 / (e + 1)),
        [0.1, 0.05, 0.03333333333333333, 0.025],
    ),
    "MultiplicativeLR(0.5)": (
        lambda o: ok.MultiplicativeLR(o, lambda e: 0.5),
        [0.1, 0.05, 0.025, 0.0125],
    ),
    "ChainedScheduler(ConstantLR(0.5, 3), ExponentialLR(0.9))": (
        lambda o: ok.ChainedScheduler([ok.ConstantLR(o, 0.5, 3), ok.ExponentialLR(o, 0.9)]),
        [0.05, 0.045000000000000005, 0.04050000000000001, 0.07290000000000002, 0.06561000000000002],
    ),
    "SequentialLR(ConstantLR(0.5, 10), ExponentialLR(0.5), [3])": (
        lambda o: ok.SequentialLR(o, [ok.ConstantLR(o, 0.5, 10), ok.ExponentialLR(o, 0.5)], [3]),
        [0.05, 0.05, 0.05, 0.1, 0.05, 0.025],
    ),
    "OneCycleLR(1.0, total_steps=6)": (
        lambda o: ok.OneCycleLR(o, 1.0, total_steps=6, cycle_momentum=False),
        [
            0.040000000000000036,
            0.9944154354509117,
            0.811745653949763,
            0.46263710266697505,
            0.1334775301888306,
            4e-06,
        ],
    ),
}


@pytest.mark.parametrize("case", list(RECORDED))
def test_recorded_values(case: str) -> None:
    factory, expected = RECORDED[case]
    optimizer = optkern.SGD([np.zeros(2)], lr=0.1)
    scheduler = factory(optimizer)
    got = [optimizer.param_groups[0]["lr"]]
    for _ in range(len(expected) - 1):
        optimizer.step([np.zeros(2)])
        scheduler.step()
        got.append(optimizer.param_groups[0]["lr"])
    assert got == expected


@pytest.mark.parametrize(
    ("factory", "expected"),
    [
        (
            lambda o: ok.OneCycleLR(o, 1.0, total_steps=6),
            [
                0.95,
                0.8505584586887436,
                0.8688255099070633,
                0.9037365046793212,
                0.9366525935914912,
                0.95,
            ],
        ),
        (
            lambda o: ok.CyclicLR(o, 0.01, 0.1, 2),
            [0.9, 0.8500000000000001, 0.8, 0.8500000000000001, 0.9, 0.8500000000000001],
        ),
    ],
    ids=["OneCycleLR", "CyclicLR"],
)
def test_recorded_momentum(factory: Build, expected: list[float]) -> None:
    """Recorded from torch 2.13.0: SGD's momentum under the cycling schedulers."""
    optimizer = optkern.SGD([np.zeros(2)], lr=0.1, momentum=0.9)
    scheduler = factory(optimizer)
    got = [optimizer.param_groups[0]["momentum"]]
    for _ in range(len(expected) - 1):
        optimizer.step([np.zeros(2)])
        scheduler.step()
        got.append(optimizer.param_groups[0]["momentum"])
    assert got == expected


def test_recorded_reduce_on_plateau() -> None:
    optimizer = optkern.SGD([np.zeros(2)], lr=0.1)
    scheduler = ok.ReduceLROnPlateau(optimizer, patience=1, cooldown=1, factor=0.5, min_lr=0.02)
    got = []
    for metric in [1.0, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.8, 0.9, 0.9, 0.9, 0.9]:
        scheduler.step(metric)
        got.append(scheduler.get_last_lr()[0])
    assert got == [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.02, 0.02, 0.02]


def test_recorded_sequential_milestone_at_zero() -> None:
    """torch's open bug: a milestone at 0. optkern starts with the second scheduler."""
    optimizer = optkern.SGD([np.zeros(2)], lr=0.1)
    scheduler = ok.SequentialLR(
        optimizer, [ok.ConstantLR(optimizer, 0.5, 10), ok.StepLR(optimizer, 2, 0.5)], [0]
    )
    got = [scheduler.get_last_lr()[0]]
    for _ in range(4):
        optimizer.step([np.zeros(2)])
        scheduler.step()
        got.append(scheduler.get_last_lr()[0])
    assert got == [0.1, 0.1, 0.05, 0.05, 0.025]


def test_sequential_last_epoch_resumes_where_a_fresh_run_is() -> None:
    """torch's open bug: SequentialLR(last_epoch=k). optkern gives the values a run from 0 has
    at step k."""

    def build(last_epoch: int) -> tuple[Any, Any]:
        optimizer = optkern.SGD([np.zeros(2)], lr=0.1)
        children = [ok.LinearLR(optimizer, 0.1, total_iters=5), ok.ExponentialLR(optimizer, 0.9)]
        return optimizer, ok.SequentialLR(optimizer, children, [5], last_epoch=last_epoch)

    optimizer, fresh = build(-1)
    values = [fresh.get_last_lr()]
    for _ in range(20):
        optimizer.step([np.zeros(2)])
        fresh.step()
        values.append(fresh.get_last_lr())
    _, resumed = build(12)
    assert resumed.last_epoch == 12
    assert resumed.get_last_lr() == values[12]


# ----------------------------------------------------------------------------- plain functions


def test_functions_agree_with_the_classes() -> None:
    """The closed forms against the recursive classes, within 1e-12 relative: products of
    per-step factors round differently from the closed form."""
    pairs: list[tuple[Callable[[float], float], Build]] = [
        (ok.step_schedule(0.1, 7, 0.5), lambda o: ok.StepLR(o, 7, 0.5)),
        (
            ok.multistep_schedule(0.1, [3, 10, 10], 0.5),
            lambda o: ok.MultiStepLR(o, [3, 10, 10], 0.5),
        ),
        (ok.exponential_schedule(0.1, 0.99), lambda o: ok.ExponentialLR(o, 0.99)),
        (ok.polynomial_schedule(0.1, 0.0, 2.0, 70), lambda o: ok.PolynomialLR(o, 70, 2.0)),
        (
            ok.cosine_annealing_schedule(0.1, 30, 0.001),
            lambda o: ok.CosineAnnealingLR(o, 30, 0.001),
        ),
        (ok.linear_schedule(0.01, 0.1, 20), lambda o: ok.LinearLR(o, 0.1, 1.0, 20)),
        (
            ok.cosine_warm_restarts_schedule(0.1, 5, 2, 0.001),
            lambda o: ok.CosineAnnealingWarmRestarts(o, 5, 2, 0.001),
        ),
        (
            ok.cyclic_schedule(0.01, 0.1, 10, 5, "triangular2"),
            lambda o: ok.CyclicLR(o, 0.01, 0.1, 10, 5, "triangular2", cycle_momentum=False),
        ),
        (
            ok.one_cycle_schedule(1.0, 200, three_phase=True),
            lambda o: ok.OneCycleLR(
                o, 1.0, total_steps=200, three_phase=True, cycle_momentum=False
            ),
        ),
        (
            ok.join_schedules(
                [ok.constant_schedule(0.05), ok.exponential_schedule(0.1, 0.9)], [10]
            ),
            lambda o: ok.SequentialLR(
                o, [ok.ConstantLR(o, 0.5, 1000), ok.ExponentialLR(o, 0.9)], [10]
            ),
        ),
    ]
    for schedule, factory in pairs:
        optimizer = optkern.SGD([np.zeros(2)], lr=0.1)
        scheduler = factory(optimizer)
        for t in range(200):
            assert math.isclose(
                schedule(t), scheduler.get_last_lr()[0], rel_tol=1e-12, abs_tol=1e-15
            ), (
                schedule,
                t,
            )
            optimizer.step([np.zeros(2)])
            scheduler.step()


def test_warmup_cosine_decay_and_join() -> None:
    schedule = ok.warmup_cosine_decay_schedule(0.0, 1.0, 4, 8, 0.1)
    assert [schedule(t) for t in range(10)] == [
        0.0,
        0.25,
        0.5,
        0.75,
        1.0,
        0.8681980515339464,
        0.55,
        0.23180194846605365,
        0.1,
        0.1,
    ]
    joined = ok.join_schedules(
        [ok.linear_schedule(0.0, 1.0, 2), ok.constant_schedule(0.5), ok.step_schedule(1.0, 1)],
        [2, 4],
    )
    assert [joined(t) for t in range(7)] == [0.0, 0.5, 0.5, 0.5, 1.0, 0.1, 0.010000000000000002]
    with pytest.raises(ValueError, match="decay_steps \\(4\\) must be > warmup_steps \\(4\\)"):
        ok.warmup_cosine_decay_schedule(0.0, 1.0, 4, 4)
    with pytest.raises(ValueError, match="expected 1 boundaries for 2 schedules, got 2"):
        ok.join_schedules([schedule, schedule], [1, 2])
    with pytest.raises(ValueError, match="step 11 is beyond total_steps=10"):
        ok.one_cycle_schedule(1.0, 10)(11)


def test_a_scheduler_of_a_function_schedule() -> None:
    """A plain schedule drives any optimizer through LambdaLR (lr_lambda = schedule / base)."""
    schedule = ok.warmup_cosine_decay_schedule(0.0, 0.1, 10, 100)
    optimizer = optkern.Adam([np.zeros(2)], lr=0.1)
    scheduler = ok.LambdaLR(optimizer, lambda t: schedule(t) / 0.1)
    for t in range(1, 50):
        optimizer.step([np.zeros(2)])
        scheduler.step()
        assert math.isclose(optimizer.param_groups[0]["lr"], schedule(t), rel_tol=1e-15)


# ----------------------------------------------------------------------------- every optimizer


OPTIMIZERS = [
    "SGD",
    "Momentum",
    "Nesterov",
    "Adagrad",
    "RMSprop",
    "Adam",
    "AdamW",
    "Adadelta",
    "Adamax",
    "NAdam",
    "RAdam",
    "Lion",
]


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimizer_steps_under_one_cycle(name: str) -> None:
    """OneCycleLR (momentum or beta1 cycled where the optimizer has one), validated by the
    optimizer at every step."""
    optimizer = _optkern_optimizer(name, {})
    cycle = "momentum" in optimizer.defaults or "betas" in optimizer.defaults
    scheduler = ok.OneCycleLR(optimizer, 0.01, total_steps=50, cycle_momentum=cycle)
    assert [g["initial_lr"] for g in optimizer.param_groups] == [0.01 / 25] * 2
    _run_optkern(optimizer, scheduler, 50)
    assert scheduler.last_epoch == 50
    with pytest.raises(ValueError, match="tried to step 51 times"):
        scheduler.step()
    assert scheduler.last_epoch == 50


def test_textbook_optimizer_before_and_after_binding() -> None:
    """Before its first update() a textbook optimizer has no param group: the scheduler works
    on its defaults (opt.lr), and the keys it adds go into the group update() makes."""
    opt = textbook.SGD(lr=0.1)
    scheduler = ok.StepLR(opt, 2, 0.5)
    assert opt.lr == 0.1
    params = {"W": np.ones(3)}
    lrs = []
    for _ in range(6):
        opt.update(params, {"W": np.ones(3)})
        lrs.append(opt.lr)
        scheduler.step()
    assert lrs == [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]
    assert opt.param_groups[0]["initial_lr"] == 0.1
    # The textbook's SGD subtracted lr·1 each time.
    np.testing.assert_array_equal(params["W"], np.ones(3) - sum(lrs))


def test_textbook_momentum_cycled_and_sgd_refused() -> None:
    opt = textbook.Momentum(lr=0.01)
    scheduler = ok.OneCycleLR(opt, 0.1, total_steps=10)
    assert (opt.lr, opt.momentum) == (ok.one_cycle_schedule(0.1, 10)(0), 0.95)
    opt.update({"W": np.ones(2)}, {"W": np.ones(2)})
    scheduler.step()
    assert opt.param_groups[0]["max_lr"] == 0.1
    assert opt.momentum < 0.95
    with pytest.raises(ValueError, match=r"'momentum', 'betas'.*cycle_momentum=False"):
        ok.OneCycleLR(textbook.SGD(), 0.1, total_steps=10)
    adam = textbook.Adam()
    ok.OneCycleLR(adam, 0.1, total_steps=10, cycle_momentum=False)
    assert adam.lr == ok.one_cycle_schedule(0.1, 10)(0)


def test_torch_style_optimizer_without_params_uses_defaults() -> None:
    opt = optkern.Adam(lr=0.1)
    scheduler = ok.ExponentialLR(opt, 0.5)
    params = {"W": np.ones(2)}
    opt.update(params, {"W": np.ones(2)})
    scheduler.step()
    assert opt.param_groups[0]["lr"] == 0.05
    assert opt.param_groups[0]["initial_lr"] == 0.1


# ----------------------------------------------------------------------------- the warning


def test_warns_when_scheduler_steps_before_optimizer() -> None:
    optimizer = optkern.SGD([np.zeros(2)], lr=0.1)
    scheduler = ok.StepLR(optimizer, 2)
    with pytest.warns(UserWarning, match="before optimizer.step"):
        scheduler.step()
    scheduler.step()  # only the first step is checked, as in torch


def test_no_warning_in_the_right_order_or_after_a_skipped_step() -> None:
    optimizer = optkern.SGD([np.zeros(2)], lr=0.1)
    scheduler = ok.StepLR(optimizer, 2)
    optimizer.step([np.zeros(2)])
    scheduler.step()  # filterwarnings=error: a warning fails the test
    optimizer = optkern.Adam([np.zeros(2)], lr=0.1)
    scheduler = ok.CosineAnnealingLR(optimizer, 10)
    ok.mark_step_skipped(optimizer)  # a loss scaler skipped the step (pytorch/pytorch#44511)
    scheduler.step()
    assert optimizer.step_count == 0


def test_step_count() -> None:
    optimizer = optkern.SGD([np.zeros(2)], lr=0.1)
    assert optimizer.step_count == 0
    optimizer.step([np.zeros(2)])
    optimizer.step([np.zeros(2)])
    assert optimizer.step_count == 2
    other = optkern.SGD([np.zeros(2)], lr=0.1)
    other.load_state_dict(optimizer.state_dict())
    assert other.step_count == 2
    with pytest.raises(AttributeError):
        optimizer.step_count = 3  # type: ignore[misc]
    assert textbook.SGD().step_count == 0


# ----------------------------------------------------------------------------- bad input


BAD: list[tuple[Callable[[Any], Any], type[Exception], str]] = [
    (lambda o: ok.StepLR(o, -1), ValueError, "step_size must be >= 1, got -1"),
    (lambda o: ok.StepLR(o, 2.5), TypeError, "step_size must be an int"),
    (lambda o: ok.StepLR(o, 2, gamma=-0.1), ValueError, "gamma must be >= 0"),
    (lambda o: ok.CosineAnnealingLR(o, 0), ValueError, "T_max must be >= 1, got 0"),
    (lambda o: ok.CosineAnnealingWarmRestarts(o, 0), ValueError, "T_0 must be >= 1"),
    (lambda o: ok.CosineAnnealingWarmRestarts(o, 2, 0), ValueError, "T_mult must be >= 1"),
    (lambda o: ok.LambdaLR(o, [_lambda_a]), ValueError, "expected 2 values for lr_lambda"),
    (lambda o: ok.LambdaLR(o, 0.5), TypeError, "lr_lambda must be callable"),
    (lambda o: ok.MultiStepLR(o, [3, -1]), ValueError, "milestones\\[1\\] must be >= 0"),
    (lambda o: ok.ConstantLR(o, factor=1.5), ValueError, "factor must be in \\(0.0, 1.0\\]"),
    (lambda o: ok.LinearLR(o, start_factor=0), ValueError, "start_factor must be in"),
    (lambda o: ok.LinearLR(o, total_iters=0), ValueError, "total_iters must be >= 1"),
    (lambda o: ok.PolynomialLR(o, 0), ValueError, "total_iters must be >= 1"),
    (lambda o: ok.CyclicLR(o, [0.1, 0.2, 0.3], 1.0), ValueError, "expected 2 values for base_lr"),
    (lambda o: ok.CyclicLR(o, 0.1, 1.0, mode="sawtooth"), ValueError, "mode must be one of"),
    (lambda o: ok.CyclicLR(o, 0.1, 1.0, max_momentum=[0.9]), ValueError, "for max_momentum"),
    (lambda o: ok.CyclicLR(o, 0.1, 1.0, step_size_up=0), ValueError, "step_size_up must be > 0"),
    (lambda o: ok.OneCycleLR(o, 0.1), ValueError, "give total_steps, or epochs and"),
    (lambda o: ok.OneCycleLR(o, [0.1], total_steps=5), ValueError, "expected 2 values for max_lr"),
    (lambda o: ok.OneCycleLR(o, 0.1, 0), ValueError, "total_steps must be >= 1"),
    (lambda o: ok.OneCycleLR(o, 0.1, 9, pct_start=1.5), ValueError, "pct_start must be in"),
    (lambda o: ok.OneCycleLR(o, 0.1, 9, anneal_strategy="x"), ValueError, "'cos' or 'linear'"),
    (lambda o: ok.OneCycleLR(o, 0.1, 9, base_momentum=[1, 2, 3]), ValueError, "base_momentum"),
    (lambda o: ok.ReduceLROnPlateau(o, factor=1.0), ValueError, "factor must be in \\[0, 1\\)"),
    (lambda o: ok.ReduceLROnPlateau(o, mode="lowest"), ValueError, "mode must be 'min' or"),
    (lambda o: ok.ReduceLROnPlateau(o, threshold_mode="x"), ValueError, "threshold_mode"),
    (lambda o: ok.ReduceLROnPlateau(o, min_lr=[0.1]), ValueError, "expected 2 values for min_lr"),
    (lambda o: ok.ReduceLROnPlateau(o, patience=-1), ValueError, "patience must be >= 0"),
    (lambda o: ok.StepLR(o, 2, last_epoch=5), ValueError, "needs 'initial_lr' in every param"),
    (lambda o: ok.StepLR(o, 2, last_epoch=-2), ValueError, "last_epoch must be >= -1"),
    (lambda o: ok.SequentialLR(o, [], []), ValueError, "schedulers must not be empty"),
    (
        lambda o: ok.SequentialLR(o, [ok.StepLR(o, 2), ok.StepLR(o, 3)], []),
        ValueError,
        "expected 1 milestones for 2 schedulers, got 0",
    ),
    (
        lambda o: ok.SequentialLR(o, [ok.StepLR(o, 2), ok.StepLR(o, 3), ok.StepLR(o, 3)], [5, 2]),
        ValueError,
        "milestones must be non-decreasing",
    ),
    (
        lambda o: ok.SequentialLR(o, [ok.StepLR(o, 2), ok.ReduceLROnPlateau(o)], [5]),
        TypeError,
        "other than ReduceLROnPlateau",
    ),
    (
        lambda o: ok.ChainedScheduler(
            [ok.StepLR(o, 2), ok.StepLR(_optkern_optimizer("SGD", {}), 2)]
        ),
        ValueError,
        "schedulers\\[1\\] belongs to another optimizer",
    ),
]


@pytest.mark.parametrize(("make", "error", "message"), BAD, ids=[m for _, _, m in BAD])
def test_bad_input_names_the_argument_and_changes_nothing(
    make: Callable[[Any], Any], error: type[Exception], message: str
) -> None:
    optimizer = _optkern_optimizer("SGD", {"momentum": 0.9})
    with pytest.raises(error, match=message):
        make(optimizer)
    # (The composite cases build child schedulers first, which do change the groups.)
    if not any(word in message for word in ("schedulers", "milestones", "ReduceLROnPlateau")):
        assert _hyper(optimizer) == _hyper(_optkern_optimizer("SGD", {"momentum": 0.9}))


def _hyper(optimizer: Any) -> list[dict[str, Any]]:
    return [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]


def test_failed_constructor_leaves_the_groups_untouched() -> None:
    optimizer = _optkern_optimizer("SGD", {"momentum": 0.9})
    before = [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]

    def failing(epoch: int) -> float:
        raise RuntimeError("user's lambda")

    with pytest.raises(RuntimeError, match="user's lambda"):
        ok.LambdaLR(optimizer, failing)
    with pytest.raises(ValueError, match="expected 2 values for max_momentum"):
        ok.CyclicLR(optimizer, 0.01, 0.1, max_momentum=[0.9, 0.8, 0.7])
    after = [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]
    assert after == before
    assert "initial_lr" not in optimizer.param_groups[0]


def test_non_optkern_optimizer_is_a_type_error() -> None:
    class Fake:
        def __init__(self) -> None:
            self.param_groups = [{"lr": 0.1}]
            self.defaults = {"lr": 0.1}

    with pytest.raises(TypeError, match=r"optimizer must be an optkern optimizer .*Fake"):
        ok.StepLR(Fake(), 2)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="optimizer must be an optkern optimizer"):
        ok.ReduceLROnPlateau(object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="optimizer must be an optkern optimizer"):
        ok.mark_step_skipped(None)  # type: ignore[arg-type]


def test_torch_optimizer_is_a_type_error(torch: Any) -> None:
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    with pytest.raises(TypeError, match=r"optimizer must be an optkern optimizer .*torch\.optim"):
        ok.StepLR(opt, 2)
    assert "initial_lr" not in opt.param_groups[0]


def test_chained_scheduler_arguments() -> None:
    with pytest.raises(ValueError, match="ChainedScheduler: schedulers must not be empty"):
        ok.ChainedScheduler([])
    with pytest.raises(TypeError, match="schedulers must be a list of schedulers, got int"):
        ok.ChainedScheduler(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"schedulers\[0\] must be an optkern.lr_scheduler"):
        ok.ChainedScheduler(["StepLR"])  # type: ignore[list-item]
    optimizer = _optkern_optimizer("SGD", {})
    with pytest.raises(ValueError, match=r"schedulers\[0\] belongs to another optimizer"):
        ok.ChainedScheduler([ok.StepLR(optimizer, 2)], optimizer=_optkern_optimizer("SGD", {}))


def test_plateau_metric_must_be_a_number() -> None:
    scheduler = ok.ReduceLROnPlateau(optkern.SGD([np.zeros(2)], lr=0.1))
    with pytest.raises(TypeError, match="metrics must be a number, got str"):
        scheduler.step("low")  # type: ignore[arg-type]
    scheduler.step(np.float32(0.5))
    assert scheduler.best == 0.5


def test_warm_restarts_epoch_must_be_a_number_at_least_0() -> None:
    optimizer = _optkern_optimizer("SGD", {})
    scheduler = ok.CosineAnnealingWarmRestarts(optimizer, 5)
    before = (scheduler.state_dict(), _hyper(optimizer))
    with pytest.raises(ValueError, match=r"epoch must be >= 0, got -0\.5"):
        scheduler.step(-0.5)
    with pytest.raises(TypeError, match="epoch must be a real number, got str"):
        scheduler.step("1")  # type: ignore[arg-type]
    assert (scheduler.state_dict(), _hyper(optimizer)) == before


def test_a_group_added_after_the_scheduler_is_an_error() -> None:
    optimizer = _optkern_optimizer("SGD", {})
    scheduler = ok.ExponentialLR(optimizer, 0.9)
    optimizer.add_param_group({"params": [np.zeros(2)], "lr": 0.5})
    optimizer.step([np.zeros(3), np.zeros(3), np.zeros(2)])
    with pytest.raises(ValueError, match="has 3 param groups, but the scheduler was built for 2"):
        scheduler.step()
    assert [g["lr"] for g in optimizer.param_groups] == [0.1, 0.03, 0.5]
    plateau = ok.ReduceLROnPlateau(optimizer, min_lr=[0.0, 0.0, 0.0])
    optimizer.add_param_group({"params": [np.zeros(1)]})
    with pytest.raises(ValueError, match="has 4 param groups, but min_lr was a list of 3"):
        plateau.step(1.0)
    assert (plateau.best, plateau.last_epoch) == (math.inf, 0)


def test_plateau_schedules_groups_added_later_with_a_scalar_min_lr() -> None:
    optimizer = _optkern_optimizer("SGD", {})
    plateau = ok.ReduceLROnPlateau(optimizer, patience=0, min_lr=0.001)
    optimizer.add_param_group({"params": [np.zeros(2)], "lr": 0.5})
    plateau.step(1.0)
    plateau.step(2.0)
    assert plateau.min_lrs == [0.001] * 3
    assert [g["lr"] for g in optimizer.param_groups] == [0.1 * 0.1, 0.03 * 0.1, 0.5 * 0.1]
    restored = ok.ReduceLROnPlateau(optimizer, min_lr=[0.0] * 3)
    restored.load_state_dict(plateau.state_dict())
    assert restored.default_min_lr == 0.001


def _no_arrays_or_optimizer(value: Any) -> None:
    assert not isinstance(value, (np.ndarray, optkern.Optimizer)), type(value)
    if isinstance(value, dict):
        for item in value.values():
            _no_arrays_or_optimizer(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _no_arrays_or_optimizer(item)


@pytest.mark.parametrize("kind", ["SequentialLR", "ChainedScheduler"])
def test_a_composite_state_dict_does_not_copy_the_optimizer(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    optimizer = _optkern_optimizer("Adam", {})
    children = [ok.ConstantLR(optimizer), ok.ExponentialLR(optimizer, 0.9)]
    if kind == "SequentialLR":
        scheduler: ok.LRScheduler = ok.SequentialLR(optimizer, children, milestones=[3])
    else:
        scheduler = ok.ChainedScheduler(children)
    optimizer.step([np.zeros(3), np.zeros(3)])
    scheduler.step()

    def refuse(self: Any, memo: Any = None) -> Any:
        raise AssertionError("the optimizer was deep-copied")

    monkeypatch.setattr(type(optimizer), "__deepcopy__", refuse, raising=False)
    state = scheduler.state_dict()
    _no_arrays_or_optimizer(state)
    scheduler.load_state_dict(state)
    assert scheduler.state_dict() == state


def _step_until_it_raises(optimizer: Any, scheduler: Any) -> None:
    for _ in range(10):
        optimizer.step(_grads(optimizer))
        try:
            scheduler.step()
        except ValueError:
            return
    raise AssertionError("no step raised")


def test_a_failing_composite_step_changes_nothing() -> None:
    optimizer = _optkern_optimizer("SGD", {})
    chained = ok.ChainedScheduler(
        [
            ok.ExponentialLR(optimizer, 0.5),
            ok.OneCycleLR(optimizer, 0.1, total_steps=3, cycle_momentum=False),
        ]
    )
    _step_until_it_raises(optimizer, chained)
    before = (chained.state_dict(), _hyper(optimizer))
    for _ in range(2):
        with pytest.raises(ValueError, match="total_steps=3"):
            chained.step()
        assert (chained.state_dict(), _hyper(optimizer)) == before

    optimizer = _optkern_optimizer("SGD", {})
    sequential = ok.SequentialLR(
        optimizer,
        [
            ok.ConstantLR(optimizer, total_iters=1),
            ok.OneCycleLR(optimizer, 0.1, total_steps=3, cycle_momentum=False),
        ],
        milestones=[1],
    )
    _step_until_it_raises(optimizer, sequential)
    before = (sequential.state_dict(), _hyper(optimizer))
    for _ in range(2):
        with pytest.raises(ValueError, match="total_steps=3"):
            sequential.step()
        assert (sequential.state_dict(), _hyper(optimizer)) == before


def test_values_the_optimizer_refuses_are_refused_by_the_scheduler() -> None:
    sgd = _optkern_optimizer("SGD", {"momentum": 0.9, "nesterov": True})
    before = _hyper(sgd)
    with pytest.raises(ValueError, match=r"CyclicLR: would set param_groups\[0\] momentum=0\.0"):
        ok.CyclicLR(sgd, 0.01, 0.1, base_momentum=0.0)
    adam = _optkern_optimizer("Adam", {})
    with pytest.raises(ValueError, match=r"OneCycleLR: would set param_groups\[0\] betas=\(1\.5"):
        ok.OneCycleLR(adam, 0.1, total_steps=10, max_momentum=1.5)
    with pytest.raises(ValueError, match="eta_min must be >= 0"):
        ok.CosineAnnealingLR(sgd, 10, eta_min=-0.01)
    assert _hyper(sgd) == before
    for bad in (-1.0, math.nan):
        optimizer = _optkern_optimizer("SGD", {})
        scheduler = ok.LambdaLR(optimizer, lambda epoch, b=bad: 1.0 if epoch == 0 else b)
        optimizer.step(_grads(optimizer))
        scheduler._checked = True  # the warning's flag, set by the first step()
        state, groups = scheduler.state_dict(), _hyper(optimizer)
        with pytest.raises(ValueError, match=r"LambdaLR: would set param_groups\[0\] lr=.*SGD"):
            scheduler.step()
        assert (scheduler.state_dict(), _hyper(optimizer)) == (state, groups)


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_a_textbook_optimizer_copied_before_its_first_update_keeps_the_schedule(how: str) -> None:
    import pickle

    optimizer = textbook.Momentum(lr=0.1)
    scheduler = ok.OneCycleLR(optimizer, 0.5, total_steps=10)
    if how == "deepcopy":
        optimizer, scheduler = copy.deepcopy((optimizer, scheduler))
    else:
        optimizer, scheduler = pickle.loads(pickle.dumps((optimizer, scheduler)))
    weights = np.ones(3)
    optimizer.update({"W": weights}, {"W": np.ones(3)})
    assert optimizer.param_groups[0]["initial_lr"] == 0.02
    scheduler.step()
    assert scheduler.get_last_lr() == [optimizer.lr]


def test_a_textbook_checkpoint_right_after_the_first_update_resumes(tmp_path: Any) -> None:
    optimizer = textbook.SGD(lr=0.1)
    scheduler = ok.StepLR(optimizer, 1, gamma=0.5)
    optimizer.update({"W": np.ones(3)}, {"W": np.ones(3)})
    assert optimizer.param_groups[0]["initial_lr"] == 0.1
    path = str(tmp_path / "opt.npz")
    optimizer.save_state(path)
    resumed = textbook.SGD(lr=0.1)
    resumed.load_state(path)
    again = ok.StepLR(resumed, 1, gamma=0.5, last_epoch=scheduler.last_epoch)
    assert again.get_last_lr() == [0.05]


def test_textbook_adam_cycles_beta1() -> None:
    optimizer = textbook.Adam(lr=0.01)
    scheduler = ok.OneCycleLR(optimizer, 0.1, total_steps=10)
    assert optimizer.defaults["beta1"] == 0.95
    optimizer.update({"W": np.ones(3)}, {"W": np.ones(3)})
    scheduler.step()
    assert 0.85 < optimizer.param_groups[0]["beta1"] < 0.95
    assert optimizer.param_groups[0]["beta2"] == 0.999
    cyclic = ok.CyclicLR(textbook.Adam(), 0.001, 0.01, base_momentum=0.5, max_momentum=0.6)
    assert cyclic.optimizer.defaults["beta1"] == 0.6


def test_the_public_classes_and_functions_name_the_public_module() -> None:
    import pickle

    for name in ok.__all__:
        value = getattr(ok, name)
        if isinstance(value, type) or hasattr(value, "__code__"):
            assert value.__module__ == "optkern.lr_scheduler", name
    data = pickle.dumps(ok.StepLR)
    assert b"optkern.lr_scheduler" in data
    assert b"_basic" not in data
    scheduler = ok.StepLR(_optkern_optimizer("SGD", {}), 2)
    data = pickle.dumps(scheduler)
    assert b"_basic" not in data
    assert type(pickle.loads(data)) is ok.StepLR


def test_polynomial_power_must_be_at_least_0() -> None:
    optimizer = _optkern_optimizer("SGD", {})
    with pytest.raises(ValueError, match=r"power must be >= 0, got -1\.0"):
        ok.PolynomialLR(optimizer, total_iters=4, power=-1.0)
    assert [g["lr"] for g in optimizer.param_groups] == list(LRS)
    assert all("initial_lr" not in g for g in optimizer.param_groups)


@pytest.mark.parametrize("kind", ["LambdaLR", "MultiplicativeLR"])
@pytest.mark.parametrize("bad", ["0.5", np.array([0.5]), True])
def test_a_lambda_must_return_a_real_number(kind: str, bad: Any) -> None:
    optimizer = _optkern_optimizer("SGD", {})
    scheduler = getattr(ok, kind)(optimizer, [lambda e: 1.0, lambda e, b=bad: 1.0 if e == 0 else b])
    optimizer.step(_grads(optimizer))
    scheduler._checked = True
    before = (scheduler.state_dict(), _hyper(optimizer))
    with pytest.raises(TypeError, match=r"lr_lambda of param_groups\[1\] returned"):
        scheduler.step()
    assert (scheduler.state_dict(), _hyper(optimizer)) == before


@pytest.mark.parametrize(
    ("key", "value", "error"),
    [
        ("last_epoch", "x", TypeError),
        ("last_epoch", True, TypeError),
        ("last_epoch", -2, ValueError),
        ("step_size", 0, ValueError),
        ("step_size", 2.0, TypeError),
        ("gamma", None, TypeError),
        ("gamma", -0.5, ValueError),
        ("base_lrs", [0.1], ValueError),
        ("base_lrs", ["0.1", 0.03], TypeError),
    ],
)
def test_load_state_dict_checks_the_values(key: str, value: Any, error: type) -> None:
    optimizer = _optkern_optimizer("SGD", {})
    scheduler = ok.StepLR(optimizer, 2)
    before = (scheduler.state_dict(), _hyper(optimizer))
    with pytest.raises(error, match=rf"StepLR.load_state_dict: {key}"):
        scheduler.load_state_dict({**scheduler.state_dict(), key: value})
    assert (scheduler.state_dict(), _hyper(optimizer)) == before


def test_multistep_milestones_survive_a_json_round_trip() -> None:
    import json

    optimizer = _optkern_optimizer("SGD", {})
    scheduler = ok.MultiStepLR(optimizer, [2, 2, 4], gamma=0.5)
    state = json.loads(json.dumps(scheduler.state_dict()))
    assert state["milestones"] == {"2": 2, "4": 1}
    resumed = ok.MultiStepLR(_optkern_optimizer("SGD", {}), [9])
    resumed.load_state_dict(state)
    assert resumed.milestones == {2: 2, 4: 1}
    assert all(type(k) is int for k in resumed.milestones)
    with pytest.raises(ValueError, match="milestones has 'two'"):
        resumed.load_state_dict({**state, "milestones": {"two": 1}})
    assert resumed.milestones == {2: 2, 4: 1}
