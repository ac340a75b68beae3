"""The memory checks scale to many tensor groups (one per param group and dtype): the overlap
check sorts every bound array once (O(n log n), not a comparison of every pair of groups), and a
gradient is looked up in one index of the whole step's arrays (O(log n), not once per group).
Before, 10,000 param groups cost minutes of checks before the first step."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pytest
from optkern import _core

GROUPS = 10_000
# Each check takes a few milliseconds. Before, pairwise, check_disjoint took 1.0 s for 10,000
# groups (3.5 s for 20,000) and check_grads 0.26 s for 10,000 (1.2 s for 20,000) on the 2-core
# development VM.
BUDGET_S = 0.2
GRAD_GROUPS = 20_000


def _groups(params: list[np.ndarray]) -> list[_core.TensorGroup]:
    roles = _core.array_roles["sgd"]
    return [
        _core.TensorGroup(roles, [p], [[None]], [f"group {i} param"], [f"grads[{i}]"], [i])
        for i, p in enumerate(params)
    ]


def _timed(call: Callable[..., object], *args: object) -> float:
    start = time.perf_counter()
    call(*args)
    return time.perf_counter() - start


@pytest.fixture(scope="module")
def params() -> list[np.ndarray]:
    return [np.zeros(2, np.float32) for _ in range(GRAD_GROUPS)]


def test_check_disjoint_of_many_groups_is_fast(params: list[np.ndarray]) -> None:
    groups = _groups(params[:GROUPS])
    elapsed = _timed(_core.check_disjoint, groups)
    assert elapsed < BUDGET_S, f"check_disjoint of {GROUPS} groups took {elapsed:.2f} s"


def test_overlap_of_the_first_and_last_group_is_found(params: list[np.ndarray]) -> None:
    groups = _groups([*params[: GROUPS - 1], params[0][1:]])  # group 9,999 is a view into group 0
    with pytest.raises(
        ValueError,
        match=r"(group 9999 param shares memory with group 0 param|group 0 param shares memory "
        r"with group 9999 param); every parameter and state must be a distinct array",
    ):
        _core.check_disjoint(groups)


def test_check_grads_of_many_groups_is_fast(params: list[np.ndarray]) -> None:
    groups = _groups(params)
    grads = [np.ones(2, np.float32) for _ in range(GRAD_GROUPS)]
    elapsed = _timed(_core.check_grads, groups, grads)
    assert elapsed < BUDGET_S, f"check_grads of {GRAD_GROUPS} groups took {elapsed:.2f} s"
    grads[-1] = params[0]  # the last gradient aliases the first group's parameter
    with pytest.raises(ValueError, match=r"grads\[19999\]: gradient shares memory with group 0"):
        _core.check_grads(groups, grads)
