"""The table of optimizer configurations that the self-check and the test suite run.

Every option of every algorithm appears on and off. Adding an algorithm adds rows here.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from . import textbook
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .adamax import Adamax
from .lion import Lion
from .nadam import NAdam
from .optimizer import Optimizer, ParamsArg
from .radam import RAdam
from .rmsprop import RMSprop
from .sgd import SGD, Momentum, Nesterov


class Config(NamedTuple):
    name: str
    cls: type[Optimizer]
    kwargs: dict[str, Any]

    def build(self, params: ParamsArg, **overrides: Any) -> Optimizer:
        """The optimizer over ``params`` with this row's options (and ``overrides``). The
        textbook classes take hyperparameters first and ``params`` by keyword."""
        kwargs = {**self.kwargs, **overrides}
        if issubclass(self.cls, textbook._Textbook):
            return self.cls(params=params, **kwargs)
        return self.cls(params, **kwargs)


CONFIGS: list[Config] = [
    Config("sgd", SGD, dict(lr=0.1)),
    Config("sgd-wd-maximize", SGD, dict(lr=0.05, weight_decay=0.1, maximize=True)),
    Config("sgd-momentum", SGD, dict(lr=0.05, momentum=0.9)),
    Config(
        "sgd-momentum-dampening-wd",
        SGD,
        dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.01),
    ),
    Config("sgd-nesterov", SGD, dict(lr=0.05, momentum=0.9, nesterov=True)),
    Config(
        "sgd-nesterov-wd-maximize",
        SGD,
        dict(lr=0.05, momentum=0.5, nesterov=True, weight_decay=0.02, maximize=True),
    ),
    Config("momentum", Momentum, dict()),
    Config("nesterov", Nesterov, dict()),
    Config("adagrad", Adagrad, dict(lr=0.1)),
    Config(
        "adagrad-decay-wd-init",
        Adagrad,
        dict(lr=0.1, lr_decay=0.01, weight_decay=0.05, initial_accumulator_value=0.1, eps=1e-6),
    ),
    Config("adagrad-maximize", Adagrad, dict(lr=0.05, maximize=True)),
    Config("rmsprop", RMSprop, dict(lr=0.01)),
    Config("rmsprop-centered", RMSprop, dict(lr=0.01, centered=True)),
    Config("rmsprop-momentum-wd", RMSprop, dict(lr=0.01, momentum=0.9, weight_decay=0.01)),
    Config(
        "rmsprop-centered-momentum-maximize",
        RMSprop,
        dict(lr=0.01, alpha=0.9, centered=True, momentum=0.5, maximize=True),
    ),
    Config("adam", Adam, dict(lr=1e-3)),
    Config("adam-amsgrad", Adam, dict(lr=1e-2, amsgrad=True)),
    Config("adam-l2-maximize", Adam, dict(lr=1e-2, weight_decay=0.1, maximize=True)),
    Config(
        "adam-decoupled-amsgrad",
        Adam,
        dict(
            lr=1e-2, betas=(0.8, 0.99), weight_decay=0.1, decoupled_weight_decay=True, amsgrad=True
        ),
    ),
    Config("adamw", AdamW, dict(lr=1e-2)),
    Config("adadelta", Adadelta, dict()),
    Config(
        "adadelta-wd-maximize", Adadelta, dict(lr=0.5, rho=0.8, weight_decay=0.1, maximize=True)
    ),
    Config("adadelta-rho-0-eps", Adadelta, dict(rho=0.0, eps=1e-3)),
    Config("adamax", Adamax, dict()),
    Config("adamax-wd-maximize", Adamax, dict(lr=1e-2, weight_decay=0.1, maximize=True)),
    Config("adamax-betas-eps", Adamax, dict(betas=(0.5, 0.9), eps=1e-3)),
    Config("nadam", NAdam, dict()),
    Config("nadam-l2-maximize", NAdam, dict(lr=1e-2, weight_decay=0.1, maximize=True)),
    Config(
        "nadam-decoupled-psi",
        NAdam,
        dict(
            lr=1e-2,
            betas=(0.8, 0.99),
            weight_decay=0.1,
            decoupled_weight_decay=True,
            momentum_decay=0.5,
        ),
    ),
    Config("nadam-psi-0", NAdam, dict(momentum_decay=0.0)),
    # rho_t exceeds 5 from step 6 (beta2 = 0.999 or 0.9) or 7 (beta2 = 0.8) of the 20 steps
    # tested, so every RAdam row runs both the un-adapted and the rectified update.
    Config("radam", RAdam, dict()),
    Config("radam-beta2-0.9", RAdam, dict(betas=(0.9, 0.9))),
    Config("radam-default-l2-maximize", RAdam, dict(lr=1e-2, weight_decay=0.1, maximize=True)),
    Config(
        "radam-decoupled",
        RAdam,
        dict(lr=1e-2, betas=(0.8, 0.8), weight_decay=0.1, decoupled_weight_decay=True),
    ),
    Config("lion", Lion, dict()),
    Config("lion-wd-maximize", Lion, dict(lr=1e-3, weight_decay=0.1, maximize=True)),
    Config("lion-betas-closed", Lion, dict(lr=1e-3, betas=(1.0, 0.0), weight_decay=1.0)),
    Config("textbook-sgd", textbook.SGD, dict(lr=0.1)),
    Config("textbook-momentum", textbook.Momentum, dict()),
    Config("textbook-nesterov", textbook.Nesterov, dict(lr=0.05, momentum=0.8)),
    Config("textbook-adagrad", textbook.AdaGrad, dict(lr=0.1)),
    Config("textbook-rmsprop", textbook.RMSprop, dict()),
    Config("textbook-rmsprop-decay", textbook.RMSprop, dict(lr=0.05, decay_rate=0.9)),
    Config("textbook-adam", textbook.Adam, dict()),
    Config("textbook-adam-betas", textbook.Adam, dict(lr=0.01, beta1=0.8, beta2=0.99)),
]
