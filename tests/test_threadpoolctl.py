"""threadpoolctl sees optkern's OpenMP runtime, and its limits bound optkern's kernels.

optkern reads OpenMP's maximum thread count at every step (unless a thread count is set), so
``threadpool_limits(1)``, which calls ``omp_set_num_threads`` in every OpenMP runtime it finds,
must make the next step run on one thread. ``TensorGroup.planned_threads`` reports how many
threads the last step's plan actually used.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np
import optkern
import pytest
from optkern import _core

threadpoolctl = pytest.importorskip("threadpoolctl")

pytestmark = pytest.mark.skipif(not _core.has_openmp, reason="built without OpenMP")

# Large enough that the grain allows every thread of a 2-core machine to get a part.
ELEMENTS = 1 << 20


def _optkern_runtime() -> str:
    return os.path.realpath(_core.openmp_library())


def _threads_of_a_step(opt: optkern.Optimizer, grad: np.ndarray) -> int:
    opt.step([grad])
    assert opt._prepared is not None
    (group,) = opt._prepared.tensor_groups
    return group.planned_threads


def test_threadpool_info_lists_optkerns_openmp_runtime() -> None:
    runtime = _optkern_runtime()
    assert os.path.exists(runtime), runtime
    openmp = [info for info in threadpoolctl.threadpool_info() if info["user_api"] == "openmp"]
    # samefile, not equal paths: one file can have two names (under qemu-user's -L prefix, the
    # dynamic loader's name and threadpoolctl's differ; .ci/aarch64)
    assert any(os.path.samefile(runtime, info["filepath"]) for info in openmp), (runtime, openmp)


def test_threadpool_limits_bound_the_kernels() -> None:
    param = np.zeros(ELEMENTS, np.float32)
    grad = np.ones(ELEMENTS, np.float32)
    opt = optkern.Adam([param], lr=1e-3)
    # The default count is chosen from the steps' times (cpp/thread_choice.h): made-up ones in
    # which threads always help, then the two serial steps that the choice starts with.
    opt._thread_choice._set_fake_durations(serial_ns=1000, parallel_ns=1)
    _threads_of_a_step(opt, grad)
    _threads_of_a_step(opt, grad)
    unlimited = _threads_of_a_step(opt, grad)
    assert unlimited == min(_core.max_threads(), ELEMENTS // _core._min_elements_per_thread())
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert optkern.get_num_threads() == 1
        assert _threads_of_a_step(opt, grad) == 1
    assert _threads_of_a_step(opt, grad) == unlimited  # the limit is lifted on exit


def test_explicit_num_threads_wins_over_the_limit() -> None:
    """An optimizer's own num_threads is a request the user made; threadpoolctl limits only the
    default (as with set_num_threads)."""
    if _core.max_threads() < 2:
        pytest.skip("needs 2 OpenMP threads")
    param = np.zeros(ELEMENTS, np.float32)
    opt = optkern.SGD([param], lr=0.1, num_threads=2)
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert _threads_of_a_step(opt, np.ones_like(param)) == 2


def test_planned_threads_can_report_more_than_one() -> None:
    """So the limit test above can fail: with no limit, two threads are used when allowed."""
    if _core.max_threads() < 2:
        pytest.skip("needs 2 OpenMP threads")
    param = np.zeros(ELEMENTS, np.float32)
    opt = optkern.SGD([param], lr=0.1, num_threads=2)
    assert _threads_of_a_step(opt, np.ones_like(param)) == 2


def test_cheap_algorithms_split_from_twice_the_grain() -> None:
    """SGD (a multiply-add or two per element) gets a second thread only from twice the grain
    that Adam needs (GrainScale in cpp/optkern/params.h); Lion keeps the library's grain."""
    if _core.max_threads() < 2:
        pytest.skip("needs 2 OpenMP threads")
    grain = _core._min_elements_per_thread()

    def threads(factory: Any, elements: int) -> int:
        param = np.zeros(elements, np.float32)
        return _threads_of_a_step(factory([param], num_threads=2), np.ones_like(param))

    def sgd(params: list[np.ndarray], **kw: Any) -> optkern.Optimizer:
        return optkern.SGD(params, lr=0.1, momentum=0.9, **kw)

    assert threads(optkern.Adam, 3 * grain) == 2
    assert threads(optkern.Lion, 3 * grain) == 2
    assert threads(sgd, 3 * grain) == 1
    assert threads(sgd, 4 * grain) == 2


def test_a_huge_grain_puts_every_algorithm_on_one_thread() -> None:
    """The largest grain forces serial steps; scaled by SGD's GrainScale it must saturate, not
    overflow into a negative grain that the planner refuses."""
    previous = _core._min_elements_per_thread()
    _core._set_min_elements_per_thread(sys.maxsize)
    try:
        for factory in (optkern.Adam, lambda ps, **kw: optkern.SGD(ps, lr=0.1, momentum=0.9, **kw)):
            param = np.zeros(ELEMENTS, np.float32)
            opt = factory([param], num_threads=2)
            assert _threads_of_a_step(opt, np.ones_like(param)) == 1
    finally:
        _core._set_min_elements_per_thread(previous)
