"""The benchmark plumbing: the same-traffic ceiling moves what the step moves, and the short
preset behind `optkern bench` runs end to end (timings themselves are never asserted)."""

from __future__ import annotations

import io
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import optkern
import pytest
from optkern import _core, cli
from optkern.benchmarks import harness
from optkern.benchmarks.cli import main as bench_main
from optkern.benchmarks.floor import MIN_UPDATES, RESIDENT_BYTES, arithmetic_floor
from optkern.benchmarks.harness import measure
from optkern.benchmarks.report import HEADER


@pytest.mark.parametrize(
    ("make", "states"),
    [
        (lambda ps: optkern.SGD(ps, lr=0.1), 0),
        (lambda ps: optkern.Adagrad(ps), 1),
        (lambda ps: optkern.Adam(ps), 2),
        (lambda ps: optkern.Adam(ps, amsgrad=True), 3),
        # square_avg and grad_avg bound, momentum_buffer (the role between them) not
        (lambda ps: optkern.RMSprop(ps, centered=True), 2),
    ],
)
@pytest.mark.parametrize("threads", [1, 2])
def test_same_traffic_ceiling_reads_and_writes_every_bound_array(
    make: object, states: int, threads: int, tiny_grain: None
) -> None:
    """The ceiling adds g to the parameter and to each bound state: exactly the arrays the
    algorithm's step reads and writes, no fewer."""
    rng = np.random.default_rng(0)
    params = [rng.standard_normal(n).astype(np.float32) for n in (1000, 37)]
    grads = [rng.standard_normal(p.shape).astype(np.float32) for p in params]
    opt = make(params)  # type: ignore[operator]
    opt.step(grads)
    assert sum(len(s) for s in opt.state.values()) == states * len(params)
    before = [p.copy() for p in params]
    state_before = {i: {k: a.copy() for k, a in s.items()} for i, s in opt.state.items()}
    _core._same_traffic_step(opt._prepared.tensor_groups, grads, threads)
    for p, old, g in zip(params, before, grads, strict=True):
        np.testing.assert_array_equal(p, old + g)
    for i, arrays in opt.state.items():
        for name, array in arrays.items():
            np.testing.assert_array_equal(array, state_before[i][name] + grads[i])


@pytest.mark.parametrize("threads", [1, 3])
def test_segment_repeats_run_each_part_that_many_times(threads: int, tiny_grain: None) -> None:
    """The arithmetic floor's hook: with repeats r, one step of plain SGD (p -= lr * g) gives the
    bits of r ordinary steps, on every thread count (each part goes over its own segments r
    times, none twice over another's); 1 is a normal step again, and 0 is refused."""
    rng = np.random.default_rng(7)
    start = [rng.standard_normal(n).astype(np.float32) for n in (3001, 64, 5)]
    grads = [rng.standard_normal(p.shape).astype(np.float32) for p in start]
    repeated = [p.copy() for p in start]
    opt = optkern.SGD(repeated, lr=0.01, num_threads=threads)
    opt.step(grads)
    prepared = opt._prepared
    assert prepared is not None
    assert prepared._segment_repeats == 1
    prepared._set_segment_repeats(5)
    opt.step(grads)
    plain = [p.copy() for p in start]
    reference_opt = optkern.SGD(plain, lr=0.01, num_threads=threads)
    for _ in range(6):
        reference_opt.step(grads)
    for a, b in zip(repeated, plain, strict=True):
        np.testing.assert_array_equal(a, b)
    prepared._set_segment_repeats(1)
    opt.step(grads)
    reference_opt.step(grads)
    for a, b in zip(repeated, plain, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="segment repeats must be >= 1, got 0"):
        prepared._set_segment_repeats(0)


def test_arithmetic_floor_updates_at_least_the_case_count_on_resident_data() -> None:
    """The floor's optimizer has about RESIDENT_BYTES per thread, its call makes at least as many
    element updates as the case, and its scale turns seconds of those into seconds of the case's."""
    made: list[optkern.Adam] = []

    def make(params: list[np.ndarray], threads: int) -> optkern.Adam:
        made.append(optkern.Adam(params, num_threads=threads))
        return made[-1]

    floor = arithmetic_floor(make, np.dtype(np.float32), np.dtype(np.float32), 16, 10**7, 2)
    assert floor.per_thread == RESIDENT_BYTES // 16
    (param,) = made[0].param_groups[0]["params"]
    assert param.size == 2 * floor.per_thread
    assert floor.repeats * param.size >= 10**7
    assert floor.scale == pytest.approx(10**7 / (floor.repeats * param.size))
    before = param.copy()
    floor.step()
    assert not np.array_equal(before, param)
    assert made[0]._prepared is not None
    assert made[0]._prepared._segment_repeats == floor.repeats
    small = arithmetic_floor(make, np.dtype(np.float64), np.dtype(np.float64), 32, 1000, 1)
    assert small.repeats * small.per_thread >= MIN_UPDATES  # a short case still runs long enough


