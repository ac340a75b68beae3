"""optkern.accumulate, MultiSteps and EMA: bit for bit against their reference twins on every
dtype, ISA and thread count, their semantics (the mean of k micro-steps, the first EMA update
copying, timm's warm-up), checkpoints, and bad input that modifies nothing."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import optkern
import pytest
from optkern import _storage, reference
from optkern.selfcheck import identical

SIZES = (1, 15, 16, 17, 2047, 2049, 5000)
PAIRS = [  # (target dtype, source dtype)
    ("float32", "float32"),
    ("float64", "float64"),
    ("float32", "float16"),
    ("float32", "bfloat16"),
    ("bfloat16", "float32"),
    ("float16", "float16"),
]


def _dtype(name: str) -> np.dtype[Any]:
    if name == "bfloat16":
        return np.dtype(pytest.importorskip("ml_dtypes").bfloat16)
    return np.dtype(name)


def _arrays(dtype: np.dtype[Any], seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for n in SIZES:
        x = rng.standard_normal(n) * np.exp(rng.uniform(-10, 10, n))
        x[::9] = 0
        with np.errstate(over="ignore"):  # beyond float16's range: inf
            out.append(
                x.astype(np.float32).astype(dtype) if dtype.itemsize == 2 else x.astype(dtype)
            )
    return out


@pytest.mark.usefixtures("isa", "tiny_grain")
@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("pair", PAIRS, ids=["-".join(p) for p in PAIRS])
@pytest.mark.parametrize("scale", [1.0, 0.25, 1 / 3])
def test_accumulate_matches_reference(pair: tuple[str, str], scale: float, threads: int) -> None:
    target, source = (_dtype(name) for name in pair)
    buffers = _arrays(target, 1)
    expected = [b.copy() for b in buffers]
    grads = _arrays(source, 2)
    optkern.set_num_threads(threads)
    try:
        optkern.accumulate(buffers, grads, scale)
    finally:
        optkern.set_num_threads(None)
    reference.accumulate(expected, grads, scale)
    assert all(identical(a, b) for a, b in zip(buffers, expected, strict=True))


@pytest.mark.usefixtures("isa", "tiny_grain")
@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("pair", PAIRS, ids=["-".join(p) for p in PAIRS])
@pytest.mark.parametrize("weight", [1e-3, 0.5, 1.0])
def test_ema_update_matches_reference(pair: tuple[str, str], weight: float, threads: int) -> None:
    target, source = (_dtype(name) for name in pair)
    averages = _arrays(target, 3)
    expected = [a.copy() for a in averages]
    params = _arrays(source, 4)
    from optkern import _core

    _core.ema_update(averages, params, weight, threads)
    reference.ema_update(expected, params, weight)
    assert all(identical(a, b) for a, b in zip(averages, expected, strict=True))


def test_accumulate_is_many_adds() -> None:
    rng = np.random.default_rng(5)
    buffers = [np.zeros(n, np.float32) for n in (3, 700)]
    grads = [rng.standard_normal(n).astype(np.float32) for n in (3, 700)]
    optkern.accumulate(buffers, grads)
    optkern.accumulate(buffers, grads, scale=2.0)
    for buffer, grad in zip(buffers, grads, strict=True):
        assert identical(buffer, grad + grad * np.float32(2))


def test_multisteps_steps_with_the_mean() -> None:
    rng = np.random.default_rng(6)
    params = [rng.standard_normal(n).astype(np.float32) for n in (10, 300)]
    twin_params = [p.copy() for p in params]
    inner = optkern.Adam(params, lr=0.01)
    twin = optkern.Adam(twin_params, lr=0.01, backend="reference")
    steps = optkern.MultiSteps(inner, every=4)
    micro: list[list[np.ndarray]] = []
    for call in range(8):
        grads = [rng.standard_normal(p.size).astype(np.float32) for p in params]
        if call == 5:
            grads[1][7] = np.nan  # dropped: not added, not counted
            assert steps.step(grads) is None
            continue
        micro.append(grads)
        steps.step(grads)
        if len(micro) == 4:
            sums = [np.zeros(p.size, np.float32) for p in params]
            for g in micro:
                reference.accumulate(sums, g, 1.0)
            twin.step(sums, grad_scale=4.0)
            micro = []
    assert steps.skipped == 1
    assert steps.micro_step == 3  # calls 4, 6, 7 added since the step after call 3
    assert inner.step_count == 1
    assert all(identical(a, b) for a, b in zip(params, twin_params, strict=True))


def test_multisteps_bad_step_option_adds_nothing() -> None:
    params = [np.ones(5, np.float32)]
    steps = optkern.MultiSteps(optkern.SGD(params, lr=0.1), every=2)
    steps.step([np.ones(5, np.float32)])
    with pytest.raises(ValueError, match="max_grad_norm"):
        steps.step([np.ones(5, np.float32)], max_grad_norm=-1.0)
    with pytest.raises(TypeError, match="unexpected keyword 'max_grad_nrom'"):
        steps.step([np.ones(5, np.float32)], max_grad_nrom=1.0)
    assert steps.micro_step == 1
    assert steps.buffers is not None
    assert identical(steps.buffers[0], np.ones(5, np.float32))


def test_multisteps_state_dict() -> None:
    params = [np.ones(5, np.float32)]
    steps = optkern.MultiSteps(optkern.SGD(params, lr=0.1), every=3)
    steps.step([np.ones(5, np.float32)])
    state = steps.state_dict()
    other = optkern.MultiSteps(optkern.SGD([np.ones(5, np.float32)], lr=0.1), every=3)
    other.load_state_dict(state)
    assert other.micro_step == 1
    assert other.buffers is not None
    assert identical(other.buffers[0], np.ones(5, np.float32))
    with pytest.raises(ValueError, match=r"micro_step must be an int in \[0, 3\)"):
        other.load_state_dict({"micro_step": 3, "buffers": None})


def test_ema_first_update_copies_then_averages() -> None:
    params = [np.array([1.0, 2.0], np.float32), np.array([4.0])]
    ema = optkern.EMA(params, decay=0.75)
    params[0][...] = [3.0, 3.0]
    ema.update()  # the first update copies
    assert identical(ema.averaged[0], params[0])
    params[0][...] = [7.0, -1.0]
    ema.update()
    assert identical(ema.averaged[0], np.array([4.0, 2.0], np.float32))
    assert ema.num_updates == 2


def test_ema_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    value = rng.standard_normal(1000).astype(np.float32)
    ema = optkern.EMA([value], decay=0.99)
    model = torch.nn.Linear(1000, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.from_numpy(value.reshape(1, -1)))
    averaged = torch.optim.swa_utils.AveragedModel(
        model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(0.99)
    )
    for _ in range(50):
        value += rng.standard_normal(1000).astype(np.float32)
        with torch.no_grad():
            model.weight.copy_(torch.from_numpy(value.reshape(1, -1)))
        ema.update()
        averaged.update_parameters(model)
    theirs = averaged.module.weight.detach().numpy().reshape(-1)
    np.testing.assert_allclose(ema.averaged[0], theirs, rtol=1e-5, atol=1e-6)


def test_ema_first_update_is_an_exact_copy() -> None:
    params = [np.array([np.inf, 1.0, 2.0], np.float32)]
    ema = optkern.EMA(params, decay=0.9)
    params[0][...] = [-0.0, np.nan, 3.0]
    ema.update()
    assert identical(ema.averaged[0], params[0])
    assert np.signbit(ema.averaged[0][0])


def test_fused_ema_average_sharing_a_gradient_is_refused() -> None:
    params = [np.ones(8, np.float32), np.ones(8, np.float32)]
    opt = optkern.SGD(params, lr=0.1)
    ema = optkern.EMA(params)
    averages = ema.averaged
    with pytest.raises(ValueError, match="shares memory with gradient"):
        opt.step([averages[1], np.ones(8, np.float32)], ema=ema)
    assert opt.step_count == 0
    assert all((p == 1).all() for p in params)


def test_ema_warmup_is_timms() -> None:
    ema = optkern.EMA(
        [np.zeros(1, np.float32)],
        decay=0.9999,
        update_after_step=2,
        use_warmup=True,
        warmup_gamma=1.0,
        warmup_power=0.75,
        min_decay=0.1,
    )
    decays = [ema.get_decay(t) for t in range(1, 7)]
    # timm's ModelEmaV3.get_decay: 0 up to update_after_step + 1, then the warm-up clamped
    expected = [0.0, 0.0, 0.0]
    for t in (1, 2, 3):
        expected.append(max(min(1 - (1 + t) ** -0.75, 0.9999), 0.1))
    assert decays == expected


def test_ema_swap_and_context() -> None:
    params = [np.array([1.0, 2.0], np.float32)]
    ema = optkern.EMA(params, decay=0.5)
    ema.update()
    params[0][...] = [3.0, 6.0]
    ema.update()
    with ema.average_parameters():
        assert identical(params[0], np.array([2.0, 4.0], np.float32))
        with pytest.raises(RuntimeError, match="swap"):
            ema.update()
    assert identical(params[0], np.array([3.0, 6.0], np.float32))


def test_ema_of_bfloat16_parameters_keeps_float32_averages() -> None:
    bf16 = _dtype("bfloat16")
    params = [np.ones(4, bf16)]
    ema = optkern.EMA(params, decay=0.999)
    assert ema.averaged[0].dtype == np.float32
    ema.update()
    params[0][...] = 2
    for _ in range(10):
        ema.update()
    assert (ema.averaged[0] > 1).all()  # moves although 1e-3 steps are below bfloat16's ulp
    with ema.average_parameters():
        assert params[0].dtype == bf16


def test_ema_state_dict_round_trip() -> None:
    params = [np.arange(5, dtype=np.float32)]
    ema = optkern.EMA(params, decay=0.9)
    ema.update()
    params[0] += 1
    ema.update()
    other = optkern.EMA([params[0].copy()], decay=0.5)
    other.load_state_dict(ema.state_dict())
    assert other.decay == 0.9
    assert other.num_updates == 2
    assert identical(other.averaged[0], ema.averaged[0])


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda b, g: optkern.accumulate(b, g[:1]), ValueError, "grads has 1 arrays, buffers 2"),
        (lambda b, g: optkern.accumulate(b, [g[1], g[0]]), ValueError, r"grads\[0\] has shape"),
        (
            lambda b, g: optkern.accumulate(b, [g[0].astype(np.float64), g[1]]),
            TypeError,
            r"grads\[0\] has dtype float64 beside buffers\[0\] of dtype float32",
        ),
        (lambda b, g: optkern.accumulate(b, [b[0], g[1]]), ValueError, "shares memory"),
        (lambda b, g: optkern.accumulate([b[0], b[0]], g[:1] * 2), ValueError, "shares memory"),
        (lambda b, g: optkern.accumulate(b, g, scale="2"), TypeError, "scale must be a real"),
        (
            lambda b, g: optkern.accumulate([b[0], b[1].astype(np.int64)], g),
            TypeError,
            r"buffers\[1\]: buffer must have dtype",
        ),
    ],
)
def test_bad_accumulate_writes_nothing(call: Any, error: type, match: str) -> None:
    buffers = [np.zeros(4, np.float32), np.zeros(6, np.float32)]
    grads = [np.ones(4, np.float32), np.ones(6, np.float32)]
    with pytest.raises(error, match=match):
        call(buffers, grads)
    assert all((b == 0).all() for b in buffers)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"decay": 1.5}, ValueError, r"decay=1.5: must be in \[0.0, 1.0\]"),
        ({"decay": math.nan}, ValueError, "decay=nan"),
        ({"update_after_step": -1}, ValueError, "update_after_step must be >= 0"),
        ({"use_warmup": "yes"}, TypeError, "use_warmup must be True or False"),
        ({"min_decay": 2.0}, ValueError, "min_decay"),
    ],
)
def test_bad_ema_arguments(kwargs: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        optkern.EMA([np.zeros(3, np.float32)], **kwargs)


def test_bad_ema_params() -> None:
    with pytest.raises(TypeError, match=r"params\[1\] must be a numpy.ndarray"):
        optkern.EMA([np.zeros(3, np.float32), [1.0]])
    with pytest.raises(TypeError, match=r"params\[0\]: parameter must have dtype"):
        optkern.EMA([np.zeros(3, np.int32)])


# ------------------------------------------------------------------------ EMA fused into a step

STORAGES = list(_storage.available_combinations())


@pytest.mark.usefixtures("isa", "tiny_grain")
@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("storage", STORAGES, ids=[c.name for c in STORAGES])
@pytest.mark.parametrize("clip", [False, True], ids=["plain", "clipped"])
def test_fused_ema_is_step_then_update(storage: Any, clip: bool, threads: int) -> None:
    """opt.step(grads, ema=ema) gives the bits of opt.step(grads); ema.update(), and of the
    reference backend's fused step, for every storage combination."""
    rng = np.random.default_rng(12)
    sizes = (1, 17, 1000, 2049)
    param_dtype, grad_dtype = storage.dtype(storage.param), storage.dtype(storage.grad)
    start = [rng.standard_normal(n).astype(np.float32).astype(param_dtype) for n in sizes]
    runs = []
    for backend in ("fused", "fused-separate", "reference"):
        params = [p.copy() for p in start]
        opt = optkern.Adam(
            params,
            lr=0.01,
            num_threads=threads,
            backend="reference" if backend == "reference" else "fused",
            **storage.options,
        )
        ema = optkern.EMA(params, decay=0.8, update_after_step=1)
        runs.append((backend, params, opt, ema))
    for _ in range(4):
        grads = [rng.standard_normal(n).astype(np.float32).astype(grad_dtype) for n in sizes]
        options: dict[str, Any] = {"max_grad_norm": 0.5, "grad_scale": 2.0} if clip else {}
        for backend, _, opt, ema in runs:
            if backend == "fused-separate":
                opt.step(grads, **options)
                ema.update()
            else:
                opt.step(grads, ema=ema, **options)
    _, params, _, ema = runs[0]
    for _, other_params, _, other_ema in runs[1:]:
        assert all(identical(a, b) for a, b in zip(params, other_params, strict=True))
        assert all(identical(a, b) for a, b in zip(ema.averaged, other_ema.averaged, strict=True))
    assert ema.num_updates == 4


