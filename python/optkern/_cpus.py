"""The CPUs this process may use, beyond the core count: the cgroup's CPU quota (cgroup v2
``cpu.max``, v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``), which a container's limit sets and
which OpenMP does not read (libgomp's default thread count already follows the affinity mask).
optkern caps its default thread count by it (``default_thread_cap``, applied at import by
``_runtime``), and the benchmarks report it (``benchmarks.machine``).

Linux only (/proc, /sys/fs/cgroup); elsewhere there is no quota to read.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

PROC = Path("/proc")
CGROUP = Path("/sys/fs/cgroup")


class Quota(NamedTuple):
    """The cgroup's limit in CPUs (None: unlimited or not found) and what was read."""

    cpus: float | None
    source: str


def read_or_none(path: Path) -> str | None:
    """The text of a file, or None if it cannot be read."""
    try:
        return path.read_text()
    except OSError:
        return None


def _cgroup_path(proc: Path, controller: str) -> str:
    """This process's cgroup for a v1 controller ("cpu"), or the v2 path ("")."""
    for line in (read_or_none(proc / "self" / "cgroup") or "").splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):  # v2's line has "" as its controllers
            return path.lstrip("/")
    return ""


def cgroup_quota(proc: Path = PROC, cgroup: Path = CGROUP) -> Quota:
    """The CPU limit of this process's own cgroup (falling back to the root of the mount)."""
    for directory in (cgroup / _cgroup_path(proc, ""), cgroup):
        text = read_or_none(directory / "cpu.max")
        if text is not None:
            limit, _, every = text.strip().partition(" ")
            source = f"cpu.max {text.strip()!r}"
            if limit == "max":
                return Quota(None, source)
            return Quota(int(limit) / int(every), source)
    for directory in (cgroup / "cpu" / _cgroup_path(proc, "cpu"), cgroup / "cpu"):
        quota_text = read_or_none(directory / "cpu.cfs_quota_us")
        period_text = read_or_none(directory / "cpu.cfs_period_us")
        if quota_text is not None and period_text is not None:
            quota, period = int(quota_text), int(period_text)
            if quota < 0:
                return Quota(None, f"cpu.cfs_quota_us {quota}")
            return Quota(quota / period, f"cpu.cfs_quota_us {quota} / period {period}")
    return Quota(None, "no cgroup CPU controller found")


def default_thread_cap(environ: Mapping[str, str], quota: Quota) -> int | None:
    """The cap on optkern's default thread count: the quota's whole CPUs (at least 1), or None
    (no cap) without a quota or when OMP_NUM_THREADS is set, which is the user's own choice.
    Rounded down: with 2 threads in a 1.5-CPU quota the cgroup throttles the step's threads in
    every period, and a step then waits for a throttled thread at its barrier."""
    if quota.cpus is None or environ.get("OMP_NUM_THREADS"):
        return None
    return max(1, math.floor(quota.cpus))
