"""The default thread count follows the cgroup's CPU quota (optkern/_cpus.py): a container limited
to fewer CPUs than the machine has gets no more default threads than its whole CPUs, unless
OMP_NUM_THREADS says otherwise. The quota is read from files, so the tests write them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import optkern
import pytest
from optkern import _core, _cpus


@pytest.fixture
def restore_cap() -> Iterator[None]:
    previous = _core._default_thread_cap()
    try:
        yield
    finally:
        _core._set_default_thread_cap(previous)


@pytest.mark.parametrize(
    ("files", "cpus"),
    [
        ({"cpu.max": "max 100000\n"}, None),
        ({"cpu.max": "150000 100000\n"}, 1.5),
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({"cpu/cpu.cfs_quota_us": "250000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 2.5),
        ({}, None),
    ],
)
def test_the_quota_is_read_from_cgroup_v2_or_v1(
    tmp_path: Path, files: dict[str, str], cpus: float | None
) -> None:
    _write(tmp_path / "sys", files)
    _write(tmp_path / "proc", {"self/cgroup": "0::/\n"})
    quota = _cpus.cgroup_quota(tmp_path / "proc", tmp_path / "sys")
    assert quota.cpus == cpus
    assert quota.source  # says what it read, or that it found nothing


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_a_parents_limit_binds_its_children(tmp_path: Path) -> None:
    """cgroup v2: the smallest quota from the process's cgroup up to the root; v1's cpu,cpuacct
    mount likewise."""
    _write(tmp_path / "proc", {"self/cgroup": "0::/slice/leaf\n"})
    _write(
        tmp_path / "sys",
        {"slice/leaf/cpu.max": "max 100000\n", "slice/cpu.max": "250000 100000\n"},
    )
    assert _cpus.cgroup_quota(tmp_path / "proc", tmp_path / "sys").cpus == 2.5
    _write(tmp_path / "sys", {"slice/leaf/cpu.max": "300000 100000\n"})
    assert _cpus.cgroup_quota(tmp_path / "proc", tmp_path / "sys").cpus == 2.5
    v1 = tmp_path / "v1"
    _write(v1 / "proc", {"self/cgroup": "4:cpu,cpuacct:/docker/abc\n0::/\n"})
    _write(
        v1 / "sys",
        {
            "cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "-1\n",
            "cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n",
            "cpu,cpuacct/docker/cpu.cfs_quota_us": "150000\n",
            "cpu,cpuacct/docker/cpu.cfs_period_us": "100000\n",
        },
    )
    assert _cpus.cgroup_quota(v1 / "proc", v1 / "sys").cpus == 1.5


@pytest.mark.parametrize(
    "files",
    [
        {"cpu.max": ""},
        {"cpu.max": "150000\n"},
        {"cpu.max": "150000 0\n"},
        {"cpu.max": "lots of\n"},
        {"cpu/cpu.cfs_quota_us": "\n", "cpu/cpu.cfs_period_us": "100000\n"},
        {"cpu/cpu.cfs_quota_us": "100\n", "cpu/cpu.cfs_period_us": "0\n"},
    ],
)
def test_malformed_files_are_no_quota_and_no_error(tmp_path: Path, files: dict[str, str]) -> None:
    """A quota optkern cannot read must never make `import optkern` fail."""
    _write(tmp_path / "sys", files)
    _write(tmp_path / "proc", {"self/cgroup": "garbage line\n0::/\n"})
    assert _cpus.cgroup_quota(tmp_path / "proc", tmp_path / "sys").cpus is None


@pytest.mark.parametrize(
    ("cpus", "environ", "cap"),
    [
        (None, {}, None),
        (0.5, {}, 1),  # never below one thread
        (1.5, {}, 1),  # rounded down: a second thread would be throttled in every period
        (2.0, {}, 2),
        (3.9, {}, 3),
        (1.0, {"OMP_NUM_THREADS": "4"}, None),  # the user's own choice is not capped
        (1.0, {"OMP_NUM_THREADS": ""}, 1),  # set but empty: not a choice
    ],
)
def test_the_cap_is_the_quotas_whole_cpus(
    cpus: float | None, environ: dict[str, str], cap: int | None
) -> None:
    assert _cpus.default_thread_cap(environ, _cpus.Quota(cpus, "test")) == cap


@pytest.mark.skipif(not _core.has_openmp, reason="one thread without OpenMP anyway")
def test_the_cap_limits_the_default_and_not_an_explicit_count(restore_cap: None) -> None:
    _core._set_default_thread_cap(0)  # whatever this machine's quota set at import
    uncapped = _core.max_threads()
    _core._set_default_thread_cap(1)
    assert _core.max_threads() == 1
    assert optkern.get_num_threads() == 1
    optkern.set_num_threads(2)  # an explicit count is the user's choice
    try:
        assert optkern.get_num_threads() == 2
    finally:
        optkern.set_num_threads(None)
    _core._set_default_thread_cap(0)
    assert _core.max_threads() == uncapped
    with pytest.raises(ValueError, match="default thread cap must be >= 0"):
        _core._set_default_thread_cap(-1)


def test_omp_num_threads_leaves_the_default_uncapped_at_import() -> None:
    code = (
        "import optkern; "
        "print(optkern._runtime.DEFAULT_THREAD_CAP, optkern._core._default_thread_cap())"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["None", "0"]
