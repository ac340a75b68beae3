"""What libgomp's wait policy does to a 2-thread step (issue 19, item 1): each setting of
OMP_WAIT_POLICY / GOMP_SPINCOUNT in a fresh process (libgomp reads them when it loads), Adam
float32 on 1 thread, on 2 threads (num_threads=2, the raw OpenMP team) and with the default
thread count (optkern's own choice, cpp/thread_choice.h), in the quiet, busy and blas scenarios.

    .venv/bin/python bench/wait_policy.py --sizes 4e4,2e5,1e6,4e6 --rounds 40

Prints, per setting, the medians and the ratios to 1 thread (2 threads and the default each in
rounds of their own with 1 thread; the 1-thread column is the default's), with the CPUs other processes kept
busy during each case (optkern.benchmarks.machine): on a shared machine that column says how
quiet "quiet" was.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

SETTINGS = {
    "libgomp default": {},
    "OMP_WAIT_POLICY=passive": {"OMP_WAIT_POLICY": "passive"},
    "OMP_WAIT_POLICY=active": {"OMP_WAIT_POLICY": "active"},
    "GOMP_SPINCOUNT=0": {"GOMP_SPINCOUNT": "0"},
    "GOMP_SPINCOUNT=10k": {"GOMP_SPINCOUNT": "10000"},
    "GOMP_SPINCOUNT=100k": {"GOMP_SPINCOUNT": "100000"},
}
CONTENDERS = ("1 thread", "2 threads", "default")  # keys of a row


def child(sizes: list[int], scenarios: list[str], rounds: int) -> None:
    """One setting: prints {size: {scenario: {contender: median seconds, "others": CPUs}}}."""
    import statistics

    import numpy as np
    import optkern
    from optkern.benchmarks import machine
    from optkern.benchmarks.harness import measure
    from optkern.benchmarks.scenarios import scenario

    def contender(opt: optkern.Adam, grads: list[np.ndarray]) -> object:
        return lambda: opt.step(grads)

    found: dict[str, dict[str, dict[str, float | None]]] = {}
    for size in sizes:
        rng = np.random.default_rng(0)
        grads = [rng.standard_normal(size).astype(np.float32)]
        optimizers = {
            name: optkern.Adam([rng.standard_normal(size).astype(np.float32)], num_threads=n)
            for name, n in zip(CONTENDERS, (1, 2, None), strict=True)
        }
        found[str(size)] = {}
        for name in scenarios:
            row: dict[str, float | None] = {}
            with scenario(name) as before:
                snapshot = machine.snapshot()
                # Two blocks, each against its own 1-thread rounds: a 2-thread step leaves its
                # worker spinning, which slows whatever runs right after it, so the default must
                # not follow it in the rotation.
                for pair in (("1 thread", "default"), ("1 thread", "2 threads")):
                    times = measure(
                        {k: contender(optimizers[k], grads) for k in pair}, rounds, 5, before=before
                    )
                    row[pair[1]] = statistics.median(times[pair[1]])
                    row[f"1 thread ({pair[1]})"] = statistics.median(times["1 thread"])
                row["1 thread"] = row["1 thread (default)"]
                row["others"] = machine.other_cpus(snapshot, machine.snapshot())
            found[str(size)][name] = row
    print(json.dumps(found))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="4e4,2e5,1e6,4e6")
    parser.add_argument("--scenarios", default="quiet,busy,blas")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--settings", default=",".join(SETTINGS), help="names from SETTINGS")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    scenarios = args.scenarios.split(",")
    if args.child:
        child(sizes, scenarios, args.rounds)
        return
    print(
        "| setting | size | scenario | others' CPUs | 1 thread | 2 threads | default | "
        "2 / 1 | default / 1 |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for setting in args.settings.split(","):
        env = {
            k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
        }
        env.update(SETTINGS[setting])
        command = [
            sys.executable,
            __file__,
            "--child",
            "--sizes",
            args.sizes,
            "--scenarios",
            args.scenarios,
            "--rounds",
            str(args.rounds),
        ]
        out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
        for size, by_scenario in json.loads(out).items():
            for name, row in by_scenario.items():
                one, two, default = (row[c] for c in CONTENDERS)
                one_two = row["1 thread (2 threads)"]
                assert None not in (one, two, default, one_two)
                others = row["others"]
                print(
                    f"| {setting} | {float(size):.0e} | {name} | "
                    f"{'?' if others is None else f'{others:.2f}'} | {one * 1e6:,.1f} µs | "
                    f"{two * 1e6:,.1f} µs | {default * 1e6:,.1f} µs | {two / one_two:.2f} | "
                    f"{default / one:.2f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
