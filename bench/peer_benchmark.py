"""optkern against its peers, one whole optimizer step from Python: PyTorch's torch.optim
(for-loop, foreach and fused CPU paths, on tensors sharing the NumPy arrays' memory), DeepSpeed's
DeepSpeedCPUAdam / DeepSpeedCPUAdagrad (float32 only), and the naive NumPy formula. Peers that
are not installed are left out (see bench/README.md for installing them; none is a dependency).

Method: for each case (algorithm x dtype x shape x thread count) every contender gets its own
copy of the parameters and state; after warm-up, rounds run the contenders one after another in a
rotating order, and the table reports min / median / max of the per-step time over the rounds,
ns per element, GB/s of the algorithm's traffic, and the median of each peer as a multiple of
optkern's (> 1: optkern is faster).

    python bench/peer_benchmark.py --algorithms adam --sizes 1e3,1e6,1e7 --shapes resnet50,2000x512
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import optkern

sys.path.insert(0, str(Path(__file__).resolve().parent))
import naive  # bench/naive.py, next to this script
from harness import measure  # bench/harness.py

try:
    import torch
except ImportError:  # the peers are optional
    torch = None
try:
    from deepspeed.ops.adagrad import DeepSpeedCPUAdagrad
    from deepspeed.ops.adam import DeepSpeedCPUAdam
except ImportError:  # not installed
    DeepSpeedCPUAdam = DeepSpeedCPUAdagrad = None

Step = Callable[[], None]

# algorithm -> optkern factory, torch.optim class name and kwargs, naive factory, state arrays
ALGORITHMS = {
    "adam": (lambda ps, k: optkern.Adam(ps, num_threads=k), "Adam", {}, naive.adam, 2),
    "sgd-momentum": (
        lambda ps, k: optkern.SGD(ps, lr=1e-3, momentum=0.9, num_threads=k),
        "SGD",
        {"lr": 1e-3, "momentum": 0.9},
        naive.momentum,
        1,
    ),
    "adagrad": (lambda ps, k: optkern.Adagrad(ps, num_threads=k), "Adagrad", {}, naive.adagrad, 1),
    "rmsprop": (lambda ps, k: optkern.RMSprop(ps, num_threads=k), "RMSprop", {}, naive.rmsprop, 1),
}


def resnet50_shapes() -> list[tuple[int, ...]]:
    """The 161 parameter tensors of torchvision's ResNet-50 (25.6 M elements), by shape."""
    shapes: list[tuple[int, ...]] = [(64, 3, 7, 7), (64,), (64,)]
    inplanes = 64
    for planes, blocks in ((64, 3), (128, 4), (256, 6), (512, 3)):
        for block in range(blocks):
            width, out = planes, planes * 4
            shapes += [(width, inplanes, 1, 1), (width,), (width,)]
            shapes += [(width, width, 3, 3), (width,), (width,)]
            shapes += [(out, width, 1, 1), (out,), (out,)]
            if block == 0:
                shapes += [(out, inplanes, 1, 1), (out,), (out,)]
            inplanes = out
    shapes += [(1000, 2048), (1000,)]
    return shapes


def case_shapes(name: str) -> list[tuple[int, ...]]:
    if name == "resnet50":
        return resnet50_shapes()
    if "x" in name:
        count, size = (int(float(v)) for v in name.split("x"))
        return [(size,)] * count
    return [(int(float(name)),)]


