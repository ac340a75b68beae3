"""ISA dispatch: the best supported ISA by default, OPTKERN_ISA forces one, bad values fail
the import with a clear message."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from optkern import _core


def _run_with_isa(value: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPTKERN_ISA": value}
    code = "import optkern; print(optkern.active_isa())"
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )


def test_default_is_the_best_supported() -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPTKERN_ISA"}
    out = subprocess.run(
        [sys.executable, "-c", "import optkern; print(optkern.active_isa())"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == _core.supported_isas()[-1]


@pytest.mark.parametrize("isa", _core.supported_isas())
def test_forcing_a_supported_isa(isa: str) -> None:
    out = _run_with_isa(isa)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == isa


def test_unknown_isa_fails_the_import() -> None:
    out = _run_with_isa("sse9")
    assert out.returncode != 0
    assert "OPTKERN_ISA=sse9: unknown or not compiled; compiled: baseline" in out.stderr


@pytest.mark.parametrize(
    "isa", [i for i in _core.compiled_isas() if i not in _core.supported_isas()]
)
def test_unsupported_isa_fails_the_import(isa: str) -> None:
    out = _run_with_isa(isa)
    assert out.returncode != 0
    assert f"OPTKERN_ISA={isa}: this CPU or OS does not support it" in out.stderr


def test_baseline_always_compiled_and_supported() -> None:
    assert _core.compiled_isas()[0] == "baseline"
    assert "baseline" in _core.supported_isas()


def test_select_isa_switches_kernels() -> None:
    previous = _core.active_isa()
    try:
        for isa in _core.supported_isas():
            _core._select_isa(isa)
            assert _core.active_isa() == isa
        with pytest.raises(ValueError, match="unknown or not compiled"):
            _core._select_isa("nope")
    finally:
        _core._select_isa(previous)
