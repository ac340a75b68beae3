"""The contenders of one 16-bit benchmark case (issue 15): float16 or bfloat16 parameters and
gradients, each storage with its own same-traffic ceiling, and the peers on the same values.

- optkern with float32 state (the default for 16-bit parameters), with ``state_dtype="bfloat16"``,
  with ``master_weights=True``, and optkern's float32 step on the same element count;
- DeepSpeedCPUAdam / DeepSpeedCPUAdagrad on 16-bit params and grads with float32 state (what it
  does with ``fp32_optimizer_states=True``, its default);
- torch's fused step on 16-bit tensors, whose state is in the parameter's dtype (the only form it
  has): the same bytes as optkern's ``state_dtype="bfloat16"``, and judged against that ceiling.

Bytes per element, with s state arrays and P the parameter's (= the gradient's) itemsize: 2P + P +
2s·4 with float32 state (Adam: 22), 2P + P + 2s·2 with 16-bit state (14), P + 2s·4 + 2·4 + P with
master weights (28: the 16-bit parameter is only written, the float32 master read and written).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from .. import _storage
from .peers import (
    ALGORITHMS,
    CEILING,
    FLOOR,
    ONE_THREAD,
    Contender,
    Contenders,
    DeepSpeedCPUAdagrad,
    DeepSpeedCPUAdam,
    add_ceiling,
    add_floor,
    torch,
    torch_steps,
)

STATE16 = "optkern state bfloat16"
MASTER = "optkern master weights"
FLOAT32 = "optkern float32"
CEILING_STATE16 = "ceiling, state bfloat16"
CEILING_MASTER = "ceiling, master weights"
FLOOR_STATE16 = "arithmetic floor, state bfloat16"


def bytes_per_element(param: int, states: int, state: int, master: bool = False) -> int:
    """The traffic of one element: gradient read (the parameter's itemsize), states read and
    written, and the parameter read and written, or with master weights the float32 master read
    and written and the parameter written."""
    moved = param + 2 * states * state
    return moved + 2 * 4 + param if master else moved + 2 * param


def as_torch(array: NDArray[Any]) -> Any:
    """A torch tensor sharing the array's memory: bfloat16 through its bits (torch.from_numpy
    does not know ml_dtypes' dtype)."""
    assert torch is not None
    if _storage.is_bfloat16(array.dtype):
        return torch.from_numpy(array.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(array)


def contenders(
    algorithm: str,
    shapes: list[tuple[int, ...]],
    dtype: np.dtype[Any],
    threads: int,
    *,
    default_threads: bool = False,
) -> Contenders:
    """`dtype` float16 or bfloat16; `threads` and `default_threads` as in ``peers.contenders``."""
    if not _storage.is_16_bit(dtype):
        raise ValueError(f"peers16.contenders: dtype must be float16 or bfloat16, got {dtype}")
    make_optkern, torch_name, torch_kwargs, _, states = ALGORITHMS[algorithm]
    rng = np.random.default_rng(0)
    start32 = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads32 = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    start = [p.astype(dtype) for p in start32]
    grads = [g.astype(dtype) for g in grads32]
    p16 = dtype.itemsize
    out = Contenders({}, [])

    def optkern(threads: int | None, **storage: Any) -> Any:
        return make_optkern([p.copy() for p in start], threads, **storage)

    ours = None if default_threads else threads
    plain = bytes_per_element(p16, states, 4)
    half = bytes_per_element(p16, states, 2)
    master = bytes_per_element(p16, states, 4, master=True)
    # name: (storage options, bytes per element, the name of its ceiling, of its floor)
    variants: dict[str, tuple[dict[str, Any], int, str, str | None]] = {
        "optkern": ({}, plain, CEILING, FLOOR),
        STATE16: ({"state_dtype": "bfloat16"}, half, CEILING_STATE16, FLOOR_STATE16),
        MASTER: ({"master_weights": True}, master, CEILING_MASTER, None),
    }
    for name, (storage, moved, ceiling, floor) in variants.items():
        opt = optkern(ours, **storage)

        def step(opt: Any = opt) -> None:
            opt.step(grads)

        out.steps[name] = Contender(step, moved, ceiling, floor)
    if threads > 1:
        solo = optkern(1)
        out.steps[ONE_THREAD] = Contender(lambda: solo.step(grads), plain)
    opt32 = make_optkern([p.copy() for p in start32], ours)
    out.steps[FLOAT32] = Contender(lambda: opt32.step(grads32), (3 + 2 * states) * 4, None)
    for storage, moved, ceiling, _ in variants.values():
        add_ceiling(out, ceiling, optkern(threads, **storage), grads, threads, moved)
    # The floors of the two storages whose arithmetic differs most (master weights' is plain's
    # plus one rounding): each element's parameter and gradient in 16 bits, its states in theirs.
    floors: tuple[tuple[str, int, int, dict[str, Any]], ...] = (
        (FLOOR, 4, plain, {}),
        (FLOOR_STATE16, 2, half, {"state_dtype": "bfloat16"}),
    )
    for floor, state_bytes, moved, storage in floors:
        resident = 2 * p16 + states * state_bytes
        add_floor(
            out, make_optkern, dtype, dtype, resident, shapes, threads, moved, name=floor, **storage
        )

    if torch is not None:

        def tensors() -> list[Any]:
            made = [as_torch(p.copy()) for p in start]
            for t, g in zip(made, grads, strict=True):
                t.grad = as_torch(g)
            return made

        fused = torch_steps(torch_name, torch_kwargs, tensors, modes=("fused",))
        for name, torch_step in fused.items():
            # its state is in the parameter's dtype: the bytes of optkern's 16-bit state
            out.steps[name] = Contender(torch_step, half, CEILING_STATE16)

    deepspeed_cls = {"adam": DeepSpeedCPUAdam, "adagrad": DeepSpeedCPUAdagrad}.get(algorithm)
    if torch is not None and deepspeed_cls is not None:
        params = [as_torch(p.copy()) for p in start]
        # private gradient copies: DeepSpeed's Adagrad writes into the gradient's tail
        for t, g in zip(params, grads, strict=True):
            t.grad = as_torch(g.copy())
        extra = {"adamw_mode": False} if algorithm == "adam" else {}
        try:
            dopt = deepspeed_cls(params, **extra)  # float32 state: fp32_optimizer_states=True
            dopt.step()
        except (RuntimeError, TypeError, ValueError) as error:  # a storage it does not take
            out.notes.append(f"DeepSpeed: left out ({error})")
        else:
            out.steps["DeepSpeed"] = Contender(lambda: dopt.step(), plain, CEILING)
    return out