def contenders(
    algorithm: str, shapes: list[tuple[int, ...]], dtype: np.dtype, threads: int, naive_too: bool
) -> dict[str, Step]:
    make_optkern, torch_name, torch_kwargs, make_naive, _ = ALGORITHMS[algorithm]
    rng = np.random.default_rng(0)
    start = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads = [rng.standard_normal(s).astype(dtype) for s in shapes]
    out: dict[str, Step] = {}

    params = [p.copy() for p in start]
    opt = make_optkern(params, threads)
    out["optkern"] = lambda: opt.step(grads)

    if torch is not None:
        for mode in ("for-loop", "foreach", "fused"):
            tensors = [torch.from_numpy(p.copy()) for p in start]
            for t, g in zip(tensors, grads, strict=True):
                t.grad = torch.from_numpy(g)
            flags = {"foreach": mode == "foreach"}
            if mode == "fused":
                flags = {"fused": True}
            try:
                topt = getattr(torch.optim, torch_name)(tensors, **torch_kwargs, **flags)
                topt.step()
            except (RuntimeError, TypeError, ValueError):  # no fused CPU path for this one
                continue
            out[f"torch {mode}"] = lambda topt=topt: topt.step()

    deepspeed_cls = {"adam": DeepSpeedCPUAdam, "adagrad": DeepSpeedCPUAdagrad}.get(algorithm)
    if torch is not None and deepspeed_cls is not None and dtype == np.float32:
        tensors = [torch.from_numpy(p.copy()) for p in start]
        # DeepSpeed's Adagrad writes into the gradient's tail: give it private copies.
        for t, g in zip(tensors, grads, strict=True):
            t.grad = torch.from_numpy(g.copy())
        extra = {"adamw_mode": False} if algorithm == "adam" else {}
        dopt = deepspeed_cls(tensors, **extra)
        out["DeepSpeed"] = lambda: dopt.step()

    if naive_too:
        steps = [make_naive() for _ in shapes]
        copies = [p.copy() for p in start]

        def naive_step() -> None:
            for f, p, g in zip(steps, copies, grads, strict=True):
                f(p, g)

        out["naive NumPy"] = naive_step
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algorithms", default="adam", help=",".join(ALGORITHMS))
    parser.add_argument("--sizes", default="1e3,1e4,1e5,1e6,1e7", help="single-tensor sizes")
    parser.add_argument("--shapes", default="resnet50,2000x512", help="multi-tensor cases")
    parser.add_argument("--dtypes", default="float32,float64")
    parser.add_argument("--threads", default="", help="e.g. 1,2 (default: 1 ... all)")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args(argv)
    algorithms = args.algorithms.split(",")
    unknown = [a for a in algorithms if a not in ALGORITHMS]
    if unknown:
        parser.error(f"unknown algorithm(s) {unknown}; choose from {', '.join(ALGORITHMS)}")
    cases = [c for c in args.sizes.split(",") + args.shapes.split(",") if c]
    dtypes = [np.dtype(d) for d in args.dtypes.split(",")]
    all_threads = optkern.get_num_threads()
    threads = (
        [int(t) for t in args.threads.split(",")]
        if args.threads
        else list(range(1, all_threads + 1))
    )
    plan = [(a, c, d, k) for a in algorithms for c in cases for d in dtypes for k in threads]
    rows = []
    for index, (algorithm, case, dtype, k) in enumerate(plan):
        print(
            f"\r  [{index + 1}/{len(plan)}] {algorithm} {case} {dtype.name} {k} thread(s)   ",
            end="",
            file=sys.stderr,
            flush=True,
        )
        shapes = case_shapes(case)
        n = sum(int(np.prod(s)) for s in shapes)
        if torch is not None:
            torch.set_num_threads(k)
        steps = contenders(algorithm, shapes, dtype, k, naive_too=n <= 10_000_000)
        # fewer rounds for the slow big cases keeps a full run in minutes
        rounds = args.rounds if n < 10_000_000 else max(5, args.rounds // 3)
        times = measure(steps, rounds, args.warmup)
        traffic = (3 + 2 * ALGORITHMS[algorithm][4]) * dtype.itemsize * n
        ours = statistics.median(times["optkern"])
        for name, ts in times.items():
            med = statistics.median(ts)
            rows.append(
                f"| {algorithm} | {case} | {dtype.name} | {k} | {name} | {min(ts) * 1e3:.3f} | "
                f"{med * 1e3:.3f} | {max(ts) * 1e3:.3f} | {med / n * 1e9:.3f} | "
                f"{traffic / med / 1e9:.1f} | {med / ours:.2f}x |"
            )
    print(file=sys.stderr)
    print(
        f"optkern {optkern.__version__} ({optkern.active_isa()}), torch "
        f"{torch.__version__ if torch is not None else 'not installed'}, DeepSpeed CPU ops "
        f"{'available' if DeepSpeedCPUAdam is not None else 'not installed'}; "
        f"{args.rounds} rounds after {args.warmup} warm-up, contenders interleaved per case\n"
    )
    print(
        "| algorithm | case | dtype | threads | contender | min ms | median ms | max ms | "
        "ns/element | GB/s | median vs optkern |"
    )
    print("|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
