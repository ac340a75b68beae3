"""Run the C++ kernel benchmark (bench/cpp, built with -DOPTKERN_BUILD_BENCH=ON) and print each
kernel's throughput as a percentage of its same-traffic ceiling, measured in the same run.

Method: google-benchmark runs every case --repetitions times with random interleaving (so slow
phases of this shared machine hit kernels and ceilings alike) and reports the median; each kernel
row is divided by the ceiling row with the same dtype, ISA, thread count, size and number of
state arrays (the loop that reads and writes exactly the same arrays and does no math).

    python bench/kernel_report.py build/bench/optkern_kernel_bench --filter 'float32/avx2' \\
        --max-size 1e7 --repetitions 5
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Any


def run(binary: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    command = [
        binary,
        "--benchmark_format=json",
        f"--benchmark_repetitions={args.repetitions}",
        "--benchmark_enable_random_interleaving=true",
        "--benchmark_report_aggregates_only=true",
        f"--benchmark_min_time={args.min_time}",
        f"--optkern_max_size={args.max_size}",
    ]
    if args.filter:
        command.append(f"--benchmark_filter={args.filter}")
    if args.threads:
        command.append(f"--optkern_threads={args.threads}")
    print("running:", " ".join(command), file=sys.stderr)
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout)["benchmarks"]


def table(rows: list[dict[str, Any]]) -> str:
    medians = {r["run_name"]: r for r in rows if r.get("aggregate_name") == "median"}
    ceilings = {}
    triads = {}
    for name, r in medians.items():
        head, rest = name.split("/", 1)
        if head.startswith("ceiling:states="):
            ceilings[(int(head.split("=")[1]), rest)] = r
        elif head == "triad":
            triads[rest] = r
    lines = [
        (
            "| kernel | dtype | ISA | threads | elements | ns/element | GB/s | same-traffic "
            "ceiling GB/s | % of ceiling | triad GB/s |"
        ),
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def order(name: str) -> tuple[Any, ...]:
        head, dtype, isa, threads, size, _ = name.split("/")
        return (head, dtype, isa, int(threads.split(":")[1]), int(size))

    kernels = [n for n in medians if not n.startswith(("ceiling", "triad"))]
    for name in sorted(kernels, key=order):
        r = medians[name]
        head, rest = name.split("/", 1)
        dtype, isa, threads, size, _ = rest.split("/")
        ceiling = ceilings.get((int(r["states"]), rest))
        triad = triads.get(rest)
        gbs = r["bytes_per_second"] / 1e9
        ceiling_gbs = ceiling["bytes_per_second"] / 1e9 if ceiling else float("nan")
        ns = 1e9 / r["items_per_second"]
        # 16-bit storage cases have no triad of their own (it is the float32 one's).
        triad_gbs = f"{triad['bytes_per_second'] / 1e9:.1f}" if triad else "—"
        lines.append(
            f"| {head} | {dtype} | {isa} | {threads.split(':')[1]} | {int(size):.0e} | {ns:.3f} | "
            f"{gbs:.1f} | {ceiling_gbs:.1f} | {100 * gbs / ceiling_gbs:.0f} % | "
            f"{triad_gbs} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("binary", help="path to optkern_kernel_bench")
    parser.add_argument("--filter", default="", help="google-benchmark regex over the names")
    parser.add_argument("--threads", default="", help="e.g. 1,2 (default: 1 and all)")
    parser.add_argument("--max-size", default="1e8")
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=0.1, help="seconds per repetition")
    args = parser.parse_args(argv)
    if args.filter:  # keep the ceilings of whatever the filter selects
        args.filter = f"({args.filter})|(ceiling|triad).*({args.filter.split('/', 1)[-1]})"
    print(table(run(args.binary, args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
