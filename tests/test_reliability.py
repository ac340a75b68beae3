"""Regression tests of the reliability issue's Python-side defects: atomic checkpoints, malformed
checkpoint files, add_param_group, many param groups, deferred loads, user keys in param groups,
checkpoints of another class, the textbook's attributes, copies, ndarray subclasses through the
reference backend. (Interrupts: test_interrupt.py; fork, FTZ, subclasses refused, aliasing:
test_fork.py, test_ftz.py, test_subclasses.py.)"""

from __future__ import annotations

import copy
import io
import json
import os
import pickle
import re
import stat
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import optkern
import optkern.textbook as tb
import pytest
from cases import CONFIGS, Config
from optkern import _core
from test_textbook import (
    AdamTranscribed,
    MomentumTranscribed,
    RMSpropTranscribed,
    SGDTranscribed,
)


def _arrays(seed: int, sizes: tuple[int, ...] = (12, 3)) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(n).astype(np.float32) for n in sizes]


def _stepped_adam(tmp_path: Path) -> tuple[optkern.Adam, list[np.ndarray], Path]:
    params = _arrays(0)
    opt = optkern.Adam(params, lr=0.1)
    opt.step(_arrays(1))
    path = tmp_path / "opt.npz"
    opt.save_state(path)
    return opt, params, path


# ----------------------------------------------------------------------------- atomic save


def test_a_failed_save_keeps_the_previous_checkpoint(tmp_path: Path) -> None:
    opt, _, path = _stepped_adam(tmp_path)
    saved = path.read_bytes()
    opt.param_groups[0]["name"] = object()  # a user key that JSON cannot hold
    with pytest.raises(TypeError, match=r"save_state: param_groups\[0\]\['name'\] is a object"):
        opt.save_state(path)
    assert path.read_bytes() == saved
    assert sorted(p.name for p in tmp_path.iterdir()) == ["opt.npz"]  # no temporary left


def test_a_save_failing_while_writing_keeps_the_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opt, _, path = _stepped_adam(tmp_path)
    saved = path.read_bytes()

    def half_written(file: Any, **arrays: Any) -> None:
        file.write(b"PK\x03\x04 half an archive")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", half_written)
    with pytest.raises(OSError, match="No space left"):
        opt.save_state(path)
    assert path.read_bytes() == saved
    assert sorted(p.name for p in tmp_path.iterdir()) == ["opt.npz"]
    monkeypatch.undo()
    resumed = optkern.Adam(_arrays(0), lr=0.1)
    resumed.load_state(path)


def test_a_fraction_lr_saves_as_the_float_the_kernel_used(tmp_path: Path) -> None:
    from fractions import Fraction

    opt = optkern.SGD(_arrays(0), lr=Fraction(1, 4))
    opt.step(_arrays(1))
    opt.save_state(tmp_path / "f.npz")
    other = optkern.SGD(_arrays(0))
    other.load_state(tmp_path / "f.npz")
    assert other.param_groups[0]["lr"] == 0.25


# ----------------------------------------------------------------------------- malformed files


def _npz(path: Path, meta: Any, **arrays: np.ndarray) -> Path:
    text = meta if isinstance(meta, str) else json.dumps(meta)
    np.savez(path, __optkern__=np.array(text), **arrays)
    return path


def _meta(**changes: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "format": 1,
        "optimizer": "Adam",
        "param_groups": [
            {
                "lr": 0.1,
                "betas": [0.9, 0.999],
                "eps": 1e-8,
                "weight_decay": 0.0,
                "amsgrad": False,
                "maximize": False,
                "decoupled_weight_decay": False,
                "params": [0, 1],
            }
        ],
        "steps": {"0": 1, "1": 1},
        "scalars": {},
        "keys": None,
    }
    meta.update(changes)
    return {k: v for k, v in meta.items() if v is not _DROP}


_DROP = object()


