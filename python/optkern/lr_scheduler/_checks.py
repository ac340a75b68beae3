"""Argument checks of the schedules and schedulers: each raises ``TypeError``/``ValueError``
naming the argument and where it was passed."""

from __future__ import annotations

import math
import numbers
from typing import Any


def _real(name: str, value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: {name} must be a real number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{where}: {name} must be finite, got {value!r}")
    return number


def _non_negative(name: str, value: Any, where: str) -> float:
    number = _real(name, value, where)
    if number < 0:
        raise ValueError(f"{where}: {name} must be >= 0, got {value!r}")
    return number


def _in_range(
    name: str, value: Any, where: str, low: float, high: float, *, open_low: bool = False
) -> float:
    number = _real(name, value, where)
    if not (low < number if open_low else low <= number) or not number <= high:
        bracket = "(" if open_low else "["
        raise ValueError(f"{where}: {name} must be in {bracket}{low}, {high}], got {value!r}")
    return number


def _integer(name: str, value: Any, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{where}: {name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{where}: {name} must be >= {minimum}, got {value!r}")
    return int(value)


def _boolean(name: str, value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{where}: {name} must be True or False, got {value!r}")
    return value


def _callable(name: str, value: Any, where: str) -> None:
    if not callable(value):
        raise TypeError(f"{where}: {name} must be callable, got {type(value).__name__}")
