"""Lion has no torch.optim twin: check it against an independent float64 transcription of
Algorithm 2 of "Symbolic Discovery of Optimization Algorithms" (Chen et al., 2023), and the
sign(0) = 0 rule the kernel and the reference share."""

from __future__ import annotations

import numpy as np
import optkern
import pytest


def _paper_lion(theta, m, g, lr, beta1, beta2, wd):  # type: ignore[no-untyped-def]
    update = np.sign(beta1 * m + (1 - beta1) * g)
    theta = theta - lr * (update + wd * theta)
    m = beta2 * m + (1 - beta2) * g
    return theta, m


@pytest.mark.parametrize("weight_decay", [0.0, 0.5])
@pytest.mark.parametrize("maximize", [False, True])
def test_matches_the_paper(weight_decay: float, maximize: bool) -> None:
    rng = np.random.default_rng(3)
    theta = rng.standard_normal(4096)
    ours = theta.copy()
    m = np.zeros_like(theta)
    opt = optkern.Lion(
        [ours], lr=1e-2, betas=(0.8, 0.95), weight_decay=weight_decay, maximize=maximize
    )
    for _ in range(30):
        g = rng.standard_normal(theta.size)
        opt.step([g])
        theta, m = _paper_lion(theta, m, -g if maximize else g, 1e-2, 0.8, 0.95, weight_decay)
    # The paper decays with lr*wd*theta inside the step, optkern multiplies by (1 - lr*wd) first:
    # the same number up to rounding.
    np.testing.assert_allclose(ours, theta, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(opt.state[0]["exp_avg"], m, rtol=1e-13, atol=1e-15)


def test_zero_and_nan_signs() -> None:
    """sign(0) = 0: a zero interpolation leaves p alone (its sign bit too); NaN propagates."""
    p = np.array([1.0, -0.0, 0.0, 2.0], np.float32)
    opt = optkern.Lion([p], lr=0.5)
    opt.step([np.array([0.0, 0.0, -0.0, np.nan], np.float32)])
    assert p[0] == 1.0
    assert p[1] == 0
    assert np.signbit(p[1])
    assert p[2] == 0
    assert not np.signbit(p[2])
    assert np.isnan(p[3])
