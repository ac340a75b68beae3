"""The command line's help texts (plain text, every benchmark default stated, nothing that only the
repository has) and the self-check's progress lines."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import pytest
from optkern import _core, _storage, cli, selfcheck
from optkern.benchmarks.cli import parser as bench_parser
from optkern.configs import CONFIGS

HELPS = [["--help"], ["info", "--help"], ["selfcheck", "--help"], ["compare", "--help"]]
HELPS += [["bench", "--help"]]


def help_text(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("argv", HELPS, ids=[" ".join(a) for a in HELPS])
def test_help_is_plain_text_without_repository_files(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    text = help_text(argv, capsys)
    # reStructuredText that docstrings use: ``literal``, :role:`x`, a literal block's "::"
    assert "``" not in text
    assert not re.search(r":[a-z]+:`", text)
    assert not re.search(r"::\s*$", text, re.MULTILINE)
    # an installed wheel has only the optkern package: no bench/ scripts, no README
    assert not re.search(r"bench/|README|\.md\b|peer_benchmark", text)


def test_bench_help_states_every_default(capsys: pytest.CaptureFixture[str]) -> None:
    for short in (True, False):
        for action in bench_parser(short)._actions:
            if action.dest != "help":
                assert action.help is not None
                assert "default" in action.help, action.dest
    text = help_text(["bench", "--help"], capsys)
    assert "(default: 1e3,1e5,1e6)" in text  # the short preset's sizes, not the full matrix's
    assert "timed rounds per case (default: 9)" in text
    assert "optkern bench --sizes 1e3,1e4,1e5,1e6,1e7" in text  # how to run the full matrix


class FlushCounter(io.StringIO):
    """A stream that is not a terminal and counts the lines each flush has pushed out."""

    def __init__(self) -> None:
        super().__init__()
        self.flushed_lines: list[int] = []

    def flush(self) -> None:
        self.flushed_lines.append(self.getvalue().count("\n"))
        super().flush()


def test_selfcheck_prints_a_line_per_class_as_it_goes() -> None:
    stream = FlushCounter()
    isa = _core.active_isa()
    assert selfcheck.run(stream, isas=[isa], sizes=(1, 17)) == 0
    lines = stream.getvalue().splitlines()
    # the index (from 1) of the last configuration of each class
    ends = [i + 1 for i, c in enumerate(CONFIGS) if c is CONFIGS[-1] or CONFIGS[i + 1].cls != c.cls]
    assert lines[0].startswith(f"{isa}: {len(CONFIGS)} configurations")
    assert len(lines) == 1 + len(ends) + 2
    rows = [re.fullmatch(r" +\[ *(\d+)/(\d+)\] (\S+) +[\d.]+ s", line) for line in lines[1:-2]]
    assert all(rows)
    assert [(int(m[1]), int(m[2])) for m in rows if m] == [(n, len(CONFIGS)) for n in ends]
    assert [m[3] for m in rows if m][:: len(rows) - 1] == ["SGD", "textbook.Adam"]
    assert lines[-2].startswith(f"{isa}: all bit-identical in ")
    assert lines[-1].startswith("self-check passed in ")
    # every line reached the stream on its own flush, and no line redraws another
    assert stream.flushed_lines == list(range(1, len(lines) + 1))
    assert "\r" not in stream.getvalue()


def test_output_cut_off_by_a_closed_pipe_gives_no_traceback() -> None:
    """``optkern selfcheck | head`` closes the pipe early; the command must end quietly."""
    with subprocess.Popen(
        [sys.executable, "-m", "optkern.cli", "info"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        process.stdout.close()  # before the command writes: its first write fails with EPIPE
        stderr = process.stderr.read().decode()
        status = process.wait(timeout=60)
    assert status == 1
    assert "Traceback" not in stderr, stderr


def test_selfcheck_checks_the_16_bit_storages_by_default() -> None:
    stream = io.StringIO()
    isa = _core.active_isa()
    assert selfcheck.run(stream, isas=[isa], sizes=(17,)) == 0
    header = stream.getvalue().splitlines()[0]
    names = [c.name for c in selfcheck.storages()]
    assert f"configurations x {'/'.join(names)} x" in header
    assert {"float32", "float64", "float16"} <= set(names)


def test_selfcheck_storage_option() -> None:
    assert [c.name for c in selfcheck.storages("float16,float32")] == ["float32", "float16"]
    assert len(selfcheck.storages("all")) == len(_storage.available_combinations())
    with pytest.raises(ValueError, match="storage: unknown bogus"):
        selfcheck.storages("bogus")
    with pytest.raises(SystemExit):
        cli.main(["selfcheck", "--storage", "bogus"])
