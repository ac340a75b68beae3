"""optkern.textbook against a plain-NumPy transcription of the textbook's optimizer classes.

The transcription below is written from the update rules (issue 5 / the module docstring) as the
textbook writes them: dicts of arrays, state created on the first update, NumPy expressions in
the textbook's order with Python-float hyperparameters. It shares nothing with optkern (not even
optkern.reference), so it also checks the reference's casting of every scalar.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import optkern.textbook
import pytest
from optkern.selfcheck import identical

# ----------------------------------------------------------------------------- the transcription


class SGDTranscribed:
    def __init__(self, lr: float = 0.01) -> None:
        self.lr = lr

    def update(self, params: dict, grads: dict) -> None:
        for key in params:
            params[key] -= self.lr * grads[key]


class MomentumTranscribed:
    def __init__(self, lr: float = 0.01, momentum: float = 0.9) -> None:
        self.lr, self.momentum, self.v = lr, momentum, None

    def update(self, params: dict, grads: dict) -> None:
        if self.v is None:
            self.v = {key: np.zeros_like(val) for key, val in params.items()}
        for key in params:
            self.v[key] = self.momentum * self.v[key] - self.lr * grads[key]
            params[key] += self.v[key]


class NesterovTranscribed:
    def __init__(self, lr: float = 0.01, momentum: float = 0.9) -> None:
        self.lr, self.momentum, self.v = lr, momentum, None

    def update(self, params: dict, grads: dict) -> None:
        if self.v is None:
            self.v = {key: np.zeros_like(val) for key, val in params.items()}
        for key in params:
            params[key] += self.momentum * self.momentum * self.v[key]
            params[key] -= (1 + self.momentum) * self.lr * grads[key]
            self.v[key] *= self.momentum
            self.v[key] -= self.lr * grads[key]


class AdaGradTranscribed:
    def __init__(self, lr: float = 0.01) -> None:
        self.lr, self.h = lr, None

    def update(self, params: dict, grads: dict) -> None:
        if self.h is None:
            self.h = {key: np.zeros_like(val) for key, val in params.items()}
        for key in params:
            self.h[key] += grads[key] * grads[key]
            params[key] -= self.lr * grads[key] / (np.sqrt(self.h[key]) + 1e-7)


class RMSpropTranscribed:
    def __init__(self, lr: float = 0.01, decay_rate: float = 0.99) -> None:
        self.lr, self.decay_rate, self.h = lr, decay_rate, None

    def update(self, params: dict, grads: dict) -> None:
        if self.h is None:
            self.h = {key: np.zeros_like(val) for key, val in params.items()}
        for key in params:
            self.h[key] *= self.decay_rate
            self.h[key] += (1 - self.decay_rate) * grads[key] * grads[key]
            params[key] -= self.lr * grads[key] / (np.sqrt(self.h[key]) + 1e-7)


class AdamTranscribed:
    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999) -> None:
        self.lr, self.beta1, self.beta2 = lr, beta1, beta2
        self.iter, self.m, self.v = 0, None, None

    def update(self, params: dict, grads: dict) -> None:
        if self.m is None:
            self.m = {key: np.zeros_like(val) for key, val in params.items()}
            self.v = {key: np.zeros_like(val) for key, val in params.items()}
        self.iter += 1
        lr_t = self.lr * np.sqrt(1.0 - self.beta2**self.iter) / (1.0 - self.beta1**self.iter)
        for key in params:
            self.m[key] += (1 - self.beta1) * (grads[key] - self.m[key])
            self.v[key] += (1 - self.beta2) * (grads[key] ** 2 - self.v[key])
            params[key] -= lr_t * self.m[key] / (np.sqrt(self.v[key]) + 1e-7)


# ----------------------------------------------------------------------------- tests

CASES = [
    ("SGD", SGDTranscribed, {}),
    ("SGD", SGDTranscribed, {"lr": 0.1}),
    ("Momentum", MomentumTranscribed, {}),
    ("Momentum", MomentumTranscribed, {"lr": 0.05, "momentum": 0.5}),
    ("Nesterov", NesterovTranscribed, {}),
    ("Nesterov", NesterovTranscribed, {"lr": 0.03, "momentum": 0.7}),
    ("AdaGrad", AdaGradTranscribed, {}),
    ("AdaGrad", AdaGradTranscribed, {"lr": 0.3}),
    ("RMSprop", RMSpropTranscribed, {}),
    ("RMSprop", RMSpropTranscribed, {"lr": 0.02, "decay_rate": 0.9}),
    ("Adam", AdamTranscribed, {}),
    ("Adam", AdamTranscribed, {"lr": 0.01, "beta1": 0.8, "beta2": 0.99}),
]
IDS = [
    f"{name}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'defaults'}" for name, _, kw in CASES
]


def _network(dtype: Any, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "W1": (rng.standard_normal((37, 29)) * 0.1).astype(dtype),
        "b1": np.zeros(29, dtype),
        "W2": (rng.standard_normal((29, 10)) * 0.1).astype(dtype),
        "b2": np.zeros(10, dtype),
    }


def _gradients(params: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    grads = {}
    for key, value in params.items():
        g = rng.standard_normal(value.shape) * 10.0 ** rng.integers(-4, 3)
        g.flat[:: max(1, g.size // 5)] = 0.0  # zeros: AdaGrad/RMSprop divide by sqrt(0) + eps
        grads[key] = g.astype(value.dtype)
    return grads


def _run(name: str, transcribed: type, kwargs: dict, dtype: Any, steps: int = 25) -> tuple:
    ours_params = _network(dtype, 1)
    their_params = {k: v.copy() for k, v in ours_params.items()}
    ours = getattr(optkern.textbook, name)(**kwargs)
    theirs = transcribed(**kwargs)
    rng = np.random.default_rng(2)
    for _ in range(steps):
        grads = _gradients(ours_params, rng)
        ours.update(ours_params, grads)
        theirs.update(their_params, {k: v.copy() for k, v in grads.items()})
    return ours, theirs, ours_params, their_params


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("name", "transcribed", "kwargs"), CASES, ids=IDS)
def test_bit_identical_to_the_textbook(
    name: str,
    transcribed: type,
    kwargs: dict,
    dtype: Any,
    threads: int,
    isa: str,
    tiny_grain: None,
) -> None:
    optkern.set_num_threads(threads)
    try:
        ours, theirs, ours_params, their_params = _run(name, transcribed, kwargs, dtype)
    finally:
        optkern.set_num_threads(None)
    for key in ours_params:
        assert identical(ours_params[key], their_params[key]), key
    for state in ("v", "h", "m"):
        if hasattr(theirs, state):
            for key, value in getattr(theirs, state).items():
                assert identical(getattr(ours, state)[key], value), (state, key)
    if name == "Adam":
        assert ours.iter == theirs.iter


def test_adam_follows_numpys_promotion_of_its_float64_lr_t(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Under NumPy 2 the textbook's float32 Adam computes its last line in float64 (lr_t is a
    NumPy float64 scalar). Forcing the other rule must break the bit-identity, which shows the
    comparison above can tell them apart."""
    widen = (np.float64(1.0) * np.ones(1, np.float32)).dtype == np.float64
    assert optkern.textbook._NUMPY_SCALARS_WIDEN is widen
    monkeypatch.setattr(optkern.textbook, "_NUMPY_SCALARS_WIDEN", not widen)
    _, _, ours_params, their_params = _run("Adam", AdamTranscribed, {"lr": 0.01}, np.float32)
    assert not all(identical(ours_params[k], their_params[k]) for k in ours_params)


