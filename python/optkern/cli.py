"""Command line: ``optkern info``, ``optkern selfcheck`` (also ``python -m optkern ...``)."""

from __future__ import annotations

import argparse
import sys

from . import _core, _runtime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="optkern", description=__doc__)
    parser.add_argument("--version", action="version", version=f"optkern {_core.version}")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("info", help="print version, compiler, ISAs, OpenMP and threads")
    sub.add_parser("selfcheck", help="run every optimizer against the reference, bit for bit")
    args = parser.parse_args(argv)
    if args.command == "info":
        _runtime.show_config()
        return 0
    if args.command == "selfcheck":
        from . import selfcheck

        _runtime.show_config()
        return selfcheck.run()
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
