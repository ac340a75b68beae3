"""``optkern compare``: the lecture's optimizer experiments, with optkern doing the updates.

From the command line: ``optkern compare --help``. From Python::

    from optkern import compare

    settings = compare.Settings.create("optimizers", iterations=500)
    data = compare.load_dataset("digits", None, settings.dtype)
    for outcome in compare.run(settings, data):
        print(outcome.variant.label, outcome.main.test_accuracy[-1])

Modules: ``registry`` (optimizer names), ``experiments`` (what each experiment trains),
``storage`` (a variant's parameter dtype and 16-bit optimizer options), ``training`` (schedule,
clipping, EMA, accumulation), ``dataset``, ``runner``
(training loop and timing), ``parallel`` (``--distributed``: the MPI run and its one-process
twin), ``report`` (table, CSV, JSON), ``plots`` (PNG, needs matplotlib),
``progress``, ``threads`` (BLAS thread limit) and ``cli``.
"""

from __future__ import annotations

from .dataset import Dataset
from .dataset import load as load_dataset
from .experiments import EXPERIMENTS, Experiment, NetworkSpec, Variant
from .registry import KNOWN_NAMES, OptimizerChoice, parse_choice, parse_choices
from .runner import Outcome, RunResult, Settings, run, train
from .storage import Storage
from .training import Schedule, Training, parse_schedule

__all__ = [
    "EXPERIMENTS",
    "KNOWN_NAMES",
    "Dataset",
    "Experiment",
    "NetworkSpec",
    "OptimizerChoice",
    "Outcome",
    "RunResult",
    "Schedule",
    "Settings",
    "Storage",
    "Training",
    "Variant",
    "load_dataset",
    "parse_choice",
    "parse_choices",
    "parse_schedule",
    "run",
    "train",
]