def test_optkern_bench_short_preset_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plot = tmp_path / "bench.png"
    argv = ["--sizes", "1e3", "--shapes", "3x64", "--rounds", "2", "--warmup", "1"]
    assert cli.main(["bench", *argv, "--threads", "1", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| adam |")]
    contenders = {row.split("|")[7].strip() for row in rows}
    assert {"optkern", "same-traffic ceiling", "arithmetic floor", "naive NumPy"} <= contenders
    share = r"(\d+ %|—)"
    limit = r"(\d+ % \((memory|arithmetic)\)|—)"
    assert all(
        re.search(rf"\| {share} \| {limit} \| [\d.]+x \| [a-z >,]* \|$", row) for row in rows
    )
    optkern_row = next(row for row in rows if row.split("|")[7].strip() == "optkern")
    assert re.search(r"% \((memory|arithmetic)\) \|", optkern_row)
    assert "flags: spread = " in out
    assert "CPUs: affinity" in out  # the machine, once per run
    assert "load average" in out
    assert plot.stat().st_size > 10_000


def test_optkern_bench_busy_and_16_bit_cases(capsys: pytest.CaptureFixture[str]) -> None:
    """Every scenario gets its rows; a bfloat16 case times every storage and prints the ratio
    table, with "n/a" where this build has no 16-bit ceiling; 2 threads also time 1 thread."""
    pytest.importorskip("ml_dtypes")
    argv = ["--sizes", "1e3", "--shapes", "", "--rounds", "2", "--warmup", "1", "--busy"]
    assert cli.main(["bench", *argv, "--threads", "2", "--dtypes", "bfloat16"]) == 0
    out = capsys.readouterr().out
    rows = [line.split("|") for line in out.splitlines() if line.startswith("| adam |")]
    columns = HEADER.splitlines()[0].count("|") + 1  # the pieces of a split row
    main_rows = [row for row in rows if len(row) == columns]
    assert {row[5].strip() for row in main_rows} == {"quiet", "busy", "blas"}
    assert {
        "optkern",
        "optkern state bfloat16",
        "optkern master weights",
        "optkern float32",
        "arithmetic floor",
        "arithmetic floor, state bfloat16",
    } <= {row[7].strip() for row in main_rows}
    assert "optkern 1 thread" in {row[7].strip() for row in main_rows}
    assert "threads / 1 thread" in out
    assert "16-bit storage, the ratios of issue 15's targets" in out
    assert all(row[4].strip() == "2 (default)" for row in main_rows)


def test_optkern_bench_rejects_an_unknown_scenario_and_dtype() -> None:
    with pytest.raises(SystemExit, match="unknown scenario"):
        bench_main(["--scenarios", "quiet,idle"], short=True)
    with pytest.raises(SystemExit, match=r"--dtypes: .*int8"):
        bench_main(["--dtypes", "int8"], short=True)


def test_optkern_bench_rejects_an_unknown_algorithm() -> None:
    with pytest.raises(SystemExit, match="unknown algorithm"):
        bench_main(["--algorithms", "bogus"], short=True)


def test_measure_times_back_to_back_calls_per_sample() -> None:
    """``calls`` runs each contender that many times per sample: every sample is the mean of
    those calls, and the warm-up samples are dropped."""
    counts = {"a": 0, "b": 0}

    def contender(name: str) -> None:
        counts[name] += 1

    times = measure(
        {k: lambda k=k: contender(k) for k in counts},
        rounds=4,
        warmup=2,
        calls=5,
        warmup_seconds=0,
    )
    assert counts == {"a": 30, "b": 30}
    assert [len(t) for t in times.values()] == [4, 4]
    with pytest.raises(ValueError, match="calls must be >= 1"):
        measure({"a": lambda: None}, rounds=1, warmup=0, calls=0)


def test_measure_warms_up_for_at_least_warmup_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Contenders keep warming up past the `warmup` rounds until `warmup_seconds` have passed on
    the harness's clock; only then do the timed rounds start. The clock is a fake that advances
    1 ms per reading, so the test counts calls instead of measuring time."""
    readings = 0

    def fake_clock() -> float:
        nonlocal readings
        readings += 1
        return readings * 1e-3

    monkeypatch.setattr(harness, "time", SimpleNamespace(perf_counter=fake_clock))
    calls = {"floor": 0, "none": 0}
    for name, seconds in (("floor", 0.05), ("none", 0.0)):

        def contender(name: str = name) -> None:
            calls[name] += 1

        times = measure({"a": contender}, rounds=3, warmup=1, warmup_seconds=seconds)
        assert times["a"] == [pytest.approx(1e-3)] * 3  # one clock step per timed call
    assert calls["none"] == 1 + 3  # the warm-up rounds asked for, then the timed rounds
    # 3 readings per warm-up round (the floor check and the two around the call): 50 ms of fake
    # time is 16 or 17 warm-up rounds
    assert calls["floor"] >= 16 + 3


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_measure_progress_is_one_line_per_case_off_a_terminal() -> None:
    """A pipe or a log gets one full line per case; only a terminal gets the line redrawn with
    carriage returns, once per round."""
    log, terminal = io.StringIO(), Terminal()
    for stream in (log, terminal):
        measure({"a": lambda: None}, rounds=3, warmup=1, label="case", stream=stream)
    assert "\r" not in log.getvalue()
    assert re.fullmatch(r"  case: 3 rounds after \d+ warm-up, [\d.]+ s\n", log.getvalue())
    assert terminal.getvalue().count("\r") == 1 + 3  # the warm-up, then each timed round
    assert terminal.getvalue().endswith("round 3/3   \n")
    quiet = io.StringIO()
    measure({"a": lambda: None}, rounds=1, warmup=0, stream=quiet)  # no label: no progress
    assert quiet.getvalue() == ""


def test_optkern_bench_progress_in_a_log_has_no_carriage_returns(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["--sizes", "1e3,1e4", "--shapes", "", "--rounds", "2", "--warmup", "1"]
    assert cli.main(["bench", *argv, "--threads", "1"]) == 0
    err = capsys.readouterr().err  # pytest's capture is not a terminal
    assert "\r" not in err
    assert [re.sub(r"\d+ warm-up, [\d.]+ s", "", line) for line in err.splitlines()] == [
        "  [1/2] adam 1e3 float32 1 thread(s) quiet: 2 rounds after ",
        "  [2/2] adam 1e4 float32 1 thread(s) quiet: 2 rounds after ",
    ]


def _raw(a: np.ndarray) -> np.ndarray:
    """An array as the ceiling moves it: a 16-bit one as its bits, float32 as itself."""
    return a.view(np.uint16) if a.dtype.itemsize == 2 else a


def _raw_add(to: np.ndarray, g: np.ndarray) -> np.ndarray:
    """The ceiling's one operation per written array (optkern/ceiling.h's ceiling_detail::add)."""
    to, g = _raw(to), _raw(g)
    if to.dtype == np.uint16:
        if g.dtype != np.uint16:
            g = (g.view(np.uint32) >> np.uint32(16)).astype(np.uint16)
        return (to.astype(np.uint32) + g).astype(np.uint16)
    return to + (g.astype(np.float32) if g.dtype == np.uint16 else g)


@pytest.mark.parametrize(
    "make",
    [
        lambda ps, kw: optkern.SGD(ps, lr=0.1, **kw),
        lambda ps, kw: optkern.Adam(ps, **kw),
        lambda ps, kw: optkern.Adam(ps, amsgrad=True, **kw),
        # square_avg and grad_avg bound, momentum_buffer (between them) not
        lambda ps, kw: optkern.RMSprop(ps, centered=True, **kw),
    ],
)
@pytest.mark.parametrize(
    "combination", ["bfloat16", "float16-grad32", "bfloat16-state16", "float16-master"]
)
@pytest.mark.parametrize("threads", [1, 2])
def test_16_bit_ceiling_reads_and_writes_every_bound_array(
    make: object, combination: str, threads: int, tiny_grain: None
) -> None:
    """The 16-bit ceiling moves each array in its storage type: the bits of every 16-bit array,
    float32 ones as floats, a master copy and the 16-bit parameter rounded from it."""
    from optkern import _storage

    (combo,) = [c for c in _storage.available_combinations() if c.name == combination]
    rng = np.random.default_rng(0)
    params = [
        rng.standard_normal(n).astype(np.float32).astype(combo.dtype(combo.param))
        for n in (1000, 37)
    ]
    grads = [
        rng.standard_normal(p.shape).astype(np.float32).astype(combo.dtype(combo.grad))
        for p in params
    ]
    options = {k: v for k, v in combo.options.items() if k != "seed"}
    opt = make(params, options)  # type: ignore[operator]
    opt.step(grads)
    before = [p.copy() for p in params]
    state_before = {i: {k: a.copy() for k, a in s.items()} for i, s in opt.state.items()}
    _core._same_traffic_step(opt._prepared.tensor_groups, grads, threads)
    for i, (p, old, g) in enumerate(zip(params, before, grads, strict=True)):
        states = state_before[i]
        master = states.get(_storage.MASTER)
        if master is None:
            np.testing.assert_array_equal(_raw(p), _raw_add(old, g))
        else:
            updated = _raw_add(master, g)
            np.testing.assert_array_equal(opt.state[i][_storage.MASTER], updated)
            expected = (updated.view(np.uint32) >> np.uint32(16)).astype(np.uint16)
            np.testing.assert_array_equal(_raw(p), expected)
        for name, array in opt.state[i].items():
            if name != _storage.MASTER:
                np.testing.assert_array_equal(_raw(array), _raw_add(states[name], g))
