"""One optimizer step per storage combination, against the same step in float32, side by side.

    .venv/bin/python bench/storage_step.py --algorithm adam --sizes 1e5,1e7 --threads 1,2

For each size and thread count, every combination of ``optkern._storage.COMBINATIONS`` that
ml_dtypes allows gets its own optimizer over its own arrays; after one warm-up step each, the
rounds step them one after another (rotating the order), and the table gives the median step
time, each combination's bytes moved per element (its arrays' traffic: parameter, gradient and
states read, parameter and states written; with master weights the master read and written and
the 16-bit parameter written) and its median as a speed-up over float32 (above 1: faster). This
is not a memory ceiling: bench/cpp measures those for the float32 and float64 kernels. A
stochastically rounded combination also gets its time against its round-to-nearest twin (the same
storage with rounding="nearest"): the cost of the random bits.

    .venv/bin/python bench/storage_step.py --sizes 1e5,1e7 --threads 1 \
        --storage float32,bfloat16-state16,bfloat16-state16-stochastic
"""

from __future__ import annotations

import argparse
import platform
import time
from typing import Any

import numpy as np
import optkern
from optkern import _storage


def _bytes_per_element(combination: _storage.Combination, states: int) -> int:
    param = combination.dtype(combination.param).itemsize
    grad = combination.dtype(combination.grad).itemsize
    state = (
        _storage.state_dtype(combination.dtype(combination.param), combination.state_dtype, "")
        or np.dtype(np.float32)
    ).itemsize
    moved = grad + 2 * states * state
    if combination.master_weights:
        return moved + 2 * 4 + param  # master read and written, parameter written
    return moved + 2 * param


def _optimizer(
    cls: type[optkern.Optimizer], combination: _storage.Combination, n: int, threads: int
) -> tuple[optkern.Optimizer, list[np.ndarray[Any, Any]]]:
    rng = np.random.default_rng(0)
    param = rng.standard_normal(n).astype(np.float32).astype(combination.dtype(combination.param))
    grad = (rng.standard_normal(n).astype(np.float32) * 1e-3).astype(
        combination.dtype(combination.grad)
    )
    opt = cls([param], lr=1e-6, num_threads=threads, **combination.options)
    opt.step([grad])  # warm-up: state allocated, pages touched
    return opt, [grad]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algorithm", default="Adam", help="an optkern class name (Adam)")
    parser.add_argument("--sizes", default="1e3,1e5,1e7")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rounds", type=int, default=0, help="default: by size")
    parser.add_argument(
        "--storage",
        default="",
        help="comma-separated combination names (default: all; float32 "
        "is always run, as the baseline)",
    )
    args = parser.parse_args()
    cls = getattr(optkern, args.algorithm)
    combinations = _storage.available_combinations()
    if args.storage:
        wanted = {"float32", *args.storage.split(",")}
        unknown = wanted - {c.name for c in combinations}
        if unknown:
            parser.error(f"unknown (or unavailable) storage {sorted(unknown)}")
        combinations = tuple(c for c in combinations if c.name in wanted)
    print(
        f"{cls.__name__}, ISA {optkern.active_isa()}, {platform.processor() or platform.machine()}"
    )
    print("| size | threads | storage | bytes/element | median step | vs float32 | vs nearest |")
    print("|---:|---:|---|---:|---:|---:|---:|")
    for size in (int(float(s)) for s in args.sizes.split(",")):
        rounds = args.rounds or max(15, min(2000, int(2e8 // (size * 28))))
        for threads in (int(t) for t in args.threads.split(",")):
            built = {c.name: _optimizer(cls, c, size, threads) for c in combinations}
            states = len(built["float32"][0].state[0])
            times: dict[str, list[float]] = {name: [] for name in built}
            names = list(built)
            for r in range(rounds):
                for name in names[r % len(names) :] + names[: r % len(names)]:
                    opt, grads = built[name]
                    start = time.perf_counter()
                    opt.step(grads)
                    times[name].append(time.perf_counter() - start)
            base = float(np.median(times["float32"]))
            for combination in combinations:
                median = float(np.median(times[combination.name]))
                twin = _nearest_twin(combination, combinations)
                versus = f"{float(np.median(times[twin.name])) / median:.2f}x" if twin else ""
                print(
                    f"| {size:.0e} | {threads} | {combination.name} | "
                    f"{_bytes_per_element(combination, states)} | {median * 1e6:.1f} µs | "
                    f"{base / median:.2f}x | {versus} |"
                )


def _nearest_twin(
    combination: _storage.Combination, combinations: tuple[_storage.Combination, ...]
) -> _storage.Combination | None:
    """The round-to-nearest combination of the same storage as a stochastic one, if run."""
    if combination.rounding != "stochastic":
        return None
    same = combination._replace(name="", rounding="nearest", seed=0)
    return next((c for c in combinations if c._replace(name="") == same), None)


if __name__ == "__main__":
    main()
