"""Issue 16's clipping targets, side by side in one run: Adam float32 (defaults), one whole step
from Python, plain and with ``max_grad_norm=``, against torch's ``clip_grad_norm_`` + Adam and
against the memory ceilings.

    .venv/bin/python bench/clip_step.py --sizes 1e3,1e5,1e7 --shapes 2000x512 --threads 1,2

Contenders per case (each over arrays of its own, so that no in-place update or cache reuse of
one contender helps or hurts another):

- ``plain``: ``opt.step(grads)``.
- ``clipped``: ``opt.step(grads, max_grad_norm=c)`` with ``c`` half the gradients' norm, so the
  coefficient (about 0.5) is applied to every element.
- ``skip (inf)``: ``opt.step(grads, skip_if_nonfinite=True)`` on gradients whose last element (of
  the last tensor) is inf: the statistics pass reads everything, then the step is skipped.
- ``get_total_norm``: ``optkern.get_total_norm(grads)`` alone, the statistics pass.
- ``torch clip + fused``: ``torch.nn.utils.clip_grad_norm_(params, c)`` then
  ``torch.optim.Adam(..., fused=True).step()``, on tensors sharing NumPy arrays' memory
  (``torch.from_numpy``). torch's clip rewrites the gradients in place on every call (it
  multiplies by ``min(1, coefficient)`` even when that is 1), as it does in real training.
- ``torch clip + foreach``: the same with ``foreach=True`` Adam.
- ``torch fused``: torch's fused Adam alone.
- ``ceiling``: optkern's same-traffic loop (``optkern._core._same_traffic_step`` through
  ``optkern.benchmarks.harness.same_traffic_ceiling``): the plain step's traffic, no math.
- ``grad read x1`` / ``grad read x2``: one and two back-to-back pure reads of all the
  gradients' bytes by NumPy's integer maximum (``g.view(np.uint32).max()``: vectorised, one
  compare per element, the fastest NumPy read found here), over one contiguous copy of the case's
  gradients; ``read call``: the same call on 16 elements (NumPy's fixed cost per call). The
  **clipped ceiling** is ``ceiling + (x2 - x1 - read call)``: the plain step's traffic at memory
  speed plus one more read of the gradients right after a first one (from cache where they fit,
  from memory at 1e7), which is the least a clipped step can cost: it must read every gradient
  before it may write anything (the norm decides the factor), then do the plain step's traffic.
  The reads run on one thread (NumPy), so with more threads this bound is looser.

Ratios are of medians of the same run (rounds interleaved in rotating order by
``optkern.benchmarks.harness.measure``, after warm-up with a time floor). The targets of issue 16
are checked at the end.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import optkern
from optkern.benchmarks.harness import measure, same_traffic_ceiling
from optkern.benchmarks.peers import case_shapes

try:
    import torch
except ImportError:  # torch is a peer, not a dependency: its contenders are left out
    torch = None

Arrays = list[np.ndarray[Any, Any]]

PLAIN, CLIPPED, SKIP, NORM = "plain", "clipped", "skip (inf)", "get_total_norm"
TORCH_CLIP, TORCH_CLIP_FOREACH, TORCH_FUSED = (
    "torch clip + fused",
    "torch clip + foreach",
    "torch fused",
)
CEILING, CLIPPED_CEILING = "ceiling", "clipped ceiling"
READ1, READ2, READ_CALL = "grad read x1", "grad read x2", "read call"


def cpu_model() -> str:
    """The CPU's model name, family and model from /proc/cpuinfo (platform's names elsewhere)."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        return platform.processor() or platform.machine()
    return (
        f"{fields.get('model name', '?')}, family {fields.get('cpu family', '?')}, "
        f"model {fields.get('model', '?')}"
    )


def _copies(arrays: Arrays) -> Arrays:
    return [a.copy() for a in arrays]


