"""rounding="stochastic": float16 and bfloat16 stores rounded stochastically with a counter-based
hash of (seed, step, tensor, role, element). The same bits on every thread count and ISA, unbiased, seeded,
and better than round-to-nearest for updates below half an ulp. (Exactness against the reference
per storage combination x ISA x thread count: test_matches_reference.py, through the stochastic
entries of _storage.COMBINATIONS; bad options: the bad-input table in cases.py; checkpoints:
test_storage.py.)"""

from __future__ import annotations

import numpy as np
import optkern
import pytest
from optkern import _core, reference
from optkern.selfcheck import identical

ml_dtypes = pytest.importorskip("ml_dtypes")
bfloat16 = np.dtype(ml_dtypes.bfloat16)

SIZES = (1, 7, 64, 1000, 4099)


def _trajectory(
    options: dict, threads: int, steps: int = 5, dtype: np.dtype = bfloat16
) -> list[np.ndarray]:
    """An AdamW trajectory over 16-bit params with bfloat16 state (both round stochastically);
    every array at the end."""
    rng = np.random.default_rng(3)
    params = [rng.standard_normal(n).astype(dtype) for n in SIZES]
    opt = optkern.AdamW(params, lr=1e-2, num_threads=threads, state_dtype="bfloat16", **options)
    for _ in range(steps):
        opt.step([rng.standard_normal(n).astype(np.float32) for n in SIZES])
    return params + [a for state in opt.state.values() for a in state.values()]


@pytest.mark.usefixtures("tiny_grain")
@pytest.mark.parametrize("dtype", [bfloat16, np.dtype(np.float16)], ids=["bfloat16", "float16"])
def test_the_same_bits_on_every_thread_count_and_isa(dtype: np.dtype) -> None:
    """tiny_grain cuts every tensor across the threads, so block and part boundaries move with
    the thread count; the random bits must not."""
    options = {"rounding": "stochastic", "seed": 11}
    previous = _core.active_isa()
    runs = {}
    try:
        for isa in _core.supported_isas():
            _core._select_isa(isa)
            for threads in (1, 2, 3):
                runs[isa, threads] = _trajectory(options, threads, dtype=dtype)
    finally:
        _core._select_isa(previous)
    first = next(iter(runs.values()))
    for key, arrays in runs.items():
        assert all(identical(a, b) for a, b in zip(first, arrays, strict=True)), key
    nearest = _trajectory({}, 1, dtype=dtype)
    # the parameters themselves differ, not only the bfloat16 states
    assert not identical(first[len(SIZES) - 1], nearest[len(SIZES) - 1])


def test_seeds_decide_the_bits() -> None:
    same = _trajectory({"rounding": "stochastic", "seed": 5}, 1)
    again = _trajectory({"rounding": "stochastic", "seed": 5}, 2)
    other = _trajectory({"rounding": "stochastic", "seed": 6}, 1)
    high = _trajectory({"rounding": "stochastic", "seed": 5 + 2**32}, 1)  # the seed's upper half
    assert all(identical(a, b) for a, b in zip(same, again, strict=True))
    for different in (other, high):
        assert not identical(same[-1], different[-1])  # the largest tensor's exp_avg_sq
        assert not identical(same[len(SIZES) - 1], different[len(SIZES) - 1])  # its parameter


