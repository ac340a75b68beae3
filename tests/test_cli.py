"""The command line's help texts: plain text, every benchmark default stated, nothing that only the
repository has."""

from __future__ import annotations

import re

import pytest
from optkern import cli
from optkern.benchmarks.cli import parser as bench_parser

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
