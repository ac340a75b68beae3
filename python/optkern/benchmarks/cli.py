"""Command line of the step benchmark: ``bench/peer_benchmark.py`` (the full matrix) and
``optkern bench`` (a short preset of it)."""

from __future__ import annotations

import argparse
import platform
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__, active_isa, get_num_threads
from .harness import measure
from .peers import ALGORITHMS, DeepSpeedCPUAdam, case_shapes, contenders, torch
from .report import Case, plot, table

FULL = {"sizes": "1e3,1e4,1e5,1e6,1e7", "shapes": "resnet50,2000x512", "dtypes": "float32,float64"}
SHORT = {"sizes": "1e3,1e5,1e6", "shapes": "200x512", "dtypes": "float32"}


DESCRIPTION = (
    "Time one optimizer step from Python: optkern against its same-traffic memory ceiling, the "
    "naive NumPy formula and, when installed, torch.optim and DeepSpeed. Contenders run "
    "interleaved, in rotating order, after warm-up; the table gives the medians of the rounds."
)


def _epilog(short: bool) -> str:
    """The full matrix and the optional peers, as commands: no repository files (bench/...),
    since an installed wheel has nothing but the optkern package. Wrapped here because the
    formatter that keeps these lines apart does not wrap."""
    lines = []
    if short:
        # one option and its value per piece, so that no line break falls between them
        pieces = [f"--{k} {v}" for k, v in FULL.items()] + ["--rounds 15"]
        lines += ["The full matrix:", "  optkern bench"]
        for piece in pieces:
            if len(lines[-1]) + 1 + len(piece) > 77:
                lines[-1] += " \\"
                lines.append("   ")
            lines[-1] += " " + piece
        lines.append("")
    lines += textwrap.wrap(
        "Peers, when installed: torch (torch.optim's for-loop, foreach and fused CPU paths) and "
        "deepspeed (DeepSpeedCPUAdam, DeepSpeedCPUAdagrad); optkern needs neither.",
        79,
    )
    return "\n".join(lines)


def parser(short: bool) -> argparse.ArgumentParser:
    """``optkern bench`` (short) or ``bench/peer_benchmark.py`` (the full matrix)."""
    defaults, rounds = (SHORT, 9) if short else (FULL, 15)
    p = argparse.ArgumentParser(
        prog="optkern bench" if short else "peer_benchmark.py",
        description="\n".join(textwrap.wrap(DESCRIPTION, 79)),
        epilog=_epilog(short),
        formatter_class=argparse.RawDescriptionHelpFormatter,  # keeps the epilog's lines apart
    )
    # Every help string states its default: the short preset's differ from the full matrix's.
    p.add_argument(
        "--algorithms",
        default="adam",
        metavar="LIST",
        help=f"comma-separated: {', '.join(ALGORITHMS)} (default: %(default)s)",
    )
    p.add_argument(
        "--sizes", default=defaults["sizes"], help="single-tensor sizes (default: %(default)s)"
    )
    p.add_argument(
        "--shapes",
        default=defaults["shapes"],
        help="tensor lists: resnet50, or COUNTxSIZE; '' for none (default: %(default)s)",
    )
    p.add_argument("--dtypes", default=defaults["dtypes"], help="(default: %(default)s)")
    p.add_argument("--threads", default="", help="e.g. 1,2 (default: 1 ... all)")
    p.add_argument(
        "--rounds", type=int, default=rounds, help="timed rounds per case (default: %(default)s)"
    )
    p.add_argument(
        "--warmup",
        type=int,
        default=3,
        help="warm-up rounds per case, at least 0.25 s in all (default: %(default)s)",
    )
    p.add_argument(
        "--calls",
        type=int,
        default=1,
        help="back-to-back calls per timed sample (default 1: each call between other "
        "contenders', with cold caches; many: warm caches, the cost of the call itself)",
    )
    p.add_argument(
        "--plot", type=Path, default=None, help="write a PNG of GB/s against size (default: none)"
    )
    return p


def run_plan(
    plan: list[tuple[str, str, np.dtype[Any], int]], rounds_wanted: int, warmup: int, calls: int = 1
) -> list[Case]:
    """Times every (algorithm, case, dtype, threads) of the plan, contenders interleaved."""
    cases = []
    for index, (algorithm, name, dtype, k) in enumerate(plan):
        shapes = case_shapes(name)
        n = sum(int(np.prod(s)) for s in shapes)
        if torch is not None:
            torch.set_num_threads(k)
        steps = contenders(algorithm, shapes, dtype, k, naive_too=n <= 10_000_000)
        # fewer rounds for the slow big cases keeps a full run in minutes
        rounds = rounds_wanted if n < 10_000_000 else max(5, rounds_wanted // 3)
        label = f"[{index + 1}/{len(plan)}] {algorithm} {name} {dtype.name} {k} thread(s)"
        times = measure(steps, rounds, warmup, label, calls)
        traffic = (3 + 2 * ALGORITHMS[algorithm][4]) * dtype.itemsize * n
        cases.append(Case(algorithm, name, dtype.name, k, n, traffic, times))
    return cases


def main(argv: list[str] | None = None, *, short: bool = False) -> int:
    args = parser(short).parse_args(argv)
    algorithms = args.algorithms.split(",")
    if args.calls < 1:
        raise SystemExit(f"--calls must be >= 1, got {args.calls}")
    unknown = [a for a in algorithms if a not in ALGORITHMS]
    if unknown:
        raise SystemExit(f"unknown algorithm(s) {unknown}; choose from {', '.join(ALGORITHMS)}")
    names = [c for c in args.sizes.split(",") + args.shapes.split(",") if c]
    dtypes = [np.dtype(d) for d in args.dtypes.split(",")]
    available = get_num_threads()  # before torch.set_num_threads, which sets OpenMP's too
    threads = (
        [int(t) for t in args.threads.split(",")] if args.threads else [*range(1, available + 1)]
    )
    plan = [(a, c, d, k) for a in algorithms for c in names for d in dtypes for k in threads]
    torch_threads = torch.get_num_threads() if torch is not None else 0
    try:
        cases = run_plan(plan, args.rounds, args.warmup, args.calls)
    finally:
        # torch.set_num_threads also sets OpenMP's default for this thread, which optkern reads
        # (optkern.get_num_threads): put it back for whoever called main().
        if torch is not None:
            torch.set_num_threads(torch_threads)
    machine = f"{platform.machine()}, {available} threads available"
    heading = (
        f"optkern {__version__} ({active_isa()}, {machine}), torch "
        f"{torch.__version__ if torch is not None else 'not installed'}, DeepSpeed CPU ops "
        f"{'available' if DeepSpeedCPUAdam is not None else 'not installed'}; "
        f"{args.rounds} rounds after {args.warmup} warm-up, contenders interleaved per case"
        + (f", {args.calls} back-to-back calls per sample" if args.calls > 1 else "")
    )
    print(heading + "\n")
    print(table(cases))
    if args.plot is not None:
        plot(cases, args.plot, heading)
        print(f"\nplot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
