"""The Python surface: both call styles, param groups, schedules, checkpoints, threads, docs."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import optkern
import pytest
from optkern import _storage
from optkern.configs import CONFIGS, Config
from optkern.optimizer import Optimizer, StepContext
from optkern.records import records
from optkern.selfcheck import identical

# Every public optimizer class (aliases once).
CLASSES = sorted(
    {c for c in vars(optkern).values() if isinstance(c, type) and issubclass(c, Optimizer)}
    - {Optimizer},
    key=lambda c: c.__name__,
)


def _problem(seed: int = 0, dtype: type = np.float32, steps: int = 6) -> tuple[dict, list[dict]]:
    rng = np.random.default_rng(seed)
    params = {"W1": rng.standard_normal((5, 4)).astype(dtype), "b1": np.zeros(4, dtype)}
    grads = [
        {k: rng.standard_normal(v.shape).astype(dtype) for k, v in params.items()}
        for _ in range(steps)
    ]
    return params, grads


def test_step_updates_in_place_and_matches_textbook_style() -> None:
    params, grads = _problem()
    torch_style = {k: v.copy() for k, v in params.items()}
    W, b = torch_style["W1"], torch_style["b1"]
    ids = (id(W), id(b))
    a = optkern.Adam([W, b], lr=0.01)
    t = optkern.Adam(lr=0.01)
    for g in grads:
        a.step([g["W1"], g["b1"]])
        t.update(params, g)
    assert (id(W), id(b)) == ids
    assert identical(W, params["W1"])
    assert identical(b, params["b1"])
    assert not identical(W, _problem()[0]["W1"])  # it moved


def test_param_groups_use_their_own_hyperparameters() -> None:
    params, grads = _problem()
    W, b = params["W1"].copy(), params["b1"].copy()
    opt = optkern.SGD([{"params": [W], "lr": 0.5}, {"params": [b]}], lr=0.1, momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.1]
    W2, b2 = params["W1"].copy(), params["b1"].copy()
    one = optkern.SGD([W2], lr=0.5, momentum=0.9)
    two = optkern.SGD([b2], lr=0.1, momentum=0.9)
    for g in grads:
        opt.step([g["W1"], g["b1"]])
        one.step([g["W1"]])
        two.step([g["b1"]])
    assert identical(W, W2)
    assert identical(b, b2)


def test_mixed_dtypes_in_one_group() -> None:
    W32 = np.ones(7, np.float32)
    W64 = np.ones(5, np.float64)
    opt = optkern.Adam([W32, W64], lr=0.1)
    ref32, ref64 = W32.copy(), W64.copy()
    ref = optkern.Adam([ref32, ref64], lr=0.1, backend="reference")
    for _ in range(3):
        grads = [np.full(7, 0.5, np.float32), np.full(5, -0.25, np.float64)]
        opt.step(grads)
        ref.step(grads)
    assert identical(W32, ref32)
    assert identical(W64, ref64)


def test_learning_rate_schedule_between_steps() -> None:
    params, grads = _problem()
    W = params["W1"].copy()
    opt = optkern.SGD([W], lr=1.0)
    expected = params["W1"].copy()
    for i, g in enumerate(grads):
        opt.param_groups[0]["lr"] = 0.1 / (i + 1)
        opt.step([g["W1"]])
        expected = expected - np.float32(0.1 / (i + 1)) * g["W1"]
    assert identical(W, expected)


def test_sgd_first_step_sets_buffer_to_gradient() -> None:
    W = np.zeros(3, np.float32)
    opt = optkern.SGD([W], lr=1.0, momentum=0.9, dampening=0.5)
    g = np.array([1.0, 2.0, 3.0], np.float32)
    opt.step([g])
    assert identical(opt.state[0]["momentum_buffer"], g)  # not (1 - dampening) * g
    opt.step([g])
    assert identical(opt.state[0]["momentum_buffer"], np.float32(0.9) * g + np.float32(0.5) * g)


def test_amsgrad_keeps_max_of_uncorrected_second_moment() -> None:
    W = np.zeros(2, np.float32)
    opt = optkern.Adam([W], lr=0.1, amsgrad=True)
    opt.step([np.array([3.0, 0.0], np.float32)])
    opt.step([np.array([0.0, 0.0], np.float32)])
    state = opt.state[0]
    assert np.all(state["max_exp_avg_sq"] >= state["exp_avg_sq"])
    assert state["max_exp_avg_sq"][0] == np.float32(0.001) * np.float32(9.0)


@pytest.mark.parametrize("config", CONFIGS, ids=[c.name for c in CONFIGS])
def test_state_dict_resume_is_exact(config: Config, tmp_path: Path) -> None:
    """Stop after 3 of 9 steps, save, resume in a new optimizer: the same bits as straight
    through (RAdam crosses its rectification threshold after the resume), from the .npz file and
    from the in-memory state_dict."""
    params, grads = _problem(len(config.name), steps=9)
    W, b = params["W1"].copy(), params["b1"].copy()
    straight = config.build([W, b])
    for g in grads:
        straight.step([g["W1"], g["b1"]])

    W2, b2 = params["W1"].copy(), params["b1"].copy()
    first = config.build([W2, b2])
    for g in grads[:3]:
        first.step([g["W1"], g["b1"]])
    path = tmp_path / "opt.npz"
    first.save_state(str(path))
    sd = first.state_dict()
    W3, b3 = W2.copy(), b2.copy()
    resumed = config.build([W2, b2], lr=123.0)
    resumed.load_state(str(path))
    assert resumed.param_groups[0]["lr"] == first.param_groups[0]["lr"]
    from_memory = config.build([W3, b3], lr=123.0)
    from_memory.load_state_dict(sd)
    for g in grads[3:]:
        resumed.step([g["W1"], g["b1"]])
        from_memory.step([g["W1"], g["b1"]])
    for x in (W2, W3):
        assert identical(W, x)
    for x in (b2, b3):
        assert identical(b, x)
    assert sd["state"][0]["step"] == 3
    final = straight.state_dict()["state"]
    for name, initial in config.cls._scalar_state.items():  # e.g. NAdam's mu_product
        assert sd["state"][0][name] != initial
        assert resumed.state_dict()["state"][1][name] == final[1][name]
        assert from_memory.state_dict()["state"][1][name] == final[1][name]


def test_textbook_state_dict_before_first_update() -> None:
    params, grads = _problem()
    a = optkern.Adam(lr=0.01)
    straight = {k: v.copy() for k, v in params.items()}
    for g in grads:
        a.update(straight, g)
    b = optkern.Adam(lr=0.01)
    resumed = {k: v.copy() for k, v in params.items()}
    for g in grads[:2]:
        b.update(resumed, g)
    c = optkern.Adam(lr=0.01)
    c.load_state_dict(b.state_dict())  # kept until the first update binds the keys
    for g in grads[2:]:
        c.update(resumed, g)
    assert all(identical(straight[k], resumed[k]) for k in params)


def test_textbook_rebinds_a_replaced_array_of_the_same_shape() -> None:
    params, grads = _problem()
    opt = optkern.Momentum(lr=0.1)
    opt.update(params, grads[0])
    params["W1"] = params["W1"].copy()  # a new array under the same key
    opt.update(params, grads[1])
    assert not identical(params["W1"], _problem()[0]["W1"])


def test_state_arrays_are_numpy_arrays_owned_by_the_optimizer() -> None:
    W = np.ones(4)
    opt = optkern.RMSprop([W], momentum=0.9, centered=True)
    opt.step([np.ones(4)])
    assert set(opt.state[0]) == {"square_avg", "momentum_buffer", "grad_avg"}
    assert all(isinstance(a, np.ndarray) and a.dtype == W.dtype for a in opt.state[0].values())


def test_an_equal_dtype_assigned_after_binding_is_accepted() -> None:
    """Only a different dtype is refused (tests/cases.py): an equal one in a new descriptor
    object (here with metadata) still steps, and exactly as before."""
    W, expected = np.ones(3, np.float32), np.ones(3, np.float32)
    opt, twin = optkern.Adam([W], lr=0.1), optkern.Adam([expected], lr=0.1)
    for step in range(2):
        if step == 1:
            W.dtype = np.dtype(np.float32, metadata={"note": "equal, not the same object"})
            opt.state[0]["exp_avg"].dtype = np.dtype(np.float32, metadata={"note": 1})
        opt.step([np.full(3, 0.5, np.float32)])
        twin.step([np.full(3, 0.5, np.float32)])
    assert identical(W.view(np.float32), expected)


def test_zero_size_arrays_are_accepted_and_left_alone() -> None:
    W = np.zeros((0, 3), np.float32)
    b = np.ones(2, np.float32)
    opt = optkern.Adam([W, b], lr=0.1)
    opt.step([np.zeros((0, 3), np.float32), np.ones(2, np.float32)])
    assert W.shape == (0, 3)
    assert not identical(b, np.ones(2, np.float32))


def test_nan_and_inf_in_gradients_propagate_like_torch() -> None:
    W = np.ones(3, np.float32)
    opt = optkern.SGD([W], lr=0.1)
    opt.step([np.array([np.nan, np.inf, 1.0], np.float32)])
    assert np.isnan(W[0])
    assert np.isneginf(W[1])
    assert W[2] == np.float32(1) - np.float32(0.1)


def test_maximize_flips_the_direction() -> None:
    W = np.zeros(2, np.float32)
    optkern.SGD([W], lr=1.0, maximize=True).step([np.array([1.0, -2.0], np.float32)])
    assert W.tolist() == [1.0, -2.0]


def test_aliases_and_textbook_defaults() -> None:
    assert optkern.AdaGrad is optkern.Adagrad
    assert optkern.RMSProp is optkern.RMSprop
    assert optkern.NAG is optkern.Nesterov
    assert optkern.Momentum().defaults["momentum"] == 0.9
    assert optkern.Momentum().defaults["lr"] == 0.01
    nag = optkern.Nesterov()
    assert nag.defaults["nesterov"]
    assert nag.defaults["momentum"] == 0.9
    assert optkern.AdamW().defaults["weight_decay"] == 1e-2
    assert optkern.AdamW().defaults["decoupled_weight_decay"]
    assert optkern.AdaDelta is optkern.Adadelta
    assert optkern.AdaMax is optkern.Adamax


# Written out by hand from torch.optim's signatures: the independent oracle of the defaults.
TORCH_DEFAULTS: list[tuple[type, dict[str, Any]]] = [
    (
        optkern.SGD,
        dict(
            lr=1e-3,
            momentum=0.0,
            dampening=0.0,
            weight_decay=0.0,
            nesterov=False,
            maximize=False,
        ),
    ),
    (
        optkern.Adagrad,
        dict(
            lr=1e-2,
            lr_decay=0.0,
            weight_decay=0.0,
            initial_accumulator_value=0.0,
            eps=1e-10,
            maximize=False,
        ),
    ),
    (
        optkern.RMSprop,
        dict(
            lr=1e-2,
            alpha=0.99,
            eps=1e-8,
            weight_decay=0.0,
            momentum=0.0,
            centered=False,
            maximize=False,
        ),
    ),
    (
        optkern.Adam,
        dict(
            lr=1e-3,
            betas=(0.9, 0.999),
            eps=1e-8,
            weight_decay=0.0,
            amsgrad=False,
            maximize=False,
            decoupled_weight_decay=False,
        ),
    ),
    (optkern.Adadelta, dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False)),
    (
        optkern.Adamax,
        dict(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, maximize=False),
    ),
    (
        optkern.NAdam,
        dict(
            lr=2e-3,
            betas=(0.9, 0.999),
            eps=1e-8,
            weight_decay=0.0,
            momentum_decay=4e-3,
            decoupled_weight_decay=False,
            maximize=False,
        ),
    ),
    (
        optkern.RAdam,
        dict(
            lr=1e-3,
            betas=(0.9, 0.999),
            eps=1e-8,
            weight_decay=0.0,
            decoupled_weight_decay=False,
            maximize=False,
        ),
    ),
    (
        optkern.AdamW,
        dict(
            lr=1e-3,
            betas=(0.9, 0.999),
            eps=1e-8,
            weight_decay=1e-2,
            amsgrad=False,
            maximize=False,
            decoupled_weight_decay=True,
        ),
    ),
    (optkern.Lion, dict(lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0, maximize=False)),
]


@pytest.mark.parametrize(("cls", "defaults"), TORCH_DEFAULTS)
def test_torch_defaults(cls: type, defaults: dict) -> None:
    """torch's hyperparameters and defaults, and optkern's storage options (no torch twin)."""
    assert cls().defaults == {**defaults, **_storage.OPTIONS}
    assert _storage.OPTIONS == {
        "state_dtype": None,
        "master_weights": False,
        "rounding": "nearest",
        "seed": 0,
    }


def test_rules_must_name_exactly_the_hyperparameters_of_init() -> None:
    """Class creation checks ``_rules`` against ``__init__``'s parameters."""
    from optkern import _validation as v

    with pytest.raises(TypeError, match=r"no rule for \['amsgrad'\], a rule but no parameter for"):

        class Missing(optkern.Optimizer):
            _kernel = "adam"
            _rules: ClassVar[Mapping[str, v.Rule]] = {"lr": v.non_negative, "eps": v.non_negative}

            def __init__(
                self,
                params: Any = None,
                lr: float = 1e-3,
                amsgrad: bool = False,
                *,
                num_threads: int | None = None,
                backend: Any = "fused",
            ) -> None:
                self._init_from(locals())

    with pytest.raises(TypeError, match=r"distinct hyperparameters"):

        class Unknown(optkern.Adam, defaults={"lrr": 0.1}):
            pass


