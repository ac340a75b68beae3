"""Optimizers stepped from several Python threads at once.

A step releases the GIL while its kernels run (cpp/bindings.cpp), so two Python threads can run
kernels at the same time. What this proves:

* Two threads stepping two *different* optimizers (each over its own parameters) concurrently get
  bit-identical parameters, states and step counts to the same two runs done one after the
  other, for several algorithms, with one and with two OpenMP threads per optimizer. The tensors
  (201,000 elements) and step counts are large enough for the kernels of the two threads to
  overlap in time.
* Two threads stepping the *same* optimizer never corrupt it: every step either runs whole or
  raises RuntimeError (the optimizer's guard refuses a second thread while one is inside step(),
  update(), load_state_dict() ...) with a message that says why, and a refused step changes
  nothing. Each thread retries refused steps until it has run its share, so the number of steps
  that ran is known, and the parameters and states afterwards are exactly those of that many
  sequential steps, step-number-dependent coefficients (Adam's bias correction ...) included.
  This holds from the very first step too, which binds the state arrays.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pytest
from cases import Snapshot, assert_same, snapshot
from optkern.configs import CONFIGS

ROWS = {config.name: config for config in CONFIGS}
SHAPES = ((500, 400), (1000,))  # 201,000 elements: several grains, so num_threads=2 splits
GRAD_SETS = 4
STEPS = 100
TARGET = 40  # successful steps per thread on one optimizer
MAX_REFUSALS = 1_000_000
TIMEOUT_S = 300
REFUSAL = "another thread is using this optimizer right now"


class Run:
    """One optimizer over its own freshly drawn parameters, with precomputed gradients."""

    def __init__(
        self, row: str, seed: int, num_threads: int, dtype: type[np.floating], bind: bool = True
    ) -> None:
        rng = np.random.default_rng(seed)
        self.params = [rng.standard_normal(shape).astype(dtype) for shape in SHAPES]
        self.grads = [
            [rng.standard_normal(shape).astype(dtype) for shape in SHAPES] for _ in range(GRAD_SETS)
        ]
        self.optimizer = ROWS[row].build(self.params, num_threads=num_threads)
        self.bound_steps = 0
        if bind:
            self.optimizer.step(self.grads[0])  # binds the state arrays
            self.bound_steps = 1

    def steps(self, count: int) -> None:
        for k in range(count):
            self.optimizer.step(self.grads[k % GRAD_SETS])

    def snapshot(self) -> Snapshot:
        return snapshot(self.optimizer, self.params)


def run_concurrently(*jobs: Callable[[], None]) -> None:
    """Runs each job in its own thread, all released together by a barrier; re-raises the first
    exception any of them raised."""
    barrier = threading.Barrier(len(jobs))

    def body(job: Callable[[], None]) -> None:
        barrier.wait(timeout=TIMEOUT_S)
        job()

    pool = ThreadPoolExecutor(max_workers=len(jobs))
    try:
        futures = [pool.submit(body, job) for job in jobs]
        for future in futures:
            future.result(timeout=TIMEOUT_S)
    finally:
        pool.shutdown(wait=False)  # after a timeout: report it rather than wait for a hung thread


@pytest.fixture
def frequent_switches() -> Iterator[None]:
    """Python threads hand over the GIL every 10 µs instead of every 5 ms, so that the two
    threads interleave inside step() too, not only while a kernel runs."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


@pytest.mark.parametrize("num_threads", [1, 2])
@pytest.mark.parametrize(
    ("first", "second", "dtype"),
    [
        ("adam", "sgd-momentum", np.float64),
        ("adagrad", "lion", np.float64),
        ("nadam-decoupled-psi", "rmsprop-centered-momentum-maximize", np.float32),
        ("textbook-adam", "adadelta", np.float32),
    ],
)
def test_two_optimizers_in_two_threads_match_sequential(
    first: str, second: str, dtype: type[np.floating], num_threads: int
) -> None:
    sequential = [Run(first, 1, num_threads, dtype), Run(second, 2, num_threads, dtype)]
    for run in sequential:
        run.steps(STEPS)

    concurrent = [Run(first, 1, num_threads, dtype), Run(second, 2, num_threads, dtype)]
    run_concurrently(*(lambda run=run: run.steps(STEPS) for run in concurrent))

    for alone, together in zip(sequential, concurrent, strict=True):
        assert_same(together.snapshot(), alone.snapshot())