@pytest.mark.parametrize(
    ("meta", "match"),
    [
        (_meta(steps=_DROP), r"'steps' must map parameter indices"),
        ([1, 2], r"its '__optkern__' entry is a list, not an object"),
        ("{not json", r"its '__optkern__' entry is not JSON"),
        (_meta(param_groups={"a": 1}), r"'param_groups' must be a list of objects"),
        (_meta(param_groups=[[0.1]]), r"'param_groups' must be a list of objects"),
        (_meta(scalars={"0": 0.5}), r"'scalars' must map parameter indices to dicts"),
        (_meta(steps={"x": 1}), r"'steps' must map parameter indices"),
        (_meta(keys="W"), r"'keys' must be a list"),
        (_meta(format=7), r"unsupported state format 7"),
    ],
)
def test_malformed_metadata_is_a_value_error_naming_the_file(
    tmp_path: Path, meta: Any, match: str
) -> None:
    path = _npz(tmp_path / "bad.npz", meta)
    params = _arrays(0)
    opt = optkern.Adam(params, lr=0.1)
    before = [p.copy() for p in params]
    with pytest.raises(ValueError, match=match) as raised:
        opt.load_state(path)
    assert str(path) in str(raised.value)
    assert all(np.array_equal(a, b) for a, b in zip(params, before, strict=True))


def test_malformed_array_names_and_wrong_file_kinds(tmp_path: Path) -> None:
    opt = optkern.Adam(_arrays(0), lr=0.1)
    odd = _npz(tmp_path / "odd.npz", _meta(), **{"state.x.exp_avg": np.zeros(12, np.float32)})
    with pytest.raises(ValueError, match=r"odd\.npz: .*unexpected entry 'state\.x\.exp_avg'"):
        opt.load_state(odd)
    npy = tmp_path / "plain.npy"
    np.save(npy, np.zeros(3))
    with pytest.raises(ValueError, match=r"plain\.npy: .*a single ndarray \(a \.npy file\?\)"):
        opt.load_state(npy)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip at all, nor an array")
    with pytest.raises(ValueError, match=r"junk\.npz: not a valid optkern state file"):
        opt.load_state(junk)
    other = tmp_path / "other.npz"
    np.savez(other, a=np.zeros(3))
    with pytest.raises(ValueError, match=r"other\.npz: not an optkern state file"):
        opt.load_state(other)
    with pytest.raises(FileNotFoundError):
        opt.load_state(tmp_path / "missing.npz")
    bad_json_lr = _npz(tmp_path / "lr.npz", _meta(param_groups=[{**_meta()["param_groups"][0]}]))
    meta = _meta()
    meta["param_groups"][0]["lr"] = 10**400
    _npz(bad_json_lr, meta)
    with pytest.raises(ValueError, match=r"invalid lr=.*must be finite"):
        opt.load_state(bad_json_lr)
    assert zipfile.is_zipfile(odd)


# ----------------------------------------------------------------------------- add_param_group


def _build(config: Config, params: list[np.ndarray]) -> optkern.Optimizer:
    return config.build(params)


@pytest.mark.parametrize("config", CONFIGS, ids=[c.name for c in CONFIGS])
def test_add_param_group_after_steps_equals_building_with_both(config: Config) -> None:
    """A group added after two steps steps exactly like a group that was there from the start
    and saw only the later gradients; its state and checkpoints work like the first group's."""
    first, second = _arrays(0, (40, 5)), _arrays(1, (17, 9))
    grads_first, grads_second = _arrays(2, (40, 5)), _arrays(3, (17, 9))
    opt = _build(config, first)
    opt.step(grads_first)
    opt.step(grads_first)
    opt.add_param_group({"params": second})
    for _ in range(3):
        opt.step(grads_first + grads_second)

    twin_first, twin_second = _arrays(0, (40, 5)), _arrays(1, (17, 9))
    twin_a = _build(config, twin_first)
    for _ in range(5):
        twin_a.step(grads_first)
    twin_b = _build(config, twin_second)
    for _ in range(3):
        twin_b.step(grads_second)
    for got, want in zip(first + second, twin_first + twin_second, strict=True):
        assert got.tobytes() == want.tobytes()
    assert set(opt.state) == set(range(4)) or not opt.state[0]

    sd = opt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2, 3]]
    resumed_params = [p.copy() for p in first + second]
    resumed = _build(config, resumed_params[:2])
    resumed.add_param_group({"params": resumed_params[2:]})
    resumed.load_state_dict(sd)
    opt.step(grads_first + grads_second)
    resumed.step(grads_first + grads_second)
    for got, want in zip(resumed_params, first + second, strict=True):
        assert got.tobytes() == want.tobytes()