def test_variants_have_real_signatures() -> None:
    """Momentum, Nesterov and AdamW are generated from their parent's signature: real functions
    with their own defaults, and Python's own errors for a wrong argument."""
    adamw = inspect.signature(optkern.AdamW)
    assert list(adamw.parameters) == [
        *(p for p in inspect.signature(optkern.Adam).parameters if p != "decoupled_weight_decay")
    ]
    assert adamw.parameters["weight_decay"].default == 1e-2
    assert adamw.parameters["maximize"].kind is inspect.Parameter.KEYWORD_ONLY
    assert inspect.signature(optkern.Nesterov).parameters["nesterov"].default is True
    assert optkern.Momentum.__init__.__qualname__ == "Momentum.__init__"
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'decoupled_weight_decay'"):
        optkern.AdamW(decoupled_weight_decay=False)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="positional arguments"):
        optkern.Momentum(None, 0.1, 0.9, 0.0, 0.0, False, False)  # type: ignore[misc]


def test_the_torch_defaults_table_covers_every_class_named_as_torchs() -> None:
    """Every class whose record matches it to the torch.optim class of its own name is in the
    table above (Momentum and Nesterov keep the textbook's defaults instead)."""
    named = {entry.cls for entry in records() if entry.torch == entry.cls.__name__}
    assert named <= {cls for cls, _ in TORCH_DEFAULTS}


