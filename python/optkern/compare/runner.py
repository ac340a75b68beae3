"""The training loop: every variant of an experiment, on one or both backends, timed.

Each run builds its network from ``seed`` and draws its mini-batches with
``optkern.nn.random_batches(seed=seed)``, so runs differ only in what the variant varies; two runs
of the same variant on the ``optkern`` and ``reference`` backends must then give bit-identical
curves, since the two backends compute bit-identical updates.

The optimizer is bound to the network's parameters (``params=``, in the order of
``net.params``) and stepped with ``opt.step(grads)``, the call that the textbook-style
``opt.update(params, grads)`` makes after binding (the same bits): ``step`` is the method that
takes the training options of ``Settings.training`` (``max_grad_norm=``, ``ema=``), and
``optkern.MultiSteps`` wraps it for ``--accumulate``. A schedule's scheduler steps after each
optimizer step (except the last, after which no step uses the lr). How the gradients are
computed and stepped is the run's plan (``WholeBatch`` here; ``compare.parallel`` has the
``--distributed`` ones), so that every kind of run goes through the same loop.

Time is measured with ``time.perf_counter``: ``update_s`` sums the optimizer's step calls alone
(with accumulation: every ``MultiSteps.step`` call, the summing of the micro-batch gradients
included); ``time_s`` is the whole training loop (drawing batches, forward/backward passes,
updates, scheduler steps) without the accuracy evaluations, which ``eval_s`` counts separately.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from ..accumulation import MultiSteps
from ..ema import EMA
from ..nn import MultiLayerNet, random_batches
from ..optimizer import Optimizer
from .dataset import Dataset
from .experiments import EXPERIMENTS, Experiment, Variant
from .progress import Progress
from .registry import OptimizerChoice, parse_choice
from .storage import SIXTEEN_BIT, compute_dtype
from .training import Schedule, Training

#: ``--backend`` values → the backends run, in order (the first one's results are reported).
BACKEND_MODES: dict[str, tuple[str, ...]] = {
    "optkern": ("optkern",),
    "reference": ("reference",),
    "both": ("optkern", "reference"),
}

#: ``--distributed``: the key in ``Outcome.runs`` of the one-process run that the distributed
#: one (the first key) is checked against (``compare.parallel``).
ONE_PROCESS = "one process"

#: Accuracy is evaluated about this many times per run (plus before the first step).
EVAL_POINTS = 20


@dataclass(frozen=True)
class Settings:
    """Everything a run depends on besides the data."""

    experiment: Experiment
    optimizers: tuple[OptimizerChoice, ...]
    iterations: int
    batch_size: int = 128
    dtype: str = "float32"
    backend: str = "optkern"
    seed: int = 0
    eval_every: int = 100
    training: Training = field(default_factory=Training)

    def __post_init__(self) -> None:
        # The precision experiment's variants name their dtypes; another would be ignored.
        if self.experiment.sets_dtype and self.dtype != "float32":
            raise ValueError(
                f"dtype {self.dtype!r}: the {self.experiment.name} experiment sets the dtype per "
                "variant (leave dtype at float32)"
            )
        # Likewise the schedules experiment's variants name their schedules.
        if self.experiment.sets_schedule and self.training.schedule != Schedule():
            raise ValueError(
                f"schedule {self.training.schedule.label!r}: the {self.experiment.name} "
                "experiment sets the schedule per variant (leave the schedule constant)"
            )
        for variant in self.variants():
            self.schedule_of(variant).check(self.iterations)

    @classmethod
    def create(
        cls,
        experiment: str = "optimizers",
        optimizers: tuple[OptimizerChoice, ...] | None = None,
        iterations: int | None = None,
        **options: Any,
    ) -> Settings:
        """Settings with the experiment's defaults for whatever is not given."""
        spec = EXPERIMENTS[experiment]
        if optimizers is None:
            optimizers = tuple(parse_choice(name) for name in spec.default_optimizers)
        if iterations is None:
            iterations = spec.default_iterations
        options.setdefault("eval_every", max(1, iterations // EVAL_POINTS))
        return cls(spec, optimizers, iterations, **options)

    def variants(self) -> list[Variant]:
        return self.experiment.variants(self.optimizers)

    def schedule_of(self, variant: Variant) -> Schedule:
        """The variant's own schedule, else the run's."""
        return variant.schedule or self.training.schedule

    def as_dict(self) -> dict[str, Any]:
        """For results.json."""
        return {
            "experiment": self.experiment.name,
            "optimizers": [choice.label for choice in self.optimizers],
            "iterations": self.iterations,
            "batch_size": self.batch_size,
            "dtype": self.dtype,
            "backend": self.backend,
            "seed": self.seed,
            "eval_every": self.eval_every,
            **self.training.as_dict(),
        }


@dataclass
class RunResult:
    """One variant trained on one backend.

    Per iteration (optimizer step): ``losses``, the mini-batch loss (exact: float32 → float64;
    with accumulation the mean of the micro-batch losses), ``lrs``, the learning rate of the step
    (param group 0's), and with clipping ``grad_norms``, the global gradient norm before
    clipping. The accuracies are those of the EMA's averaged weights when there is an EMA.
    """

    backend: str
    losses: NDArray[np.float64]
    eval_iterations: list[int]
    train_accuracy: list[float]
    test_accuracy: list[float]
    time_s: float
    update_s: float
    eval_s: float
    lrs: NDArray[np.float64] = field(default_factory=lambda: np.empty(0))
    grad_norms: NDArray[np.float64] | None = None
    #: The inner optimizer's step count at the end (with accumulation: iterations, not calls).
    optimizer_steps: int = 0


@dataclass
class Outcome:
    """One variant: its result per backend, keyed like BACKEND_MODES' tuples (with
    ``--distributed``: the distributed run's backend, then ``ONE_PROCESS``)."""

    variant: Variant
    runs: dict[str, RunResult] = field(default_factory=dict)

    @property
    def main(self) -> RunResult:
        """The result shown in the table and plots: the first backend run."""
        return next(iter(self.runs.values()))

    @property
    def speedup(self) -> float | None:
        """Reference update time / optkern update time, when both ran."""
        if "optkern" not in self.runs or "reference" not in self.runs:
            return None
        fused = self.runs["optkern"].update_s
        return self.runs["reference"].update_s / fused if fused > 0 else None

    @property
    def identical(self) -> bool | None:
        """Whether both backends gave the very same curves (None: only one ran)."""
        if len(self.runs) < 2:
            return None
        first, *others = self.runs.values()
        return all(_same_curves(first, other) for other in others)


def _same_curves(a: RunResult, b: RunResult) -> bool:
    # equal_nan: a diverging run has NaN losses on both backends, and that is agreement.
    return (
        np.array_equal(a.losses, b.losses, equal_nan=True)
        and np.array_equal(a.lrs, b.lrs)
        and _same_norms(a.grad_norms, b.grad_norms)
        and a.eval_iterations == b.eval_iterations
        and a.train_accuracy == b.train_accuracy
        and a.test_accuracy == b.test_accuracy
    )


def _same_norms(a: NDArray[np.float64] | None, b: NDArray[np.float64] | None) -> bool:
    if a is None or b is None:
        return a is b
    return np.array_equal(a, b, equal_nan=True)


class _LossTap:
    """Keeps the loss that ``net.gradient()`` computes in its forward pass.

    ``gradient(x, t)`` evaluates ``self.loss(x, t, train=True)`` and discards the value; an
    instance attribute named ``loss`` shadows the method, so installing this object captures that
    value. The alternative, a second ``net.loss(x, t)`` call, would cost another forward pass per
    step and, for batch-norm and dropout networks, update the running statistics once more and
    draw extra dropout masks.
    """

    def __init__(self, net: MultiLayerNet) -> None:
        self._loss = net.loss
        self.value: Any = None
        net.loss = self  # type: ignore[method-assign]

    def __call__(self, x: Any, t: Any, train: bool = True) -> Any:
        self.value = self._loss(x, t, train)
        return self.value


class TappedNet:
    """A network whose ``gradient`` also returns the loss of its forward pass (see _LossTap)."""

    def __init__(self, net: MultiLayerNet) -> None:
        self.net = net
        self.keys = list(net.params)  # the order of the optimizer's parameters and grads
        self._tap = _LossTap(net)

    def gradient(self, x: Any, t: Any) -> tuple[list[NDArray[Any]], float]:
        """The gradients (in ``keys`` order) and the loss of the mini-batch (x, t)."""
        self._tap.value = None
        grads = self.net.gradient(x, t)
        if self._tap.value is None:  # the tap's premise (see _LossTap) no longer holds
            raise RuntimeError("MultiLayerNet.gradient() no longer evaluates self.loss()")
        return [grads[key] for key in self.keys], float(self._tap.value)


class WholeBatch:
    """How a run of one process steps: the gradients of each whole mini-batch, the variant's
    optimizer bound to the network's parameters (``MultiSteps`` for accumulation), the EMA
    updated inside the step. Other plans (``compare.parallel``) change the gradients or the
    stepping and keep the rest of ``train``'s loop.

    - ``optimizer``: what the scheduler drives and the lr curve reads.
    - ``evaluates``: whether this process measures the accuracies (one rank of several does).
    """

    evaluates = True

    def __init__(
        self, variant: Variant, settings: Settings, backend: str, net: MultiLayerNet
    ) -> None:
        self.tapped = TappedNet(net)
        arrays = [net.params[key] for key in self.tapped.keys]
        training = settings.training
        options = variant.storage.optimizer_options()
        self.optimizer: Optimizer = variant.optimizer.build(backend, options, params=arrays)
        self.ema = None if training.ema is None else EMA(arrays, decay=training.ema)
        micro = training.accumulate
        self._stepper: Optimizer | MultiSteps = (
            self.optimizer
            if micro == 1
            else MultiSteps(self.optimizer, micro, skip_nonfinite=False)
        )
        self._options: dict[str, Any] = training.step_options()
        if self.ema is not None:
            self._options["ema"] = self.ema

    def gradients(self, x: Any, t: Any) -> tuple[list[NDArray[Any]], float]:
        return self.tapped.gradient(x, t)

    def step(self, grads: list[NDArray[Any]]) -> Any:
        """One optimizer step (with accumulation: one micro-step); returns the norm or None."""
        return self._stepper.step(grads, **self._options)

    def finish(self, losses: NDArray[np.float64]) -> NDArray[np.float64]:
        """The loss curve of the run from this process's losses (here: they are it)."""
        return losses


class RunPlan(Protocol):
    """What ``train``'s loop needs of a plan (``WholeBatch`` is the one-process one)."""

    optimizer: Optimizer
    ema: EMA | None
    evaluates: bool

    def gradients(self, x: Any, t: Any) -> tuple[list[NDArray[Any]], float]: ...

    def step(self, grads: list[NDArray[Any]]) -> Any: ...

    def finish(self, losses: NDArray[np.float64]) -> NDArray[np.float64]: ...


#: What makes a run's plan: (variant, settings, backend, the freshly built network) → plan.
Plan = Callable[[Variant, Settings, str, MultiLayerNet], RunPlan]


def eval_iterations(iterations: int, every: int) -> list[int]:
    """0 (the initial weights), every ``every``-th iteration, and the last one."""
    return sorted({0, *range(every, iterations + 1, every), iterations})


def build_network(variant: Variant, data: Dataset, settings: Settings) -> MultiLayerNet:
    """The variant's network, fresh from the seed (every run of the variant starts alike)."""
    param_dtype = variant.storage.param_dtype(settings.dtype)
    return variant.network.build(
        data.input_size,
        data.num_classes,
        compute_dtype(param_dtype),
        settings.seed,
        param_dtype=param_dtype if param_dtype in SIXTEEN_BIT else None,
    )


def train(
    variant: Variant,
    data: Dataset,
    settings: Settings,
    backend: str,
    progress: Progress | None = None,
    plan: Plan = WholeBatch,
) -> RunResult:
    """Trains a fresh network for ``variant`` with a fresh optimizer on ``backend``, stepping as
    ``plan`` says (default: one process, whole mini-batches).

    A diverging run (the batch-norm experiment's std=1 network without batch norm does) is a
    result, not an error: overflow and NaN warnings are silenced and its losses are NaN.
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _train(variant, data, settings, backend, progress, plan)


def _train(
    variant: Variant,
    data: Dataset,
    settings: Settings,
    backend: str,
    progress: Progress | None,
    plan_of: Plan,
) -> RunResult:
    net = build_network(variant, data, settings)
    plan = plan_of(variant, settings, backend, net)
    optimizer, ema = plan.optimizer, plan.ema
    micro = settings.training.accumulate
    n = settings.iterations
    scheduler = settings.schedule_of(variant).build(optimizer, n)
    losses = np.empty(n, dtype=np.float64)
    lrs = np.empty(n, dtype=np.float64)
    grad_norms = None if settings.training.clip is None else np.empty(n, dtype=np.float64)
    checkpoints = eval_iterations(n, settings.eval_every)
    train_accuracy: list[float] = []
    test_accuracy: list[float] = []

    def evaluate() -> float:
        if not plan.evaluates:
            return 0.0
        started = time.perf_counter()
        with ema.average_parameters() if ema is not None else contextlib.nullcontext():
            train_accuracy.append(net.accuracy(data.x_train, data.t_train))
            test_accuracy.append(net.accuracy(data.x_test, data.t_test))
        return time.perf_counter() - started

    initial_eval_s = evaluate()  # iteration 0, before the loop's clock starts
    loop_eval_s = 0.0
    next_check = 1  # index into checkpoints
    update_s = 0.0
    batches = random_batches(
        data.x_train, data.t_train, settings.batch_size, n * micro, settings.seed
    )
    started = time.perf_counter()
    for i in range(1, n + 1):
        lrs[i - 1] = optimizer.param_groups[0]["lr"]
        loss = 0.0
        for x_batch, t_batch in itertools.islice(batches, micro):
            grads, value = plan.gradients(x_batch, t_batch)
            before = time.perf_counter()
            norm = plan.step(grads)
            update_s += time.perf_counter() - before
            loss += value
        losses[i - 1] = loss / micro  # exact for micro == 1
        if grad_norms is not None:
            grad_norms[i - 1] = norm  # the optimizer step's (MultiSteps returns it on the last)
        if scheduler is not None and i < n:
            scheduler.step()
        if i == checkpoints[next_check]:
            next_check += 1
            loop_eval_s += evaluate()
        if progress is not None:
            progress.update(i, n)
    time_s = time.perf_counter() - started - loop_eval_s
    return RunResult(
        backend,
        plan.finish(losses),
        checkpoints,
        train_accuracy,
        test_accuracy,
        time_s,
        update_s,
        initial_eval_s + loop_eval_s,
        lrs,
        grad_norms,
        optimizer.step_count,
    )


def run(settings: Settings, data: Dataset, progress: Progress | None = None) -> list[Outcome]:
    """Every variant on every backend of ``settings.backend``; variants in experiment order."""
    if settings.batch_size > len(data.x_train):
        raise ValueError(
            f"batch size {settings.batch_size} exceeds the {len(data.x_train)} training samples"
        )
    outcomes = []
    for variant in settings.variants():
        outcome = Outcome(variant)
        for backend in BACKEND_MODES[settings.backend]:
            label = variant.label if settings.backend != "both" else f"{variant.label} [{backend}]"
            if progress is not None:
                progress.start(label)
            result = train(variant, data, settings, backend, progress)
            outcome.runs[backend] = result
            if progress is not None:
                progress.finish(
                    f"test accuracy {result.test_accuracy[-1]:.3f}, {result.time_s:.2f} s "
                    f"({result.update_s:.3f} s in updates)"
                )
        outcomes.append(outcome)
    return outcomes
