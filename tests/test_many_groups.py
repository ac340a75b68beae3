"""The memory checks over many tensor groups (one per param group and dtype): the overlap check
sorts every bound array once (O(n log n), not a comparison of every pair of groups), and a
gradient is looked up in one index of the whole step's arrays (O(log n), not once per group).
These tests check that the one-pass checks still find what they must at the far ends of 10,000
and 20,000 groups; their speed is measured by bench/param_groups.py (timing is never asserted in
tests), and tests/test_reliability.py counts the optimizer's calls of the overlap check."""

from __future__ import annotations

import numpy as np
import pytest
from optkern import _core

GROUPS = 10_000
GRAD_GROUPS = 20_000


def _groups(params: list[np.ndarray]) -> list[_core.TensorGroup]:
    roles = _core.array_roles["sgd"]
    return [
        _core.TensorGroup(roles, [p], [[None]], [f"group {i} param"], [f"grads[{i}]"], [i])
        for i, p in enumerate(params)
    ]


@pytest.fixture(scope="module")
def params() -> list[np.ndarray]:
    return [np.zeros(2, np.float32) for _ in range(GRAD_GROUPS)]


def test_many_disjoint_groups_pass(params: list[np.ndarray]) -> None:
    _core.check_disjoint(_groups(params[:GROUPS]))


def test_overlap_of_the_first_and_last_group_is_found(params: list[np.ndarray]) -> None:
    groups = _groups([*params[: GROUPS - 1], params[0][1:]])  # group 9,999 is a view into group 0
    with pytest.raises(
        ValueError,
        match=r"(group 9999 param shares memory with group 0 param|group 0 param shares memory "
        r"with group 9999 param); every parameter and state must be a distinct array",
    ):
        _core.check_disjoint(groups)


def test_a_gradient_aliasing_the_first_group_is_found_from_the_last(
    params: list[np.ndarray],
) -> None:
    groups = _groups(params)
    grads = [np.ones(2, np.float32) for _ in range(GRAD_GROUPS)]
    assert len(_core.check_grads(groups, grads)) == GRAD_GROUPS
    grads[-1] = params[0]  # the last gradient aliases the first group's parameter
    with pytest.raises(ValueError, match=r"grads\[19999\]: gradient shares memory with group 0"):
        _core.check_grads(groups, grads)