def test_rounding_is_unbiased() -> None:
    """Values between two bfloat16 neighbours, each rounded over many (seed, step, element)
    draws: the mean of the results is the value, within a few standard errors. A fixed set of
    draws, so the test is deterministic."""
    low = np.float32(1.0)
    ulp = np.float32(2.0**-7)  # bfloat16's ulp in [1, 2)
    fractions = np.array([1 / 65536, 0.01, 0.25, 0.5, 0.7, 0.999], np.float64)
    draws = 4096
    for fraction in fractions:
        x = np.float32(low + np.float32(fraction) * ulp)
        values = np.full(draws // 16, x, np.float32)
        results = []
        for seed in range(4):
            for step in range(1, 5):
                keys = reference.rounding_keys(seed, step, 3, 0)
                words = reference.random_words(keys, 0, values.size)
                results.append(reference.round_bfloat16_stochastic(values, words))
        rounded = np.concatenate(results).astype(np.float64)
        assert set(np.unique(rounded)) <= {1.0, 1.0 + 2.0**-7}
        exact = float(x)  # x itself, not the fraction asked for: float32 rounded it
        p = (exact - 1.0) / 2.0**-7
        standard_error = 2.0**-7 * np.sqrt(p * (1 - p) / rounded.size)
        assert abs(rounded.mean() - exact) <= 4 * standard_error + 1e-12, fraction


@pytest.mark.parametrize(
    ("low", "ulp"),
    [
        (1.0, 2.0**-10),  # float16 normal: 13 bits dropped
        (2.0**-20, 2.0**-24),  # a subnormal float16 range: 17 bits dropped
        (2.0**-24, 2.0**-24),  # [2**-24, 2**-23): the whole float32 mantissa dropped
        (0.0, 2.0**-24),  # below the smallest subnormal: 0 or 2**-24
        (65504.0, 32.0),  # past the largest float16, the next value is inf
    ],
)
def test_float16_rounding_is_unbiased(low: float, ulp: float) -> None:
    """As for bfloat16, on float16's grid in each of its regimes: the mean of many draws is the
    value. The next value above 65504 is written inf, counted here as 65536."""
    draws = 8192
    for fraction in (1 / 8192, 0.01, 0.25, 0.5, 0.7, 0.999):
        x = np.float32(low + fraction * ulp)
        exact = float(x)
        p = (exact - low) / ulp
        values = np.full(draws // 16, x, np.float32)
        results = []
        for seed in range(4):
            for step in range(1, 5):
                words = reference.random_words(reference.rounding_keys(seed, step, 1, 0), 0, 512)
                results.append(reference.round_float16_stochastic(values, words))
        rounded = np.concatenate(results).astype(np.float64)
        rounded[np.isposinf(rounded)] = 65536.0
        assert set(np.unique(rounded)) <= {low, low + ulp}, (low, fraction)
        standard_error = ulp * np.sqrt(p * (1 - p) / rounded.size)
        # the tiny range's probability is ceil(|x| * 2**48) / 2**24: within 2**-24 of p
        assert abs(rounded.mean() - exact) <= 4 * standard_error + ulp * 2.0**-24, (low, fraction)


def test_the_kernel_rounds_like_the_reference_twin() -> None:
    """One SGD step of lr=1 adding -x to a zero bfloat16 parameter: the kernel's stored value is
    round_bfloat16_stochastic(x) with role 0's keys of tensor 0 at step 1. Includes ±inf, NaN,
    subnormals, the largest finite values (which may round up to inf) and exact values."""
    rng = np.random.default_rng(0)
    special = np.array(
        [np.inf, -np.inf, np.nan, -np.nan, 0.0, -0.0, 1e-40, -1e-40, 3.3895e38, -3.3895e38, 1.5],
        np.float32,
    )
    x = np.concatenate([special, rng.standard_normal(5000).astype(np.float32)])
    param = np.zeros(x.size, bfloat16)
    optkern.SGD([param], lr=1.0, rounding="stochastic", seed=2**63 + 9).step([-x])
    words = reference.random_words(reference.rounding_keys(2**63 + 9, 1, 0, 0), 0, x.size)
    # 0 - (-x) is x exactly, for every x (signed zeros: 0 - (-0) = +0, 0 - 0 = +0)
    expected = reference.round_bfloat16_stochastic(np.float32(0) - (-x), words)
    assert identical(param, expected)
    assert np.isposinf(param[0].astype(np.float32))
    assert np.isneginf(param[1].astype(np.float32))
    assert param[10] == 1.5  # exact values never move


def test_the_float16_kernel_rounds_like_the_reference_twin() -> None:
    """The float16 twin of the test above, over every regime of float16_stochastic_grid_one: normal
    values, subnormal ones, values below 2**-24 and float32 subnormals, the overflow region
    (65504, 65536), ±inf and NaN (with a payload), on every ISA."""
    rng = np.random.default_rng(5)
    special = np.array(
        [
            np.inf,
            -np.inf,
            np.nan,
            -np.nan,
            0.0,
            -0.0,
            1e-40,
            -1e-40,
            65504.0,
            65519.0,
            65535.0,
            -65530.0,
            70000.0,
            3.3e38,
            2.0**-24,
            2.0**-25,
            3e-8,
            -(2.0**-14),
            1.5,
        ],
        np.float32,
    )
    payload = np.array([0x7FA00001, 0xFFC00100], np.uint32).view(np.float32)
    magnitudes = np.exp(rng.uniform(np.log(1e-10), np.log(7e4), 20000)).astype(np.float32)
    random = magnitudes * rng.choice(np.array([-1, 1], np.float32), magnitudes.size)
    x = np.concatenate([special, payload, random])
    words = reference.random_words(reference.rounding_keys(77, 1, 0, 0), 0, x.size)
    with np.errstate(invalid="ignore"):  # the signalling NaN is quieted, as the kernel's is
        expected = reference.round_float16_stochastic(np.float32(0) - (-x), words)
    previous = _core.active_isa()
    try:
        for isa in _core.supported_isas():
            _core._select_isa(isa)
            param = np.zeros(x.size, np.float16)
            optkern.SGD([param], lr=1.0, rounding="stochastic", seed=77).step([-x])
            assert identical(param, expected), isa
    finally:
        _core._select_isa(previous)
    assert np.isposinf(expected[0])
    assert np.isneginf(expected[1])
    assert np.isnan(expected[2])
    assert expected[18] == 1.5  # exact values never move
    assert expected[8] == 65504.0  # exact
    assert np.isposinf(expected[12])  # past 65536: always inf
    assert np.isposinf(expected[13])


def test_words_of_tensors_past_2_to_the_32_elements() -> None:
    """The element's upper half enters the hash: element 2**32 + e differs from element e."""
    keys = reference.rounding_keys(1, 1, 0, 0)
    below = reference.random_words(keys, 0, 1000)
    above = reference.random_words(keys, 2**32, 1000)
    assert not np.array_equal(below, above)
    across = reference.random_words(keys, 2**32 - 500, 1000)
    np.testing.assert_array_equal(across[500:], above[:500])


def test_mix32_is_lowbias32() -> None:
    """Published values of the finalizer would pin it; instead its defining operations, done by
    hand in Python ints, on a few inputs, and the scalar and array forms agree."""
    for x in (0, 1, 0x9E3779B9, 0xFFFFFFFF, 123456789):
        y = x ^ (x >> 16)
        y = (y * 0x7FEB352D) % 2**32
        y ^= y >> 15
        y = (y * 0x846CA68B) % 2**32
        y ^= y >> 16
        assert reference._mix32_int(x) == y
        assert int(reference._mix32(np.array([x], np.uint32))[0]) == y


@pytest.mark.parametrize("dtype", [bfloat16, np.dtype(np.float16)], ids=["bfloat16", "float16"])
def test_small_updates_drift_on_average_like_float32(dtype: np.dtype) -> None:
    """SGD with a step far below half a 16-bit ulp: to nearest, the parameter never moves;
    stochastically, its mean moves as the float32 run's does (within a few percent)."""
    n, steps = 4096, 64
    # 1/78 of bfloat16's ulp at 1; 2**-17 (1/128 of float16's, exact steps in float32) for float16
    lr = 1e-4 if dtype == bfloat16 else 2.0**-17
    start = np.full(n, 1.0, np.float32)
    grad32 = np.ones(n, np.float32)
    exact = start.copy()
    nearest = start.astype(dtype)
    stochastic = start.astype(dtype)
    a = optkern.SGD([exact], lr=lr)
    b = optkern.SGD([nearest], lr=lr)
    c = optkern.SGD([stochastic], lr=lr, rounding="stochastic", seed=1)
    for _ in range(steps):
        a.step([grad32])
        b.step([grad32])
        c.step([grad32])
    assert np.all(nearest == 1.0)
    drift32 = 1.0 - float(exact.mean())
    drift = 1.0 - float(stochastic.astype(np.float32).mean())
    assert drift32 == pytest.approx(steps * lr, rel=1e-3)
    assert drift == pytest.approx(drift32, rel=0.05)
    assert len(np.unique(stochastic.astype(np.float32))) > 1  # it is random, not a shift


def test_master_weights_store_to_nearest_and_round_the_state_stochastically() -> None:
    """With master weights only bfloat16 state rounds stochastically: the parameter is always
    its float32 master rounded to nearest, while the states differ from a nearest run's."""
    rng = np.random.default_rng(1)
    params = [rng.standard_normal(300).astype(bfloat16)]
    grads = [rng.standard_normal(300).astype(np.float32) for _ in range(3)]
    runs = {}
    for rounding in ("nearest", "stochastic"):
        ps = [p.copy() for p in params]
        opt = optkern.Adam(ps, master_weights=True, state_dtype="bfloat16", rounding=rounding)
        for g in grads:
            opt.step([g])
            assert identical(ps[0], opt.state[0]["master_weight"].astype(bfloat16))
        runs[rounding] = opt.state[0]
    for key in ("exp_avg", "exp_avg_sq"):
        assert not identical(runs["nearest"][key], runs["stochastic"][key]), key


def test_float32_arrays_are_unaffected() -> None:
    """Beside bfloat16 state, a float32 parameter still rounds to nearest: SGD's first momentum
    step stores the gradient, 0.375 (exact in bfloat16, so both roundings store the same buffer),
    and the parameters p - 0.1 * 0.375 come out the same under either option; 16-bit
    parameters' do not."""
    rng = np.random.default_rng(2)
    for dtype in (np.float32, np.float16, bfloat16):
        start = rng.standard_normal(1000).astype(dtype)
        arrays = {}
        for rounding in ("nearest", "stochastic"):
            p = start.copy()
            opt = optkern.SGD([p], lr=0.1, momentum=0.9, rounding=rounding, state_dtype="bfloat16")
            opt.step([np.full(1000, 0.375, dtype)])
            arrays[rounding] = (p, opt.state[0]["momentum_buffer"])
        assert identical(arrays["nearest"][1], arrays["stochastic"][1])
        same_param = identical(arrays["nearest"][0], arrays["stochastic"][0])
        assert same_param == (dtype == np.float32), dtype


def test_rounding_is_a_group_option() -> None:
    """Per param group, like state_dtype: one group stochastic, the other to nearest."""
    rng = np.random.default_rng(4)
    start = [rng.standard_normal(500).astype(bfloat16) for _ in range(2)]
    grads = [np.full(500, 0.37, np.float32)] * 2
    ps = [p.copy() for p in start]
    opt = optkern.SGD(
        [{"params": [ps[0]], "rounding": "stochastic", "seed": 3}, {"params": [ps[1]]}], lr=1e-3
    )
    opt.step(grads)
    near = [p.copy() for p in start]
    optkern.SGD(near, lr=1e-3).step(grads)
    assert not identical(ps[0], near[0])
    assert identical(ps[1], near[1])
    assert opt.param_groups[1]["rounding"] == "nearest"
    # and switching a group's rounding between steps takes effect on the next step
    opt.param_groups[1]["rounding"] = "stochastic"
    before = ps[1].copy()
    opt.step(grads)
    nearest_again = before.copy()
    optkern.SGD([nearest_again], lr=1e-3).step(grads[:1])
    assert not identical(ps[1], nearest_again)