@dataclass
class Attempts:
    """What one thread saw: steps that ran, and the steps refused (with their messages)."""

    successes: int = 0
    refusals: int = 0
    messages: set[str] = field(default_factory=set)


def retry_until_done(action: Callable[[], object], attempts: Attempts) -> None:
    """Runs ``action`` until it has succeeded TARGET times, retrying refused calls. RuntimeError
    is the one error a concurrent call may raise: anything else escapes."""
    while attempts.successes < TARGET:
        assert attempts.refusals < MAX_REFUSALS, "the other thread never let go"
        try:
            action()
        except RuntimeError as error:
            attempts.refusals += 1
            attempts.messages.add(str(error))
        else:
            attempts.successes += 1


def hammer(run: Run, attempts: Attempts) -> None:
    """Steps ``run`` with the same gradients until TARGET steps have run."""
    grads = run.grads[1]
    retry_until_done(lambda: run.optimizer.step(grads), attempts)


def step_from_two_threads(run: Run) -> None:
    """Steps ``run`` TARGET times from each of two threads at once."""
    outcomes = [Attempts(), Attempts()]
    run_concurrently(*(lambda a=a: hammer(run, a) for a in outcomes))
    for message in set().union(*(a.messages for a in outcomes)):
        assert REFUSAL in message, message
    saved = run.optimizer.state_dict()["state"]
    assert {entry["step"] for entry in saved.values()} == {run.bound_steps + 2 * TARGET}


STEP_INDEPENDENT = ["sgd", "sgd-momentum", "adagrad", "rmsprop-centered", "lion"]
STEP_DEPENDENT = ["adam", "nadam", "radam", "textbook-adam"]  # bias corrections, schedules


@pytest.mark.parametrize("num_threads", [1, 2])
@pytest.mark.parametrize("row", STEP_INDEPENDENT + STEP_DEPENDENT)
@pytest.mark.usefixtures("frequent_switches")
def test_same_optimizer_from_two_threads_steps_whole_or_refuses(row: str, num_threads: int) -> None:
    run = Run(row, 3, num_threads, np.float64)
    step_from_two_threads(run)

    reference = Run(row, 3, num_threads, np.float64)
    for _ in range(2 * TARGET):
        reference.optimizer.step(reference.grads[1])
    assert_same(run.snapshot(), reference.snapshot())


@pytest.mark.parametrize("row", ["sgd-momentum", "adam", "textbook-adam"])
@pytest.mark.usefixtures("frequent_switches")
def test_concurrent_first_steps_bind_once(row: str) -> None:
    """The first step creates and binds the state arrays; two threads racing into it must not
    both bind (each would step its own state) nor run with the same step number."""
    run = Run(row, 3, 2, np.float64, bind=False)
    step_from_two_threads(run)

    reference = Run(row, 3, 2, np.float64, bind=False)
    for _ in range(2 * TARGET):
        reference.optimizer.step(reference.grads[1])
    assert_same(run.snapshot(), reference.snapshot())


@pytest.mark.usefixtures("frequent_switches")
def test_step_and_load_state_dict_from_two_threads() -> None:
    """A checkpoint loaded while another thread steps is either refused or applied whole."""
    run = Run("adam", 3, 1, np.float64)
    checkpoint = run.optimizer.state_dict()
    attempts = Attempts()
    loads = Attempts()

    run_concurrently(
        lambda: hammer(run, attempts),
        lambda: retry_until_done(lambda: run.optimizer.load_state_dict(checkpoint), loads),
    )
    for message in attempts.messages | loads.messages:
        assert REFUSAL in message, message
    # Whatever the interleaving, the state is that of some whole number of steps after the
    # checkpoint: equal to a sequential run of that many steps.
    steps = run.optimizer.state_dict()["state"][0]["step"]
    assert 1 <= steps <= 1 + TARGET
    reference = Run("adam", 3, 1, np.float64)
    for _ in range(steps - 1):
        reference.optimizer.step(reference.grads[1])
    np.testing.assert_array_equal(
        run.optimizer.state_dict()["state"][0]["exp_avg"],
        reference.optimizer.state_dict()["state"][0]["exp_avg"],
    )
