"""Command line: ``optkern info``, ``optkern selfcheck``, ``optkern compare``, ``optkern bench``
(also ``python -m optkern ...``)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import NoReturn

from . import _core, _runtime
from .compare import cli as compare_cli

# Plain text: argparse prints the description as it is, so no reStructuredText markup.
DESCRIPTION = (
    "Fused, in-place optimizer updates for NumPy, bit-identical to their NumPy reference. "
    "Also runs as python -m optkern."
)


class _Parser(argparse.ArgumentParser):
    """Reports a bad argument as one line on stderr, exit status 2.

    argparse's default prints the usage first, which for ``compare`` spans several lines and
    buries the message; ``--help`` still shows the usage.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:  # its options are the benchmark's own (optkern bench --help)
        from .benchmarks.cli import main as bench

        return bench(argv[1:], short=True)
    parser = _Parser(prog="optkern", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"optkern {_core.version}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    info = "print version, compiler, ISAs, OpenMP and threads"
    sub.add_parser("info", help=info, description=info)
    check = "run every optimizer against the reference, bit for bit, on every ISA of this CPU"
    selfcheck_parser = sub.add_parser(
        "selfcheck", help=check, description=check + " (up to a minute per ISA)"
    )
    selfcheck_parser.add_argument(
        "--storage",
        default="float32,float64,float16,bfloat16",
        help="storage combinations to check, comma-separated, or 'all' (default: "
        "float32,float64,float16,bfloat16; bfloat16 ones need ml_dtypes and are left out without)",
    )
    compare = sub.add_parser(
        "compare",
        help="train networks with several optimizers and compare them (the lecture's experiments)",
    )
    compare_cli.add_arguments(compare)
    sub.add_parser(
        "bench",
        help="time one step against the memory ceiling, the naive formula and the peers "
        "(optkern bench --help for its options)",
    )
    args = parser.parse_args(argv)
    if args.command == "info":
        _runtime.show_config()
        return 0
    if args.command == "selfcheck":
        from . import selfcheck

        _runtime.show_config()
        try:
            checked = selfcheck.storages(args.storage)
        except ValueError as error:
            selfcheck_parser.error(str(error))
        return selfcheck.run(storage=[c.name for c in checked])
    if args.command == "compare":
        return compare_cli.run(args, compare)
    parser.print_help()
    return 0


def entry_point() -> int:
    """The ``optkern`` command: main(), quiet when its output is cut off (``| head``)."""
    try:
        return main()
    except BrokenPipeError:
        # Python flushes stdout again at exit; point it at /dev/null so that fails quietly too.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(entry_point())
