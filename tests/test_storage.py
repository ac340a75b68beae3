"""16-bit storage: the state_dtype and master_weights options, what they create, and checkpoints
that resume bit-exactly. (Exactness against the reference, per storage combination x ISA x
thread count: test_matches_reference.py; bad options: the bad-input table in cases.py.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import optkern
import pytest
from optkern.selfcheck import identical

ml_dtypes = pytest.importorskip("ml_dtypes")
bfloat16 = np.dtype(ml_dtypes.bfloat16)


def _params(dtype: np.dtype, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(dtype) for shape in ((33, 7), (7,))]


def _grads(params: list[np.ndarray], step: int, dtype: np.dtype | None = None) -> list[np.ndarray]:
    rng = np.random.default_rng(100 + step)
    return [rng.standard_normal(p.shape).astype(dtype or p.dtype) for p in params]


@pytest.mark.parametrize("dtype", [np.float16, bfloat16], ids=["float16", "bfloat16"])
def test_state_is_float32_for_16_bit_params_by_default(dtype: np.dtype) -> None:
    params = _params(dtype)
    opt = optkern.Adam(params)
    opt.step(_grads(params, 0))
    assert all(p.dtype == dtype for p in params)
    for i in range(len(params)):
        assert {k: v.dtype for k, v in opt.state[i].items()} == {
            "exp_avg": np.float32,
            "exp_avg_sq": np.float32,
        }


def test_bfloat16_state_and_float32_gradients() -> None:
    params = _params(bfloat16)
    opt = optkern.Adam(params, state_dtype="bfloat16")
    opt.step(_grads(params, 0, np.dtype(np.float32)))  # a 16-bit parameter takes float32 grads
    opt.step(_grads(params, 1))  # and its own dtype's, step by step
    assert opt.state[0]["exp_avg"].dtype == bfloat16
    assert opt.state[1]["exp_avg_sq"].dtype == bfloat16


def test_float32_params_may_keep_bfloat16_state() -> None:
    params = _params(np.dtype(np.float32))
    opt = optkern.SGD(params, lr=0.1, momentum=0.9, state_dtype="bfloat16")
    opt.step(_grads(params, 0))
    assert opt.state[0]["momentum_buffer"].dtype == bfloat16


def test_master_weights_start_as_the_parameter_and_keep_small_updates() -> None:
    """An update far below half a bfloat16 ulp vanishes from the parameter without master
    weights (round to nearest); with them it accumulates in the float32 copy and reaches the
    parameter once large enough."""
    start = np.full(64, 1.0, bfloat16)  # ulp 2**-7 at 1.0
    plain, kept = start.copy(), start.copy()
    a = optkern.SGD([plain], lr=1e-4)
    b = optkern.SGD([kept], lr=1e-4, master_weights=True)
    grad = np.ones(64, bfloat16)
    b.step([grad])
    master = b.state[0]["master_weight"]
    assert master.dtype == np.float32
    np.testing.assert_array_equal(master, np.float32(1.0) - np.float32(1e-4))
    for _ in range(199):
        a.step([grad])
        b.step([grad])
    assert np.all(plain == start)  # every update rounded away
    assert np.all(kept < start)  # 200 * 1e-4 = 0.02 > 2**-7
    np.testing.assert_array_equal(kept, b.state[0]["master_weight"].astype(bfloat16))


def test_master_weights_turned_off_drop_the_copy_and_on_again_start_fresh() -> None:
    """Against a twin that had no master weights before: the copy made anew from the parameter,
    not the stale one (which holds the bits the parameter lost)."""
    params, twin_params = _params(np.dtype(np.float16)), _params(np.dtype(np.float16))
    opt = optkern.Adam(params, lr=1e-2, master_weights=True)
    twin = optkern.Adam(twin_params, lr=1e-2)
    for step in range(2):
        opt.step(_grads(params, step))
        twin.step(_grads(params, step))
        if step == 0:
            assert "master_weight" in opt.state[0]
            opt.param_groups[0]["master_weights"] = False
    assert "master_weight" not in opt.state[0]
    opt.param_groups[0]["master_weights"] = True
    twin.param_groups[0]["master_weights"] = True
    opt.step(_grads(params, 2))
    twin.step(_grads(params, 2))
    assert all(identical(x, y) for x, y in zip(params, twin_params, strict=True))
    assert identical(opt.state[0]["master_weight"], twin.state[0]["master_weight"])


def test_one_group_may_mix_dtypes() -> None:
    params = [*_params(bfloat16), *_params(np.dtype(np.float32), 1), *_params(np.dtype(np.float16))]
    fused = [p.copy() for p in params]
    slow = [p.copy() for p in params]
    a = optkern.NAdam(fused, weight_decay=0.1)
    b = optkern.NAdam(slow, weight_decay=0.1, backend="reference")
    for step in range(3):
        a.step(_grads(params, step))
        b.step(_grads(params, step))
    assert all(identical(x, y) for x, y in zip(fused, slow, strict=True))
    assert a.state[0]["exp_avg"].dtype == np.float32


@pytest.mark.parametrize(
    "options",
    [
        {"state_dtype": "bfloat16"},
        {"master_weights": True},
        {"state_dtype": "bfloat16", "master_weights": True},
        {"rounding": "stochastic", "seed": 2**64 - 2},
        {"state_dtype": "bfloat16", "rounding": "stochastic", "seed": 99},
        {"state_dtype": "bfloat16", "master_weights": True, "rounding": "stochastic"},
    ],
    ids=[
        "state16",
        "master",
        "state16-master",
        "stochastic",
        "state16-stochastic",
        "state16-master-stochastic",
    ],
)
def test_checkpoints_resume_bit_exactly(tmp_path: Path, options: dict) -> None:
    """Ten steps straight, against five, save_state, load_state into a new optimizer over
    copies of the saved parameters, and five more: the same bits, states included. With
    stochastic rounding the new optimizer is built without the options: the checkpoint's groups
    bring the rounding and the seed (and the step count the random bits depend on)."""
    straight = _params(bfloat16)
    opt = optkern.AdamW(straight, lr=1e-2, **options)
    for step in range(10):
        opt.step(_grads(straight, step))

    first = _params(bfloat16)
    before = optkern.AdamW(first, lr=1e-2, **options)
    for step in range(5):
        before.step(_grads(first, step))
    before.save_state(tmp_path / "checkpoint.npz")
    resumed = [p.copy() for p in first]
    stochastic = options.get("rounding") == "stochastic"
    rest = {k: v for k, v in options.items() if k not in ("rounding", "seed")}
    after = optkern.AdamW(resumed, lr=1e-2, **(rest if stochastic else options))
    after.load_state(tmp_path / "checkpoint.npz")
    assert after.param_groups[0]["rounding"] == options.get("rounding", "nearest")
    assert after.param_groups[0]["seed"] == options.get("seed", 0)
    for step in range(5, 10):
        after.step(_grads(resumed, step))

    assert all(identical(x, y) for x, y in zip(straight, resumed, strict=True))
    for i, state in opt.state.items():
        assert state.keys() == after.state[i].keys()
        for key, value in state.items():
            assert identical(value, after.state[i][key]), key


def test_old_checkpoints_without_rounding_load_with_nearest_rounding() -> None:
    params = _params(bfloat16)
    opt = optkern.Adam(params, state_dtype="bfloat16")
    opt.step(_grads(params, 0))
    saved = opt.state_dict()
    for group in saved["param_groups"]:
        del group["rounding"], group["seed"]
    other = optkern.Adam(
        [p.copy() for p in params], state_dtype="bfloat16", rounding="stochastic", seed=4
    )
    other.load_state_dict(saved)
    assert other.param_groups[0]["rounding"] == "nearest"
    assert other.param_groups[0]["seed"] == 0


def test_state_dict_round_trip_keeps_bfloat16_state() -> None:
    params = _params(bfloat16)
    opt = optkern.Adam(params, state_dtype="bfloat16")
    opt.step(_grads(params, 0))
    saved = opt.state_dict()
    assert saved["state"][0]["exp_avg"].dtype == bfloat16
    assert saved["param_groups"][0]["state_dtype"] == "bfloat16"
    other = optkern.Adam([p.copy() for p in params], state_dtype="bfloat16")
    other.load_state_dict(saved)
    assert identical(other.state[0]["exp_avg"], opt.state[0]["exp_avg"])


def test_a_checkpoint_of_float32_state_does_not_load_as_bfloat16() -> None:
    params = _params(bfloat16)
    opt = optkern.Adam(params)
    opt.step(_grads(params, 0))
    saved = opt.state_dict()
    saved["param_groups"][0]["state_dtype"] = "bfloat16"
    other = optkern.Adam([p.copy() for p in params])
    with pytest.raises(
        ValueError, match=r"state\[0\]\['exp_avg'\] is float32\(33, 7\), expected bfloat16"
    ):
        other.load_state_dict(saved)


def test_importing_optkern_does_not_import_ml_dtypes() -> None:
    code = "import sys, numpy as np, optkern; optkern.Adam([np.zeros(3, np.float16)]).step([np.ones(3, np.float16)]); print('ml_dtypes' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