def contenders(shapes: list[tuple[int, ...]], threads: int) -> tuple[dict[str, Any], float]:
    """The steps of one case and the clipping threshold used (half the gradients' norm)."""
    rng = np.random.default_rng(0)
    start = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [(rng.standard_normal(s) * 1e-2).astype(np.float32) for s in shapes]
    max_norm = 0.5 * optkern.get_total_norm(grads)
    out: dict[str, Callable[[], object]] = {}

    def adam(params: Arrays) -> optkern.Optimizer:
        return optkern.Adam(params, num_threads=threads)

    plain, plain_grads = adam(_copies(start)), _copies(grads)
    out[PLAIN] = lambda: plain.step(plain_grads)
    clipped, clipped_grads = adam(_copies(start)), _copies(grads)
    norm = clipped.step(clipped_grads, max_grad_norm=max_norm)  # warm-up, and a check
    if norm is None or not norm > max_norm:
        raise AssertionError(f"clipping is not active: norm {norm}, max_grad_norm {max_norm}")
    out[CLIPPED] = lambda: clipped.step(clipped_grads, max_grad_norm=max_norm)
    skipper, inf_grads = adam(_copies(start)), _copies(grads)
    inf_grads[-1].reshape(-1)[-1] = np.inf
    skipper.step(plain_grads)  # state allocated, so that every timed step is a skipped one
    before = skipper.state[0]["exp_avg"].copy()
    if skipper.step(inf_grads, skip_if_nonfinite=True) != np.inf:
        raise AssertionError("the step with an inf gradient did not report an inf norm")
    if not np.array_equal(before, skipper.state[0]["exp_avg"]):
        raise AssertionError("the step with an inf gradient was not skipped")
    out[SKIP] = lambda: skipper.step(inf_grads, skip_if_nonfinite=True)
    norm_grads = _copies(grads)
    out[NORM] = lambda: optkern.get_total_norm(norm_grads)  # threads: optkern.set_num_threads

    if torch is not None:
        for name, flags in (
            (TORCH_CLIP, {"fused": True}),
            (TORCH_CLIP_FOREACH, {"foreach": True}),
            (TORCH_FUSED, {"fused": True}),
        ):
            tensors = [torch.from_numpy(p) for p in _copies(start)]
            for t, g in zip(tensors, _copies(grads), strict=True):
                t.grad = torch.from_numpy(g)
            topt = torch.optim.Adam(tensors, **flags)
            topt.step()  # state allocated
            clip = name != TORCH_FUSED

            def torch_step(topt: Any = topt, tensors: Any = tensors, clip: bool = clip) -> None:
                if clip:
                    torch.nn.utils.clip_grad_norm_(tensors, max_norm)
                topt.step()

            out[name] = torch_step

    out[CEILING] = same_traffic_ceiling(adam(_copies(start)), _copies(grads), threads)
    # Each read over its own copy: the rotation keeps the contenders' order, so x2 runs right
    # after x1 in most rounds and would find shared data in cache.
    flat = np.concatenate([g.reshape(-1) for g in grads]).view(np.uint32)
    flat2, tiny = flat.copy(), flat[:16].copy()
    out[READ1] = flat.max

    def read_twice() -> None:
        flat2.max()
        flat2.max()

    out[READ2] = read_twice
    out[READ_CALL] = tiny.max
    return out, max_norm


