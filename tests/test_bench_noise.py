"""The benchmark's noise flags, machine report, scenarios and 16-bit tables, on synthetic samples
(no timing is asserted: the samples are made up, and only the logic that reads them is tested)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from optkern.benchmarks import machine, noise, peers16, report16, scenarios
from optkern.benchmarks.harness import measure
from optkern.benchmarks.peers import CEILING, FLOOR, ONE_THREAD
from optkern.benchmarks.report import Case, table, threads_table

QUIET = [1.00e-3, 1.01e-3, 1.02e-3, 1.05e-3, 1.03e-3]
WIDE = [1.0e-3, 1.1e-3, 2.5e-3, 1.05e-3, 1.02e-3]


def test_spread_is_the_min_max_range_over_the_median() -> None:
    assert noise.spread([2.0, 2.0, 2.0]) == 0
    assert noise.spread([1.0, 2.0, 3.0]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no samples"):
        noise.spread([])
    with pytest.raises(ValueError, match="median must be > 0"):
        noise.spread([0.0, 0.0])


@pytest.mark.parametrize(
    ("samples", "share", "expected"),
    [
        (QUIET, 0.9, []),
        (QUIET, None, []),
        (QUIET, noise.CEILING_LIMIT, []),  # at the limit: not over it
        (QUIET, noise.CEILING_LIMIT + 0.01, [noise.OVER_CEILING]),
        (WIDE, 0.5, [noise.SPREAD]),
        (WIDE, 9.6, [noise.SPREAD, noise.OVER_CEILING]),
    ],
)
def test_flags_mark_a_wide_spread_and_a_share_over_the_ceiling(
    samples: list[float], share: float | None, expected: list[str]
) -> None:
    assert noise.spread(WIDE) > noise.SPREAD_LIMIT > noise.spread(QUIET)
    assert noise.flags(samples, share) == expected


def _case(
    times: dict[str, list[float]],
    ceilings: dict[str, str | None] | None = None,
    *,
    scenario: str = "quiet",
    others_cpus: float | None = None,
    default_threads: bool = False,
    notes: list[str] | None = None,
) -> Case:
    """A 1e6-element Adam case on 2 threads; every contender judged against CEILING unless
    `ceilings` says otherwise."""
    judged: dict[str, str | None] = dict.fromkeys(times, CEILING)
    judged.update(ceilings or {})
    return Case(
        "adam",
        "1e6",
        "float32",
        2,
        10**6,
        times,
        dict.fromkeys(times, 28),
        judged,
        scenario=scenario,
        default_threads=default_threads,
        notes=notes or [],
        others_cpus=others_cpus,
    )


def _row(text: str, contender: str) -> list[str]:
    return next(
        [cell.strip() for cell in line.split("|")[1:-1]]
        for line in text.splitlines()
        if line.startswith("| adam |") and f"| {contender} |" in line
    )


def test_the_table_flags_rows_and_explains_the_flags_under_it() -> None:
    fast = [t * 0.5 for t in QUIET]  # twice as fast as its ceiling: the ceiling was disturbed
    case = _case(
        {"optkern": fast, CEILING: QUIET, "torch fused": WIDE},
        scenario="busy",
        others_cpus=1.25,
    )
    text = table([case])
    assert _row(text, "optkern")[-1] == noise.OVER_CEILING
    assert _row(text, "optkern")[-4] == "200 %"
    assert _row(text, CEILING)[-4] == "100 %"
    assert _row(text, "torch fused")[-1] == noise.SPREAD
    assert _row(text, "optkern")[4:6] == ["busy", "1.25"]  # scenario, others' CPUs
    legend = text.split("\n\n")[1]
    assert f"over {noise.SPREAD_LIMIT:.0%}" in legend
    assert f"faster than {noise.CEILING_LIMIT:.0%}" in legend


def test_a_missing_ceiling_is_n_a_with_its_reason_and_none_is_a_dash() -> None:
    case = _case(
        {"optkern": QUIET, "optkern float32": QUIET},
        ceilings={"optkern float32": None},
        notes=["same-traffic ceiling: n/a (no ceiling for 16-bit storage yet)"],
    )
    text = table([case])
    assert _row(text, "optkern")[-4] == "n/a"
    assert _row(text, "optkern float32")[-4] == "—"
    assert "- same-traffic ceiling: n/a (no ceiling for 16-bit storage yet)" in text
    assert _row(text, "optkern")[5] == "n/a"  # no others' CPUs measured


def test_the_limit_is_the_larger_of_the_ceiling_and_the_arithmetic_floor() -> None:
    """% of limit: the slower (larger median) of the two bounds over the contender's median,
    named; a contender with neither shows a dash."""
    slow = [t * 2 for t in QUIET]
    memory_bound = _case({"optkern": slow, CEILING: QUIET, FLOOR: [t * 0.5 for t in QUIET]})
    memory_bound.floors = {"optkern": FLOOR, FLOOR: FLOOR}
    text = table([memory_bound])
    assert _row(text, "optkern")[-3] == "50 % (memory)"
    assert memory_bound.limit("optkern") == (memory_bound.median(CEILING), "memory")
    arithmetic_bound = _case({"optkern": slow, CEILING: QUIET, FLOOR: [t * 1.6 for t in QUIET]})
    arithmetic_bound.floors = {"optkern": FLOOR}
    share = arithmetic_bound.share_of_limit("optkern")
    assert share is not None
    assert share[1] == "arithmetic"
    assert share[0] == pytest.approx(0.8)
    assert _row(table([arithmetic_bound]), "optkern")[-3] == "80 % (arithmetic)"
    neither = _case({"optkern": QUIET, "torch fused": QUIET}, ceilings={"torch fused": None})
    assert _row(table([neither]), "torch fused")[-3] == "—"
    assert "arithmetic floor: optkern's own kernel" in text


def test_threads_table_divides_the_default_by_one_thread_from_the_same_case() -> None:
    one = _case({"optkern": QUIET, CEILING: QUIET}, default_threads=False)
    two = _case(
        {"optkern": [2 * t for t in QUIET], ONE_THREAD: QUIET, CEILING: QUIET},
        default_threads=True,
    )
    assert threads_table([one]) == ""
    rows = threads_table([one, two]).splitlines()
    assert len(rows) == 3  # the header's two lines and one case
    cells = [cell.strip() for cell in rows[2].split("|")[1:-1]]
    assert cells[5] == "2 (default)"
    assert cells[8] == "2.00"


def test_16_bit_bytes_per_element() -> None:
    # Adam (2 states) on bfloat16/float16: 22 with float32 state, 14 with 16-bit, 28 with master
    assert peers16.bytes_per_element(2, 2, 4) == 22
    assert peers16.bytes_per_element(2, 2, 2) == 14
    assert peers16.bytes_per_element(2, 2, 4, master=True) == 28
    assert peers16.bytes_per_element(4, 2, 4) == 28  # float32 Adam, as peers counts it


def test_16_bit_ratio_table_reads_each_ratio_off_one_case() -> None:
    times = {
        "optkern": QUIET,
        peers16.FLOAT32: [1.3 * t for t in QUIET],
        "DeepSpeed": [3 * t for t in QUIET],
        "torch fused": [2 * t for t in QUIET],
        peers16.STATE16: [0.5 * t for t in QUIET],
        peers16.MASTER: QUIET,
        peers16.CEILING_MASTER: [0.98 * t for t in QUIET],
    }
    case = _case(times, ceilings={peers16.MASTER: peers16.CEILING_MASTER})
    assert report16.ratio_table([case]) == ""  # float32 cases have no row
    case.dtype = "bfloat16"
    case.bytes_per_element.update({"optkern": 22, "torch fused": 14})
    row = report16.ratio_table([case]).splitlines()[2]
    cells = [cell.strip() for cell in row.split("|")[1:-1]]
    assert cells[6:9] == ["n/a", "1.30x", "3.00x"]  # no ceiling timed for "optkern"
    assert cells[9] == "2.00x (22 : 14 B)"
    assert cells[12] == "4.00x"  # torch fused over the bfloat16-state step
    assert cells[14] == "98 %"


PROC_STAT = "cpu  100 5 50 1000 10 3 2 7 0 0\ncpu0 50 2 25 500 5 1 1 3 0 0\n"


def test_jiffies_from_proc_stat() -> None:
    assert machine._jiffies(PROC_STAT) == (160, 7, 1177)
    assert machine._jiffies(None) is None
    assert machine._jiffies("intr 1 2 3\n") is None


def test_other_cpus_subtracts_this_process() -> None:
    tick = os.sysconf("SC_CLK_TCK")
    before = machine.Snapshot(10.0, "0 0 0", (0, 0, 0), own_cpu=1.0)
    # 2 s: 3 CPU-s busy and 0.5 stolen, of which this process used 1.5
    after = machine.Snapshot(12.0, "1 0 0", (3 * tick, tick // 2, 4 * tick), own_cpu=2.5)
    assert machine.other_cpus(before, after) == pytest.approx(1.0)
    assert machine.other_cpus(before, machine.Snapshot(12.0, None, None, 2.5)) is None
    assert "other processes 1.5" in machine.report(before, after)


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"cpu.max": "max 100000\n"}, "none (cpu.max 'max 100000')"),
        ({"cpu.max": "150000 100000\n"}, "1.50 CPUs"),
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, "none"),
        ({"cpu/cpu.cfs_quota_us": "50000\n", "cpu/cpu.cfs_period_us": "100000\n"}, "0.50 CPUs"),
        ({}, "n/a"),
    ],
)
def test_cpu_quota_reads_cgroup_v2_and_v1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str], expected: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    monkeypatch.setattr(machine, "CGROUP", tmp_path)
    assert machine.cpu_quota().startswith(expected)


def _running(pid: int) -> bool:
    """Alive and not a zombie (an exited child its new parent has not reaped yet)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_busy_spinner_runs_inside_and_is_stopped_even_on_an_exception() -> None:
    seen: list[subprocess.Popen[bytes]] = []

    def interrupted() -> None:
        with scenarios.background_spinner() as process:
            seen.append(process)
            assert _running(process.pid)
            raise KeyboardInterrupt  # what Ctrl-C raises in the benchmark

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    pid = seen[0].pid
    assert seen[0].returncode is not None
    assert not _running(pid)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_busy_spinner_exits_when_its_parent_is_killed() -> None:
    """A benchmark killed with SIGKILL runs no cleanup: the spinner notices its parent is gone."""
    parent = textwrap.dedent(
        """
        import os, signal
        from optkern.benchmarks.scenarios import background_spinner
        with background_spinner() as process:
            print(process.pid, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", parent], capture_output=True, text=True, check=False
    )
    assert out.returncode == -9, out.stderr
    pid = int(out.stdout)
    deadline = time.monotonic() + 30  # a poll for an exit, not a timing assertion
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(pid)


def test_scenarios_yield_their_hook() -> None:
    with scenarios.scenario("quiet") as hook:
        assert hook is None
    with scenarios.scenario("blas") as hook:
        assert hook is not None
        product = hook()
        assert isinstance(product, np.ndarray)
        assert product.shape == (256, 256)
        assert product.dtype == np.float32
    with pytest.raises(ValueError, match="unknown scenario 'bogus'"):
        scenarios.scenario("bogus").__enter__()


def test_measure_runs_the_hook_before_every_call() -> None:
    log: list[str] = []
    measure(
        {"a": lambda: log.append("a"), "b": lambda: log.append("b")},
        rounds=2,
        warmup=1,
        calls=2,
        warmup_seconds=0,
        before=lambda: log.append("hook"),
    )
    assert len(log) == 2 * 3 * 2 * 2  # (hook, call) x contenders x rounds x calls
    assert log[::2] == ["hook"] * (len(log) // 2)


def test_cpu_model_is_read_from_proc_cpuinfo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "cpuinfo").write_text("processor\t: 0\nmodel name\t: Some CPU 9000\n")
    monkeypatch.setattr(machine, "PROC", tmp_path)
    assert machine.cpu_model() == "Some CPU 9000"
    (tmp_path / "cpuinfo").unlink()  # unreadable: what platform knows
    assert machine.cpu_model() == (platform.processor() or platform.machine())