def test_add_param_group_takes_the_defaults_and_its_own_hyperparameters() -> None:
    params = _arrays(0)
    opt = optkern.SGD(params[:1], lr=0.1, momentum=0.9)
    opt.step(_arrays(1)[:1])
    opt.add_param_group({"params": params[1:], "lr": 0.01, "name": "bias"})
    assert opt.param_groups[1]["lr"] == 0.01
    assert opt.param_groups[1]["momentum"] == 0.9
    assert opt.param_groups[1]["name"] == "bias"
    opt.step(_arrays(1))


def test_add_param_group_refuses_arrays_the_optimizer_holds() -> None:
    params = _arrays(0)
    opt = optkern.Adam(params, lr=0.1)
    opt.step(_arrays(1))
    state_view = opt.state[0]["exp_avg"][:4]
    for given, match in [
        ([params[0]], r"shares memory"),
        ([state_view], r"shares memory"),
        ([np.zeros(3, np.float32), params[1][1:]], r"shares memory"),
    ]:
        with pytest.raises(ValueError, match=match):
            opt.add_param_group({"params": given})
        assert len(opt.param_groups) == 1
    with pytest.raises(TypeError, match=r"unknown hyperparameter 'lrate' for Adam"):
        opt.add_param_group({"params": [np.zeros(3, np.float32)], "lrate": 0.1})
    assert len(opt.param_groups) == 1
    opt.step(_arrays(1))


# ----------------------------------------------------------------------------- many groups


