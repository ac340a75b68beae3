"""ndarray subclasses whose operators mean something else are refused; others work.

The kernels treat every array as flat memory, while ``optkern.reference`` uses the arrays'
operators: for ``np.matrix`` ``g * g`` is a matrix product, and a ``np.ma.MaskedArray`` honours
its mask. The two backends would disagree, so both types are refused with a TypeError that names
the array and says what to pass instead. ``np.memmap``, whose operators are ndarray's, works.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import optkern
import pytest
from optkern import _core

pytestmark = pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")

PARAM = r"param_groups\[0\]\['params'\]\[0\]"


def _assert_bits_equal(actual: object, expected: object) -> None:
    """Same shape, dtype and bytes (assert_array_equal's strict= needs NumPy >= 1.24)."""
    a, e = np.asarray(actual), np.asarray(expected)
    assert (a.shape, a.dtype) == (e.shape, e.dtype)
    assert a.tobytes() == e.tobytes()


def masked(a: np.ndarray) -> np.ndarray:
    return np.ma.masked_array(a, mask=np.arange(a.size).reshape(a.shape) % 2 == 0)


def matrix(a: np.ndarray) -> np.ndarray:
    return np.asmatrix(a)


MASKED_HINT = r"numpy\.ma\.MaskedArray.*mask.*\.data"
MATRIX_HINT = r"numpy\.matrix.*np\.asarray"
KINDS = [(masked, MASKED_HINT), (matrix, MATRIX_HINT)]
KIND_IDS = ["masked", "matrix"]


def _plain() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    return (
        rng.standard_normal((4, 3)).astype(np.float32),
        rng.standard_normal((4, 3)).astype(np.float32),
    )


@pytest.mark.parametrize(("wrap", "hint"), KINDS, ids=KIND_IDS)
def test_subclass_param_is_refused(wrap: Callable[[np.ndarray], np.ndarray], hint: str) -> None:
    param, _ = _plain()
    given = wrap(param)
    before = np.array(param, copy=True)
    with pytest.raises(TypeError, match=PARAM + ": parameter is a " + hint):
        optkern.Adam([given], lr=0.1)  # parameters are checked when the optimizer is built
    _assert_bits_equal(param, before)


@pytest.mark.parametrize(("wrap", "hint"), KINDS, ids=KIND_IDS)
def test_subclass_grad_is_refused(wrap: Callable[[np.ndarray], np.ndarray], hint: str) -> None:
    param, grad = _plain()
    opt = optkern.Adam([param], lr=0.1)
    opt.step([grad])
    state = {k: v.copy() for k, v in opt.state[0].items() if isinstance(v, np.ndarray)}
    before = param.copy()
    with pytest.raises(TypeError, match=r"grads\[0\].*: gradient is a " + hint):
        opt.step([wrap(grad)])
    _assert_bits_equal(param, before)
    for key, value in state.items():
        _assert_bits_equal(opt.state[0][key], value)


@pytest.mark.parametrize(("wrap", "hint"), KINDS, ids=KIND_IDS)
def test_subclass_state_is_refused(wrap: Callable[[np.ndarray], np.ndarray], hint: str) -> None:
    """State arrays are the optimizer's own; a direct _core caller could still pass one."""
    param, _ = _plain()
    with pytest.raises(TypeError, match=r"p0 state 'momentum_buffer': state is a " + hint):
        _core.TensorGroup(
            _core.array_roles["sgd"], [param], [[wrap(np.zeros_like(param))]], ["p0"], ["g0"], [0]
        )


def _steps(param: np.ndarray, grads: list[np.ndarray], **kwargs: Any) -> np.ndarray:
    opt = optkern.Adam([param], lr=0.1, weight_decay=0.1, **kwargs)
    for grad in grads:
        opt.step([grad])
    return np.array(param)


def test_memmap_param_and_grad_work(tmp_path: Path) -> None:
    param, grad = _plain()
    mapped = np.memmap(tmp_path / "param.bin", dtype=np.float32, mode="w+", shape=param.shape)
    mapped[...] = param
    mapped_grad = np.memmap(tmp_path / "grad.bin", dtype=np.float32, mode="w+", shape=grad.shape)
    mapped_grad[...] = grad
    expected = _steps(param.copy(), [grad, grad])
    _assert_bits_equal(_steps(mapped, [mapped_grad, grad]), expected)
    _assert_bits_equal(np.asarray(mapped), expected)  # updated in place


def test_asarray_of_a_matrix_updates_the_matrix() -> None:
    """What the error message suggests: np.asarray(m) shares m's memory."""
    param, grad = _plain()
    m = np.asmatrix(param.copy())
    expected = _steps(param.copy(), [grad])
    _steps(np.asarray(m), [grad])
    _assert_bits_equal(np.asarray(m), expected)
