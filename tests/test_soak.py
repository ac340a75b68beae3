"""Long-run soak: every optimizer configuration runs 10,000 steps without its process growing.

What this proves, for every row of ``optkern.configs.CONFIGS`` (every algorithm and option):

* 10,000 steps on a small model (float64 and float32 tensors of an MLP's shapes, plus empty
  tensors) leave the process's resident memory where it was after a warm-up: nothing a step,
  a checkpoint round trip or a hyperparameter change allocates is kept. The paths a long-running
  training loop takes are all exercised: fresh gradient arrays every step and the same gradient
  arrays (and list) reused, ``state_dict()``/``load_state_dict()`` into the same optimizer and
  into a freshly built one, and a learning-rate "schedule" that assigns a new float object.
* The run stays sane: every parameter and state is finite, the step count is exact and the
  quadratic objective went down.
* The same holds for a real model: ``optkern.nn.MultiLayerNet`` trained with the torch-style
  ``step()`` and with the textbook-style ``update(params, grads)``.

The memory check can fail: ``test_rss_measurement_detects_a_small_leak`` runs the same soak with
one 1 KiB array kept per step and asserts that the same measurement reports it.

Resident memory is read from ``/proc/self/statm`` (current RSS, not the peak that ru_maxrss
reports), after a garbage collection and ``malloc_trim`` so that memory freed but still held by
the allocator neither hides a leak nor counts as one.
"""

from __future__ import annotations

import ctypes
import gc
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from optkern.configs import CONFIGS, Config
from optkern.nn import MultiLayerNet

pytestmark = pytest.mark.slow

STEPS = 10_000
WARMUP = 300
SCHEDULE_EVERY = 100  # a new float object for lr: the hyperparameters are re-validated
ROUND_TRIP_EVERY = 1_000  # state_dict() -> load_state_dict(), alternately same / fresh optimizer
RSS_BOUND = 4 * 2**20
# The small model: an MLP's tensors (64 -> 32 -> 10) in two dtypes, and two empty tensors.
SHAPES: tuple[tuple[tuple[int, ...], type[np.floating]], ...] = (
    ((64, 32), np.float64),
    ((32,), np.float64),
    ((0,), np.float64),
    ((32, 10), np.float32),
    ((10,), np.float32),
    ((0, 10), np.float32),
)

_STATM = Path("/proc/self/statm")


def _under_address_sanitizer() -> bool:
    """ASan keeps freed memory in a quarantine of up to 256 MiB, so RSS grows with any
    allocation churn there (.ci/sanitize runs this suite with it preloaded)."""
    try:
        return "libasan" in Path("/proc/self/maps").read_text()
    except OSError:
        return False


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(None).malloc_trim  # glibc
    except (OSError, AttributeError):
        return None


_TRIM = _malloc_trim()


