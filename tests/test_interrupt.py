"""A step is atomic with respect to Ctrl-C: either the update and all its bookkeeping (step count,
fresh states, scalar state) happen, or neither does.

The kernel runs with the GIL released, so a SIGINT that arrives meanwhile is raised as soon as the
step's C call returns. Each scenario runs in a subprocess (a stray SIGINT must not reach pytest):
it sends SIGINT at a spread of moments into a step, catches the KeyboardInterrupt, and checks that
the parameter changed exactly when the step count advanced; at the end, a fresh optimizer replays
the committed number of steps without interruption and must give the very same bits.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from typing import Any

import numpy as np
import optkern
import optkern.textbook as tb
import pytest

SCENARIO = textwrap.dedent(
    """
    import os, signal, sys, threading, time
    import numpy as np, optkern

    # Python's own SIGINT handler, even where this process inherited SIGINT ignored (started in
    # the background by a shell without job control, as some CI runners do): there Python keeps
    # it ignored, the signal would never interrupt a step, and the scenario would test nothing.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    name, backend, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    make = {{
        "adam": lambda p: optkern.Adam([p], lr=0.1, backend=backend, num_threads=1),
        "nadam": lambda p: optkern.NAdam([p], lr=0.1, backend=backend, num_threads=1),
        "sgd": lambda p: optkern.SGD(
            [p], lr=0.1, momentum=0.9, dampening=0.5, backend=backend, num_threads=1
        ),
    }}[name]
    grad = np.linspace(-1, 1, size, dtype=np.float32)
    param = np.zeros(size, np.float32)
    opt = make(param)
    opt.step([grad])
    start = time.perf_counter()
    opt.step([grad])
    duration = time.perf_counter() - start

    def steps():
        return opt.state_dict()["state"][0]["step"]

    inconsistent = interrupted = 0
    for trial in range({trials}):
        before, count = param.copy(), steps()
        delay = duration * (0.1 + 0.8 * trial / {trials})
        timer = threading.Timer(delay, os.kill, (os.getpid(), signal.SIGINT))
        try:
            timer.start()  # on a busy machine the signal may come before start() returns
            opt.step([grad])
            timer.join()  # the signal lands here when the step was quicker
            time.sleep(0.05)
        except KeyboardInterrupt:
            interrupted += 1
        changed = not np.array_equal(before, param)
        inconsistent += changed != (steps() == count + 1)

    replay = np.zeros(size, np.float32)
    twin = make(replay)
    for _ in range(steps()):
        twin.step([grad])
    same = replay.tobytes() == param.tobytes()
    print(f"interrupted={{interrupted}} inconsistent={{inconsistent}} replay_same={{same}}")
    """
)


@pytest.mark.parametrize(
    ("name", "backend", "size"),
    [
        ("adam", "fused", 20_000_000),
        ("nadam", "fused", 20_000_000),
        ("sgd", "fused", 20_000_000),
        ("adam", "reference", 1_000_000),
    ],
)
def test_a_step_interrupted_by_ctrl_c_is_all_or_nothing(name: str, backend: str, size: int) -> None:
    trials = 8
    completed = subprocess.run(
        [sys.executable, "-c", SCENARIO.format(trials=trials), name, backend, str(size)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    line = completed.stdout.strip().splitlines()[-1]
    assert line.endswith("inconsistent=0 replay_same=True"), line
    # The scenario must really interrupt steps, or it proves nothing.
    assert int(line.split()[0].split("=")[1]) == trials, line


# ----------------------------------------------------------------------------- every line
#
# A SIGINT is raised in the main thread between two Python lines. These tests raise
# KeyboardInterrupt at each line event of optkern's Python code during one call in turn (a
# tracer, as the interpreter would), then check that the optimizer still works and ends exactly
# where an uninterrupted twin ends: the call happened entirely or not at all.

_OPTKERN_FILES = optkern.__file__.rsplit("/", 1)[0]


def _line_events(call: Callable[[], Any], stop_at: int | None) -> int:
    """Runs ``call``, raising KeyboardInterrupt at optkern line event ``stop_at`` (None: never);
    returns the number of optkern line events seen."""
    seen = 0

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        nonlocal seen
        if not frame.f_code.co_filename.startswith(_OPTKERN_FILES):
            return None
        if event == "line":
            if seen == stop_at:
                sys.settrace(None)
                raise KeyboardInterrupt
            seen += 1
        return tracer

    sys.settrace(tracer)
    try:
        call()
    finally:
        sys.settrace(None)
    return seen


def _at_every_line(build: Callable[[], tuple[Callable[[], Any], Callable[[bool], None]]]) -> int:
    """``build()`` gives (the call to interrupt, a check given whether it was interrupted)."""
    call, check = build()
    count = _line_events(call, None)
    check(False)
    for stop_at in range(count):
        call, check = build()
        try:
            _line_events(call, stop_at)
        except KeyboardInterrupt:
            check(True)
        else:
            check(False)
    return count


def _grads(sizes: tuple[int, ...], value: float = 0.5) -> list[np.ndarray]:
    return [np.full(n, value, np.float32) for n in sizes]


def test_add_param_group_is_all_or_nothing_under_ctrl_c() -> None:
    def build() -> tuple[Callable[[], Any], Callable[[bool], None]]:
        first, second = np.ones(5, np.float32), np.ones(3, np.float32)
        opt = optkern.Adam([first], lr=0.1)
        opt.step(_grads((5,)))

        def check(interrupted: bool) -> None:
            if len(opt.param_groups) == 1:  # it did not happen: the retry must work
                opt.add_param_group({"params": [second]})
            opt.step(_grads((5, 3)))
            twin_first, twin_second = np.ones(5, np.float32), np.ones(3, np.float32)
            twin = optkern.Adam([twin_first], lr=0.1)
            twin.step(_grads((5,)))
            twin.add_param_group({"params": [twin_second]})
            twin.step(_grads((5, 3)))
            assert first.tobytes() == twin_first.tobytes()
            assert second.tobytes() == twin_second.tobytes()

        return lambda: opt.add_param_group({"params": [second]}), check

    assert _at_every_line(build) > 10


@pytest.mark.parametrize("cls", [tb.SGD, tb.Momentum, tb.Adam])
def test_a_textbook_first_update_is_all_or_nothing_under_ctrl_c(cls: Any) -> None:
    def build() -> tuple[Callable[[], Any], Callable[[bool], None]]:
        params = {"W": np.ones(4, np.float32)}
        opt = cls(lr=0.1)

        def check(interrupted: bool) -> None:
            done = opt.state_dict()["state"].get(0, {}).get("step", 0) if opt.param_groups else 0
            for _ in range(2 - done):
                opt.update(params, {"W": np.full(4, 0.5, np.float32)})
            twin_params = {"W": np.ones(4, np.float32)}
            twin = cls(lr=0.1)
            for _ in range(2):
                twin.update(twin_params, {"W": np.full(4, 0.5, np.float32)})
            assert params["W"].tobytes() == twin_params["W"].tobytes()

        return lambda: opt.update(params, {"W": np.full(4, 0.5, np.float32)}), check

    assert _at_every_line(build) > 10


def test_a_deferred_load_survives_ctrl_c_in_the_first_update() -> None:
    source_params = {"W": np.ones(4, np.float32)}
    source = tb.Adam(lr=0.1)
    for _ in range(3):
        source.update(source_params, {"W": np.full(4, 0.5, np.float32)})
    saved = source.state_dict()
    start = np.ones(4, np.float32)
    source.update(source_params, {"W": np.full(4, 0.5, np.float32)})  # step 4, the reference
    expected = source_params["W"].tobytes()

    def build() -> tuple[Callable[[], Any], Callable[[bool], None]]:
        params = {"W": start.copy()}
        opt = tb.Adam(lr=0.1)
        opt.load_state_dict(saved)
        params["W"][:] = _after_three(saved)

        def check(interrupted: bool) -> None:
            if opt.iter < 4:  # the interrupted update did not happen: once more
                opt.update(params, {"W": np.full(4, 0.5, np.float32)})
            assert opt.iter == 4
            assert params["W"].tobytes() == expected

        return lambda: opt.update(params, {"W": np.full(4, 0.5, np.float32)}), check

    assert _at_every_line(build) > 10


def _after_three(saved: dict[str, Any]) -> np.ndarray:
    """The parameter after the 3 steps that ``saved`` records (replayed)."""
    params = {"W": np.ones(4, np.float32)}
    replay = tb.Adam(lr=0.1)
    for _ in range(3):
        replay.update(params, {"W": np.full(4, 0.5, np.float32)})
    assert replay.state_dict()["state"][0]["step"] == saved["state"][0]["step"]
    return params["W"]


def test_a_textbook_key_given_a_new_array_survives_ctrl_c() -> None:
    def build() -> tuple[Callable[[], Any], Callable[[bool], None]]:
        opt = tb.Momentum(lr=0.1)
        opt.update({"W": np.ones(4, np.float32)}, {"W": np.full(4, 0.5, np.float32)})
        replaced = {"W": np.ones(4, np.float32)}

        def check(interrupted: bool) -> None:
            done = opt.state_dict()["state"][0]["step"]
            for _ in range(3 - done):
                opt.update(replaced, {"W": np.full(4, 0.5, np.float32)})
            twin = tb.Momentum(lr=0.1)
            twin.update({"W": np.ones(4, np.float32)}, {"W": np.full(4, 0.5, np.float32)})
            twin_replaced = {"W": np.ones(4, np.float32)}
            for _ in range(2):
                twin.update(twin_replaced, {"W": np.full(4, 0.5, np.float32)})
            assert replaced["W"].tobytes() == twin_replaced["W"].tobytes()

        return lambda: opt.update(replaced, {"W": np.full(4, 0.5, np.float32)}), check

    assert _at_every_line(build) > 10
