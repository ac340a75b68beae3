"""The gradient statistics pass and what uses it: the global norm (bit for bit against
optkern.reference.grad_norm, for every dtype, ISA and thread count), step(max_grad_norm=,
grad_scale=, skip_if_nonfinite=) against the reference backend, the gradients left untouched, a
skipped step leaving everything as it was, and clip_grad_norm_ / clip_grad_value_ /
get_total_norm."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import optkern
import pytest
from cases import Snapshot, assert_same, snapshot
from optkern import _core, _storage, reference
from optkern.configs import CONFIGS
from optkern.selfcheck import identical, trajectories_match

NORM_TYPES = [2.0, 1.0, math.inf]
DTYPES = ["float32", "float64", "float16", "bfloat16"]
# Around the lane (32) and block (2048) boundaries, and a size over several blocks.
SIZES = (0, 1, 15, 31, 32, 33, 2047, 2048, 2049, 5000, 20000)


def _dtype(name: str) -> np.dtype[Any]:
    if name == "bfloat16":
        return np.dtype(pytest.importorskip("ml_dtypes").bfloat16)
    return np.dtype(name)


def _grads(dtype: np.dtype[Any], seed: int = 0) -> list[np.ndarray]:
    """Gradients of every size with zeros, subnormals of the dtype and wide magnitudes."""
    rng = np.random.default_rng(seed)
    out = []
    for n in SIZES:
        g = rng.standard_normal(n) * np.exp(rng.uniform(-20, 20, n))
        g[::7] = 0
        g[1::11] = 1e-42 if dtype != np.float64 else 1e-310
        with np.errstate(over="ignore"):
            out.append(
                g.astype(np.float32).astype(dtype) if dtype.itemsize == 2 else g.astype(dtype)
            )
    return out


def _same_float(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


@pytest.mark.usefixtures("isa", "tiny_grain")
@pytest.mark.parametrize("threads", [1, 2, 3, 7])
@pytest.mark.parametrize("dtype_name", DTYPES)
@pytest.mark.parametrize("norm_type", NORM_TYPES, ids=["l2", "l1", "inf"])
def test_norm_matches_reference(norm_type: float, dtype_name: str, threads: int) -> None:
    grads = _grads(_dtype(dtype_name))
    kind = reference.NORM_KINDS.index(norm_type)
    norm, finite = _core.grad_norm(grads, kind, threads)
    expected, expected_finite = reference.grad_norm(grads, norm_type)
    assert norm == expected
    assert finite == expected_finite
    assert norm.hex() == expected.hex()


def test_norm_is_the_norm() -> None:
    """The fixed order is still the norm: close to NumPy's own for float64."""
    grads = _grads(np.dtype(np.float64), seed=3)
    flat = np.concatenate(grads)
    for norm_type in NORM_TYPES:
        got = optkern.get_total_norm(grads, norm_type)
        assert got == pytest.approx(float(np.linalg.norm(flat, norm_type)), rel=1e-12)


@pytest.mark.usefixtures("isa", "tiny_grain")
def test_mixed_dtypes_in_one_norm() -> None:
    grads = [g for name in DTYPES for g in _grads(_dtype(name))[4:8]]
    for threads in (1, 4):
        assert _core.grad_norm(grads, 0, threads) == reference.grad_norm(grads)


def test_non_finite_elements() -> None:
    for bad in (np.inf, -np.inf, np.nan):
        for name in DTYPES:
            g = np.ones(3000, _dtype(name))
            g[2500] = bad
            for norm_type in NORM_TYPES:
                kind = reference.NORM_KINDS.index(norm_type)
                norm, finite = _core.grad_norm([np.ones(5, np.float32), g], kind, 1)
                assert not finite
                assert math.isnan(norm) if np.isnan(bad) else norm == math.inf, (name, norm_type)
                assert _same_float(
                    norm, reference.grad_norm([np.ones(5, np.float32), g], norm_type)[0]
                )
    # float64 squares overflow while every element is finite: an inf norm, yet finite
    big = np.full(4, 1e200)
    assert _core.grad_norm([big], 0, 1) == (math.inf, True) == reference.grad_norm([big])


