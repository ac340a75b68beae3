"""The machine's state while a benchmark case runs (issue 19): quiet, busy (one CPU-bound
background process) or blas (a NumPy matrix product before every step, as in a NumPy training
loop, whose BLAS threads keep spinning after the product and compete with the step's threads).

``scenario(name)`` is a context manager around one case; it yields the hook to run before every
timed call (outside the timing), or None.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

SCENARIOS = ("quiet", "busy", "blas")
#: The product before every step in "blas": a 784-input, 256-unit layer on a batch of 256.
BLAS_SHAPES = ((256, 784), (784, 256))

# The background process: pure Python, so it takes a core without touching memory bandwidth.
# Ctrl-C reaches the whole foreground process group; the spinner ignores it so that the benchmark
# stops it in its own cleanup (and reports nothing). It also exits on its own once its parent is
# gone (its parent id changes), so even a benchmark killed with SIGKILL leaves no orphan spinning.
_SPINNER = """
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
parent = os.getppid()
sys.stdout.write("spinning\\n")
sys.stdout.flush()
while os.getppid() == parent:
    for _ in range(200_000):
        pass
"""


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not exited within 5 s; always waited for (no zombie)."""
    try:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=5)
    finally:  # a timeout, or a second Ctrl-C while waiting
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


@contextmanager
def background_spinner() -> Iterator[subprocess.Popen[bytes]]:
    """One CPU-bound process, running (it has said so) from entry until exit."""
    process = subprocess.Popen(
        [sys.executable, "-c", _SPINNER],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        if process.stdout is None or process.stdout.readline() != b"spinning\n":
            raise RuntimeError(f"the --busy background process did not start ({process.args!r})")
        yield process
    finally:
        _stop(process)


def blas_product() -> Callable[[], object]:
    """The matrix product of "blas" over arrays of its own, with NumPy's default BLAS threads."""
    rng = np.random.default_rng(1)
    a, b = (rng.standard_normal(shape, dtype=np.float32) for shape in BLAS_SHAPES)
    out = np.empty((a.shape[0], b.shape[1]), dtype=np.float32)
    return lambda: np.matmul(a, b, out=out)


@contextmanager
def scenario(name: str) -> Iterator[Callable[[], object] | None]:
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; choose from {', '.join(SCENARIOS)}")
    if name == "busy":
        with background_spinner():
            yield None
    elif name == "blas":
        yield blas_product()
    else:
        yield None
