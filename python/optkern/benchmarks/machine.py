"""What else used the CPUs during a benchmark run, reported once per run so that a reader can judge
its numbers: the CPUs this process may run on (affinity, cgroup quota), the load average before
and after, and the CPU time of the whole machine against this process's own over the run.

Linux only (/proc, /sys/fs/cgroup); elsewhere each part says "n/a".
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass

from .. import _cpus

PROC = _cpus.PROC
CGROUP = _cpus.CGROUP  # a test points it elsewhere


@dataclass(frozen=True)
class Snapshot:
    """Counters read at one moment; two of them make a report."""

    wall: float  # time.monotonic()
    loadavg: str | None  # the 1, 5 and 15 minute load averages
    jiffies: tuple[int, int, int] | None  # all CPUs since boot: (busy, steal, total) ticks
    own_cpu: float  # seconds of CPU this process and its waited-for children have used


def _jiffies(stat: str | None) -> tuple[int, int, int] | None:
    """(busy, steal, total) from /proc/stat's aggregate "cpu" line: user nice system idle iowait
    irq softirq steal [guest guest_nice] (guest time is already counted in user)."""
    if stat is None or not stat.startswith("cpu "):
        return None
    fields = [int(v) for v in stat.split("\n", 1)[0].split()[1:9]]
    if len(fields) < 8:
        return None
    user, nice, system, idle, iowait, irq, softirq, steal = fields
    busy = user + nice + system + irq + softirq
    return busy, steal, busy + idle + iowait + steal


def snapshot() -> Snapshot:
    times = os.times()
    loadavg = _cpus.read_or_none(PROC / "loadavg")
    return Snapshot(
        wall=time.monotonic(),
        loadavg=" ".join(loadavg.split()[:3]) if loadavg else None,
        jiffies=_jiffies(_cpus.read_or_none(PROC / "stat")),
        own_cpu=times.user + times.system + times.children_user + times.children_system,
    )


def cpu_quota() -> str:
    """The cgroup's CPU limit as read (``optkern._cpus.cgroup_quota``)."""
    quota = _cpus.cgroup_quota(PROC, CGROUP)
    if quota.cpus is None:
        return f"{'n/a' if quota.source == _cpus.NO_CONTROLLER else 'none'} ({quota.source})"
    return f"{quota.cpus:.2f} CPUs ({quota.source})"


def cpu_model() -> str:
    """The first "model name" of /proc/cpuinfo (Linux), else what ``platform`` knows."""
    for line in (_cpus.read_or_none(PROC / "cpuinfo") or "").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def affinity() -> str:
    getter = getattr(os, "sched_getaffinity", None)
    if getter is None:
        return f"n/a ({os.cpu_count()} CPUs)"
    cpus = sorted(getter(0))
    return f"{len(cpus)} of {os.cpu_count()} CPUs ({','.join(map(str, cpus))})"


def other_cpus(before: Snapshot, after: Snapshot) -> float | None:
    """How many CPUs, on average between the two snapshots, processes other than this one (and
    its waited-for children) kept busy, hypervisor steal included; None without /proc/stat."""
    if before.jiffies is None or after.jiffies is None or after.wall <= before.wall:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    busy = (after.jiffies[0] - before.jiffies[0] + after.jiffies[1] - before.jiffies[1]) / tick
    return max(busy - (after.own_cpu - before.own_cpu), 0.0) / (after.wall - before.wall)


def report(before: Snapshot, after: Snapshot) -> str:
    """One paragraph: what this process may use, and what the machine did during the run."""
    load = f"before {before.loadavg or 'n/a'}, after {after.loadavg or 'n/a'}"
    lines = [
        f"CPUs: affinity {affinity()}; cgroup CPU quota {cpu_quota()}",
        f"load average (1, 5, 15 min): {load}",
    ]
    if before.jiffies is not None and after.jiffies is not None:
        tick = os.sysconf("SC_CLK_TCK")
        busy, steal, total = (
            (a - b) / tick for a, b in zip(after.jiffies, before.jiffies, strict=True)
        )
        own = after.own_cpu - before.own_cpu
        lines.append(
            f"CPU time during the run ({after.wall - before.wall:.1f} s wall, {total:.1f} "
            f"CPU-s on all CPUs): busy {busy:.1f} CPU-s, of which this process "
            f"{min(own, busy):.1f} (its threads, and the --busy background process when run), "
            f"other processes {max(busy - own, 0.0):.1f}; stolen by the hypervisor {steal:.1f}"
        )
    else:
        lines.append("CPU time during the run: n/a (no /proc/stat)")
    return "\n".join(lines)
