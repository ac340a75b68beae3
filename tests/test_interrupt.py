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

import pytest

SCENARIO = textwrap.dedent(
    """
    import os, signal, sys, threading, time
    import numpy as np, optkern

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
        timer.start()
        try:
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