@pytest.mark.parametrize("cls", CLASSES, ids=[c.__name__ for c in CLASSES])
def test_docstring_states_the_formula(cls: type) -> None:
    doc = inspect.getdoc(cls) or ""
    assert "p ←" in doc
    assert "g" in doc


def test_state_roles_match_reference_signatures() -> None:
    """The C++ array roles, the reference arguments and the class's states line up."""
    from optkern import _core, reference

    for name, roles in _core.array_roles.items():
        params = list(inspect.signature(getattr(reference, name)).parameters)
        assert params == [*roles, "hp"]


def test_num_threads_global_and_per_optimizer() -> None:
    before = optkern.get_num_threads()
    try:
        optkern.set_num_threads(1)
        assert optkern.get_num_threads() == 1
        with pytest.raises(ValueError, match="num_threads"):
            optkern.set_num_threads(0)
    finally:
        optkern.set_num_threads(None)
    assert optkern.get_num_threads() == before
    opt = optkern.Adam([np.zeros(3)], num_threads=3)
    assert opt.num_threads == 3


def test_omp_num_threads_is_honoured() -> None:
    code = "import optkern; print(optkern.get_num_threads())"
    # Keep the rest of the environment (a sanitizer run's LD_PRELOAD must reach the child).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "GOMP_"))}
    env["OMP_NUM_THREADS"] = "3"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    expected = "3" if optkern._core.has_openmp else "1"
    assert out.stdout.strip() == expected