def settled_rss() -> int:
    """Current resident memory in bytes, after collecting garbage and handing free heap memory
    back to the OS."""
    gc.collect()
    if _TRIM is not None:
        _TRIM(0)
    resident_pages = int(_STATM.read_text().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


@pytest.fixture
def rss_checks() -> None:
    if not _STATM.exists():
        pytest.skip("current RSS is read from /proc/self/statm (Linux only)")
    if _under_address_sanitizer():
        pytest.skip("RSS under AddressSanitizer includes its quarantine of freed memory")


class Soak:
    """One configuration on its own small model, with a quadratic objective
    f(p) = ½‖p − target‖² whose gradient the step loop recomputes (cheaply) every step."""

    def __init__(self, config: Config, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.config = config
        self.params = [rng.standard_normal(shape).astype(dtype) for shape, dtype in SHAPES]
        self.targets = [rng.standard_normal(shape).astype(dtype) for shape, dtype in SHAPES]
        # A maximizing optimizer ascends: give it the gradient of −f, so both converge.
        self.sign = -1.0 if config.kwargs.get("maximize") else 1.0
        self.buffers = [np.empty_like(p) for p in self.params]
        self.optimizer = config.build(self.params)
        self.steps = 0
        self.fresh_round_trip = False
        self.initial_objective = self.objective()

    def objective(self) -> float:
        return sum(
            0.5 * float(np.sum(np.square(p.astype(np.float64) - t)))
            for p, t in zip(self.params, self.targets, strict=True)
        )

    def step(self) -> None:
        if self.steps % 2:  # the same gradient arrays (and list) as last time
            grads = self.buffers
            for p, t, g in zip(self.params, self.targets, grads, strict=True):
                np.subtract(p, t, out=g)
                g *= self.sign
        else:  # new gradient arrays
            grads = [
                np.subtract(p, t) * self.sign
                for p, t in zip(self.params, self.targets, strict=True)
            ]
        self.optimizer.step(grads)
        self.steps += 1
        if self.steps % SCHEDULE_EVERY == 0:
            self.touch_lr()
        if self.steps % ROUND_TRIP_EVERY == 0:
            self.round_trip()

    def touch_lr(self) -> None:
        """What a learning-rate schedule does: assign a new float (here of equal value)."""
        for group in self.optimizer.param_groups:
            group["lr"] = group["lr"] * 1.0

    def round_trip(self) -> None:
        """Checkpoint and restore, alternately into the same optimizer and into a new one."""
        saved = self.optimizer.state_dict()
        if self.fresh_round_trip:
            self.optimizer = self.config.build(self.params)
        self.optimizer.load_state_dict(saved)
        self.fresh_round_trip = not self.fresh_round_trip

    def run(self, steps: int, leak: list[Any] | None = None) -> None:
        for _ in range(steps):
            self.step()
            if leak is not None:
                leak.append(np.ones(128))  # 1 KiB kept per step: a deliberate leak

    def check_sane(self) -> None:
        name = self.config.name
        for i, p in enumerate(self.params):
            assert np.all(np.isfinite(p)), f"{name}: parameter {i} is not finite"
        for i, state in self.optimizer.state.items():
            for key, array in state.items():
                assert np.all(np.isfinite(array)), f"{name}: state[{i}][{key!r}] is not finite"
        saved = self.optimizer.state_dict()["state"]
        assert {entry["step"] for entry in saved.values()} == {self.steps}, name
        assert self.objective() < self.initial_objective, f"{name}: made no progress"


def rss_growth(run: Callable[[], object]) -> int:
    """Bytes of resident memory that ``run()`` left behind."""
    before = settled_rss()
    run()
    return settled_rss() - before


def warmed_up(configs: list[Config]) -> list[Soak]:
    """Every configuration built, stepped and checkpointed both ways once, so that caches,
    interned names and allocator pools exist before the baseline is read."""
    soaks = [Soak(config, seed) for seed, config in enumerate(configs)]
    for soak in soaks:
        soak.run(WARMUP)
        soak.round_trip()
        soak.round_trip()
        soak.touch_lr()
    return soaks


def test_every_config_soaks_without_memory_growth(rss_checks: None) -> None:
    soaks = warmed_up(CONFIGS)
    per_config: dict[str, int] = {}

    def run_all() -> None:
        for soak in soaks:
            per_config[soak.config.name] = rss_growth(lambda soak=soak: soak.run(STEPS))

    total = rss_growth(run_all)
    worst = sorted(per_config.items(), key=lambda item: -item[1])[:5]
    assert total < RSS_BOUND, (
        f"RSS grew by {total / 2**20:.2f} MiB over {len(soaks)} x {STEPS} steps; "
        f"largest per configuration (bytes): {worst}"
    )
    for soak in soaks:
        soak.check_sane()


def test_rss_measurement_detects_a_small_leak(rss_checks: None) -> None:
    """The measurement above is not blind: the same soak keeping 1 KiB per step is caught."""
    (soak,) = warmed_up([CONFIGS[0]])
    leak: list[Any] = []
    growth = rss_growth(lambda: soak.run(STEPS, leak))
    assert len(leak) == STEPS
    assert growth > RSS_BOUND, f"a {STEPS} KiB leak showed as only {growth} bytes of RSS"
    soak.check_sane()


@pytest.mark.parametrize(
    ("row", "style"), [("adam", "step"), ("textbook-momentum", "update")], ids=str
)
def test_mlp_training_soak(rss_checks: None, row: str, style: str) -> None:
    """10,000 steps of a real network on a fixed batch, through either public API."""
    config = next(c for c in CONFIGS if c.name == row)
    net = MultiLayerNet(64, [32], 10, dtype=np.float64, seed=0)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, 64))
    t = rng.integers(0, 10, size=8)
    keys = list(net.params)
    if style == "step":
        optimizer = config.build([net.params[k] for k in keys])

        def train_step() -> None:
            grads = net.gradient(x, t)
            optimizer.step([grads[k] for k in keys])
    else:
        optimizer = config.cls(**config.kwargs)

        def train_step() -> None:
            optimizer.update(net.params, net.gradient(x, t))

    initial_loss = float(net.loss(x, t))
    for _ in range(WARMUP):
        train_step()
    optimizer.load_state_dict(optimizer.state_dict())

    def run() -> None:
        for _ in range(STEPS):
            train_step()

    growth = rss_growth(run)
    assert growth < RSS_BOUND, f"RSS grew by {growth / 2**20:.2f} MiB over {STEPS} steps"
    assert all(np.all(np.isfinite(p)) for p in net.params.values())
    assert optimizer.state_dict()["state"][0]["step"] == WARMUP + STEPS
    assert float(net.loss(x, t)) < 0.1 * initial_loss
