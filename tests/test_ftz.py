"""A caller's flush-to-zero / denormals-are-zero mode changes neither a step's result nor the
caller's mode.

A library built with -ffast-math sets FTZ/DAZ in the thread that loads it. A kernel part run on
that thread would then flush subnormals while the OpenMP workers (with their own control
registers) do not: results would depend on the thread count and differ from the reference.
Each thread of a step therefore clears FTZ/DAZ for its part and restores the caller's mode
(cpp/optkern/loop.h).

The mode is set through a tiny C library compiled here with the system C compiler, so the test
needs no fast-math package.
"""

from __future__ import annotations

import contextlib
import ctypes
import shutil
import subprocess
import sysconfig
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import optkern
import pytest
from optkern import _core

# x86-64: MXCSR, FTZ is bit 15 and DAZ bit 6; bits 0-5 are sticky exception flags, which any
# arithmetic may raise, so only the other bits must come back unchanged. aarch64: FPCR, FZ is
# bit 24 (it flushes inputs and outputs); FPCR holds no flags.
MODE_SOURCE = r"""
#if defined(__x86_64__)
#include <xmmintrin.h>
unsigned long long get_mode(void) { return _mm_getcsr(); }
void set_mode(unsigned long long mode) { _mm_setcsr((unsigned)mode); }
unsigned long long flush_bits(void) { return (1u << 15) | (1u << 6); }
unsigned long long control_mask(void) { return ~0x3full; }
#elif defined(__aarch64__)
unsigned long long get_mode(void) {
  unsigned long long mode;
  __asm__ volatile("mrs %0, fpcr" : "=r"(mode));
  return mode;
}
void set_mode(unsigned long long mode) { __asm__ volatile("msr fpcr, %0" : : "r"(mode)); }
unsigned long long flush_bits(void) { return 1ull << 24; }
unsigned long long control_mask(void) { return ~0ull; }
#else
#error "no flush-to-zero control known for this architecture"
#endif
"""


def _compiler() -> str | None:
    configured = (sysconfig.get_config_var("CC") or "").split()
    for name in [configured[0] if configured else "", "cc", "gcc", "clang"]:
        if name and shutil.which(name):
            return name
    return None


