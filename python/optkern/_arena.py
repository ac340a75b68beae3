"""Allocation of optimizer state: one contiguous buffer per state and dtype for a whole group.

Why: a model with many small parameters (2,000 tensors of 512 elements) gets its state arrays
from ``np.full`` one by one, scattered over the heap, and a step then starts four fresh memory
streams every 2 KB: about 2x slower than one flat tensor of the same size, against about 1.2x
with each state in one buffer (bench/results/state-layout.md).

Each array starts at the same offset within a 64-byte cache line as its parameter. The kernel
peels a scalar head up to the parameter's next line boundary and runs its vector body from there,
so the states' vector loads and stores are then aligned too. NumPy aligns its buffers to 16 bytes
only; with every state on a line boundary instead, the body's state accesses straddled two lines
each (a quarter slower at 1e6 elements, bench/results/state-layout.md). Each array's lines are
its own, so threads working on
different tensors never write the same line.

The arrays handed out are ordinary C-contiguous, writable NumPy views of the buffer; the buffer
lives as long as any of them does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

_ALIGNMENT_BYTES = 64  # a cache line (cpp/optkern/config.h: kCacheLineBytes)


def arrays_like(
    params: Sequence[NDArray[Any]],
    fill: float | None,
    dtypes: Sequence[np.dtype[Any]] | None = None,
) -> list[NDArray[Any]]:
    """One array per parameter (same shape; its dtype, or ``dtypes[i]``) holding ``fill``, carved
    from one buffer per dtype, each at its parameter's offset within a 64-byte line (counted in
    elements). ``fill=None`` leaves them uninitialised, for a caller that writes every element (a
    checkpoint being loaded)."""
    out: list[NDArray[Any]] = [np.empty(0)] * len(params)
    by_dtype: dict[np.dtype[Any], list[int]] = {}
    for position, param in enumerate(params):
        dtype = param.dtype if dtypes is None else dtypes[position]
        by_dtype.setdefault(dtype, []).append(position)
    for dtype, positions in by_dtype.items():
        per_line = max(1, _ALIGNMENT_BYTES // dtype.itemsize)
        offsets = []
        total = 0
        for position in positions:
            shift = _line_offset(params[position], per_line)
            offsets.append(total + shift)
            total += -(-(shift + params[position].size) // per_line) * per_line  # whole lines
        buffer = np.empty(total + per_line, dtype)  # one line more: room to align the start
        start = (-buffer.ctypes.data % _ALIGNMENT_BYTES) // dtype.itemsize
        if fill is not None:
            with np.errstate(over="ignore"):  # a valid float64 fill may round to inf in float32
                buffer.fill(fill)
        for position, offset in zip(positions, offsets, strict=True):
            param = params[position]
            begin = start + offset
            out[position] = buffer[begin : begin + param.size].reshape(param.shape)
    return out


def _line_offset(param: NDArray[Any], per_line: int) -> int:
    """Elements from the start of the cache line holding ``param``'s first element (0 for a
    buffer that is not even element-aligned: there is no alignment to match)."""
    address: int = param.ctypes.data
    if address % param.dtype.itemsize:
        return 0
    return (address % _ALIGNMENT_BYTES) // param.dtype.itemsize % per_line
