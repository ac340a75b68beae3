"""A short self-check: every configuration of CONFIGS, fused kernel against optkern.reference,
bit for bit, on every ISA this machine supports, in each storage of ``storages`` (float32,
float64 and the 16-bit parameters by default; every storage combination with ``"all"``)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

import numpy as np
from numpy.typing import NDArray

from . import _core, _storage, textbook
from .configs import CONFIGS, Config

STEPS = 20
# one element (scalar code only), one vector and a remainder, many vectors, and enough to be
# split over the two threads the check runs on
SIZES = (1, 17, 1000, 100003)
#: The storages checked by default: each dtype with its own gradients (bfloat16 where ml_dtypes is
#: installed). `optkern selfcheck --storage all` checks every combination of _storage.COMBINATIONS.
DEFAULT_STORAGES = ("float32", "float64", "float16", "bfloat16")


def storages(names: str | Sequence[str] = DEFAULT_STORAGES) -> tuple[_storage.Combination, ...]:
    """The available storage combinations named (``"all"``: every available one). An unknown name
    is a ValueError; a known one that needs ml_dtypes is left out when it is not installed."""
    available = _storage.available_combinations()
    if names == "all":
        return available
    wanted = names.split(",") if isinstance(names, str) else list(names)
    known = {c.name for c in _storage.COMBINATIONS}
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise ValueError(
            f"storage: unknown {', '.join(unknown)}; expected 'all' or names from "
            f"{', '.join(sorted(known))}"
        )
    chosen = tuple(c for c in available if c.name in wanted)
    if not chosen:
        raise ValueError(f"storage: {', '.join(wanted)} need ml_dtypes, which is not installed")
    return chosen


def _gradients(
    rng: np.random.Generator, size: int, dtype: np.dtype[Any], steps: int
) -> list[NDArray[Any]]:
    """Gradients with exact zeros, subnormals, values near eps and very large values (made in
    the gradient's dtype's compute type, float32 for 16 bits, then rounded to it)."""
    compute = np.float64 if dtype == np.float64 else np.float32
    tiny = float(_smallest_subnormal(dtype))
    out = []
    for _ in range(steps):
        g = rng.standard_normal(size).astype(compute)
        g[::7] = 0
        g[1::11] = tiny * rng.integers(1, 100, g[1::11].size)
        g[2::13] = rng.standard_normal(g[2::13].size) * 1e-8
        g[3::17] = rng.standard_normal(g[3::17].size) * 1e30
        with np.errstate(over="ignore"):  # 1e30 is inf in float16
            out.append(g.astype(dtype))
    return out


def _smallest_subnormal(dtype: np.dtype[Any]) -> float:
    if _storage.is_bfloat16(dtype):  # NumPy's finfo does not know it: 2^-126 * 2^-7 (7 bits)
        return 2.0**-133
    return float(np.finfo(dtype).smallest_subnormal)


def trajectories_match(
    config_index: int,
    storage: type[np.floating[Any]] | _storage.Combination,
    sizes: tuple[int, ...],
    steps: int = STEPS,
    num_threads: int = 1,
    seed: int = 0,
    step_options: Mapping[str, Any] | None = None,
) -> bool:
    """Run one configuration fused and reference from the same start; True if bit-identical.
    ``storage``: a dtype for parameters and gradients, or a storage combination.
    ``step_options``: keywords of every ``step()`` (max_grad_norm, grad_scale, ...), whose
    results (the gradient norms) must be identical too."""
    config = CONFIGS[config_index]
    if not isinstance(storage, _storage.Combination):
        name = np.dtype(storage).name
        storage = _storage.Combination(name, name, name)
    param_dtype, grad_dtype = storage.dtype(storage.param), storage.dtype(storage.grad)
    rng = np.random.default_rng(seed)
    start = [rng.standard_normal(n).astype(param_dtype) for n in sizes]
    fused = [p.copy() for p in start]
    slow = [p.copy() for p in start]
    grads = [_gradients(rng, n, grad_dtype, steps) for n in sizes]
    a = config.build(fused, num_threads=num_threads, **storage.options)
    b = config.build(slow, backend="reference", **storage.options)
    options = dict(step_options or {})
    same = True
    for t in range(steps):
        step_grads = [g[t] for g in grads]
        norms = a.step(step_grads, **options), b.step(step_grads, **options)
        same = same and (norms[0] == norms[1] or (norms[0] != norms[0] and norms[1] != norms[1]))
    same = same and all(identical(x, y) for x, y in zip(fused, slow, strict=False))
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
    bits = {2: np.uint16, 4: np.uint32, 8: np.uint64}[a.itemsize]
    return bool(np.array_equal(a[~nan_a].view(bits), b[~nan_b].view(bits)))


def _label(config: Config) -> str:
    """The class a configuration builds, as a user names it (the textbook's share torch's names)."""
    prefix = "textbook." if issubclass(config.cls, textbook._Textbook) else ""
    return prefix + config.cls.__name__


def _check_isa(
    isa: str,
    sizes: tuple[int, ...],
    checked: Sequence[_storage.Combination],
    say: Callable[[str], None],
) -> int:
    """Every configuration on the selected ISA, a line per class (all its configurations, every
    storage) with the count of configurations done; returns the number of mismatches."""
    failures = 0
    started = time.perf_counter()
    for index, config in enumerate(CONFIGS):
        for storage in checked:
            if not trajectories_match(index, storage, sizes, num_threads=2):
                failures += 1
                say(f"  MISMATCH {isa} {config.name} {storage.name}")
        if index + 1 == len(CONFIGS) or CONFIGS[index + 1].cls is not config.cls:
            done = f"{index + 1:>{len(str(len(CONFIGS)))}}/{len(CONFIGS)}"
            say(f"  [{done}] {_label(config):<20} {time.perf_counter() - started:5.1f} s")
            started = time.perf_counter()
    return failures


def run(
    stream: TextIO | None = None,
    isas: Sequence[str] | None = None,
    sizes: tuple[int, ...] = SIZES,
    storage: str | Sequence[str] = DEFAULT_STORAGES,
) -> int:
    """Checks every configuration on every supported ISA (or those given) in every storage named
    (see `storages`); returns the exit status. The default check takes up to a minute per ISA, so
    it reports as it goes, each line flushed at once: a pipe or a log shows the progress too."""
    out = sys.stdout if stream is None else stream
    checked = storages(storage)

    def say(line: str) -> None:
        out.write(line + "\n")
        out.flush()

    active = _core.active_isa()
    failures = 0
    started = time.perf_counter()
    try:
        for isa in _core.supported_isas() if isas is None else isas:
            _core._select_isa(isa)
            say(
                f"{isa}: {len(CONFIGS)} configurations x {'/'.join(c.name for c in checked)} x "
                f"{STEPS} steps x sizes {sizes}"
            )
            isa_started = time.perf_counter()
            isa_failures = _check_isa(isa, sizes, checked, say)
            failures += isa_failures
            verdict = f"{isa_failures} FAILED" if isa_failures else "all bit-identical"
            say(f"{isa}: {verdict} in {time.perf_counter() - isa_started:.1f} s")
    finally:
        _core._select_isa(active)
    verdict = "FAILED" if failures else "passed"
    say(f"self-check {verdict} in {time.perf_counter() - started:.1f} s")
    return 1 if failures else 0
