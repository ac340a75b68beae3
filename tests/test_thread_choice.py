"""The default thread count's online choice (cpp/thread_choice.h, README "ISAs and threads").

The rule is driven with made-up durations, so these tests say nothing about time: they check
that a step falls back to one thread when its parallel steps were slower than the serial
estimate, probes again later with a growing wait, comes back when threads help again, never
changes a result, and never touches an explicit thread count.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

import numpy as np
import optkern
import pytest
from optkern import _core

US = 1000  # nanoseconds


def _drive(
    choice: _core.ThreadChoice, serial_ns: int, parallel_ns: int, steps: int, workload: int = 0
) -> list[bool]:
    """`steps` steps of a machine where one thread takes serial_ns and the threads parallel_ns;
    returns whether each ran parallel."""
    ran = []
    for _ in range(steps):
        parallel = choice.next_is_parallel(workload)
        choice.record(workload, parallel, parallel_ns if parallel else serial_ns)
        ran.append(parallel)
    return ran


def test_starts_on_one_thread_then_probes_the_threads() -> None:
    choice = _core.ThreadChoice()
    assert _drive(choice, 100 * US, 50 * US, 3) == [False, False, True]
    assert choice.serial_estimate_ns() == 100 * US
    assert choice.in_parallel_mode()
    assert choice.probes() == 1


def test_a_slowed_serial_step_does_not_raise_the_estimate() -> None:
    choice = _core.ThreadChoice()
    for ns in (5_000 * US, 100 * US):  # the first step's page faults, then a warm step
        assert not choice.next_is_parallel()
        choice.record(0, False, ns)
    assert choice.serial_estimate_ns() == 100 * US
    choice.record(0, False, 20_000 * US)  # preempted
    assert choice.serial_estimate_ns() == 100 * US
    for _ in range(3):  # one thread really got slower: the estimate follows within three steps
        choice.record(0, False, 300 * US)
    assert choice.serial_estimate_ns() == 300 * US


def test_threads_that_help_are_kept_with_rare_serial_probes() -> None:
    choice = _core.ThreadChoice()
    ran = _drive(choice, 100 * US, 50 * US, 2000)
    assert choice.in_parallel_mode()
    assert choice.fallbacks() == 0
    serial_probes = ran[3:].count(False)
    assert 1 <= serial_probes <= 2000 // _core_probe_ratio()


def _core_probe_ratio() -> int:
    return 32  # ThreadChoice::kProbeRatio: probes cost at most 1/32 of the time


def test_threads_that_cost_time_fall_back_and_probe_less_and_less_often() -> None:
    choice = _core.ThreadChoice()
    ran = _drive(choice, 100 * US, 10_000 * US, 100_000)  # a parallel step loses a time slice
    assert not choice.in_parallel_mode()
    probes = [i for i, parallel in enumerate(ran) if parallel]
    assert probes[0] == 2
    gaps = np.diff(probes)
    # The first failed probe is retried after 32 serial steps (it may have been unlucky, or
    # started the OpenMP threads); from then on each wait is 32 times what a probe lost, doubling.
    assert gaps[0] == _core_probe_ratio() + 1
    gaps = gaps[1:]
    assert len(gaps) >= 3, "it must keep probing"
    assert all(gaps[1:] >= gaps[:-1]), f"the wait must not shrink: {gaps}"
    assert gaps[-1] > gaps[0], f"the wait must grow: {gaps}"
    # The probes' cost stays a small share of the time: a thirty-second at most.
    lost = len(probes) * (10_000 - 100)
    assert lost <= (len(ran) * 100 + lost) / _core_probe_ratio() * 2


def _parallel_step(choice: _core.ThreadChoice, parallel_ns: int) -> None:
    """The next parallel step takes parallel_ns (serial probes before it take 100 µs)."""
    while not choice.next_is_parallel():
        choice.record(0, False, 100 * US)
    choice.record(0, True, parallel_ns)


def test_one_slow_parallel_step_does_not_fall_back_two_do() -> None:
    choice = _core.ThreadChoice()
    _drive(choice, 100 * US, 50 * US, 3)
    assert choice.in_parallel_mode()
    for _ in range(5):  # one preempted step among fast ones
        _parallel_step(choice, 50 * US)
        _parallel_step(choice, 50 * US)
        _parallel_step(choice, 20_000 * US)
    assert choice.in_parallel_mode()
    assert choice.fallbacks() == 0
    for _ in range(2):
        _parallel_step(choice, 20_000 * US)
    assert not choice.in_parallel_mode()
    assert choice.fallbacks() == 1


def test_comes_back_to_threads_when_they_help_again() -> None:
    choice = _core.ThreadChoice()
    _drive(choice, 100 * US, 10_000 * US, 1000)  # busy
    assert not choice.in_parallel_mode()
    ran = _drive(choice, 100 * US, 50 * US, 100_000)  # quiet again
    assert choice.in_parallel_mode()
    assert ran[-1]


def test_workloads_are_separate_and_checked() -> None:
    choice = _core.ThreadChoice()
    _drive(choice, 100 * US, 50 * US, 3, workload=0)
    _drive(choice, 100 * US, 10_000 * US, 3, workload=3)
    assert choice.in_parallel_mode(0)
    assert not choice.in_parallel_mode(3)
    assert choice.serial_estimate_ns(1) == 0
    with pytest.raises(ValueError, match="workload"):
        choice.next_is_parallel(4)
    with pytest.raises(ValueError, match="workload"):
        choice.record(-1, True, 1)
    with pytest.raises(ValueError, match="fake durations"):
        choice._set_fake_durations(-1, 0)


def test_reset_forgets_the_estimates() -> None:
    choice = _core.ThreadChoice()
    _drive(choice, 100 * US, 50 * US, 3)
    choice.reset()
    assert choice.serial_estimate_ns() == 0
    assert not choice.in_parallel_mode()
    assert choice.probes() == 0


# -------------------------------------------------------------------------- through optimizers

needs_two_threads = pytest.mark.skipif(
    not _core.has_openmp or _core.max_threads() < 2, reason="needs 2 OpenMP threads"
)

ELEMENTS = 1 << 18  # split across 2 threads by Adam's grain


@pytest.fixture(autouse=True)
def _default_threads() -> Iterator[None]:
    optkern.set_num_threads(None)
    yield
    optkern.set_num_threads(None)


def _threads(opt: optkern.Optimizer) -> int:
    assert opt._prepared is not None
    return int(opt._prepared.tensor_groups[0].planned_threads)


def _adam(**kwargs: object) -> tuple[optkern.Adam, np.ndarray, list[np.ndarray]]:
    rng = np.random.default_rng(3)
    param = rng.standard_normal(ELEMENTS).astype(np.float32)
    grads = [rng.standard_normal(ELEMENTS).astype(np.float32) for _ in range(4)]
    return optkern.Adam([param], lr=1e-2, **kwargs), param, grads  # type: ignore[arg-type]


@needs_two_threads
def test_a_default_step_falls_back_to_one_thread_when_threads_are_slower() -> None:
    opt, _, grads = _adam()
    # Threads twice as slow: the probes' waits are 32, 64, 128 ... serial steps.
    opt._thread_choice._set_fake_durations(serial_ns=100 * US, parallel_ns=200 * US)
    threads = []
    for k in range(300):
        opt.step([grads[k % 4]])
        threads.append(_threads(opt))
    assert threads[:3] == [1, 1, 2]  # two serial steps, then the probe
    assert threads[-1] == 1
    assert 1 < threads.count(2) < 10, "it probes again, rarely"
    assert opt._thread_choice.probes() == threads.count(2)


@needs_two_threads
def test_a_default_step_keeps_threads_that_help() -> None:
    opt, _, grads = _adam()
    opt._thread_choice._set_fake_durations(serial_ns=100 * US, parallel_ns=50 * US)
    for k in range(10):
        opt.step([grads[k % 4]])
    assert _threads(opt) == 2
    assert opt._thread_choice.in_parallel_mode()


@needs_two_threads
def test_switching_thread_counts_changes_no_bit() -> None:
    opt, param, grads = _adam()
    serial, p1, _ = _adam(num_threads=1)
    used = set()
    for k in range(120):
        # The machine turns quiet and busy by turns, so the step switches back and forth.
        slow = (k // 40) % 2 == 1
        opt._thread_choice._set_fake_durations(100 * US, (200 if slow else 50) * US)
        opt.step([grads[k % 4]])
        serial.step([grads[k % 4]])
        used.add(_threads(opt))
        assert param.tobytes() == p1.tobytes(), f"step {k}"
    assert used == {1, 2}
    assert opt._thread_choice.fallbacks() >= 1
    assert opt._thread_choice.in_parallel_mode(), "back on the threads once they help again"


@needs_two_threads
@pytest.mark.parametrize("how", ["num_threads", "set_num_threads"])
def test_an_explicit_thread_count_is_honoured_exactly(how: str) -> None:
    if how == "set_num_threads":
        optkern.set_num_threads(2)
        opt, _, grads = _adam()
    else:
        opt, _, grads = _adam(num_threads=2)
    opt._thread_choice._set_fake_durations(serial_ns=100 * US, parallel_ns=10_000 * US)
    for k in range(20):
        opt.step([grads[k % 4]])
        assert _threads(opt) == 2
    assert opt._thread_choice.probes() == 0
    assert opt._thread_choice.serial_estimate_ns() == 0, "an explicit count is never timed"


def test_a_step_too_small_to_split_is_never_timed() -> None:
    param = np.zeros(1000, np.float32)
    opt = optkern.Adam([param])
    for _ in range(5):
        opt.step([np.ones_like(param)])
    assert _threads(opt) == 1
    assert opt._thread_choice.serial_estimate_ns() == 0


@needs_two_threads
def test_the_choice_outlives_a_schedules_new_lr_and_restarts_on_new_arrays() -> None:
    opt, _, grads = _adam()
    choice = opt._thread_choice
    choice._set_fake_durations(serial_ns=100 * US, parallel_ns=50 * US)
    for k in range(5):
        opt.param_groups[0]["lr"] = 1e-3 / (k + 1)  # a new float: the step is prepared anew
        opt.step([grads[k % 4]])
    assert choice.in_parallel_mode()
    assert _threads(opt) == 2
    opt.add_param_group({"params": [np.zeros(8, np.float32)]})
    opt.step([grads[0], np.ones(8, np.float32)])
    assert opt._thread_choice is choice
    assert not choice.in_parallel_mode(), "new arrays: measured anew, from one thread"
    assert _threads(opt) == 1


@needs_two_threads
def test_clip_and_ema_steps_have_their_own_estimates() -> None:
    opt, _, grads = _adam()
    opt._thread_choice._set_fake_durations(serial_ns=100 * US, parallel_ns=50 * US)
    for k in range(3):
        opt.step([grads[k % 4]])
    assert opt._thread_choice.in_parallel_mode(0)
    opt.step([grads[0]], max_grad_norm=1.0)
    assert _threads(opt) == 1, "a clipped step starts on one thread: its work differs"
    assert opt._thread_choice.serial_estimate_ns(1) == 100 * US


def test_a_copy_gets_a_fresh_choice() -> None:
    opt, _, grads = _adam()
    opt._thread_choice._set_fake_durations(serial_ns=100 * US, parallel_ns=50 * US)
    opt.step([grads[0]])
    clone = copy.deepcopy(opt)
    assert clone._thread_choice is not opt._thread_choice
    assert clone._thread_choice.serial_estimate_ns() == 0
