"""Every fused kernel is bit-identical to optkern.reference: every configuration x dtype x ISA x
thread count, over the sizes of cases.SIZES as one multi-tensor step, for 20 steps with gradients
holding exact zeros, subnormals, values near eps and values up to 1e30."""

from __future__ import annotations

import numpy as np
import pytest
from cases import CONFIGS, SIZES
from optkern import _storage
from optkern.selfcheck import identical, trajectories_match


@pytest.mark.usefixtures("isa", "tiny_grain")
@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("config", range(len(CONFIGS)), ids=[c.name for c in CONFIGS])
def test_fused_matches_reference(config: int, dtype: type, threads: int) -> None:
    assert trajectories_match(config, dtype, SIZES, steps=20, num_threads=threads, seed=config)


# The 16-bit and mixed storage combinations (float32 and float64 above). Fewer steps and threads,
# and sizes up to a few thousand, keep the suite's time in bounds: the kernels' conversions run
# per element (fused) or per block of 1024 elements whatever the size, and tiny_grain splits
# every tensor over threads.
STORAGE_COMBINATIONS = [
    c for c in _storage.available_combinations() if c.name not in ("float32", "float64")
]
STORAGE_SIZES = (1, 3, 16, 17, 65, 1000, 4099)


@pytest.mark.usefixtures("isa", "tiny_grain")
@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize(
    "storage", STORAGE_COMBINATIONS, ids=[c.name for c in STORAGE_COMBINATIONS]
)
@pytest.mark.parametrize("config", range(len(CONFIGS)), ids=[c.name for c in CONFIGS])
def test_stored_in_16_bits_matches_reference(
    config: int, storage: _storage.Combination, threads: int
) -> None:
    assert trajectories_match(
        config, storage, STORAGE_SIZES, steps=8, num_threads=threads, seed=config
    )


@pytest.mark.usefixtures("isa")
@pytest.mark.parametrize("size", SIZES)
def test_each_size_alone_with_default_grain(size: int) -> None:
    """One tensor per optimizer, default serial grain: the vector body, head and tail alone."""
    for index in range(len(CONFIGS)):
        assert trajectories_match(index, np.float32, (size,), steps=3, num_threads=2, seed=size)


@pytest.mark.usefixtures("isa")
def test_unaligned_and_offset_views() -> None:
    """Parameters starting at every offset inside a cache line (the peeled head differs)."""
    for offset in range(16):
        base = np.zeros(1000 + 16, np.float32)
        fused_owner = base.copy()
        p_fused = fused_owner[offset : offset + 1000]
        p_slow = base[offset : offset + 1000].copy()
        p_fused[...] = np.linspace(-1, 1, 1000, dtype=np.float32)
        p_slow[...] = p_fused
        import optkern

        a = optkern.Adam([p_fused], lr=0.01)
        b = optkern.Adam([p_slow], lr=0.01, backend="reference")
        g = np.cos(np.arange(1000, dtype=np.float32))
        for _ in range(3):
            a.step([g])
            b.step([g])
        assert identical(p_fused, p_slow), offset


@pytest.mark.parametrize("name", ["float16", "bfloat16", "float16-master", "bfloat16-state16"])
@pytest.mark.parametrize("threads", [1, 3])
def test_16_bit_views_at_every_offset(name: str, threads: int, tiny_grain: None) -> None:
    """16-bit parameters starting at every 2-byte offset inside a cache line: the fused loops'
    peeled heads (1 to 31 elements), float16's vector chunks at odd offsets, and their tails."""
    import optkern

    combos = [c for c in _storage.available_combinations() if c.name == name]
    if not combos:
        pytest.skip(f"{name} needs ml_dtypes")
    (combo,) = combos
    dtype = combo.dtype(combo.param)
    options = {k: v for k, v in combo.options.items() if k != "seed"}
    for offset in range(32):
        owner = np.zeros(1000 + 32, dtype)
        p_fused = owner[offset : offset + 1000]
        p_fused[...] = np.linspace(-1, 1, 1000, dtype=np.float32).astype(dtype)
        p_slow = p_fused.copy()
        a = optkern.Adam([p_fused], lr=0.01, num_threads=threads, **options)
        b = optkern.Adam([p_slow], lr=0.01, backend="reference", **options)
        g = np.cos(np.arange(1000, dtype=np.float32)).astype(dtype)
        for _ in range(2):
            a.step([g])
            b.step([g])
        assert identical(p_fused, p_slow), offset
        for key, state in a.state[0].items():
            assert identical(state, b.state[0][key]), (offset, key)


def test_identical_helper_can_fail() -> None:
    a = np.array([0.0, 1.0, np.nan], np.float32)
    assert identical(a, a.copy())
    assert not identical(a, np.array([-0.0, 1.0, np.nan], np.float32))  # signed zero
    # the float32 after 1: both arguments float32, or NumPy 1 computes it in float64 (from the
    # Python int) and the float32 array rounds it back to 1
    one_ulp_up = np.nextafter(np.float32(1), np.float32(2))
    assert one_ulp_up.dtype == np.float32
    assert one_ulp_up > 1
    assert not identical(a, np.array([0.0, one_ulp_up, np.nan], np.float32))  # one ulp
    assert not identical(a, np.array([0.0, 1.0, 1.0], np.float32))


@pytest.mark.usefixtures("isa")
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("config", range(len(CONFIGS)), ids=[c.name for c in CONFIGS])
def test_non_finite_gradients_match_reference(config: int, dtype: type) -> None:
    """NaN, +-inf and signed zeros in the gradient, spread over the vector body and the scalar
    head: the NaN-propagating max (Adamax, AMSGrad) and sign (Lion) must agree with NumPy's."""
    cfg = CONFIGS[config]
    rng = np.random.default_rng(config)
    n = 1003
    start = rng.standard_normal(n).astype(dtype)
    start[5::50] = -0.0
    fused, slow = start.copy(), start.copy()
    a = cfg.build([fused])
    b = cfg.build([slow], backend="reference")
    for step in range(4):
        g = rng.standard_normal(n).astype(dtype)
        g[step::97] = np.nan
        g[step + 1 :: 89] = np.inf
        g[step + 2 :: 83] = -np.inf
        g[step + 3 :: 7] = 0.0
        g[step + 4 :: 11] = -0.0
        a.step([g])
        b.step([g])
    assert identical(fused, slow)
    for key, value in a.state[0].items():
        assert identical(value, b.state[0][key]), key