def test_show_config_and_cli(capsys: pytest.CaptureFixture[str]) -> None:
    optkern.show_config()
    out = capsys.readouterr().out
    for word in ("optkern", "compiler", "compiled ISAs", "active ISA", "OpenMP", "threads"):
        assert word in out
    run = subprocess.run(
        [sys.executable, "-m", "optkern", "--version"], capture_output=True, text=True, check=True
    )
    assert run.stdout.strip() == f"optkern {optkern.__version__}"
    info = subprocess.run(
        [sys.executable, "-m", "optkern", "info"], capture_output=True, text=True, check=True
    )
    assert f"active ISA: {optkern.active_isa()}" in info.stdout


def test_repr_lists_groups() -> None:
    text = repr(optkern.Adam([np.zeros(2)], lr=0.5))
    assert "Parameter Group 0" in text
    assert "lr: 0.5" in text


def test_state_is_read_only_mapping_of_the_bound_arrays() -> None:
    A, B = np.ones(4), np.ones(4)
    opt = optkern.SGD([{"params": [A]}, {"params": [B]}], momentum=0.9)
    opt.step([np.ones(4), np.ones(4)])
    with pytest.raises(TypeError):
        opt.state[1] = {"momentum_buffer": A}  # type: ignore[index]
    with pytest.raises(TypeError):
        opt.state[0]["momentum_buffer"] = np.zeros(4)  # type: ignore[index]
    opt.state[0]["momentum_buffer"][...] = 0.0  # in place is fine: the kernel sees it
    opt.step([np.ones(4), np.ones(4)])
    assert identical(opt.state[0]["momentum_buffer"], np.ones(4))


