"""The lecture's four experiments, the precision one and the schedules one as run specifications: which networks train with which optimizers.

Every variant of an experiment starts from the same seed, so networks of the same shape start
from the same weights (the init experiment draws the same normal samples and only scales them
differently) and all of them see the same mini-batch sequence: the curves differ only by what the
experiment varies.

* ``optimizers``: one ReLU network (4 hidden layers of 100, He init) per optimizer; the lecture
  compared SGD, Momentum, AdaGrad and Adam this way.
* ``init``: weight init std 0.01 vs Xavier vs He, 5 hidden layers of 100, ReLU, SGD lr 0.01.
* ``batchnorm``: with vs without batch norm for init stds 1, 0.1, 0.01 and 0.001, on a
  1,000-sample training subset (the lecture's subset size), SGD lr 0.01.
* ``regularization``: 300 training samples and 6 hidden layers of 100 to over-fit on purpose,
  then the same with weight decay λ = 0.1 and with dropout 0.2 (the lecture's settings).
* ``precision``: the optimizers experiment's network with its parameters stored in float32,
  bfloat16 with float32 master weights, bfloat16 with stochastic rounding, bfloat16 rounded to
  nearest and float16 (issue 15; the comparison of Zamirai et al. 2020, "Revisiting BFloat16
  Training"). Every variant computes in float32; only the storage of the weights differs.
* ``schedules``: the optimizers experiment's network trained with the lecture's SGD at lr 0.1
  under a constant lr, a step decay (÷10 every third of the run), a cosine decay and the
  one-cycle policy (issue 16). SGD has no momentum for one-cycle to cycle: only the learning
  rate's course differs.

For all but the first and the last the optimizer is fixed (``sgd``, the lecture's choice) unless
the user names others; with several optimizers every setting runs with each (labels get the optimizer prefix).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from numpy.typing import DTypeLike

from ..nn import MultiLayerNet
from .registry import LECTURE_DEFAULT, OptimizerChoice
from .storage import Storage
from .training import Schedule


@dataclass(frozen=True)
class NetworkSpec:
    """The keyword arguments of ``optkern.nn.MultiLayerNet`` that an experiment varies."""

    hidden_sizes: tuple[int, ...]
    activation: str = "relu"
    weight_init: str | float = "he"
    use_batchnorm: bool = False
    dropout: float = 0.0
    weight_decay: float = 0.0

    def build(
        self,
        input_size: int,
        output_size: int,
        dtype: DTypeLike,
        seed: int,
        param_dtype: DTypeLike | None = None,
    ) -> MultiLayerNet:
        """``param_dtype``: the 16-bit storage of ``params`` (None: ``dtype``)."""
        return MultiLayerNet(
            input_size,
            list(self.hidden_sizes),
            output_size,
            activation=self.activation,
            weight_init=self.weight_init,
            use_batchnorm=self.use_batchnorm,
            dropout=self.dropout,
            weight_decay=self.weight_decay,
            dtype=np.dtype(dtype),
            seed=seed,
            param_dtype=param_dtype,
        )


@dataclass(frozen=True)
class Variant:
    """One network + optimizer pair: a row of the table and a curve of the plots.

    ``color_key`` groups curves that share a colour and ``dashed`` picks the line style, so that
    e.g. the batch-norm plot pairs "with" (solid) and "without" (dashed) per init std.
    ``storage`` says how the parameters are stored (and with which optimizer options);
    ``schedule`` is the variant's learning-rate schedule (None: the run's ``--schedule``).
    """

    label: str
    network: NetworkSpec
    optimizer: OptimizerChoice
    color_key: str
    dashed: bool = False
    storage: Storage = field(default_factory=Storage)
    schedule: Schedule | None = None

    def describe(self) -> str:
        """The optimizer's constructor call, with the storage options."""
        return self.optimizer.describe(self.storage.optimizer_options())


class Setting(NamedTuple):
    """A setting of an experiment. Settings of one colour group share a colour (per optimizer)
    and tell themselves apart by the line style."""

    label: str
    network: NetworkSpec
    group: str
    dashed: bool = False
    storage: Storage = Storage()
    schedule: Schedule | None = None


@dataclass(frozen=True)
class Experiment:
    name: str
    title: str
    summary: str  # one line for --help
    default_optimizers: tuple[str, ...]
    default_iterations: int
    #: Train on the first N training samples only (None: all of them).
    default_train_size: int | None
    settings: Callable[[], list[Setting]]

    @property
    def sets_dtype(self) -> bool:
        """Whether every setting names its parameter dtype (then ``--dtype`` has no say)."""
        return all(setting.storage.dtype is not None for setting in self.settings())

    @property
    def sets_schedule(self) -> bool:
        """Whether every setting names its schedule (then ``--schedule`` has no say)."""
        return all(setting.schedule is not None for setting in self.settings())

    def variants(self, optimizers: tuple[OptimizerChoice, ...]) -> list[Variant]:
        """Every setting with every optimizer (settings first, so the table groups by setting)."""
        prefix = len(optimizers) > 1
        out = []
        for label, network, group, dashed, storage, schedule in self.settings():
            for choice in optimizers:
                full = f"{choice.label} {label}" if prefix and label else label or choice.label
                color = f"{choice.label} {group}"
                out.append(Variant(full, network, choice, color, dashed, storage, schedule))
        return out


