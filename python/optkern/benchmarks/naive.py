"""What a NumPy user writes without optkern: each optimizer's update as plain NumPy expressions
on whole arrays (the textbook / lecture-notes style), allocating a temporary per operation.

These are the "naive NumPy" contenders of the benchmarks (bench/, `optkern bench`). They follow the same algorithms
and defaults as the optkern classes the benchmark pairs them with, but not their rounding.
Each factory returns ``step(p, g)`` that updates ``p`` in place and keeps its own state.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

Step = Callable[[NDArray[Any], NDArray[Any]], None]


class _State:
    """Lazily allocated state arrays plus a step counter."""

    def __init__(self, *names: str) -> None:
        self.names = names
        self.t = 0
        self.arrays: dict[str, NDArray[Any]] = {}

    def get(self, p: NDArray[Any]) -> list[NDArray[Any]]:
        if not self.arrays:
            self.arrays = {n: np.zeros_like(p) for n in self.names}
        self.t += 1
        return [self.arrays[n] for n in self.names]


def sgd(lr: float = 1e-3) -> Step:
    def step(p: NDArray[Any], g: NDArray[Any]) -> None:
        p -= lr * g

    return step


def momentum(lr: float = 1e-3, mu: float = 0.9) -> Step:
    s = _State("v")

    def step(p: NDArray[Any], g: NDArray[Any]) -> None:
        (v,) = s.get(p)
        v[...] = mu * v - lr * g
        p += v

    return step


def adagrad(lr: float = 1e-2) -> Step:
    s = _State("h")

    def step(p: NDArray[Any], g: NDArray[Any]) -> None:
        (h,) = s.get(p)
        h += g * g
        p -= lr * g / (np.sqrt(h) + 1e-7)

    return step


def rmsprop(lr: float = 1e-2, decay: float = 0.99) -> Step:
    s = _State("h")

    def step(p: NDArray[Any], g: NDArray[Any]) -> None:
        (h,) = s.get(p)
        h *= decay
        h += (1 - decay) * g * g
        p -= lr * g / (np.sqrt(h) + 1e-7)

    return step


def adam(lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999) -> Step:
    s = _State("m", "v")

    def step(p: NDArray[Any], g: NDArray[Any]) -> None:
        m, v = s.get(p)
        lr_t = lr * math.sqrt(1.0 - beta2**s.t) / (1.0 - beta1**s.t)
        m += (1 - beta1) * (g - m)
        v += (1 - beta2) * (g**2 - v)
        p -= lr_t * m / (np.sqrt(v) + 1e-7)

    return step


def adadelta(lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6) -> Step:
    s = _State("v", "u")

    def step(p: NDArray[Any], g: NDArray[Any]) -> None:
        v, u = s.get(p)
        v[...] = rho * v + (1 - rho) * g * g
        delta = np.sqrt(u + eps) / np.sqrt(v + eps) * g
        u[...] = rho * u + (1 - rho) * delta * delta
        p -= lr * delta

    return step


def adamax(lr: float = 2e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> Step:
    s = _State("m", "u")

    def step(p: NDArray[Any], g: NDArray[Any]) -> None:
        m, u = s.get(p)
        m[...] = beta1 * m + (1 - beta1) * g
        u[...] = np.maximum(beta2 * u, np.abs(g) + eps)
        p -= lr / (1 - beta1**s.t) * m / u

    return step


def nadam(
    lr: float = 2e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8, psi: float = 4e-3
) -> Step:
    s = _State("m", "v")
    product = [1.0]

    def step(p: NDArray[Any], g: NDArray[Any]) -> None:
        m, v = s.get(p)
        t = s.t
        mu = beta1 * (1 - 0.5 * 0.96 ** (t * psi))
        mu_next = beta1 * (1 - 0.5 * 0.96 ** ((t + 1) * psi))
        product[0] *= mu
        m[...] = beta1 * m + (1 - beta1) * g
        v[...] = beta2 * v + (1 - beta2) * g * g
        denom = np.sqrt(v / (1 - beta2**t)) + eps
        p -= lr * (1 - mu) / (1 - product[0]) * g / denom
        p -= lr * mu_next / (1 - product[0] * mu_next) * m / denom

    return step


def radam(lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> Step:
    s = _State("m", "v")

    def step(p: NDArray[Any], g: NDArray[Any]) -> None:
        m, v = s.get(p)
        t = s.t
        m[...] = beta1 * m + (1 - beta1) * g
        v[...] = beta2 * v + (1 - beta2) * g * g
        m_hat = m / (1 - beta1**t)
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * t * beta2**t / (1 - beta2**t)
        if rho_t > 5:
            r = math.sqrt(
                (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
            )
            p -= lr * m_hat * r * math.sqrt(1 - beta2**t) / (np.sqrt(v) + eps)
        else:
            p -= lr * m_hat

    return step


def lion(lr: float = 1e-4, beta1: float = 0.9, beta2: float = 0.99) -> Step:
    s = _State("m")

    def step(p: NDArray[Any], g: NDArray[Any]) -> None:
        (m,) = s.get(p)
        p -= lr * np.sign(beta1 * m + (1 - beta1) * g)
        m[...] = beta2 * m + (1 - beta2) * g

    return step
