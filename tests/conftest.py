"""Fixtures: the ISAs to run kernels on (every one compiled and supported here), and thread
counts, so every exactness test runs once per ISA."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from optkern import _core

SUPPORTED_ISAS = list(_core.supported_isas())
# With OPTKERN_ISA forced (.ci/run repeats the suite once per other ISA, for the tests that use the
# default kernels), the tests that take this fixture are skipped (pytest_collection_modifyitems):
# they select each ISA's kernels themselves, so the unforced run already ran them on the forced
# ISA's kernels, and a forced run would repeat exactly that.
FORCED_ISA = os.environ.get("OPTKERN_ISA") or None
FIXTURE_ISAS = [FORCED_ISA] if FORCED_ISA else SUPPORTED_ISAS


@pytest.fixture(params=FIXTURE_ISAS)
def isa(request: pytest.FixtureRequest) -> Iterator[str]:
    """Runs the test with the kernels of each ISA this machine supports (see FIXTURE_ISAS)."""
    previous = _core.active_isa()
    _core._select_isa(request.param)
    try:
        yield request.param
    finally:
        _core._select_isa(previous)


@pytest.fixture
def tiny_grain() -> Iterator[None]:
    """Split even tiny tensors across threads, so thread boundaries fall everywhere (a grain of
    1 element per thread; 2 for algorithms with a GrainScale of 2, such as SGD)."""
    previous = _core._min_elements_per_thread()
    _core._set_min_elements_per_thread(1)
    try:
        yield
    finally:
        _core._set_min_elements_per_thread(previous)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--rederive-digests",
        action="store_true",
        help="also recompute recorded digests of NumPy's results (tests marked rederive; minutes)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if FORCED_ISA:
        repeat = pytest.mark.skip(
            reason=f"OPTKERN_ISA={FORCED_ISA} only changes the default kernels, and this test "
            "selects every ISA's itself: the unforced run ran it on these kernels already"
        )
        for item in items:
            if "isa" in getattr(item, "fixturenames", ()):
                item.add_marker(repeat)
    if config.getoption("--rederive-digests"):
        return
    skip = pytest.mark.skip(reason="recomputes a recorded digest: run with --rederive-digests")
    for item in items:
        if "rederive" in item.keywords:
            item.add_marker(skip)
