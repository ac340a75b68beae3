"""Command line of the step benchmark: ``bench/peer_benchmark.py`` (the full matrix) and
``optkern bench`` (a short preset of it)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__, _storage, active_isa, get_num_threads
from . import machine, peers, peers16, report16
from .harness import measure
from .peers import ALGORITHMS, DeepSpeedCPUAdam, case_shapes, torch
from .report import Case, plot, table, threads_table
from .scenarios import SCENARIOS, scenario

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
    p.add_argument(
        "--dtypes",
        default=defaults["dtypes"],
        help="float32, float64, and 16-bit parameters and gradients: bfloat16 (needs ml_dtypes), "
        "float16 (default: %(default)s)",
    )
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
        "--scenarios",
        default="quiet",
        metavar="LIST",
        help="the machine's state during each case: quiet; busy (one CPU-bound background "
        "process); blas (a 256x784 @ 784x256 float32 NumPy product before every step, with "
        "NumPy's default BLAS threads) (default: %(default)s)",
    )
    p.add_argument(
        "--busy",
        action="store_true",
        help="shorthand for --scenarios quiet,busy,blas (default: off)",
    )
    p.add_argument(
        "--samples",
        type=Path,
        default=None,
        metavar="FILE",
        help="write every case's samples (seconds per call) as JSON (default: none)",
    )
    p.add_argument(
        "--plot", type=Path, default=None, help="write a PNG of GB/s against size (default: none)"
    )
    return p


Plan = list[tuple[str, str, np.dtype[Any], int, str]]


def run_plan(
    plan: Plan, rounds_wanted: int, warmup: int, calls: int = 1, default_threads: int = 0
) -> list[Case]:
    """Times every (algorithm, case, dtype, threads, scenario) of the plan, contenders
    interleaved. On `default_threads` threads optkern runs with its default thread count."""
    cases = []
    for index, (algorithm, name, dtype, k, where) in enumerate(plan):
        shapes = case_shapes(name)
        n = sum(int(np.prod(s)) for s in shapes)
        if torch is not None:
            torch.set_num_threads(k)
        default = k == default_threads
        if _storage.is_16_bit(dtype):
            made = peers16.contenders(algorithm, shapes, dtype, k, default_threads=default)
        else:
            made = peers.contenders(
                algorithm, shapes, dtype, k, default_threads=default, naive_too=n <= 10_000_000
            )
        # fewer rounds for the slow big cases keeps a full run in minutes
        rounds = rounds_wanted if n < 10_000_000 else max(5, rounds_wanted // 3)
        label = f"[{index + 1}/{len(plan)}] {algorithm} {name} {dtype.name} {k} thread(s) {where}"
        steps = {key: c.step for key, c in made.steps.items()}
        started = machine.snapshot()  # outside the scenario: its spinner is waited for in it
        with scenario(where) as before:
            times = measure(steps, rounds, warmup, label, calls, before=before)
        # an arithmetic floor's updates are not the case's count: its seconds are scaled to it
        times = {key: [t * made.steps[key].scale for t in ts] for key, ts in times.items()}
        others = machine.other_cpus(started, machine.snapshot())
        cases.append(
            Case(
                algorithm,
                name,
                dtype.name,
                k,
                n,
                times,
                {key: c.bytes_per_element for key, c in made.steps.items()},
                {key: c.ceiling for key, c in made.steps.items()},
                floors={key: c.floor for key, c in made.steps.items()},
                scenario=where,
                default_threads=default,
                notes=made.notes,
                others_cpus=others,
            )
        )
    return cases


def _dtype(name: str) -> np.dtype[Any]:
    if name == "bfloat16":
        return _storage.bfloat16()  # a clear error if ml_dtypes is missing
    dtype = np.dtype(name)
    if not (dtype in (np.float32, np.float64) or _storage.is_16_bit(dtype)):
        raise ValueError(f"--dtypes: expected float32, float64, bfloat16 or float16, got {name!r}")
    return dtype


def main(argv: list[str] | None = None, *, short: bool = False) -> int:
    args = parser(short).parse_args(argv)
    algorithms = args.algorithms.split(",")
    if args.calls < 1:
        raise SystemExit(f"--calls must be >= 1, got {args.calls}")
    unknown = [a for a in algorithms if a not in ALGORITHMS]
    if unknown:
        raise SystemExit(f"unknown algorithm(s) {unknown}; choose from {', '.join(ALGORITHMS)}")
    names = [c for c in args.sizes.split(",") + args.shapes.split(",") if c]
    try:
        dtypes = [_dtype(d) for d in args.dtypes.split(",")]
    except (TypeError, ValueError) as error:
        raise SystemExit(f"--dtypes: {error}") from error
    wheres = SCENARIOS if args.busy else tuple(args.scenarios.split(","))
    unknown = [w for w in wheres if w not in SCENARIOS]
    if unknown:
        raise SystemExit(f"unknown scenario(s) {unknown}; choose from {', '.join(SCENARIOS)}")
    available = get_num_threads()  # before torch.set_num_threads, which sets OpenMP's too
    threads = (
        [int(t) for t in args.threads.split(",")] if args.threads else [*range(1, available + 1)]
    )
    plan = [
        (a, c, d, k, w)
        for a in algorithms
        for c in names
        for d in dtypes
        for k in threads
        for w in wheres
    ]
    torch_threads = torch.get_num_threads() if torch is not None else 0
    before = machine.snapshot()
    try:
        cases = run_plan(plan, args.rounds, args.warmup, args.calls, default_threads=available)
    finally:
        # torch.set_num_threads also sets OpenMP's default for this thread, which optkern reads
        # (optkern.get_num_threads): put it back for whoever called main().
        if torch is not None:
            torch.set_num_threads(torch_threads)
    after = machine.snapshot()
    where = f"{platform.machine()}, {available} threads available"
    heading = (
        f"optkern {__version__} ({active_isa()}, {where}), torch "
        f"{torch.__version__ if torch is not None else 'not installed'}, DeepSpeed CPU ops "
        f"{'available' if DeepSpeedCPUAdam is not None else 'not installed'}; "
        f"{args.rounds} rounds after {args.warmup} warm-up, contenders interleaved per case"
        + (f", {args.calls} back-to-back calls per sample" if args.calls > 1 else "")
    )
    print(heading + "\n")
    print(machine.report(before, after) + "\n")
    print(table(cases))
    threads_rows = threads_table(cases)
    if threads_rows:
        print("\noptkern's threads against one thread, from the same rounds:\n")
        print(threads_rows)
    ratios = report16.ratio_table(cases)
    if ratios:
        print(
            "\n16-bit storage, the ratios of issue 15's targets (each: the other's median over "
            "the first's, > 1: the first is faster):\n"
        )
        print(ratios)
    if args.samples is not None:
        args.samples.write_text(json.dumps([dataclasses.asdict(c) for c in cases], indent=1))
        print(f"\nsamples: {args.samples}")
    if args.plot is not None:
        plot(cases, args.plot, heading)
        print(f"\nplot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
