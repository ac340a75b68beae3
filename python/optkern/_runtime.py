"""Run-time configuration: thread count, the active ISA, and show_config()."""

from __future__ import annotations

import os
import platform
import sys

import numpy as np

from . import _core, _cpus
from ._validation import num_threads as _check_num_threads

_num_threads: int | None = None

#: The cgroup CPU quota read at import, and the cap it put on the default thread count (None:
#: no cap; OMP_NUM_THREADS, when set, is the user's choice and is not capped).
CPU_QUOTA = _cpus.cgroup_quota()
DEFAULT_THREAD_CAP = _cpus.default_thread_cap(os.environ, CPU_QUOTA)
if DEFAULT_THREAD_CAP is not None:
    _core._set_default_thread_cap(DEFAULT_THREAD_CAP)


def set_num_threads(n: int | None) -> None:
    """Set the threads every optimizer uses unless it has its own ``num_threads``.

    ``None`` restores the default: OpenMP's maximum (``OMP_NUM_THREADS`` when set, otherwise the
    CPUs of the process's affinity mask, capped by the whole CPUs of its cgroup's CPU quota),
    read at each step so that threadpoolctl limits apply too.
    """
    global _num_threads
    _check_num_threads(n, "set_num_threads")
    _num_threads = n


def get_num_threads() -> int:
    """The number of threads a step uses when its optimizer sets none (1 without OpenMP, and in
    a forked child, where every step runs on one thread)."""
    if not _core.has_openmp or _core.forked_child():
        return 1
    return _num_threads if _num_threads is not None else _core.max_threads()


def active_isa() -> str:
    """The instruction set of the kernels in use: one of ``compiled_isas()`` ('baseline', and
    'avx2' and 'avx512' on x86-64)."""
    return _core.active_isa()


def compiled_isas() -> list[str]:
    return list(_core.compiled_isas())


def supported_isas() -> list[str]:
    """ISAs that are both compiled in and supported by this CPU and OS."""
    return list(_core.supported_isas())


def config_lines() -> list[str]:
    openmp_library = _core.openmp_library()
    return [
        f"optkern {_core.version}",
        f"python {sys.version.split()[0]} ({platform.machine()}), numpy {np.__version__}",
        f"compiler: {_core.compiler}"
        + (" (AddressSanitizer + UBSan build)" if _core.sanitized else ""),
        f"compiled ISAs: {', '.join(compiled_isas())}",
        f"supported here: {', '.join(supported_isas())}",
        f"active ISA: {active_isa()} (set OPTKERN_ISA={'|'.join(compiled_isas())} to force one)",
        f"OpenMP: {_core.openmp_runtime}" + (f" ({openmp_library})" if openmp_library else ""),
        f"threads: {get_num_threads()}"
        + ("" if _core.has_openmp else " (built without OpenMP: always 1)")
        + (
            f" (the default at most {DEFAULT_THREAD_CAP}: the cgroup CPU quota, {CPU_QUOTA.source})"
            if DEFAULT_THREAD_CAP is not None
            else ""
        )
        + (" (a forked child: every step runs on 1 thread)" if _core.forked_child() else ""),
    ]


def show_config() -> None:
    """Print the version, compiler, ISAs (compiled, supported, active), OpenMP and threads."""
    print("\n".join(config_lines()))