# One configuration per algorithm (the multiplier is applied by the loop, not by the math), each
# storage path: Uniform float32 and float64, Converted with 16-bit gradients, with a float32
# gradient of a bfloat16 parameter and with master weights.
# The multiplier is applied by the generic step's element loop, the same code for every algorithm:
# a few configurations keep the suite's time in bounds under qemu and the sanitizers (SGD with
# momentum copies the first gradient into its buffer; the textbook's Adam updates in float64 under
# NumPy 2).
CLIPPED_CONFIGS = [
    i
    for i, c in enumerate(CONFIGS)
    if c.name in ("sgd-momentum", "adagrad", "adam-amsgrad", "nadam", "lion", "textbook-adam")
]
STORAGES = [
    c
    for c in _storage.available_combinations()
    if c.name in ("float32", "float64", "float16-master", "bfloat16-grad32")
]
STEP_OPTIONS = [
    {"max_grad_norm": 1.0, "grad_scale": 4.0},
    {"grad_scale": 3.0, "skip_if_nonfinite": True},
]


@pytest.mark.usefixtures("isa", "tiny_grain")
@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("options", STEP_OPTIONS, ids=["clip-scale4", "scale3-skip"])
@pytest.mark.parametrize("storage", STORAGES, ids=[c.name for c in STORAGES])
@pytest.mark.parametrize("config", CLIPPED_CONFIGS, ids=[CONFIGS[i].name for i in CLIPPED_CONFIGS])
def test_clipped_and_scaled_steps_match_reference(
    config: int, storage: _storage.Combination, options: dict[str, Any], threads: int
) -> None:
    assert trajectories_match(
        config,
        storage,
        (1, 17, 1000, 2049),
        steps=4,
        num_threads=threads,
        seed=config,
        step_options=options,
    )


def _adam(dtype: Any = np.float32, **kwargs: Any) -> tuple[optkern.Adam, list[np.ndarray]]:
    rng = np.random.default_rng(5)
    params = [rng.standard_normal(n).astype(dtype) for n in (300, 5000)]
    return optkern.Adam(params, lr=0.01, **kwargs), params


def test_clipping_leaves_gradients_untouched_and_returns_the_norm() -> None:
    opt, params = _adam()
    rng = np.random.default_rng(6)
    grads = [rng.standard_normal(p.size).astype(np.float32) * 10 for p in params]
    before = [g.copy() for g in grads]
    norm = opt.step(grads, max_grad_norm=1.0, grad_scale=2.0)
    assert all(identical(g, b) for g, b in zip(grads, before, strict=True))
    assert norm == reference.grad_norm(before)[0] / 2.0
    assert opt.step(grads) is None  # no keyword: no statistics pass
    assert opt.step(grads, grad_scale=2.0) is None


def test_clipping_equals_a_step_on_clipped_gradients() -> None:
    """With a power-of-two scale, clipping inside the step is clip_grad_norm_ and then a plain
    step on the unscaled gradients (the multiplier then rounds alike)."""
    rng = np.random.default_rng(7)
    grads = [rng.standard_normal(n).astype(np.float32) * 3 for n in (300, 5000)]
    fused, fused_params = _adam()
    manual, manual_params = _adam()
    scale = 8.0
    fused.step([g * np.float32(scale) for g in grads], max_grad_norm=2.0, grad_scale=scale)
    clipped = [g.copy() for g in grads]
    coefficient = reference.clip_coefficient(2.0, reference.grad_norm(clipped)[0])
    reference.scale_grads(clipped, coefficient)
    manual.step(clipped)
    assert all(identical(a, b) for a, b in zip(fused_params, manual_params, strict=True))


