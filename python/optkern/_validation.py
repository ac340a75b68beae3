"""Hyperparameter checks, declared per optimizer class as a table of rules.

Arrays are checked in C++ (``_core.TensorGroup`` and ``_core.PreparedStep``), where a check per
tensor costs nanoseconds; hyperparameters are few and are checked here, on every step, before any
array is written (a learning-rate schedule may have changed them).
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Callable, Collection
from typing import Any

from . import _core

Rule = Callable[[str, Any, str], None]


def _real(name: str, value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: {name} must be a real number, got {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:  # an int (or Fraction) beyond float range: 10**400
        number = math.inf
    if not math.isfinite(number):
        raise ValueError(f"{where}: invalid {name}={_short_repr(value)}: must be finite")
    return number


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}... ({len(text)} characters)"


def non_negative(name: str, value: Any, where: str) -> None:
    """A finite number >= 0 (lr, eps, weight_decay, momentum, ...)."""
    if _real(name, value, where) < 0:
        raise ValueError(f"{where}: invalid {name}={value!r}: must be >= 0")


def unit_interval(name: str, value: Any, where: str) -> None:
    """A finite number in [0, 1) (alpha, a single beta)."""
    number = _real(name, value, where)
    if not 0.0 <= number < 1.0:
        raise ValueError(f"{where}: invalid {name}={value!r}: must be in [0, 1)")


def closed_unit_interval(name: str, value: Any, where: str) -> None:
    """A finite number in [0, 1] (dampening)."""
    number = _real(name, value, where)
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"{where}: invalid {name}={value!r}: must be in [0, 1]")


def betas(name: str, value: Any, where: str) -> None:
    """A pair (beta1, beta2), each in [0, 1)."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{where}: {name} must be a pair (beta1, beta2), got {value!r}")
    unit_interval(f"{name}[0]", value[0], where)
    unit_interval(f"{name}[1]", value[1], where)


def closed_betas(name: str, value: Any, where: str) -> None:
    """A pair (beta1, beta2), each in [0, 1] (Lion: beta = 1 is a valid, if unusual, choice)."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{where}: {name} must be a pair (beta1, beta2), got {value!r}")
    closed_unit_interval(f"{name}[0]", value[0], where)
    closed_unit_interval(f"{name}[1]", value[1], where)


def grad_options(
    max_grad_norm: Any, grad_scale: Any, skip_if_nonfinite: Any, where: str
) -> tuple[float | None, float, bool]:
    """``step()``'s gradient keywords as ``PreparedStep.run`` takes them: max_grad_norm None or a
    number >= 0 (inf clips nothing but still measures), grad_scale None (1) or a finite number
    > 0, skip_if_nonfinite a bool."""
    # The plain float first: numbers.Real is an ABC, and its isinstance costs a step of a small
    # model a microsecond.
    max_norm = None
    if type(max_grad_norm) is float and max_grad_norm >= 0:
        max_norm = max_grad_norm
    elif max_grad_norm is not None:
        if isinstance(max_grad_norm, bool) or not isinstance(max_grad_norm, numbers.Real):
            raise TypeError(
                f"{where}: max_grad_norm must be a real number or None, got "
                f"{type(max_grad_norm).__name__}"
            )
        max_norm = float(max_grad_norm)
        if not max_norm >= 0:  # NaN too
            raise ValueError(f"{where}: invalid max_grad_norm={max_grad_norm!r}: must be >= 0")
    scale = 1.0
    if type(grad_scale) is float and 0 < grad_scale < math.inf:
        scale = grad_scale
    elif grad_scale is not None:
        scale = _real("grad_scale", grad_scale, where)
        if scale <= 0:
            raise ValueError(f"{where}: invalid grad_scale={grad_scale!r}: must be > 0")
    if skip_if_nonfinite is not True and skip_if_nonfinite is not False:
        boolean("skip_if_nonfinite", skip_if_nonfinite, where)
    return max_norm, scale, skip_if_nonfinite


def boolean(name: str, value: Any, where: str) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{where}: {name} must be True or False, got {value!r}")


def num_threads(value: Any, where: str) -> None:
    """None (use optkern.get_num_threads()) or an int >= 1."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{where}: num_threads must be None or an int, got {value!r}")
    if value < 1:
        raise ValueError(f"{where}: invalid num_threads={value!r}: must be >= 1")
    if int(value) > MAX_THREADS:
        raise ValueError(
            f"{where}: invalid num_threads={value!r}: at most {MAX_THREADS} (optkern's limit: "
            "the number of CPUs, and at least 256)"
        )


