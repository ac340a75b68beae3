"""The contenders of one benchmark case: optkern, its same-traffic memory ceiling, torch.optim
(for-loop, foreach and fused CPU paths, on tensors sharing the NumPy arrays' memory), DeepSpeed's
DeepSpeedCPUAdam / DeepSpeedCPUAdagrad (float32 only) and the naive NumPy formula. Peers that are
not installed are left out; none is a dependency of optkern."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..optimizer import Optimizer
from ..records import Bench, records
from . import naive
from .harness import same_traffic_ceiling

# The peers are optional and used untyped: torch through its module, a DeepSpeed optimizer as a
# class called like a torch.optim one, (tensors, **options).
PeerOptimizer = Callable[..., Any]

try:
    import torch as _torch

    torch: ModuleType | None = _torch
except ImportError:  # the peers are optional
    torch = None
try:
    from deepspeed.ops.adagrad import DeepSpeedCPUAdagrad as _DeepSpeedCPUAdagrad
    from deepspeed.ops.adam import DeepSpeedCPUAdam as _DeepSpeedCPUAdam

    DeepSpeedCPUAdagrad: PeerOptimizer | None = _DeepSpeedCPUAdagrad
    DeepSpeedCPUAdam: PeerOptimizer | None = _DeepSpeedCPUAdam
except ImportError:  # not installed
    DeepSpeedCPUAdam = DeepSpeedCPUAdagrad = None

CEILING = "same-traffic ceiling"

Step = Callable[[], object]  # its result is ignored (optimizer.step returns None or a norm)

# optkern factory (params, threads), torch.optim class name and kwargs, naive factory, state arrays
Algorithm = tuple[
    Callable[[list[NDArray[Any]], int], Optimizer],
    str,
    dict[str, float],
    Callable[[], naive.Step],
    int,
]


def _algorithm(cls: type[Optimizer], torch_name: str, bench: Bench) -> Algorithm:
    kwargs = dict(bench.kwargs)
    factory: Callable[..., Optimizer] = cls

    def make(params: list[NDArray[Any]], threads: int) -> Optimizer:
        return factory(params, **kwargs, num_threads=threads)

    states = len(cls._state_init({**factory().defaults, **kwargs}))
    return make, torch_name, kwargs, bench.naive, states


# The records' bench entries for the "peers" table (each with the record's torch.optim name).
ALGORITHMS: dict[str, Algorithm] = {
    bench.name: _algorithm(entry.cls, entry.torch, bench)
    for entry in records()
    if entry.torch is not None
    for bench in entry.bench
    if "peers" in bench.tables
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
    algorithm: str,
    shapes: list[tuple[int, ...]],
    dtype: np.dtype[Any],
    threads: int,
    naive_too: bool,
) -> dict[str, Step]:
    make_optkern, torch_name, torch_kwargs, make_naive, _ = ALGORITHMS[algorithm]
    rng = np.random.default_rng(0)
    start = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads = [rng.standard_normal(s).astype(dtype) for s in shapes]
    out: dict[str, Step] = {}

    params = [p.copy() for p in start]
    opt = make_optkern(params, threads)
    out["optkern"] = lambda: opt.step(grads)
    out[CEILING] = same_traffic_ceiling(
        make_optkern([p.copy() for p in start], threads), grads, threads
    )

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

            def torch_step(topt: Any = topt) -> None:
                topt.step()

            out[f"torch {mode}"] = torch_step

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