def _optimizer_settings() -> list[Setting]:
    # One unlabelled setting: the optimizer's name is the whole label.
    return [Setting("", NetworkSpec((100,) * 4, weight_init="he"), "")]


def _init_settings() -> list[Setting]:
    hidden = (100,) * 5
    inits: list[tuple[str, str | float]] = [("std=0.01", 0.01), ("xavier", "xavier"), ("he", "he")]
    return [Setting(label, NetworkSpec(hidden, weight_init=init), label) for label, init in inits]


#: The batch-norm experiment's init stds: log-spaced from 1 down to 1e-3.
BATCHNORM_STDS = (1.0, 0.1, 0.01, 0.001)


def _batchnorm_settings() -> list[Setting]:
    hidden = (100,) * 5
    out: list[Setting] = []
    for std in BATCHNORM_STDS:
        group = f"std={std:g}"
        with_bn = NetworkSpec(hidden, weight_init=std, use_batchnorm=True)
        out.append(Setting(f"{group} batchnorm", with_bn, group))
        out.append(Setting(f"{group} plain", NetworkSpec(hidden, weight_init=std), group, True))
    return out


def _regularization_settings() -> list[Setting]:
    hidden = (100,) * 6
    settings = [
        ("no regularization", NetworkSpec(hidden)),
        ("weight_decay=0.1", NetworkSpec(hidden, weight_decay=0.1)),
        ("dropout=0.2", NetworkSpec(hidden, dropout=0.2)),
    ]
    return [Setting(label, network, label) for label, network in settings]


#: The precision experiment's variants: (label, storage). Labels say dtype and rounding.
PRECISION_VARIANTS = (
    ("float32", Storage("float32")),
    ("bf16 master weights", Storage("bfloat16", master_weights=True)),
    ("bf16 stochastic", Storage("bfloat16", stochastic=True)),
    ("bf16 nearest", Storage("bfloat16")),
    ("fp16 nearest", Storage("float16")),
)


def _precision_settings() -> list[Setting]:
    network = NetworkSpec((100,) * 4, weight_init="he")
    # Each variant its own colour; bf16 nearest, the known failure, dashed.
    return [
        Setting(label, network, label, label == "bf16 nearest", storage)
        for label, storage in PRECISION_VARIANTS
    ]


#: The schedules experiment's variants: (label, schedule), over the whole run.
SCHEDULE_VARIANTS = (
    ("constant", Schedule("constant")),
    ("step", Schedule("step")),
    ("cosine", Schedule("cosine")),
    ("one-cycle", Schedule("onecycle")),
)


def _schedule_settings() -> list[Setting]:
    network = NetworkSpec((100,) * 4, weight_init="he")
    return [
        Setting(label, network, label, schedule=schedule) for label, schedule in SCHEDULE_VARIANTS
    ]


EXPERIMENTS: dict[str, Experiment] = {
    experiment.name: experiment
    for experiment in (
        Experiment(
            "optimizers",
            "Optimizers",
            "4 hidden layers of 100, ReLU, He init; one network per optimizer",
            LECTURE_DEFAULT,
            2000,
            None,
            _optimizer_settings,
        ),
        Experiment(
            "init",
            "Weight initialisation",
            "init std 0.01 vs Xavier vs He; 5 hidden layers of 100, ReLU",
            ("sgd",),
            2000,
            None,
            _init_settings,
        ),
        Experiment(
            "batchnorm",
            "Batch normalisation",
            "with vs without batch norm for init std 1, 0.1, 0.01, 0.001; 5 hidden layers",
            ("sgd",),
            500,
            1000,
            _batchnorm_settings,
        ),
        Experiment(
            "regularization",
            "Regularisation",
            "none vs weight decay 0.1 vs dropout 0.2; 6 hidden layers of 100",
            ("sgd",),
            1500,
            300,
            _regularization_settings,
        ),
        Experiment(
            "precision",
            "Parameter storage precision",
            "float32 vs bf16 + master weights vs bf16 stochastic vs bf16 nearest vs fp16",
            ("sgd",),
            2000,
            None,
            _precision_settings,
        ),
        Experiment(
            "schedules",
            "Learning-rate schedules",
            "constant vs step (/10 every third) vs cosine vs one-cycle; the optimizers network",
            ("sgd:lr=0.1",),
            2000,
            None,
            _schedule_settings,
        ),
    )
}