def test_many_groups_check_memory_once_not_per_pair(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building an optimizer of G groups and taking its first step checks the memory of all
    arrays a bounded number of times (each check one sorted pass), not once per group: that was
    cubic (1,000 groups: 11 s to build, 14 s more for the first step)."""
    passed: list[int] = []
    original = _core.check_disjoint

    def counting(groups: list[Any]) -> None:
        passed.append(len(groups))
        original(groups)

    monkeypatch.setattr(_core, "check_disjoint", counting)
    count = 2_000
    params = [np.zeros(2, np.float32) for _ in range(count)]
    opt = optkern.Adam([{"params": [p]} for p in params], lr=0.1)
    opt.step([np.ones(2, np.float32) for _ in range(count)])
    opt.step([np.ones(2, np.float32) for _ in range(count)])
    assert len(passed) <= 2
    assert sum(passed) <= 2 * count
    np.testing.assert_array_equal(params[-1], params[0])


# ----------------------------------------------------------------------------- deferred loads


def _textbook_checkpoint() -> dict[str, Any]:
    params = {"W": np.ones((3, 2), np.float32), "b": np.ones(2, np.float32)}
    opt = tb.Adam(lr=0.1)
    opt.update(params, {k: np.full_like(v, 0.5) for k, v in params.items()})
    return opt.state_dict()


@pytest.mark.parametrize(
    ("mutate", "error", "match"),
    [
        (lambda sd: sd["state"][0].update(step=-1), ValueError, r"\['step'\] must be an int"),
        (lambda sd: sd["state"][0].update(m=[1.0]), TypeError, r"'m'\] must be a numpy array"),
        (lambda sd: sd["state"][1].update(velocity=np.zeros(2)), ValueError, r"unknown array"),
        (lambda sd: sd["param_groups"][0].update(lr=-1.0), ValueError, r"invalid lr=-1.0"),
        (lambda sd: sd["param_groups"].append({}), ValueError, r"expected 1 param groups"),
        (lambda sd: sd.update(keys=["W", "W"]), TypeError, r"'keys' must be a list of distinct"),
        (lambda sd: sd.update(optimizer="textbook.SGD"), ValueError, r"written by textbook\.SGD"),
    ],
)
def test_a_deferred_load_is_checked_when_it_is_made(mutate: Any, error: type, match: str) -> None:
    sd = _textbook_checkpoint()
    mutate(sd)
    opt = tb.Adam(lr=0.1)
    with pytest.raises(error, match=match):
        opt.load_state_dict(sd)
    params = {"W": np.ones((3, 2), np.float32), "b": np.ones(2, np.float32)}
    opt.update(params, {k: np.full_like(v, 0.5) for k, v in params.items()})  # no pending load
    assert opt.iter == 1


def test_a_deferred_load_that_does_not_fit_fails_once_then_starts_afresh() -> None:
    sd = _textbook_checkpoint()
    opt = tb.Adam(lr=0.1)
    opt.load_state_dict(sd)
    sd["state"][0]["m"][:] = 99.0  # the optimizer kept a copy: later edits do not reach it
    wrong = {"W": np.ones((2, 3), np.float32), "b": np.ones(2, np.float32)}
    grads = {k: np.full_like(v, 0.5) for k, v in wrong.items()}
    with pytest.raises(ValueError, match=r"update\(\): the state loaded before .* was dropped"):
        opt.update(wrong, grads)
    opt.update(wrong, grads)  # not the same error again: it starts afresh
    fresh = tb.Adam(lr=0.1)
    fresh_params = {"W": np.ones((2, 3), np.float32), "b": np.ones(2, np.float32)}
    fresh.update(fresh_params, grads)
    assert opt.iter == 1
    for key, value in wrong.items():
        assert value.tobytes() == fresh_params[key].tobytes()


def test_a_deferred_load_is_a_copy_and_resumes_exactly() -> None:
    sd = _textbook_checkpoint()
    opt = tb.Adam(lr=0.1)
    opt.load_state_dict(sd)
    sd["state"][0]["m"][:] = 99.0
    params = {"W": np.ones((3, 2), np.float32), "b": np.ones(2, np.float32)}
    opt.update(params, {k: np.full_like(v, 0.5) for k, v in params.items()})
    assert opt.iter == 2
    assert not np.any(opt.m["W"] == 99.0)


# ----------------------------------------------------------------------------- user keys


def test_user_keys_are_carried_through_steps_and_checkpoints(tmp_path: Path) -> None:
    params = _arrays(0)
    opt = optkern.AdamW(
        [{"params": params[:1], "name": "weights"}, {"params": params[1:], "tags": ["b"]}]
    )
    opt.step(_arrays(1))
    opt.param_groups[0]["name"] = "encoder"  # torch users set such keys any time
    opt.step(_arrays(1))
    sd = opt.state_dict()
    assert sd["param_groups"][0]["name"] == "encoder"
    other = optkern.AdamW([{"params": [p.copy()]} for p in _arrays(0)])
    other.load_state_dict(sd)
    assert other.param_groups[0]["name"] == "encoder"
    assert other.param_groups[1]["tags"] == ["b"]
    opt.save_state(tmp_path / "o.npz")
    third = optkern.AdamW([{"params": [p.copy()]} for p in _arrays(0)])
    third.load_state(tmp_path / "o.npz")
    assert third.param_groups[0]["name"] == "encoder"
    assert third.state_dict()["param_groups"] == sd["param_groups"]


@pytest.mark.parametrize(
    "key",
    ["name", "tags", "initial_lr", "max_lr", "base_momentum", "max_momentum", "weight_decay_group"],
)
@pytest.mark.parametrize("cls", [optkern.SGD, optkern.Adam, optkern.RMSprop])
def test_keys_of_users_and_schedulers_are_not_mistaken_for_hyperparameters(
    cls: Any, key: str
) -> None:
    """torch's schedulers write initial_lr, max_lr, base_momentum ... into param groups."""
    opt = cls([{"params": _arrays(0), key: 0.5}])
    opt.param_groups[0][key] = 0.25
    opt.step(_arrays(1))
    assert opt.state_dict()["param_groups"][0][key] == 0.25


def test_torch_implementation_switches_are_refused() -> None:
    with pytest.raises(TypeError, match=r"'foreach' for Adam \(a torch\.optim implementation"):
        optkern.Adam([{"params": _arrays(0), "foreach": True}])


@pytest.mark.parametrize(
    ("cls", "key", "hint"),
    [
        (optkern.Adam, "learning_rate", "did you mean 'lr'"),
        (optkern.Adam, "weight_decy", "did you mean 'weight_decay'"),
        (optkern.Adam, "beta1", "did you mean 'betas'"),
        (optkern.SGD, "nesterv", "did you mean 'nesterov'"),
        (optkern.SGD, "betas", "a hyperparameter of other optimizers"),
        (optkern.RMSprop, "decay_rate", "did you mean 'alpha'"),
        (tb.Adam, "betas", "did you mean 'beta[12]'"),
    ],
)
def test_misspelled_hyperparameters_are_errors_at_step_time(cls: Any, key: str, hint: str) -> None:
    params = _arrays(0)
    opt = cls(params=params) if issubclass(cls, tb._Textbook) else cls(params)
    opt.step(_arrays(1))
    opt.param_groups[0][key] = 0.5
    before = [p.copy() for p in params]
    with pytest.raises(TypeError, match=rf"unknown hyperparameter '{key}' .*{hint}"):
        opt.step(_arrays(1))
    assert all(np.array_equal(a, b) for a, b in zip(params, before, strict=True))
    del opt.param_groups[0][key]
    opt.step(_arrays(1))


# ----------------------------------------------------------------------------- another class


@pytest.mark.parametrize(
    ("writer", "reader"),
    [
        (lambda p: tb.Momentum(params=p), lambda p: tb.Nesterov(params=p)),
        (lambda p: optkern.Adam(p), lambda p: optkern.AdamW(p)),
        (lambda p: tb.SGD(params=p), lambda p: tb.AdaGrad(params=p)),
        (lambda p: optkern.SGD(p, momentum=0.9), lambda p: optkern.Momentum(p)),
    ],
)
def test_a_checkpoint_of_another_class_is_refused(writer: Any, reader: Any, tmp_path: Path) -> None:
    source = writer(_arrays(0))
    source.step(_arrays(1))
    target = reader(_arrays(0))
    written, wanted = source.state_dict()["optimizer"], target.state_dict()["optimizer"]
    with pytest.raises(ValueError, match=rf"written by {written}, not by {wanted}"):
        target.load_state_dict(source.state_dict())
    source.save_state(tmp_path / "s.npz")
    with pytest.raises(ValueError, match=rf"written by {written}, not by {wanted}"):
        target.load_state(tmp_path / "s.npz")


def test_a_users_subclass_loads_the_checkpoints_of_the_class_it_extends() -> None:
    class MyAdam(optkern.Adam):
        pass

    source = optkern.Adam(_arrays(0))
    source.step(_arrays(1))
    mine = MyAdam(_arrays(0))
    mine.load_state_dict(source.state_dict())
    assert mine.state_dict()["optimizer"] == "MyAdam"
    optkern.Adam(_arrays(0)).load_state_dict(source.state_dict())


# ----------------------------------------------------------------------------- textbook attributes


@pytest.mark.parametrize(
    ("name", "transcribed", "attributes"),
    [
        ("SGD", SGDTranscribed, ("lr",)),
        ("Momentum", MomentumTranscribed, ("lr", "momentum")),
        ("RMSprop", RMSpropTranscribed, ("lr", "decay_rate")),
        ("Adam", AdamTranscribed, ("lr", "beta1", "beta2")),
    ],
)
def test_textbook_attributes_drive_the_update_like_the_books(
    name: str, transcribed: type, attributes: tuple[str, ...]
) -> None:
    """An lr-decay loop that assigns ``optimizer.lr`` (and the other attributes) gives the
    book's bits."""
    ours, theirs = getattr(tb, name)(), transcribed()
    for attribute in attributes:
        assert getattr(ours, attribute) == getattr(theirs, attribute)
    rng = np.random.default_rng(5)
    ours_params = {"W": rng.standard_normal((8, 4)).astype(np.float32)}
    their_params = {"W": ours_params["W"].copy()}
    for epoch in range(12):
        grads = {"W": rng.standard_normal((8, 4)).astype(np.float32)}
        ours.update(ours_params, grads)
        theirs.update(their_params, {"W": grads["W"].copy()})
        for target in (ours, theirs):
            target.lr = target.lr * 0.9  # the book's lr decay
            if epoch == 5 and "momentum" in attributes:
                target.momentum = 0.5
            if epoch == 7 and "beta1" in attributes:
                target.beta1 = 0.8
    assert ours_params["W"].tobytes() == their_params["W"].tobytes()
    assert ours.lr == theirs.lr


def test_textbook_attributes_are_validated() -> None:
    opt = tb.Adam()
    with pytest.raises(ValueError, match=r"Adam\.beta1: invalid beta1=1\.0"):
        opt.beta1 = 1.0
    with pytest.raises(TypeError, match=r"Adam\.lr: lr must be a real number"):
        opt.lr = "0.1"
    assert opt.beta1 == 0.9
    assert opt.lr == 0.001


# ----------------------------------------------------------------------------- copies


@pytest.mark.parametrize("config", CONFIGS[::4], ids=[c.name for c in CONFIGS[::4]])
def test_deepcopy_and_pickle_give_independent_optimizers_on_the_same_track(config: Config) -> None:
    params = _arrays(0)
    opt = _build(config, params)
    opt.step(_arrays(1))
    copied_params, copied = copy.deepcopy((params, opt))
    pickled_params, pickled = pickle.loads(pickle.dumps((params, opt)))
    for p in params:
        p += 0.0  # nothing shared: the copies' parameters are their own
    for target in (opt, copied, pickled):
        target.step(_arrays(2))
        target.step(_arrays(3))
    for other in (copied_params, pickled_params):
        for got, want in zip(other, params, strict=True):
            assert got.tobytes() == want.tobytes()
            assert not np.shares_memory(got, want)
    assert copied.state_dict()["param_groups"] == opt.state_dict()["param_groups"]


def test_deepcopy_of_a_textbook_optimizer_updates_new_dicts() -> None:
    opt = tb.Momentum()
    params = {"W": np.ones(5, np.float32)}
    opt.update(params, {"W": np.ones(5, np.float32)})
    twin = copy.deepcopy(opt)
    twin_params = copy.deepcopy(params)
    opt.update(params, {"W": np.ones(5, np.float32)})
    twin.update(twin_params, {"W": np.ones(5, np.float32)})
    assert params["W"].tobytes() == twin_params["W"].tobytes()
    assert not np.shares_memory(opt.v["W"], twin.v["W"])


# ----------------------------------------------------------------------------- subclasses


def test_a_memmap_parameter_is_plain_memory_to_both_backends(tmp_path: Path) -> None:
    results = []
    for backend in ("fused", "reference"):
        mapped = np.memmap(tmp_path / f"{backend}.bin", np.float32, "w+", shape=(50,))
        mapped[:] = np.linspace(-1, 1, 50, dtype=np.float32)
        opt = optkern.Adam([mapped], lr=0.1, backend=backend)
        for seed in range(3):
            opt.step(_arrays(seed, (50,)))
        mapped.flush()
        results.append(np.fromfile(tmp_path / f"{backend}.bin", np.float32))
    assert results[0].tobytes() == results[1].tobytes()


def test_an_unpickled_optimizer_steps_like_the_original() -> None:
    params = _arrays(0)
    opt = optkern.NAdam(params)
    opt.step(_arrays(1))
    buffer = io.BytesIO()
    pickle.dump((params, opt), buffer)
    restored_params, restored = pickle.loads(buffer.getvalue())
    opt.step(_arrays(2))
    restored.step(_arrays(2))
    for got, want in zip(restored_params, params, strict=True):
        assert got.tobytes() == want.tobytes()
    assert (
        restored.state_dict()["state"][0]["mu_product"]
        == opt.state_dict()["state"][0]["mu_product"]
    )


# ----------------------------------------------------------------------------- review findings


def test_save_state_keeps_permissions_and_symlinks(tmp_path: Path) -> None:
    opt, _, path = _stepped_adam(tmp_path)
    os.chmod(path, 0o600)
    opt.save_state(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600  # a private checkpoint stays private
    (tmp_path / "store").mkdir()
    real = tmp_path / "store" / "real.npz"
    opt.save_state(real)
    link = tmp_path / "latest.npz"
    link.symlink_to(real)
    opt.step(_arrays(2))
    opt.save_state(link)
    assert link.is_symlink()  # the link stays; the file it points to is replaced
    resumed = optkern.Adam(_arrays(0), lr=0.1)
    resumed.load_state(real)
    assert resumed.state_dict()["state"][0]["step"] == 2


def test_save_state_errors_name_the_path_given(tmp_path: Path) -> None:
    opt, _, _ = _stepped_adam(tmp_path)
    missing = tmp_path / "no-such-folder" / "ck.npz"
    with pytest.raises(FileNotFoundError, match=re.escape(repr(str(missing)))):
        opt.save_state(missing)
    with pytest.raises(IsADirectoryError, match=re.escape(str(tmp_path))):
        opt.save_state(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["opt.npz"]


def test_unreadable_entries_of_a_checkpoint_name_the_file(tmp_path: Path) -> None:
    opt, _, good = _stepped_adam(tmp_path)
    meta = str(np.load(good)["__optkern__"])
    objects = tmp_path / "objects.npz"
    np.savez(objects, __optkern__=np.array(meta), **{"state.0.exp_avg": np.array([None], object)})
    with pytest.raises(ValueError, match=r"objects\.npz: .*entry 'state\.0\.exp_avg'"):
        opt.load_state(objects)
    corrupt = tmp_path / "corrupt.npz"
    data = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as archive:
        member = archive.read("state.0.exp_avg.npy")  # stored uncompressed by np.savez
    start = bytes(data).find(member)
    assert start > 0
    data[start + len(member) - 1] ^= 0xFF  # the array's last byte: its CRC no longer matches
    corrupt.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"corrupt\.npz: not a valid optkern state file"):
        opt.load_state(corrupt)
    superscript = _npz(tmp_path / "sup.npz", _meta(steps={"\u00b2": 1}))
    with pytest.raises(ValueError, match=r"sup\.npz: .*'steps' must map parameter indices"):
        opt.load_state(superscript)


def test_a_pending_load_is_what_the_optimizer_reports_and_saves(tmp_path: Path) -> None:
    source = tb.Adam(lr=0.5)
    params = {"W": np.zeros(3, np.float32)}
    source.update(params, {"W": np.ones(3, np.float32)})
    waiting = tb.Adam(lr=0.1)
    waiting.load_state_dict(source.state_dict())
    assert waiting.lr == 0.5  # the loaded value, which the first update() will use
    waiting.lr = 0.25  # set after the load: it wins
    sd = waiting.state_dict()
    assert sd["param_groups"][0]["lr"] == 0.25
    assert sd["state"][0]["step"] == 1
    waiting.save_state(tmp_path / "w.npz")
    third = tb.Adam()
    third.load_state(tmp_path / "w.npz")
    mine = {"W": params["W"].copy()}
    third.update(mine, {"W": np.ones(3, np.float32)})
    assert third.iter == 2
    assert third.lr == 0.25


def test_textbook_parameter_names_must_be_str() -> None:
    opt = tb.Adam()
    with pytest.raises(TypeError, match=r"parameter names must be str .* got 0"):
        opt.update({0: np.zeros(3)}, {0: np.ones(3)})
    opt.update({"W": np.zeros(3)}, {"W": np.ones(3)})  # nothing was bound by the failed call


@pytest.mark.parametrize(
    ("cls", "key", "meant"),
    [
        (optkern.SGD, "lr_rate", "lr"),
        (optkern.SGD, "learning_rate_", "lr"),
        (optkern.SGD, "nesterov_momentum", "nesterov"),
        (optkern.Adam, "decoupled", "decoupled_weight_decay"),
    ],
)
def test_more_spellings_of_hyperparameters(cls: Any, key: str, meant: str) -> None:
    with pytest.raises(TypeError, match=rf"'{key}' .*did you mean '{meant}'"):
        cls([{"params": _arrays(0), key: 0.1}])


def test_omp_num_threads_beyond_the_limit_is_capped() -> None:
    script = (
        "import numpy as np, optkern\n"
        "from optkern import _core\n"
        "p = np.zeros(1 << 12, np.float32)\n"
        "optkern.set_num_threads(None)\n"
        "opt = optkern.SGD([p], lr=0.1)\n"
        "_core._set_min_elements_per_thread(1)\n"
        "opt.step([np.ones_like(p)])\n"
        "print(optkern.get_num_threads(), _core.thread_limit(),"
        " opt._groups[0].binding.tensor_groups[0].planned_threads)\n"
    )
    threads, limit, planned = map(int, _python(script, OMP_NUM_THREADS="100000").split())
    assert threads == limit
    assert planned <= limit


def test_a_forked_child_reports_one_thread() -> None:
    script = (
        "import os, optkern\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    os._exit(0 if optkern.get_num_threads() == 1 else 3)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "raise SystemExit(os.waitstatus_to_exitcode(status))\n"
    )
    _python(script, OMP_NUM_THREADS="2")


def _python(script: str, **environment: str) -> str:
    """The output of ``script`` run by a fresh interpreter, which must succeed."""
    completed = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout
