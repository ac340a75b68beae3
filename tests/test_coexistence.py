"""optkern in a process that also runs NumPy's multithreaded BLAS and scikit-learn.

A real training script multiplies matrices (NumPy's BLAS, with its own thread pool) and fits
scikit-learn models (which run on their own OpenMP runtime, often a second copy of libgomp or
libomp) between optimizer steps. What this proves, with every optimizer on two OpenMP threads
(tensors large enough that a step really splits across them):

* Steps interleaved, in one thread, with 512 x 512 float64 matrix products and KMeans fits give
  bit-identical parameters, states and step counts to the same steps run alone, and the products
  and fits give what they give without optkern.
* The same holds when the matrix products and fits run in a second Python thread at the same time
  as the steps (optkern releases the GIL in its kernels, scikit-learn and BLAS in theirs), so the
  thread pools of all three are busy at once.
* threadpoolctl (when installed) sees the OpenMP and BLAS pools loaded in this process; the test
  prints them (run pytest with -s or -rA to see them). The number of BLAS threads is not asserted:
  it depends on the machine.

Skipped when scikit-learn is missing (it is in the ``test`` extra, so CI runs it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import pytest
from cases import Snapshot, assert_same, snapshot
from optkern import _core
from optkern.configs import CONFIGS

KMeans = pytest.importorskip("sklearn.cluster").KMeans

ROWS = {config.name: config for config in CONFIGS}
TESTED_ROWS = ["adam-decoupled-amsgrad", "sgd-momentum", "rmsprop-centered", "lion"]
# 163,840 elements in three tensors and two dtypes: well above the grain, so num_threads=2
# runs each step as an OpenMP parallel region.
SHAPES = (((256, 512), np.float64), ((512,), np.float64), ((128, 256), np.float32))
NUM_THREADS = 2
GRAD_SETS = 3
INTERLEAVED_STEPS = 24
CONCURRENT_STEPS = 100
MATMUL_EVERY = 6
FIT_AT = (0, 12)
TIMEOUT_S = 300


def train(row: str, steps: int, between: Callable[[int], None] | None = None) -> Snapshot:
    """``steps`` steps of one configuration from a fixed start; ``between(k)`` runs before
    step k."""
    rng = np.random.default_rng(7)
    params = [rng.standard_normal(shape).astype(dtype) for shape, dtype in SHAPES]
    grads = [
        [rng.standard_normal(shape).astype(dtype) for shape, dtype in SHAPES]
        for _ in range(GRAD_SETS)
    ]
    optimizer = ROWS[row].build(params, num_threads=NUM_THREADS)
    for k in range(steps):
        if between is not None:
            between(k)
        optimizer.step(grads[k % GRAD_SETS])
    return snapshot(optimizer, params)


class OtherWork:
    """A BLAS matrix product and a KMeans fit (OpenMP inside scikit-learn), with the results
    they give when nothing else runs."""

    def __init__(self) -> None:
        rng = np.random.default_rng(11)
        self.a = rng.standard_normal((512, 512))
        self.b = rng.standard_normal((512, 512))
        self.points = rng.standard_normal((600, 4))
        self.product = self.matmul()
        self.inertia = self.fit()

    def matmul(self) -> np.ndarray:
        return self.a @ self.b

    def fit(self) -> float:
        model = KMeans(n_clusters=4, n_init=1, max_iter=50, random_state=0).fit(self.points)
        return float(model.inertia_)

    def check_matmul(self) -> None:
        np.testing.assert_allclose(self.matmul(), self.product, rtol=1e-12)

    def check_fit(self) -> None:
        # KMeans sums over OpenMP chunks in no fixed order: equal up to rounding.
        np.testing.assert_allclose(self.fit(), self.inertia, rtol=1e-9)


@pytest.fixture(scope="module")
def other_work() -> OtherWork:
    return OtherWork()


@pytest.mark.parametrize("row", TESTED_ROWS)
def test_steps_interleaved_with_blas_and_sklearn_match_steps_alone(
    row: str, other_work: OtherWork
) -> None:
    def between(k: int) -> None:
        if k % MATMUL_EVERY == 0:
            other_work.check_matmul()
        if k in FIT_AT:
            other_work.check_fit()

    alone = train(row, INTERLEAVED_STEPS)
    interleaved = train(row, INTERLEAVED_STEPS, between)
    assert_same(interleaved, alone)


@pytest.mark.parametrize("row", TESTED_ROWS)
def test_steps_alongside_blas_and_sklearn_in_another_thread_match_steps_alone(
    row: str, other_work: OtherWork
) -> None:
    started = threading.Event()
    done = threading.Event()
    rounds = 0
    failures: list[AssertionError] = []

    def background() -> None:
        nonlocal rounds
        started.set()
        while not done.is_set() or rounds == 0:
            try:
                other_work.check_matmul()
                other_work.check_fit()
            except AssertionError as failure:
                failures.append(failure)
                return
            rounds += 1

    alone = train(row, CONCURRENT_STEPS)
    thread = threading.Thread(target=background)
    thread.start()
    try:
        assert started.wait(TIMEOUT_S)
        together = train(row, CONCURRENT_STEPS)
    finally:
        done.set()
        thread.join(TIMEOUT_S)
    assert not thread.is_alive(), "the background thread hung"
    assert not failures, failures[0]
    assert rounds >= 1
    assert_same(together, alone)


def test_thread_pools_are_loaded(other_work: OtherWork) -> None:
    threadpoolctl = pytest.importorskip("threadpoolctl")
    other_work.check_fit()
    train(TESTED_ROWS[0], 1)
    pools = threadpoolctl.threadpool_info()
    print()
    for pool in pools:
        print(
            f"{pool['user_api']:>6}  {pool['internal_api']:<8}  threads={pool['num_threads']}  "
            f"{pool['filepath']}"
        )
    apis = {pool["user_api"] for pool in pools}
    if _core.has_openmp:
        assert "openmp" in apis, pools
    if "blas" not in apis:  # e.g. Accelerate, which threadpoolctl does not see
        print("no BLAS thread pool visible to threadpoolctl")
