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
#: Quota.source when no cgroup CPU controller was found at all (rather than one without a limit).
NO_CONTROLLER = "no cgroup CPU controller found"


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
    """This process's cgroup for a v1 controller ("cpu"), or the v2 path (""); "" if unknown."""
    for line in (read_or_none(proc / "self" / "cgroup") or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3 and controller in parts[1].split(","):  # v2's controllers are ""
            return parts[2].strip().lstrip("/")
    return ""


def _ancestors(mount: Path, path: str) -> list[Path]:
    """The cgroup's directory under `mount` and each of its parents up to the mount's root."""
    parts = [p for p in path.split("/") if p and p != ".."]
    return [mount.joinpath(*parts[:k]) for k in range(len(parts), -1, -1)]


def _v2_limit(directory: Path) -> tuple[float | None, str] | None:
    """cpu.max of one directory: (CPUs or None for "max", what was read); None if absent or
    malformed (a quota optkern cannot read is no reason to refuse to import)."""
    text = read_or_none(directory / "cpu.max")
    if text is None:
        return None
    fields = text.split()
    try:
        if len(fields) == 2 and fields[0] == "max":
            return None, f"cpu.max {text.strip()!r}"
        quota, period = int(fields[0]), int(fields[1])
    except (IndexError, ValueError):
        return None
    if quota <= 0 or period <= 0:
        return None
    return quota / period, f"cpu.max {text.strip()!r} in {directory}"


def _v1_limit(directory: Path) -> tuple[float | None, str] | None:
    """cpu.cfs_quota_us / cpu.cfs_period_us of one directory, as _v2_limit."""
    quota_text = read_or_none(directory / "cpu.cfs_quota_us")
    period_text = read_or_none(directory / "cpu.cfs_period_us")
    if quota_text is None or period_text is None:
        return None
    try:
        quota, period = int(quota_text), int(period_text)
    except ValueError:
        return None
    if quota < 0:
        return None, f"cpu.cfs_quota_us {quota}"
    if quota == 0 or period <= 0:
        return None
    return quota / period, f"cpu.cfs_quota_us {quota} / period {period} in {directory}"


def cgroup_quota(proc: Path = PROC, cgroup: Path = CGROUP) -> Quota:
    """The CPU limit of this process's cgroup: the smallest quota of its cgroup and every parent
    (a parent's limit binds its children: a systemd slice's CPUQuota=, a pod's limit above a
    container's), cgroup v2 first, then v1's cpu controller (mounted as cpu or cpu,cpuacct)."""
    hierarchies = [(_ancestors(cgroup, _cgroup_path(proc, "")), _v2_limit)]
    v1_path = _cgroup_path(proc, "cpu")
    for mount in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        hierarchies.append((_ancestors(cgroup / mount, v1_path), _v1_limit))
    for directories, read in hierarchies:
        limits = [limit for limit in map(read, directories) if limit is not None]
        if limits:
            finite = [limit for limit in limits if limit[0] is not None]
            if not finite:
                return Quota(None, limits[0][1])
            cpus, source = min(finite, key=lambda limit: limit[0] or 0.0)
            return Quota(cpus, source)
    return Quota(None, NO_CONTROLLER)


def default_thread_cap(environ: Mapping[str, str], quota: Quota) -> int | None:
    """The cap on optkern's default thread count: the quota's whole CPUs (at least 1), or None
    (no cap) without a quota or when OMP_NUM_THREADS is set, which is the user's own choice.
    Rounded down: with 2 threads in a 1.5-CPU quota the cgroup throttles the step's threads in
    every period, and a step then waits for a throttled thread at its barrier."""
    if quota.cpus is None or environ.get("OMP_NUM_THREADS"):
        return None
    return max(1, math.floor(quota.cpus))