def default_rounds(elements: int, contenders: int) -> int:
    """About 1e10 bytes of Adam traffic (28 bytes per element) per contender, 48 ... 2000 rounds,
    rounded up to whole rotations of the contenders' order, so that each is first in a round
    equally often. (The rotation keeps the cyclic order: each contender follows the same one in
    almost every round, and one right after a long call finds colder caches and clocks.)"""
    rounds = max(48, min(2000, int(1e10 // (elements * 28))))
    return -(-rounds // contenders) * contenders


def _micros(seconds: float) -> str:
    micros = seconds * 1e6
    return f"{micros:,.0f}" if micros >= 1000 else f"{micros:.3g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1e3,1e5,1e7", help="single tensors (%(default)s)")
    parser.add_argument("--shapes", default="2000x512", help="tensor lists, COUNTxSIZE")
    parser.add_argument("--threads", default="1,2", help="(default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=0, help="default: by size, 48 ... 2000")
    parser.add_argument("--warmup", type=int, default=3, help="rounds, and at least 0.25 s")
    args = parser.parse_args()
    names = [c for c in args.sizes.split(",") + args.shapes.split(",") if c]
    threads_list = [int(t) for t in args.threads.split(",")]

    print(f"date: {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}")
    print(f"CPU: {cpu_model()}")
    print(
        f"optkern {optkern.__version__} (ISA {optkern.active_isa()}), numpy {np.__version__}, "
        f"torch {torch.__version__ if torch is not None else 'not installed'}; Adam float32 "
        "defaults; contenders interleaved per case, rotating order"
    )
    print()
    print(
        "| case | threads | contender | min µs | median µs | max µs | median vs plain | "
        "ceiling / median |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|")

    torch_threads = torch.get_num_threads() if torch is not None else 0
    results: dict[tuple[str, int], dict[str, float]] = {}
    try:
        for name in names:
            shapes = case_shapes(name)
            elements = sum(int(np.prod(s)) for s in shapes)
            for threads in threads_list:
                if torch is not None:
                    torch.set_num_threads(threads)
                optkern.set_num_threads(threads)  # get_total_norm's threads
                steps, _ = contenders(shapes, threads)
                rounds = args.rounds or default_rounds(elements, len(steps))
                label = f"{name}, {threads} thread(s), {rounds} rounds"
                times = measure(steps, rounds, args.warmup, label)
                medians = {k: statistics.median(v) for k, v in times.items()}
                read = max(0.0, medians[READ2] - medians[READ1] - medians[READ_CALL])
                medians[CLIPPED_CEILING] = medians[CEILING] + read
                results[(name, threads)] = medians
                for contender, median in medians.items():
                    ts = times.get(contender)
                    spread = (_micros(min(ts)), _micros(max(ts))) if ts else ("", "")
                    bound = CLIPPED_CEILING if contender in (CLIPPED, TORCH_CLIP) else CEILING
                    share = (
                        f"{medians[bound] / median * 100:.0f} % ({bound})"
                        if contender not in (READ1, READ2, READ_CALL, SKIP, NORM, CEILING)
                        and contender != CLIPPED_CEILING
                        else ""
                    )
                    print(
                        f"| {name} | {threads} | {contender} | {spread[0]} | {_micros(median)} | "
                        f"{spread[1]} | {median / medians[PLAIN]:.2f}x | {share} |"
                    )
    finally:
        # torch.set_num_threads sets OpenMP's default too, which optkern reads.
        if torch is not None:
            torch.set_num_threads(torch_threads)
        optkern.set_num_threads(None)
    print()
    print(targets(results))


def targets(results: dict[tuple[str, int], dict[str, float]]) -> str:
    """Each of issue 16's clipping targets, per thread count: the ratio of medians, met or not."""
    lines = ["| target | case | threads | measured | met |", "|---|---|---:|---:|---|"]

    def row(target: str, case: str, threads: int, ratio: float, ok: bool) -> None:
        lines.append(
            f"| {target} | {case} | {threads} | {ratio:.2f}x | {'met' if ok else 'NOT met'} |"
        )

    for (case, threads), m in results.items():
        clipped = m[CLIPPED]
        if case == "1e7":
            row(
                "1: clipped / plain <= 1.15",
                case,
                threads,
                clipped / m[PLAIN],
                clipped / m[PLAIN] <= 1.15,
            )
            if TORCH_CLIP in m:
                ratio = m[TORCH_CLIP] / clipped
                row("1: torch clip + fused / clipped >= 1.5", case, threads, ratio, ratio >= 1.5)
        if "x" in case and TORCH_CLIP in m:
            ratio = m[TORCH_CLIP] / clipped
            row("2: torch clip + fused / clipped >= 10", case, threads, ratio, ratio >= 10)
            foreach = m[TORCH_CLIP_FOREACH] / clipped
            row(
                "2 (reported): torch clip + foreach / clipped",
                case,
                threads,
                foreach,
                foreach >= 10,
            )
        if case == "1e3":
            row(
                "3: clipped / plain <= 2",
                case,
                threads,
                clipped / m[PLAIN],
                clipped / m[PLAIN] <= 2,
            )
        ratio = m[SKIP] / m[NORM]
        row("4: skip (inf) / get_total_norm <= 1", case, threads, ratio, ratio <= 1.0)
    return "\n".join(lines)


if __name__ == "__main__":
    main()
