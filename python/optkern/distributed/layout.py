"""Flat buffers and their partition over ranks.

A list of tensors (in the optimizer's parameter order: param groups in order, then position) is
laid out as one flat buffer per dtype, the tensors of that dtype one after another in that order,
with no gaps (a gap would be elements that belong to no tensor, and a norm over the buffer would
count them). Each buffer is partitioned over the ranks into contiguous ranges whose boundaries are
whole cache lines from the buffer's start (the buffer starts on a line), so that ranges never
share a line, each rank's kernels start aligned, and range sizes differ by at most one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

_LINE_BYTES = 64  # a cache line (cpp/optkern/config.h: kCacheLineBytes)


def line_elements(dtype: np.dtype[Any]) -> int:
    """Elements of ``dtype`` per cache line."""
    return max(1, _LINE_BYTES // dtype.itemsize)


def partition(size: int, ranks: int, dtype: np.dtype[Any]) -> list[tuple[int, int]]:
    """``ranks`` contiguous ranges (lo, hi) covering ``range(size)``, their boundaries on whole
    cache lines, sizes differing by at most one line: of the L lines (the last maybe partial)
    each rank gets L // ranks lines and the last L % ranks ranks one more, so the partial line
    falls to a rank that has the extra one (given to the first ranks, the last range could be a
    line and a partial line short)."""
    line = line_elements(dtype)
    lines = -(-size // line)
    base, extra = divmod(lines, ranks)
    ranges = []
    lo = 0
    for rank in range(ranks):
        count = base + (1 if rank >= ranks - extra else 0)
        hi = min(size, lo + count * line)
        ranges.append((lo, hi))
        lo = hi
    return ranges


def aligned_empty(size: int, dtype: np.dtype[Any]) -> NDArray[Any]:
    """An uninitialised 1-D array of ``size`` elements that starts on a cache line."""
    line = line_elements(dtype)
    raw = np.empty(size + line, dtype)
    start = (-raw.ctypes.data % _LINE_BYTES) // dtype.itemsize
    return raw[start : start + size]


@dataclass(frozen=True)
class Slot:
    """One tensor in the layout: its index in the parameter order, its dtype's buffer, where it
    starts there, its size and shape."""

    index: int
    dtype: np.dtype[Any]
    offset: int
    size: int
    shape: tuple[int, ...]


class FlatLayout:
    """The flat buffers of a list of tensors, keyed by dtype (in order of first appearance)."""

    def __init__(self, shapes: list[tuple[int, ...]], dtypes: list[np.dtype[Any]]) -> None:
        self.sizes: dict[np.dtype[Any], int] = {}
        slots = []
        for index, (shape, dtype) in enumerate(zip(shapes, dtypes, strict=True)):
            size = int(np.prod(shape, dtype=np.int64))
            offset = self.sizes.get(dtype, 0)
            slots.append(Slot(index, dtype, offset, size, tuple(shape)))
            self.sizes[dtype] = offset + size
        self.slots: list[Slot] = slots

    def buffers(self) -> dict[np.dtype[Any], NDArray[Any]]:
        """New, uninitialised, line-aligned buffers, one per dtype."""
        return {dtype: aligned_empty(size, dtype) for dtype, size in self.sizes.items()}

    def views(self, buffers: dict[np.dtype[Any], NDArray[Any]]) -> list[NDArray[Any]]:
        """Each tensor as a view of its buffer, in its shape."""
        return [buffers[s.dtype][s.offset : s.offset + s.size].reshape(s.shape) for s in self.slots]