def test_fused_ema_skipped_step_updates_nothing() -> None:
    params = [np.ones(10, np.float32)]
    opt = optkern.SGD(params, lr=0.1)
    ema = optkern.EMA(params, decay=0.5)
    opt.step([np.ones(10, np.float32)], ema=ema)
    averages = [a.copy() for a in ema.averaged]
    bad = np.ones(10, np.float32)
    bad[3] = np.inf
    opt.step([bad], ema=ema, skip_if_nonfinite=True)
    assert ema.num_updates == 1
    assert identical(ema.averaged[0], averages[0])


def test_fused_ema_must_average_the_optimizers_parameters() -> None:
    params = [np.ones(10, np.float32), np.ones(3, np.float32)]
    opt = optkern.SGD(params, lr=0.1)
    grads = [np.ones(10, np.float32), np.ones(3, np.float32)]
    with pytest.raises(ValueError, match="ema averages other arrays"):
        opt.step(grads, ema=optkern.EMA([params[1], params[0]]))
    with pytest.raises(ValueError, match="ema averages other arrays"):
        opt.step(grads, ema=optkern.EMA([p.copy() for p in params]))
    with pytest.raises(TypeError, match=r"ema must be an optkern\.EMA"):
        opt.step(grads, ema=[p.copy() for p in params])  # type: ignore[arg-type]
    ema = optkern.EMA(params)
    with ema.average_parameters(), pytest.raises(ValueError, match="swap"):
        opt.step(grads, ema=ema)
    assert opt.step_count == 0
    assert all((p == 1).all() for p in params)
