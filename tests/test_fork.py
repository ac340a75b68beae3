"""A process forked after a multi-threaded step can still step (GNU libgomp's thread pool does not
survive fork(), so a child that opened an OpenMP region would wait forever for threads that no
longer exist). In a forked child every step runs on one thread, which gives the same bits.

Each scenario runs in its own interpreter with a timeout, so a hang fails the test instead of
hanging pytest, and the forked children arm SIGALRM, whose default action ends a child stuck in
the kernel: nothing is left behind.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from optkern import _core

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork() is not available here")

TIMEOUT_S = 120
CHILD_ALARM_S = 20  # a child step takes milliseconds; this only ends a hung one

# The parent steps once on 2 threads (2^20 elements: well above SGD's grain for 2 threads), so
# OpenMP's thread pool exists when it forks. The child steps once more; the parent then takes the
# very same step and compares.
SETUP = """
import os, signal, sys
import numpy as np
import optkern
from optkern import _core

def make():
    rng = np.random.default_rng(0)
    p = rng.standard_normal(1 << 20).astype(np.float32)
    g = rng.standard_normal(1 << 20).astype(np.float32)
    opt = optkern.SGD([p], lr=0.1, momentum=0.9, num_threads=2)
    opt.step([g])
    assert opt._prepared.tensor_groups[0].planned_threads == 2, "the parent must use 2 threads"
    return p, g, opt

p, g, opt = make()
"""

FORK = """
out = sys.argv[1]
pid = os.fork()
if pid == 0:
    try:
        signal.alarm({alarm})
        opt.step([g])
        assert opt._prepared.tensor_groups[0].planned_threads == 1
        np.save(out, p)
        os._exit(0)
    except BaseException as error:
        print("child failed:", repr(error), flush=True)
        os._exit(1)
_, status = os.waitpid(pid, 0)
assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"child status {{status:#x}}"
opt.step([g])
assert np.load(out + ".npy").tobytes() == p.tobytes(), "child and parent differ"
print("OK")
"""

POOL = """
import multiprocessing

def child_step(_):
    signal.alarm({alarm})
    opt.step([g])
    return p.tobytes(), opt._prepared.tensor_groups[0].planned_threads

# One task per worker: every task runs in a child forked from the parent's state.
with multiprocessing.get_context("fork").Pool(2, maxtasksperchild=1) as pool:
    results = pool.map_async(child_step, range(2), chunksize=1).get(timeout={alarm} + 10)
opt.step([g])
for data, threads in results:
    assert threads == 1, threads
    assert data == p.tobytes(), "child and parent differ"
print("OK")
"""


def run_script(tmp_path: Path, body: str) -> None:
    script = tmp_path / "scenario.py"
    script.write_text(textwrap.dedent(SETUP) + textwrap.dedent(body).format(alarm=CHILD_ALARM_S))
    try:
        result = subprocess.run(
            [sys.executable, str(script), str(tmp_path / "child")],
            check=False,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"the scenario hung for {TIMEOUT_S} s")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("OK"), result.stdout + result.stderr


@pytest.mark.skipif(not _core.has_openmp, reason="built without OpenMP: nothing to hang")
def test_os_fork_child_steps_like_the_parent(tmp_path: Path) -> None:
    run_script(tmp_path, FORK)


@pytest.mark.skipif(not _core.has_openmp, reason="built without OpenMP: nothing to hang")
def test_fork_pool_workers_step_like_the_parent(tmp_path: Path) -> None:
    run_script(tmp_path, POOL)


FORKED_FLAG = """
pid = os.fork()
if pid == 0:
    os._exit(0 if _core.forked_child() is True else 1)
_, status = os.waitpid(pid, 0)
assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"child status {{status:#x}}"
assert _core.forked_child() is False
print("OK")
"""


def test_forked_child_reports_itself(tmp_path: Path) -> None:
    assert _core.forked_child() is False
    run_script(tmp_path, FORKED_FLAG)
