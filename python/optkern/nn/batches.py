"""Mini-batch iterators: shuffled epochs, or a fixed number of iterations.

Both shuffle inputs and targets with the *same* permutation, so rows stay paired, and both are
deterministic given their seed (``np.random.default_rng(seed)``; a ``Generator`` may be passed
instead, and is then advanced). Batches are new arrays (fancy indexing copies), so training code
may modify them freely.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

X = TypeVar("X", bound=np.generic)  # the inputs' scalar type, kept by the batches
T = TypeVar("T", bound=np.generic)  # the targets' scalar type
Batch = tuple[NDArray[X], NDArray[T]]
Seed = int | np.random.Generator | None


def _check(x: NDArray[Any], t: NDArray[Any], batch_size: int) -> int:
    """Validates the pair and returns the number of samples."""
    # int is a numbers.Integral at run time; naming it too keeps the checked type int (mypy does
    # not know that registration and would take the rest of the function for unreachable).
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, numbers.Integral)):
        raise TypeError(f"batch_size must be an int, got {type(batch_size).__name__}")
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if len(x) != len(t):
        raise ValueError(f"x and t must have the same number of samples, got {len(x)} and {len(t)}")
    return len(x)


def minibatches(
    x: NDArray[X], t: NDArray[T], batch_size: int, rng: Seed = None
) -> Iterator[Batch[X, T]]:
    """One epoch: shuffle (x, t) with one permutation, then yield consecutive batches.

    Yields ⌈N / batch_size⌉ pairs ``(x[idx], t[idx])``; every sample appears exactly once and
    the last batch holds the N mod batch_size leftovers when that is not zero. Call it once per
    epoch with the same ``Generator`` to get a new order every epoch.
    """
    n = _check(x, t, batch_size)
    order = np.random.default_rng(rng).permutation(n)
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        yield x[idx], t[idx]


def random_batches(
    x: NDArray[X], t: NDArray[T], batch_size: int, iterations: int, seed: Seed = 0
) -> Iterator[Batch[X, T]]:
    """Exactly ``iterations`` batches of exactly ``batch_size`` samples each.

    The textbook loop draws a random batch every iteration; this keeps that shape (a fixed
    iteration count, every batch full-sized, so each optimizer step sees equally noisy
    gradients) but samples without replacement within an epoch: take consecutive batches of a
    random permutation of the N samples, and when fewer than ``batch_size`` samples remain,
    drop those leftovers and start a new epoch with a fresh permutation. So within one epoch no
    sample repeats, and each epoch contributes ⌊N / batch_size⌋ batches.

    Requires batch_size ≤ N and iterations ≥ 0.
    """
    n = _check(x, t, batch_size)
    if isinstance(iterations, bool) or not isinstance(iterations, (int, numbers.Integral)):
        raise TypeError(f"iterations must be an int, got {type(iterations).__name__}")
    if iterations < 0:
        raise ValueError(f"iterations must be >= 0, got {iterations}")
    if batch_size > n:
        raise ValueError(f"batch_size ({batch_size}) exceeds the number of samples ({n})")
    gen = np.random.default_rng(seed)
    per_epoch = n // batch_size
    order = gen.permutation(n)
    position = 0  # batches taken from the current permutation
    for _ in range(iterations):
        if position == per_epoch:
            order = gen.permutation(n)
            position = 0
        idx = order[position * batch_size : (position + 1) * batch_size]
        position += 1
        yield x[idx], t[idx]