def test_failed_first_step_then_checkpoint_keeps_torch_first_step_rule() -> None:
    W = np.zeros(3, np.float32)
    opt = optkern.SGD([W], lr=1.0, momentum=0.9, dampening=0.5)
    g = np.ones(3, np.float32)
    with pytest.raises(ValueError, match="expected 1 gradients"):
        opt.step([g, g])  # fails after the buffer was allocated
    clone = optkern.SGD([W2 := W.copy()], lr=1.0, momentum=0.9, dampening=0.5)
    clone.load_state_dict(opt.state_dict())
    clone.step([g])
    assert identical(clone.state[0]["momentum_buffer"], g)  # buffer <- g, not (1 - 0.5) * g
    assert identical(W2, -g)


def test_save_state_writes_exactly_the_given_path(tmp_path: Path) -> None:
    W = np.ones(3, np.float32)
    opt = optkern.Adam([W], lr=np.float32(0.01), betas=(np.float64(0.9), 0.999))
    opt.step([np.ones(3, np.float32)])
    path = tmp_path / "checkpoint"  # no .npz suffix
    opt.save_state(str(path))
    assert path.exists()
    other = optkern.Adam([W.copy()])
    other.load_state(str(path))
    assert other.param_groups[0]["lr"] == pytest.approx(0.01)
    assert identical(other.state[0]["exp_avg"], opt.state[0]["exp_avg"])


def test_failed_step_keeps_scalar_state() -> None:
    """NAdam's mu_product advances only when a step succeeds (as step counts do)."""
    W = np.ones(4)
    opt = optkern.NAdam([W])
    opt.step([np.ones(4)])
    before = opt.state_dict()["state"][0]["mu_product"]
    with pytest.raises(ValueError, match="shape"):
        opt.step([np.ones(5)])
    after = opt.state_dict()["state"][0]
    assert after["mu_product"] == before
    assert after["step"] == 1
    opt.step([np.ones(4)])
    mu = [0.9 * (1 - 0.5 * 0.96 ** (t * 4e-3)) for t in (1, 2)]
    assert opt.state_dict()["state"][0]["mu_product"] == 1.0 * mu[0] * mu[1]


def test_nadam_mu_product_follows_a_changed_momentum_decay() -> None:
    """The running product multiplies each step's own mu: changing psi mid-run keeps history."""
    W = np.ones(3)
    opt = optkern.NAdam([W], momentum_decay=0.1)
    opt.step([np.ones(3)])
    opt.param_groups[0]["momentum_decay"] = 0.5
    opt.step([np.ones(3)])
    expected = 1.0 * (0.9 * (1 - 0.5 * 0.96 ** (1 * 0.1))) * (0.9 * (1 - 0.5 * 0.96 ** (2 * 0.5)))
    assert opt.state_dict()["state"][0]["mu_product"] == expected


