"""optkern.GradScaler: torch's defaults and scale rules, the fused unscale and clip, a skipped
step that leaves everything as it was, checkpoints, and no scheduler warning for a skipped step."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import optkern
import pytest
from cases import assert_same, snapshot
from optkern import reference
from optkern.selfcheck import identical


def _model(seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(n).astype(np.float32) for n in (64, 3000)]
    grads = [rng.standard_normal(n).astype(np.float32) for n in (64, 3000)]
    return params, grads


def test_defaults_are_torchs() -> None:
    scaler = optkern.GradScaler()
    assert scaler.get_scale() == 2.0**16
    assert scaler.get_growth_factor() == 2.0
    assert scaler.get_backoff_factor() == 0.5
    assert scaler.get_growth_interval() == 2000
    assert scaler.is_enabled()


def test_step_unscales_inside_the_update() -> None:
    params, grads = _model()
    plain_params = [p.copy() for p in params]
    scaler = optkern.GradScaler(init_scale=1024.0)
    opt = optkern.Adam(params, lr=0.01)
    plain = optkern.Adam(plain_params, lr=0.01)
    scaled = [g * np.float32(1024.0) for g in grads]
    kept = [g.copy() for g in scaled]
    norm = scaler.step(opt, scaled)
    plain.step(grads)
    assert all(identical(a, b) for a, b in zip(params, plain_params, strict=True))
    assert all(identical(a, b) for a, b in zip(scaled, kept, strict=True))  # never written
    assert norm == reference.grad_norm(scaled)[0] / 1024.0
    scaler.update()


def test_scale_multiplies() -> None:
    scaler = optkern.GradScaler(init_scale=8.0)
    assert scaler.scale(1.5) == 12.0
    array = scaler.scale(np.ones(3, np.float16))
    assert array.dtype == np.float16
    assert (array == 8).all()
    assert scaler.scale([1.0, (2.0,)]) == [8.0, (16.0,)]
    with pytest.raises(TypeError, match=r"GradScaler\.scale: takes numbers"):
        scaler.scale("loss")


def test_scale_of_float16_computes_in_float32() -> None:
    """The default scale 2**16 is beyond float16's range: the product is made in float32."""
    scaler = optkern.GradScaler()
    upstream = np.array([1e-3, 0.0, 0.5], np.float16)
    scaled = scaler.scale(upstream)
    assert scaled.dtype == np.float16
    assert identical(scaled, (upstream.astype(np.float32) * 65536).astype(np.float16))
    assert np.isfinite(scaled).all()


@pytest.mark.parametrize("bad", [np.inf, np.nan])
def test_non_finite_gradient_skips_and_backs_off(bad: float) -> None:
    params, grads = _model()
    opt = optkern.AdamW(params, lr=0.01)
    scaler = optkern.GradScaler(init_scale=256.0)
    scaler.step(opt, grads)
    scaler.update()
    before = snapshot(opt, params)
    poisoned = [g.copy() for g in grads]
    poisoned[1][17] = bad
    norm = scaler.step(opt, poisoned)
    assert norm is not None
    assert not math.isfinite(norm)
    assert_same(snapshot(opt, params), before)  # parameters, state, step count
    scaler.update()
    assert scaler.get_scale() == 128.0


def test_growth_after_interval() -> None:
    params, grads = _model()
    opt = optkern.SGD(params, lr=0.0)
    scaler = optkern.GradScaler(init_scale=4.0, growth_interval=3)
    scales = []
    for step in range(7):
        bad = [g.copy() for g in grads]
        if step == 4:
            bad[0][0] = np.inf
        scaler.step(opt, bad)
        scaler.update()
        scales.append(scaler.get_scale())
    # grows after 3 good steps; step 4 backs off and restarts the count
    assert scales == [4.0, 4.0, 8.0, 8.0, 4.0, 4.0, 4.0]


def test_matches_torch_scale_sequence() -> None:
    torch = pytest.importorskip("torch")
    bad_steps = {3, 4, 10}
    ours = optkern.GradScaler(init_scale=2.0**10, growth_interval=2)
    theirs = torch.amp.GradScaler("cpu", init_scale=2.0**10, growth_interval=2)
    params, grads = _model()
    opt = optkern.SGD(params, lr=0.0)
    weight = torch.zeros(1, requires_grad=True)
    torch_opt = torch.optim.SGD([weight], lr=0.0)
    for step in range(14):
        g = [x.copy() for x in grads]
        if step in bad_steps:
            g[0][0] = np.inf
        ours.step(opt, g)
        ours.update()
        theirs.scale(torch.ones(1))  # torch makes its scale tensor on the first scale()
        weight.grad = torch.tensor([math.inf if step in bad_steps else 1.0])
        theirs.step(torch_opt)
        theirs.update()
        assert ours.get_scale() == theirs.get_scale(), step