#: The largest thread count optkern accepts (the number of CPUs, and at least 256): every thread
#: of a step is an OS thread, and a mistyped count (2,000 under a memory limit) made the OpenMP
#: runtime end the process. OMP_NUM_THREADS beyond it is capped (cpp/work_plan_builder.h).
MAX_THREADS = _core.thread_limit()


# Other spellings of torch.optim's hyperparameter names (Keras, optax, the textbook, papers).
_ALIASES = {
    "learning_rate": "lr",
    "learningrate": "lr",
    "lrate": "lr",
    "lr_rate": "lr",
    "step_size": "lr",
    "epsilon": "eps",
    "beta": "betas",
    "beta1": "betas",
    "beta_1": "betas",
    "b1": "betas",
    "beta2": "betas",
    "beta_2": "betas",
    "b2": "betas",
    "wd": "weight_decay",
    "decay": "weight_decay",
    "weightdecay": "weight_decay",
    "l2": "weight_decay",
    "decay_rate": "alpha",
    "rho": "alpha",
    "use_nesterov": "nesterov",
    "nesterov_momentum": "nesterov",
    "decoupled": "decoupled_weight_decay",
    "decoupled_wd": "decoupled_weight_decay",
    "ams_grad": "amsgrad",
    "mom": "momentum",
}


# Keys that torch's learning-rate schedulers and SWA write into param groups: a group may carry
# them (optkern.lr_scheduler adds initial_lr, max_lr, min_lr, max_momentum and base_momentum),
# so they never count as misspelled hyperparameters.
_SCHEDULER_KEYS = frozenset(
    {"initial_lr", "max_lr", "min_lr", "base_lr", "max_momentum", "base_momentum", "swa_lr"}
)
# torch.optim's implementation switches, which optkern has no use for.
_TORCH_SWITCHES = frozenset({"foreach", "fused", "capturable", "differentiable"})


def looks_like_hyperparameter(
    key: str, valid: Collection[str], known: Collection[str]
) -> str | None:
    """A hint (possibly empty) if ``key``, which is none of ``valid``, looks like a
    hyperparameter name: another spelling of one, a near miss (``lrr``), or a hyperparameter of
    another optimizer (one of ``known``). None if it looks like a user's own key (``"name"``),
    which a param group may carry, as in torch."""
    if key in _SCHEDULER_KEYS:
        return None
    if key in _TORCH_SWITCHES:
        return " (a torch.optim implementation switch; optkern has one implementation)"
    normal = key.lower().replace("-", "_").strip("_")
    alias = _ALIASES.get(normal)
    close = _near_misses(normal, valid)
    meant = alias if alias in valid else (close[0] if close else None)
    if meant is not None:
        return f" (did you mean {meant!r}?)"
    if key in known or normal in known or alias is not None:
        return " (a hyperparameter of other optimizers)"
    if _near_misses(normal, known):
        return ""
    return None


def _near_misses(key: str, names: Collection[str]) -> list[str]:
    """Names that ``key`` could be a typo of: alike (difflib) and at most two characters longer
    or shorter, so that a compound key such as ``weight_decay_group`` or ``max_momentum`` is a
    key of its own, not a misspelling."""
    close = difflib.get_close_matches(key, list(names), n=3, cutoff=0.75)
    return [name for name in close if abs(len(name) - len(key)) <= 2]
