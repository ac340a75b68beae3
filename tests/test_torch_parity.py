"""Agreement with torch.optim itself (optional: skipped without torch). The formulas are the same
but the operation order differs, so this compares within a floating-point tolerance; exactness is
promised against optkern.reference, not torch."""

from __future__ import annotations

import numpy as np
import pytest
from optkern.configs import CONFIGS

torch = pytest.importorskip("torch")

TORCH_NAMES = {
    "SGD": "SGD",
    "Momentum": "SGD",
    "Nesterov": "SGD",
    "Adagrad": "Adagrad",
    "RMSprop": "RMSprop",
    "Adam": "Adam",
    "AdamW": "AdamW",
}


@pytest.mark.parametrize("config", CONFIGS, ids=[c.name for c in CONFIGS])
def test_close_to_torch(config) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    start = rng.standard_normal(1000)
    ours = start.copy()
    opt = config.cls([ours], **config.kwargs)
    tensor = torch.tensor(start.copy(), requires_grad=True)
    kwargs = dict(opt.defaults)
    if config.cls.__name__ == "AdamW":
        kwargs.pop("decoupled_weight_decay")
    topt = getattr(torch.optim, TORCH_NAMES[config.cls.__name__])([tensor], **kwargs)
    for _ in range(20):
        g = rng.standard_normal(1000)
        opt.step([g])
        tensor.grad = torch.tensor(g)
        topt.step()
    np.testing.assert_allclose(ours, tensor.detach().numpy(), rtol=1e-10, atol=1e-12)