@pytest.mark.parametrize("bad", [np.inf, np.nan])
@pytest.mark.parametrize("backend", ["fused", "reference"])
def test_skipped_step_leaves_everything_untouched(bad: float, backend: str) -> None:
    opt, params = _adam(backend=backend)
    rng = np.random.default_rng(8)
    good = [rng.standard_normal(p.size).astype(np.float32) for p in params]
    opt.step(good)
    before: Snapshot = snapshot(opt, params)
    grads = [g.copy() for g in good]
    grads[1][4000] = bad
    norm = opt.step(grads, skip_if_nonfinite=True, grad_scale=4.0)
    assert norm is not None
    assert not math.isfinite(norm)
    assert_same(snapshot(opt, params), before)
    assert opt.step_count == 1
    assert opt.step(good, skip_if_nonfinite=True) == reference.grad_norm(good)[0]
    assert opt.step_count == 2


def test_non_finite_gradient_without_skip_is_torch_behaviour() -> None:
    """As torch's clip_grad_norm_ + step: an inf norm makes the coefficient 0 (the inf element
    then NaN), a NaN norm makes it NaN."""
    opt, params = _adam()
    start = [p.copy() for p in params]
    grads = [np.ones(p.size, np.float32) for p in params]
    grads[0][0] = np.inf
    assert opt.step(grads, max_grad_norm=1.0) == math.inf
    assert np.isnan(params[0][0])
    assert identical(params[0][1:], start[0][1:])
    assert identical(params[1], start[1])
    grads[0][0] = np.nan
    assert math.isnan(opt.step(grads, max_grad_norm=1.0))
    assert np.isnan(params[1]).all()


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"max_grad_norm": -1.0}, ValueError, "max_grad_norm=-1.0: must be >= 0"),
        ({"max_grad_norm": math.nan}, ValueError, "max_grad_norm=nan"),
        ({"max_grad_norm": "1"}, TypeError, "max_grad_norm must be a real number"),
        ({"grad_scale": math.nan}, ValueError, "grad_scale=nan: must be finite"),
        ({"grad_scale": 0.0}, ValueError, "grad_scale=0.0: must be > 0"),
        ({"grad_scale": -2.0}, ValueError, "grad_scale=-2.0: must be > 0"),
        ({"grad_scale": True}, TypeError, "grad_scale must be a real number"),
        ({"skip_if_nonfinite": 1}, TypeError, "skip_if_nonfinite must be True or False"),
    ],
)
def test_bad_step_options_modify_nothing(
    options: dict[str, Any], error: type[Exception], match: str
) -> None:
    opt, params = _adam()
    grads = [np.ones(p.size, np.float32) for p in params]
    opt.step(grads)
    before = snapshot(opt, params)
    with pytest.raises(error, match=match):
        opt.step(grads, **options)
    assert_same(snapshot(opt, params), before)


# ------------------------------------------------------------------ the standalone functions


@pytest.mark.usefixtures("isa", "tiny_grain")
@pytest.mark.parametrize("dtype_name", DTYPES)
def test_clip_grad_norm_matches_reference(dtype_name: str) -> None:
    for norm_type in NORM_TYPES:
        for max_norm in (0.5, 1e300):
            got = _grads(_dtype(dtype_name), seed=9)
            expected = [g.copy() for g in got]
            norm = optkern.clip_grad_norm_(got, max_norm, norm_type)
            expected_norm = reference.grad_norm(expected, norm_type)[0]
            coefficient = reference.clip_coefficient(max_norm, expected_norm)
            if coefficient < 1:
                reference.scale_grads(expected, coefficient)
            assert norm == expected_norm
            assert all(identical(a, b) for a, b in zip(got, expected, strict=True))


@pytest.mark.usefixtures("isa", "tiny_grain")
@pytest.mark.parametrize("dtype_name", DTYPES)
def test_clip_grad_value_matches_reference(dtype_name: str) -> None:
    got = _grads(_dtype(dtype_name), seed=10)
    got[5][3] = np.nan
    expected = [g.copy() for g in got]
    optkern.clip_grad_value_(got, 0.3)
    reference.clamp_grads(expected, 0.3)
    assert all(identical(a, b) for a, b in zip(got, expected, strict=True))
    assert np.isnan(got[5][3])
    widest = [float(np.fmax.reduce(np.abs(g.astype(np.float64)), initial=0)) for g in got]
    assert max(widest) <= 0.3 + 1e-3


