"""Finite-difference gradients, to check the hand-written backward passes against."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, SupportsFloat, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

F = TypeVar("F", bound=np.floating[Any])


def numerical_gradient(
    f: Callable[[NDArray[F]], SupportsFloat], x: NDArray[F], h: float = 1e-5
) -> NDArray[np.float64]:
    """∂f/∂x by central differences, one element at a time, as a new float64 array.

    For each element: g = (f(x + h·eᵢ) − f(x − h·eᵢ)) / (x⁺ᵢ − x⁻ᵢ), whose error is O(h²).
    x is perturbed *in place* (f usually ignores its argument and reads x through a closure,
    e.g. a network parameter) and restored exactly afterwards, even if f raises.

    The denominator is the difference of the perturbed values as actually stored (2h up to
    rounding), and f's results are subtracted as Python floats (float64). Use a float64 x: a
    float32 x cannot represent x ± 1e-5 accurately and f's float32 rounding noise, divided by
    2h, swamps the derivative.
    """
    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating):
        raise TypeError("x must be a floating-point ndarray (it is perturbed in place)")
    if not x.flags.writeable:
        raise ValueError("x must be writable (it is perturbed in place)")
    grad = np.zeros(x.shape, dtype=np.float64)
    for idx in np.ndindex(x.shape):
        original = x[idx].copy()  # a scalar copy, so the restore is bit-exact
        try:
            x[idx] = original + h
            x_plus = float(x[idx])
            f_plus = float(f(x))
            x[idx] = original - h
            x_minus = float(x[idx])
            f_minus = float(f(x))
        finally:
            x[idx] = original
        grad[idx] = (f_plus - f_minus) / (x_plus - x_minus)
    return grad


def relative_error(analytic: ArrayLike, numeric: ArrayLike) -> float:
    """max|a − n| / max(1e-8, max|a| + max|n|): scale-free, and 0 only when they agree.

    The 1e-8 floor keeps the ratio finite when both gradients are (near) zero; the error is
    then judged in absolute terms.
    """
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    if a.shape != n.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {n.shape}")
    if a.size == 0:
        return 0.0
    scale = np.max(np.abs(a)) + np.max(np.abs(n))
    return float(np.max(np.abs(a - n)) / max(1e-8, scale))
