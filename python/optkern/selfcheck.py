"""A short self-check: every configuration of CONFIGS, fused kernel against optkern.reference,
bit for bit, on every ISA this machine supports."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import _core
from .configs import CONFIGS

STEPS = 20


def _gradients(
    rng: np.random.Generator, size: int, dtype: type[np.floating[Any]], steps: int
) -> list[NDArray[np.floating[Any]]]:
    """Gradients with exact zeros, subnormals, values near eps and very large values."""
    info = np.finfo(dtype)
    out = []
    for _ in range(steps):
        g = rng.standard_normal(size).astype(dtype)
        g[::7] = 0
        g[1::11] = info.smallest_subnormal * rng.integers(1, 100, g[1::11].size)
        g[2::13] = rng.standard_normal(g[2::13].size) * 1e-8
        g[3::17] = rng.standard_normal(g[3::17].size) * 1e30
        out.append(g)
    return out


def trajectories_match(
    config_index: int,
    dtype: type[np.floating[Any]],
    sizes: tuple[int, ...],
    steps: int = STEPS,
    num_threads: int = 1,
    seed: int = 0,
) -> bool:
    """Run one configuration fused and reference from the same start; True if bit-identical."""
    config = CONFIGS[config_index]
    rng = np.random.default_rng(seed)
    start = [rng.standard_normal(n).astype(dtype) for n in sizes]
    fused = [p.copy() for p in start]
    slow = [p.copy() for p in start]
    grads = [_gradients(rng, n, dtype, steps) for n in sizes]
    a = config.build(fused, num_threads=num_threads)
    b = config.build(slow, backend="reference")
    for t in range(steps):
        step_grads = [g[t] for g in grads]
        a.step(step_grads)
        b.step(step_grads)
    same = all(identical(x, y) for x, y in zip(fused, slow, strict=False))
    for i, state in a.state.items():
        same = same and all(identical(v, b.state[i][k]) for k, v in state.items())
    return same


def identical(a: NDArray[Any], b: NDArray[Any]) -> bool:
    """Bit-identical, except that any NaN matches any NaN (payloads are not specified)."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    if not np.array_equal(nan_a, nan_b):
        return False
    bits = {4: np.uint32, 8: np.uint64}[a.itemsize]
    return bool(np.array_equal(a[~nan_a].view(bits), b[~nan_b].view(bits)))


def run() -> int:
    sizes = (1, 17, 1000, 100003)
    active = _core.active_isa()
    failures = 0
    started = time.perf_counter()
    try:
        for isa in _core.supported_isas():
            _core._select_isa(isa)
            for index, config in enumerate(CONFIGS):
                for dtype in (np.float32, np.float64):
                    ok = trajectories_match(index, dtype, sizes, num_threads=2)
                    failures += not ok
                    if not ok:
                        print(f"  MISMATCH {isa:8s} {config.name} {np.dtype(dtype).name}")
            print(
                f"  {isa:8s}: {len(CONFIGS)} configurations x float32/float64 x {STEPS} steps "
                f"x sizes {sizes}: {'all bit-identical' if not failures else 'FAILED'}"
            )
    finally:
        _core._select_isa(active)
    print(
        f"self-check {'passed' if not failures else 'FAILED'} in "
        f"{time.perf_counter() - started:.1f} s"
    )
    return 1 if failures else 0