def test_clip_grad_norm_writes_nothing_when_not_clipping() -> None:
    g = np.ones(10, np.float32)
    g.flags.writeable = False
    with pytest.raises(ValueError, match=r"grads\[0\]: gradient is read-only"):
        optkern.clip_grad_norm_([g], 100.0)
    writable = np.ones(10, np.float32)
    assert optkern.clip_grad_norm_(writable, 100.0) == pytest.approx(math.sqrt(10))
    assert (writable == 1).all()


def test_error_if_nonfinite_refuses_an_overflowed_norm_as_torch() -> None:
    big = np.full(4, 1e200)
    before = big.copy()
    with pytest.raises(ValueError, match="non-finite"):
        optkern.clip_grad_norm_([big], 1.0, error_if_nonfinite=True)
    assert identical(big, before)
    assert optkern.clip_grad_norm_([big], 1.0) == math.inf  # without it: torch's coefficient 0
    assert (big == 0).all()


def test_error_if_nonfinite_writes_nothing() -> None:
    g = np.ones(10, np.float32)
    g[3] = np.nan
    before = g.copy()
    with pytest.raises(ValueError, match="non-finite"):
        optkern.clip_grad_norm_([g], 0.1, error_if_nonfinite=True)
    assert identical(g, before)
    with pytest.raises(ValueError, match=r"get_total_norm: the total norm of order 2\.0"):
        optkern.get_total_norm(g, error_if_nonfinite=True)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda g: optkern.clip_grad_norm_(g, -1.0), ValueError, "max_norm=-1.0: must be >= 0"),
        (lambda g: optkern.clip_grad_norm_(g, 1.0, 3), ValueError, "norm_type=3 is not supported"),
        (lambda g: optkern.get_total_norm(g, "two"), TypeError, "norm_type must be 1, 2 or inf"),
        (lambda g: optkern.clip_grad_value_(g, math.nan), ValueError, "clip_value=nan"),
        (lambda g: optkern.clip_grad_norm_([g[0], g[0]], 0.1), ValueError, "shares memory"),
        (lambda g: optkern.clip_grad_norm_([g[0], [1.0]], 0.1), TypeError, r"grads\[1\]"),
        (
            lambda g: optkern.clip_grad_value_([g[0], g[1].astype(np.int32)], 0.1),
            TypeError,
            r"grads\[1\]: gradient must have dtype float32, float64, float16 or bfloat16",
        ),
        (lambda g: optkern.clip_grad_norm_([g[0], g[1][::2]], 0.1), ValueError, "C-contiguous"),
        (lambda g: optkern.get_total_norm(3.0), TypeError, "grads must be a numpy array"),
    ],
)
def test_bad_input_to_the_functions_writes_nothing(call: Any, error: type, match: str) -> None:
    grads = [np.full(10, 5.0, np.float32), np.full(20, 5.0, np.float32)]
    before = [g.copy() for g in grads]
    with pytest.raises(error, match=match):
        call(grads)
    assert all(identical(a, b) for a, b in zip(grads, before, strict=True))


def test_torch_parity() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    grads = [rng.standard_normal(n).astype(np.float32) * 4 for n in (100, 3000)]
    tensors = [torch.tensor(g.copy()) for g in grads]
    for norm_type in NORM_TYPES:
        expected = float(torch.nn.utils.get_total_norm(tensors, norm_type))
        assert optkern.get_total_norm(grads, norm_type) == pytest.approx(expected, rel=1e-6)
    params = [torch.zeros(g.size, requires_grad=True) for g in grads]
    for p, g in zip(params, grads, strict=True):
        p.grad = torch.tensor(g.copy())
    torch_norm = float(torch.nn.utils.clip_grad_norm_(params, 1.0))
    norm = optkern.clip_grad_norm_(grads, 1.0)
    assert norm == pytest.approx(torch_norm, rel=1e-6)
    for p, g in zip(params, grads, strict=True):
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=1e-6)
