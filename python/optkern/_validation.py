"""Hyperparameter checks, declared per optimizer class as a table of rules.

Arrays are checked in C++ (``_core.TensorGroup`` and ``_core.PreparedStep``), where a check per
tensor costs nanoseconds; hyperparameters are few and are checked here, on every step, before any
array is written (a learning-rate schedule may have changed them).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

Rule = Callable[[str, Any, str], None]


def _real(name: str, value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: {name} must be a real number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{where}: invalid {name}={value!r}: must be finite")
    return number


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
