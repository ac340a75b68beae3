"""The data an experiment trains on: digits or MNIST, optionally cut to a training subset."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from .. import data
from .storage import compute_dtype

DATASETS = ("digits", "mnist")

#: The digits train/test split is fixed, so that ``--seed`` varies only the initial weights and
#: the batch order, never which images are held out.
DIGITS_SPLIT_SEED = 0


@dataclass(frozen=True)
class Dataset:
    name: str
    x_train: NDArray[np.floating[Any]]
    t_train: NDArray[np.int64]
    x_test: NDArray[np.floating[Any]]
    t_test: NDArray[np.int64]

    @property
    def input_size(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def num_classes(self) -> int:
        return int(max(self.t_train.max(), self.t_test.max())) + 1


def load(
    name: str, data_dir: str | Path | None, dtype: DTypeLike, train_size: int | None = None
) -> Dataset:
    """Loads ``name``; ``train_size`` keeps only the first N training samples (as the lecture
    did with ``x_train[:300]``; the digits split is already shuffled, MNIST's order is random
    enough). The test set is always complete. A 16-bit ``dtype`` (the parameters' storage)
    loads float32 data, the dtype such networks compute in.

    Raises ValueError (unknown name, missing data_dir, too few samples), FileNotFoundError (MNIST
    files) or ImportError (scikit-learn missing, for digits), each with a one-line message.
    """
    if isinstance(dtype, str):
        dtype = compute_dtype(dtype)
    if name == "digits":
        x_train, t_train, x_test, t_test = data.load_digits(seed=DIGITS_SPLIT_SEED, dtype=dtype)
    elif name == "mnist":
        if data_dir is None:
            raise ValueError("--dataset mnist needs --data-dir DIR (holding the four IDX files)")
        x_train, t_train, x_test, t_test = data.load_mnist(data_dir, dtype=dtype)
    else:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    if train_size is not None:
        if train_size > len(x_train):
            raise ValueError(
                f"train size {train_size} exceeds the {len(x_train)} training samples of {name}"
            )
        x_train, t_train = x_train[:train_size], t_train[:train_size]
    return Dataset(name, x_train, t_train, x_test, t_test)