def test_clipping_through_the_scaler() -> None:
    params, grads = _model()
    reference_params = [p.copy() for p in params]
    scaler = optkern.GradScaler(init_scale=64.0)
    opt = optkern.Adam(params, lr=0.01)
    twin = optkern.Adam(reference_params, lr=0.01, backend="reference")
    scaled = [g * np.float32(64.0) for g in grads]
    norm = scaler.step(opt, scaled, max_grad_norm=0.5)
    assert norm == twin.step(scaled, grad_scale=64.0, max_grad_norm=0.5)
    assert all(identical(a, b) for a, b in zip(params, reference_params, strict=True))


def test_disabled_is_a_pass_through() -> None:
    params, grads = _model()
    scaler = optkern.GradScaler(enabled=False)
    opt = optkern.SGD(params, lr=0.1)
    assert scaler.scale(3.0) == 3.0
    assert scaler.get_scale() == 1.0
    assert scaler.step(opt, grads) is None
    assert opt.step_count == 1
    scaler.update()
    assert scaler.state_dict() == {}


def test_state_dict_round_trip() -> None:
    params, grads = _model()
    opt = optkern.SGD(params, lr=0.0)
    scaler = optkern.GradScaler(init_scale=32.0, growth_interval=5)
    for _ in range(3):
        scaler.step(opt, grads)
        scaler.update()
    state = scaler.state_dict()
    assert state == {
        "scale": 32.0,
        "growth_factor": 2.0,
        "backoff_factor": 0.5,
        "growth_interval": 5,
        "_growth_tracker": 3,
    }
    resumed = optkern.GradScaler()
    resumed.load_state_dict(state)
    for _ in range(2):
        for s in (scaler, resumed):
            s.step(opt, grads)
            s.update()
    assert resumed.state_dict() == scaler.state_dict()
    assert resumed.get_scale() == 64.0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"init_scale": 0.0}, ValueError, "init_scale=0.0: must be finite and > 0"),
        ({"init_scale": math.nan}, ValueError, "init_scale=nan"),
        ({"growth_factor": 1.0}, ValueError, "growth_factor must be > 1"),
        ({"backoff_factor": 1.5}, ValueError, "backoff_factor must be < 1"),
        ({"growth_interval": 0}, ValueError, "growth_interval must be >= 1"),
        ({"growth_interval": 2.5}, TypeError, "growth_interval must be an int"),
        ({"enabled": 1}, TypeError, "enabled must be True or False"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        optkern.GradScaler(**kwargs)


def test_bad_use() -> None:
    scaler = optkern.GradScaler()
    with pytest.raises(ValueError, match="no step"):
        scaler.update()
    with pytest.raises(TypeError, match="optimizer must be an optkern optimizer"):
        scaler.step(object(), [])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="missing key 'growth_interval'"):
        scaler.load_state_dict({"scale": 1.0, "growth_factor": 2.0, "backoff_factor": 0.5})
    with pytest.raises(ValueError, match="init_scale"):
        scaler.load_state_dict(
            {"scale": -1.0, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 3}
        )
    assert scaler.get_scale() == 2.0**16  # nothing set by the failed loads


def test_skipped_first_step_gives_no_scheduler_warning() -> None:
    params, grads = _model()
    opt = optkern.SGD(params, lr=0.1)
    scheduler = optkern.lr_scheduler.StepLR(opt, step_size=1)
    scaler = optkern.GradScaler()
    bad = [g.copy() for g in grads]
    bad[0][0] = np.nan
    scaler.step(opt, bad)
    scaler.update()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scheduler.step()
    # without the scaler's skip, the same sequence warns
    other = optkern.SGD([p.copy() for p in params], lr=0.1)
    other_scheduler = optkern.lr_scheduler.StepLR(other, step_size=1)
    with pytest.warns(UserWarning, match="before"):
        other_scheduler.step()
