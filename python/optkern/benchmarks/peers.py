"""The contenders of one float32 or float64 benchmark case: optkern, its same-traffic memory
ceiling, torch.optim (for-loop, foreach and fused CPU paths, on tensors sharing the NumPy arrays'
memory), DeepSpeed's DeepSpeedCPUAdam / DeepSpeedCPUAdagrad (float32 only) and the naive NumPy
formula. Peers that are not installed are left out; none is a dependency of optkern. The 16-bit
cases' contenders are in ``peers16``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..optimizer import Optimizer
from ..records import Bench, records
from . import naive
from .floor import arithmetic_floor
from .harness import ceiling_or_reason

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
#: optkern's own kernel on cache-resident data, as many element updates (floor.py)
FLOOR = "arithmetic floor"
#: optkern on one thread, in the rounds of a case on more: the threads' gain read off one case
ONE_THREAD = "optkern 1 thread"

Step = Callable[[], object]  # its result is ignored (optimizer.step returns None or a norm)


@dataclass(frozen=True)
class Contender:
    """One timed step of a case, the bytes it moves per element, and the name of the ceiling (a
    contender of the same case) that moves the same bytes: a ceiling's own name for itself, None
    for a contender without one; likewise the arithmetic floor of its kernel."""

    step: Step
    bytes_per_element: int
    ceiling: str | None = CEILING
    #: the arithmetic floor it is judged against too (a contender's name, or None)
    floor: str | None = None
    #: what its measured seconds are multiplied by (a floor runs another count of updates)
    scale: float = 1.0


@dataclass
class Contenders:
    """A case's contenders, and why a ceiling is missing ("n/a" in the table), if one is."""

    steps: dict[str, Contender]
    notes: list[str]


# optkern factory (params, threads, storage options), torch.optim class name and kwargs, naive
# factory, state arrays. threads None: optkern's default (what a user who sets nothing gets).
Algorithm = tuple[
    Callable[..., Optimizer],
    str,
    dict[str, float],
    Callable[[], naive.Step],
    int,
]


def _algorithm(cls: type[Optimizer], torch_name: str, bench: Bench) -> Algorithm:
    kwargs = dict(bench.kwargs)
    factory: Callable[..., Optimizer] = cls

    def make(params: list[NDArray[Any]], threads: int | None, **storage: Any) -> Optimizer:
        return factory(params, **kwargs, **storage, num_threads=threads)

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


def add_ceiling(
    out: Contenders,
    name: str,
    optimizer: Optimizer,
    grads: list[NDArray[Any]],
    threads: int,
    bytes_per_element: int,
) -> None:
    """The same-traffic ceiling of `optimizer` (over arrays of its own) as contender `name`, or
    a note saying why there is none."""
    step, reason = ceiling_or_reason(optimizer, grads, threads)
    if step is None:
        out.notes.append(f"{name}: n/a ({reason})")
    else:
        out.steps[name] = Contender(step, bytes_per_element, ceiling=name)  # 100 % of itself


def add_floor(
    out: Contenders,
    make: Callable[..., Optimizer],
    dtype: np.dtype[Any],
    grad_dtype: np.dtype[Any],
    resident_bytes: int,
    shapes: list[tuple[int, ...]],
    threads: int,
    moved: int,
    name: str = FLOOR,
    **storage: Any,
) -> None:
    """optkern's arithmetic floor for the case (floor.py) as contender `name`, judged against
    itself; its times are scaled to the case's element count. `storage`: the optimizer's storage
    options; `resident_bytes`: its parameter, gradient and states' bytes per element."""
    elements = sum(int(np.prod(s)) for s in shapes)
    made = arithmetic_floor(
        lambda params, t: make(params, t, **storage),
        dtype,
        grad_dtype,
        resident_bytes,
        elements,
        threads,
    )
    out.steps[name] = Contender(made.step, moved, ceiling=None, floor=name, scale=made.scale)


def torch_steps(
    torch_name: str,
    torch_kwargs: dict[str, float],
    tensors: Callable[[], list[Any]],
    modes: tuple[str, ...] = ("for-loop", "foreach", "fused"),
) -> dict[str, Step]:
    """torch.optim's `modes` over fresh tensors (params with .grad set) from `tensors()`; a mode
    torch refuses for these tensors is left out."""
    assert torch is not None
    out: dict[str, Step] = {}
    for mode in modes:
        flags = {"fused": True} if mode == "fused" else {"foreach": mode == "foreach"}
        try:
            topt = getattr(torch.optim, torch_name)(tensors(), **torch_kwargs, **flags)
            topt.step()
        except (RuntimeError, TypeError, ValueError):  # no fused CPU path for this one
            continue

        def torch_step(topt: Any = topt) -> None:
            topt.step()

        out[f"torch {mode}"] = torch_step
    return out


def contenders(
    algorithm: str,
    shapes: list[tuple[int, ...]],
    dtype: np.dtype[Any],
    threads: int,
    *,
    default_threads: bool = False,
    naive_too: bool = True,
) -> Contenders:
    """float32 or float64. `default_threads`: optkern steps with its default thread count (which
    is `threads` here) instead of num_threads=threads; on more than one thread the case also
    times optkern on one (ONE_THREAD)."""
    make_optkern, torch_name, torch_kwargs, make_naive, states = ALGORITHMS[algorithm]
    rng = np.random.default_rng(0)
    start = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads = [rng.standard_normal(s).astype(dtype) for s in shapes]
    moved = (3 + 2 * states) * dtype.itemsize
    out = Contenders({}, [])

    opt = make_optkern([p.copy() for p in start], None if default_threads else threads)
    out.steps["optkern"] = Contender(lambda: opt.step(grads), moved, floor=FLOOR)
    if threads > 1:
        solo = make_optkern([p.copy() for p in start], 1)
        out.steps[ONE_THREAD] = Contender(lambda: solo.step(grads), moved)
    add_ceiling(
        out, CEILING, make_optkern([p.copy() for p in start], threads), grads, threads, moved
    )
    add_floor(
        out, make_optkern, dtype, dtype, (2 + states) * dtype.itemsize, shapes, threads, moved
    )

    if torch is not None:

        def tensors() -> list[Any]:
            assert torch is not None
            made = [torch.from_numpy(p.copy()) for p in start]
            for t, g in zip(made, grads, strict=True):
                t.grad = torch.from_numpy(g)
            return made

        for name, step in torch_steps(torch_name, torch_kwargs, tensors).items():
            out.steps[name] = Contender(step, moved)

    deepspeed_cls = {"adam": DeepSpeedCPUAdam, "adagrad": DeepSpeedCPUAdagrad}.get(algorithm)
    if torch is not None and deepspeed_cls is not None and dtype == np.float32:
        params = [torch.from_numpy(p.copy()) for p in start]
        # DeepSpeed's Adagrad writes into the gradient's tail: give it private copies.
        for t, g in zip(params, grads, strict=True):
            t.grad = torch.from_numpy(g.copy())
        extra = {"adamw_mode": False} if algorithm == "adam" else {}
        dopt = deepspeed_cls(params, **extra)
        out.steps["DeepSpeed"] = Contender(lambda: dopt.step(), moved)

    if naive_too:
        steps = [make_naive() for _ in shapes]
        copies = [p.copy() for p in start]

        def naive_step() -> None:
            for f, p, g in zip(steps, copies, grads, strict=True):
                f(p, g)

        out.steps["naive NumPy"] = Contender(naive_step, moved)
    return out