@pytest.fixture(scope="module")
def mode_library(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    compiler = _compiler()
    if compiler is None:
        pytest.skip("no C compiler found (sysconfig CC, cc, gcc, clang) to build the FTZ helper")
    folder: Path = tmp_path_factory.mktemp("ftz")
    source = folder / "mode.c"
    source.write_text(MODE_SOURCE)
    library = folder / "libmode.so"
    built = subprocess.run(
        [compiler, "-shared", "-fPIC", "-O1", "-o", str(library), str(source)],
        check=False,
        capture_output=True,
        text=True,
    )
    if built.returncode != 0:
        pytest.skip(f"could not build the FTZ helper with {compiler}: {built.stderr.strip()}")
    lib = ctypes.CDLL(str(library))
    for name in ("get_mode", "flush_bits", "control_mask"):
        getattr(lib, name).restype = ctypes.c_ulonglong
    lib.set_mode.argtypes = [ctypes.c_ulonglong]
    lib.set_mode.restype = None
    return lib


@pytest.fixture
def grain_for_two_threads() -> Iterator[int]:
    """Elements that SGD (GrainScale 2) splits over 2 threads, at the default grain or lower."""
    previous = _core._min_elements_per_thread()
    _core._set_min_elements_per_thread(min(previous, 1 << 14))
    try:
        yield max(200_000, 8 * _core._min_elements_per_thread())
    finally:
        _core._set_min_elements_per_thread(previous)


def _subnormals(rng: np.random.Generator, dtype: type[np.floating], n: int) -> np.ndarray:
    """Random subnormals of both signs: every exponent bit zero, the mantissa not."""
    info = np.finfo(dtype)
    uint = np.uint32 if dtype == np.float32 else np.uint64
    mantissa = rng.integers(1, 1 << info.nmant, n, dtype=uint)
    sign = rng.integers(0, 2, n, dtype=uint) << (info.bits - 1)
    return (mantissa | sign).view(dtype)


def _differing(got: np.ndarray, want: np.ndarray) -> int:
    bits = np.uint32 if got.dtype == np.float32 else np.uint64
    return int(np.count_nonzero(got.view(bits) != want.view(bits)))


@contextlib.contextmanager
def flush_to_zero(lib: ctypes.CDLL) -> Iterator[Callable[[], None]]:
    """Sets FTZ and DAZ in this thread, as a fast-math library would; yields a check that the
    mode is still exactly that (a step must restore it); restores the caller's mode at the end."""
    callers = lib.get_mode()
    flushing = callers | lib.flush_bits()
    mask = lib.control_mask()

    def unchanged() -> None:
        assert lib.get_mode() & mask == flushing & mask, "a step changed the caller's mode"

    lib.set_mode(flushing)
    try:
        assert lib.get_mode() & lib.flush_bits() == lib.flush_bits(), "FTZ/DAZ did not stick"
        yield unchanged
    finally:
        lib.set_mode(callers)


def _two_steps(
    params: np.ndarray, grads: list[np.ndarray], **kwargs: Any
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """SGD with momentum: b ← μ·b + g, p ← p − lr·b. With lr = μ = 0.5 every input (p, g, and b on
    the second step) and every output is subnormal, so FTZ or DAZ would change them. Returns the
    parameter, the momentum buffer and the threads each step ran on."""
    p = params.copy()
    opt = optkern.SGD([p], lr=0.5, momentum=0.5, **kwargs)
    threads = []
    for g in grads:
        opt.step([g])
        assert opt._prepared is not None
        threads.append(opt._prepared.tensor_groups[0].planned_threads)
    return p, opt.state[0]["momentum_buffer"].copy(), threads


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_caller_ftz_daz_changes_nothing(
    mode_library: ctypes.CDLL, grain_for_two_threads: int, isa: str, dtype: type[np.floating]
) -> None:
    n = grain_for_two_threads
    rng = np.random.default_rng(7)
    params = _subnormals(rng, dtype, n)
    grads = [_subnormals(rng, dtype, n) for _ in range(2)]
    expected = _two_steps(params, grads, backend="reference")[:2]  # before FTZ is set
    assert np.count_nonzero(expected[0]) > n // 2  # really subnormal, not flushed
    # Starts OpenMP's workers (if not yet running) while the mode is the default: a worker
    # created later would inherit the caller's mode, and FTZ would then be in every thread.
    _two_steps(params, grads, num_threads=2)

    differing = {}
    with flush_to_zero(mode_library) as unchanged:
        for num_threads in (1, 2):
            p, buf, threads = _two_steps(params, grads, num_threads=num_threads)
            unchanged()
            if num_threads == 2 and _core.has_openmp:
                assert threads == [2, 2], "the step did not split over 2 threads"
            for name, got, want in zip(
                ("param", "momentum_buffer"), (p, buf), expected, strict=True
            ):
                if count := _differing(got, want):
                    differing[f"{name}, {num_threads} threads"] = count
    assert not differing, f"elements that differ from the reference (of {n}): {differing}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_caller_ftz_daz_keeps_a_subnormal_coefficient(
    mode_library: ctypes.CDLL, isa: str, dtype: type[np.floating]
) -> None:
    """A learning rate that is subnormal in the array dtype: the kernel casts it from float64 on
    the calling thread, before any part runs, where FTZ would make it 0 (and DAZ would read it
    as 0)."""
    lr = float(np.finfo(dtype).tiny) / 4
    rng = np.random.default_rng(8)
    params = rng.standard_normal(1000).astype(dtype) * dtype(2.0**-20)
    grad = (rng.uniform(1, 2, 1000) * (2.0**-28 / lr)).astype(dtype)  # lr·g is about 2^-28
    expected = params.copy()
    optkern.SGD([expected], lr=lr, backend="reference").step([grad])
    assert _differing(expected, params) > 0  # the step moves the parameters
    with flush_to_zero(mode_library) as unchanged:
        got = params.copy()
        optkern.SGD([got], lr=lr).step([grad])
        unchanged()
    assert _differing(got, expected) == 0
