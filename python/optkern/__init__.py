"""optkern: fused, in-place, bit-exact optimizer updates for NumPy arrays.

torch style::

    opt = optkern.Adam([W, b], lr=1e-3)
    opt.step([gW, gb])              # W and b updated in place

textbook style::

    opt = optkern.Adam(lr=1e-3)
    opt.update(params, grads)       # dicts of arrays keyed alike
"""

from __future__ import annotations

from . import reference
from ._core import version as __version__
from ._runtime import (
    active_isa,
    compiled_isas,
    get_num_threads,
    set_num_threads,
    show_config,
    supported_isas,
)
from .optimizer import Optimizer

# The algorithms, in the order of the tables derived from their records (optkern.records): the
# order they were added in. A new algorithm's import goes last.
# isort: off
from .sgd import NAG, SGD, Momentum, Nesterov
from .adagrad import AdaGrad, Adagrad
from .rmsprop import RMSProp, RMSprop
from .adam import Adam, AdamW
from .adadelta import AdaDelta, Adadelta
from .adamax import AdaMax, Adamax
from .nadam import NAdam
from .radam import RAdam
from .lion import Lion

# isort: on
from . import lr_scheduler  # after the optimizers it schedules
from .accumulation import MultiSteps, accumulate
from .clip import clip_grad_norm_, clip_grad_value_, get_total_norm
from .ema import EMA
from .grad_scaler import GradScaler

__all__ = [
    "EMA",
    "NAG",
    "SGD",
    "AdaDelta",
    "AdaGrad",
    "AdaMax",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "GradScaler",
    "Lion",
    "Momentum",
    "MultiSteps",
    "NAdam",
    "Nesterov",
    "Optimizer",
    "RAdam",
    "RMSProp",
    "RMSprop",
    "__version__",
    "accumulate",
    "active_isa",
    "clip_grad_norm_",
    "clip_grad_value_",
    "compiled_isas",
    "get_num_threads",
    "get_total_norm",
    "lr_scheduler",
    "reference",
    "set_num_threads",
    "show_config",
    "supported_isas",
]