def test_import_star_gives_the_textbook_names() -> None:
    """`from optkern.textbook import *` binds exactly __all__: the textbook's six classes."""
    names = set(optkern.textbook.__all__)
    assert names == {"SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"}
    assert all(hasattr(getattr(optkern.textbook, n), "update") for n in names)


def test_textbook_defaults_and_state_attributes() -> None:
    tb = optkern.textbook
    # optkern's, not the textbook's
    storage = {"state_dtype": None, "master_weights": False, "rounding": "nearest", "seed": 0}
    assert tb.SGD().defaults == {"lr": 0.01, **storage}
    assert tb.Momentum().defaults == {"lr": 0.01, "momentum": 0.9, **storage}
    assert tb.Nesterov().defaults == {"lr": 0.01, "momentum": 0.9, **storage}
    assert tb.AdaGrad().defaults == {"lr": 0.01, **storage}
    assert tb.RMSprop().defaults == {"lr": 0.01, "decay_rate": 0.99, **storage}
    assert tb.Adam().defaults == {"lr": 0.001, "beta1": 0.9, "beta2": 0.999, **storage}
    opt = tb.Adam()
    assert opt.m is None
    assert opt.iter == 0
    params = _network(np.float32, 0)
    opt.update(params, {k: np.ones_like(v) for k, v in params.items()})
    assert opt.iter == 1
    assert set(opt.m) == set(opt.v) == set(params)
    assert opt.m["W1"].shape == params["W1"].shape


def test_textbook_classes_reject_bad_hyperparameters() -> None:
    with pytest.raises(ValueError, match="lr"):
        optkern.textbook.SGD(lr=-1.0)
    with pytest.raises(ValueError, match="beta1"):
        optkern.textbook.Adam(beta1=1.0)
    with pytest.raises(ValueError, match="decay_rate"):
        optkern.textbook.RMSprop(decay_rate=1.5)
    with pytest.raises(TypeError, match="momentum"):
        optkern.textbook.Momentum(momentum="0.9")  # type: ignore[arg-type]
