"""Agreement with torch.optim itself (optional: skipped without torch). The formulas are the same
but the operation order differs, so this compares within a floating-point tolerance; exactness is
promised against optkern.reference, not torch. torch.optim has no Lion: test_lion.py checks it
against the paper's pseudo-code instead."""

from __future__ import annotations

import numpy as np
import pytest
from optkern import _storage
from optkern.configs import Config
from optkern.records import records

torch = pytest.importorskip("torch")

# optkern class name → the torch.optim class it matches, from the records.
TORCH_NAMES = {entry.cls.__name__: entry.torch for entry in records() if entry.torch is not None}
TORCH_CONFIGS = [
    Config(name, entry.cls, dict(kwargs))
    for entry in records()
    if entry.torch is not None
    for name, kwargs in entry.configs.items()
]


@pytest.fixture(autouse=True)
def _float64_scalars():  # type: ignore[no-untyped-def]
    """torch keeps step scalars such as NAdam's mu_product in its default dtype; optkern keeps
    them in float64, so compare with torch's default dtype set to float64."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


@pytest.mark.parametrize("config", TORCH_CONFIGS, ids=[c.name for c in TORCH_CONFIGS])
def test_close_to_torch(config) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    start = rng.standard_normal(1000)
    ours = start.copy()
    opt = config.cls([ours], **config.kwargs)
    tensor = torch.tensor(start.copy(), requires_grad=True)
    # what the class fixes (AdamW's decoupled_weight_decay) is implied by torch's class too
    # and optkern's storage options have no torch twin
    kwargs = {
        k: v
        for k, v in opt.defaults.items()
        if k not in config.cls._fixed and k not in _storage.OPTIONS
    }
    topt = getattr(torch.optim, TORCH_NAMES[config.cls.__name__])([tensor], **kwargs)
    for _ in range(20):
        g = rng.standard_normal(1000)
        opt.step([g])
        tensor.grad = torch.tensor(g)
        topt.step()
    np.testing.assert_allclose(ours, tensor.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_every_torch_algorithm_is_compared() -> None:
    assert {c.cls.__name__ for c in TORCH_CONFIGS} == set(TORCH_NAMES)


@pytest.mark.parametrize("name", sorted(TORCH_NAMES))
def test_defaults_are_torchs(name: str) -> None:
    """Every hyperparameter optkern shares with torch has torch's default (the textbook classes
    Momentum and Nesterov deliberately use the textbook's lr and momentum instead)."""
    import inspect

    import optkern

    ours = {k: v for k, v in getattr(optkern, name)().defaults.items() if k not in _storage.OPTIONS}
    theirs = inspect.signature(getattr(torch.optim, TORCH_NAMES[name])).parameters
    shared = [k for k in ours if k in theirs]
    assert len(shared) >= len(ours) - 1  # AdamW: decoupled_weight_decay is implied by the class
    textbook = {"Momentum": {"lr", "momentum"}, "Nesterov": {"lr", "momentum", "nesterov"}}
    for key in shared:
        if key in textbook.get(name, ()):
            continue
        default = theirs[key].default
        assert ours[key] == default, (name, key, ours[key], default)