def test_radam_switches_to_the_rectified_update_when_rho_exceeds_5() -> None:
    """beta2 = 0.999: rho_t <= 5 for steps 1-5, so each moves p by lr*m/(1 - beta1^t) = 1 for a
    constant gradient 1; step 6 is rectified and moves p by about r_6 (m/(sqrt(v) + eps) with
    the bias corrections cancels to ~1)."""
    W = np.zeros(1)
    opt = optkern.RAdam([W], lr=1.0)
    for _ in range(5):
        opt.step([np.ones(1)])
    assert W[0] == pytest.approx(-5.0, rel=1e-12)
    opt.step([np.ones(1)])
    rho_inf = 2 / (1 - 0.999) - 1
    rho_6 = rho_inf - 2 * 6 * 0.999**6 / (1 - 0.999**6)
    r_6 = ((rho_6 - 4) * (rho_6 - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_6)) ** 0.5
    assert 5.0 < rho_6 < 6.0
    assert W[0] == pytest.approx(-5.0 - r_6, rel=1e-6)


def _at_line_offset(size: int, offset_bytes: int, dtype: type) -> np.ndarray:
    """A zero array whose data starts ``offset_bytes`` past a 64-byte boundary."""
    itemsize = np.dtype(dtype).itemsize
    buffer = np.zeros(size + 128 // itemsize, dtype)
    start = ((-buffer.ctypes.data % 64) + offset_bytes) // itemsize
    return buffer[start : start + size]


def test_state_of_a_group_is_one_aligned_buffer_in_parameter_order() -> None:
    """Many small tensors step much faster with their state side by side, each state at its
    parameter's offset within a cache line, so that the kernel's vector body, which starts at
    the parameter's first line boundary, finds the states aligned too (optkern/_arena.py)."""
    params = [np.zeros(n, np.float32) for n in (3, 17, 0, 64)] + [np.zeros((2, 5))]
    params += [_at_line_offset(40, offset, np.float32) for offset in (0, 4, 16, 60)]
    params += [_at_line_offset(9, 24, np.float64)]
    assert {p.ctypes.data % 64 for p in params[-5:]} == {0, 4, 16, 60, 24}
    opt = optkern.Adam(params)
    grads = [np.ones_like(p) for p in params]
    opt.step(grads)
    saved = opt.state_dict()
    for loaded in (False, True):
        if loaded:
            opt.load_state_dict(saved)
            opt.step(grads)
        for name in ("exp_avg", "exp_avg_sq"):
            arrays = [opt.state[i][name] for i in range(len(params))]
            for array, param in zip(arrays, params, strict=True):
                assert array.shape == param.shape
                assert array.dtype == param.dtype
                assert array.flags.c_contiguous
                assert array.flags.writeable
                assert array.size == 0 or array.ctypes.data % 64 == param.ctypes.data % 64
            float32 = [a for a in arrays if a.dtype == np.float32 and a.size]
            addresses = [a.ctypes.data for a in float32]
            assert addresses == sorted(addresses)  # in parameter order, in one buffer
            last_lines = [(a.ctypes.data + a.nbytes - 1) // 64 for a in float32]
            assert all(
                end < b.ctypes.data // 64
                for end, b in zip(last_lines[:-1], float32[1:], strict=True)
            )
            assert float32[-1].ctypes.data - float32[0].ctypes.data < 4096
    fresh = [np.zeros_like(p) for p in params]
    reference = optkern.Adam(fresh, backend="reference")
    for _ in range(2):  # one step, then one more after the load
        reference.step(grads)
    assert all(identical(a, b) for a, b in zip(params, fresh, strict=True))


def test_thread_count_and_grain_may_change_between_steps(tiny_grain: None) -> None:
    """The step plan (pointer table and per-thread parts) is kept from step to step. Results are
    exact on any plan, so what this catches is a stale plan: gradients of an earlier step, or
    parts cut for another thread count over new gradient arrays."""
    rng = np.random.default_rng(3)
    params = [rng.standard_normal(n).astype(np.float32) for n in (1000, 7, 333)]
    twin = [p.copy() for p in params]
    opt = optkern.Adam(params, num_threads=1)
    ref = optkern.Adam(twin, backend="reference")
    for step, threads in enumerate([1, 2, 3, 2, 1, 2]):
        grads = [rng.standard_normal(p.shape).astype(np.float32) for p in params]
        opt.num_threads = threads
        optkern._core._set_min_elements_per_thread(1 if step % 2 else 100)
        opt.step(grads)
        ref.step(grads)
        assert all(identical(a, b) for a, b in zip(params, twin, strict=True))


def test_hyperparameter_changes_are_seen_by_a_prepared_optimizer() -> None:
    """After the first step a step reuses what it checked, unless a group changed: an equal
    value of another type, an invalid value and an edited params list are all noticed."""
    W = np.ones(4, np.float32)
    opt = optkern.SGD([W], lr=1.0)
    g = np.ones(4, np.float32)
    opt.step([g])
    opt.param_groups[0]["lr"] = True  # == 1.0, but not a valid learning rate
    with pytest.raises(TypeError, match="lr"):
        opt.step([g])
    opt.param_groups[0]["lr"] = 0.5
    opt.step([g])
    assert W.tolist() == [-0.5] * 4
    opt.param_groups[0]["params"][0] = np.ones(4, np.float32)
    with pytest.raises(ValueError, match="was changed after the optimizer was built"):
        opt.step([g])


def test_version_is_single_sourced() -> None:
    """The compiled module's version comes from pyproject.toml through the build, like the
    installed distribution's metadata: the two must agree."""
    import importlib.metadata

    assert optkern.__version__ == importlib.metadata.version("optkern")
    assert re.fullmatch(r"\d+\.\d+\.\d+(?:[.-]?\w+)?", optkern.__version__)


@pytest.mark.parametrize(
    ("step_values", "error"),
    [
        ({"beta1": 0.9}, "'beta1' is both a fixed and a step coefficient"),
        ({"step_size": 0.1}, "missing field 'inv_bias_correction2_sqrt'"),
        ({"step_size": 0.1, "inv_bias_correction2_sqrt": 1.0, "lr": 0.1}, "unknown field 'lr'"),
    ],
)
def test_a_subclass_whose_coefficients_do_not_fill_params_exactly_is_refused(
    step_values: dict[str, float], error: str
) -> None:
    """A step's Params come from the fixed and the step coefficients together: a field given by
    both, by neither, or unknown to the kernel is a TypeError before anything is written."""

    class Broken(optkern.Adam):
        @staticmethod
        def _step_coefficients(context: object) -> dict[str, float | bool]:
            return dict(step_values)

    W = np.ones(8, np.float32)
    opt = Broken([W])
    with pytest.raises(TypeError, match=re.escape(error)):
        opt.step([np.ones(8, np.float32)])
    assert W.tolist() == [1.0] * 8
    assert all(not s.any() for s in opt.state[0].values())


def test_step_coefficients_get_one_step_context_per_group() -> None:
    """``_step_coefficients(context)``: per group, its hyperparameters as validated, numbers as
    floats; the 1-based step number; the states still holding their initial values; a copy of
    the scalar state, which the optimizer keeps only once the step is done."""
    seen: list[tuple[int, float, int, set[str], float]] = []

    class Recording(optkern.NAdam):
        @staticmethod
        def _step_coefficients(context: StepContext) -> dict[str, float | bool]:
            seen.append(
                (
                    id(context),
                    context.group["lr"],
                    context.step,
                    set(context.fresh),
                    context.scalars["mu_product"],
                )
            )
            return optkern.NAdam._step_coefficients(context)

    params = [np.zeros(4, np.float32), np.zeros(4, np.float32)]
    opt = Recording([{"params": [params[0]], "lr": 1}, {"params": [params[1]]}], lr=0.5)
    grads = [np.ones(4, np.float32), np.ones(4, np.float32)]
    opt.step(grads)
    opt.step(grads)
    (first, second, third, fourth) = seen
    assert [entry[1:4] for entry in seen] == [
        (1.0, 1, {"exp_avg", "exp_avg_sq"}),
        (0.5, 1, {"exp_avg", "exp_avg_sq"}),
        (1.0, 2, set()),
        (0.5, 2, set()),
    ]
    assert type(first[1]) is float  # lr=1 given as an int
    # one context per group, reused
    assert first[0] == third[0]
    assert second[0] == fourth[0] != first[0]
    assert first[4] == second[4] == 1.0
    # Step 2 started from step 1's product (committed), and its own product was committed.
    product = opt.state_dict()["state"][0]["mu_product"]
    assert 0 < product < third[4] < 1.0
    # A refused step commits nothing: the next step starts from the same step and scalars.
    with pytest.raises(ValueError, match="shape"):
        opt.step([np.ones(3, np.float32), np.ones(4, np.float32)])
    seen.clear()
    opt.step(grads)
    assert seen[0][2:] == (3, set(), product)
