"""The global gradient norm of a sharded step, bit for bit the single-process norm.

One process (cpp/grad_stats.cpp, ``optkern.reference.grad_norm``) cuts each gradient into blocks
of ``_core.norm_block`` (2,048) elements counted from the tensor's first element, computes each
block's partial sum in 32 float64 lanes combined pairwise, and adds the block partials one after
another in block order (tensor by tensor, in parameter order). Here each rank computes the
partials of the blocks that *start* in its range, with the same kernel (``_core.grad_norm_partials``),
so every partial is the same bits; every rank then gathers all partials and adds them in global
block order. A range boundary may fall inside a block: the rank where that block starts gets the
block's remaining elements (fewer than 2,048) from the next rank(s) in one small ``Alltoallv``,
instead of the partition being bent to block boundaries (which would break the ranges' balance of
at most one cache line).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .. import _core, _runtime
from . import _mpi
from .layout import FlatLayout

_BLOCK: int = _core.norm_block


class ShardedNorm:
    """The plan of the norm for one layout and partition (the same on every rank)."""

    def __init__(
        self,
        layout: FlatLayout,
        ranges: dict[np.dtype[Any], list[tuple[int, int]]],
        rank: int,
        comm: Any,
    ) -> None:
        self.comm = comm
        self.rank = rank
        ranks = comm.Get_size()
        # Per rank: its blocks' global indices (ascending); per dtype: the tail [hi, end) it needs.
        self.block_indices: list[NDArray[np.int64]] = []
        self.tails: list[dict[np.dtype[Any], tuple[int, int]]] = []
        # This rank's pieces: (slot dtype, begin, end) regions covered by its blocks.
        self.regions: list[tuple[np.dtype[Any], int, int]] = []
        for r in range(ranks):
            indices: list[NDArray[np.int64]] = []
            tails: dict[np.dtype[Any], tuple[int, int]] = {}
            base = 0
            for slot in layout.slots:
                blocks = -(-slot.size // _BLOCK)
                lo, hi = ranges[slot.dtype][r]
                first = max(0, -(-(lo - slot.offset) // _BLOCK))
                last = min(blocks, max(0, -(-(hi - slot.offset) // _BLOCK)))
                if first < last:
                    indices.append(np.arange(base + first, base + last, dtype=np.int64))
                    begin = slot.offset + first * _BLOCK
                    end = min(slot.offset + last * _BLOCK, slot.offset + slot.size)
                    if end > hi:
                        tails[slot.dtype] = (hi, end)
                    if r == rank:
                        self.regions.append((slot.dtype, begin, end))
                base += blocks
            self.block_indices.append(np.concatenate(indices) if indices else np.zeros(0, np.int64))
            self.tails.append(tails)
        self.total_blocks = base if layout.slots else 0
        self.ranges = ranges

    def _tails(self, shards: dict[np.dtype[Any], NDArray[Any]]) -> dict[Any, NDArray[Any]]:
        """This rank's tail elements per dtype, from the ranks that own them (one Alltoallv per
        dtype that has a tail anywhere; every rank knows which)."""
        ranks = self.comm.Get_size()
        out: dict[Any, NDArray[Any]] = {}
        for dtype, shard in shards.items():
            if not any(dtype in tails for tails in self.tails):
                continue
            ranges = self.ranges[dtype]
            lo_me, hi_me = ranges[self.rank]
            send_counts, send_starts = [], []
            for r in range(ranks):
                begin, end = self.tails[r].get(dtype, (0, 0))
                a, b = max(begin, lo_me), min(end, hi_me)
                send_counts.append(max(0, b - a))
                send_starts.append(max(0, a - lo_me) if b > a else 0)
            begin, end = self.tails[self.rank].get(dtype, (0, 0))
            receive_counts, receive_starts = [], []
            for s in range(ranks):
                lo, hi = ranges[s]
                a, b = max(begin, lo), min(end, hi)
                receive_counts.append(max(0, b - a))
                receive_starts.append(max(0, a - begin) if b > a else 0)
            tail = np.empty(max(0, end - begin), shard.dtype)
            send, mpi_type = _mpi.raw(shard)
            receive, _ = _mpi.raw(tail)
            self.comm.Alltoallv(
                [send, (send_counts, send_starts), mpi_type],
                [receive, (receive_counts, receive_starts), mpi_type],
            )
            out[dtype] = tail
        return out

    def norm(self, shards: dict[np.dtype[Any], NDArray[Any]]) -> tuple[float, bool]:
        """(2-norm, every element finite) of the gradients whose ranges the ranks hold in
        ``shards`` (per param dtype, this rank's range, in the arithmetic dtype). Collective."""
        tails = self._tails(shards)
        arrays: list[NDArray[Any]] = []
        for dtype, begin, end in self.regions:
            lo, hi = self.ranges[dtype][self.rank]
            shard = shards[dtype]
            if end <= hi:
                arrays.append(shard[begin - lo : end - lo])
                continue
            last = begin + (hi - begin - 1) // _BLOCK * _BLOCK  # the block that crosses hi
            if last > begin:
                arrays.append(shard[begin - lo : last - lo])
            tail_begin = hi
            arrays.append(
                np.concatenate([shard[last - lo : hi - lo], tails[dtype][: end - tail_begin]])
            )
        if arrays:
            partials, finite = _core.grad_norm_partials(arrays, 0, _runtime.get_num_threads())
        else:
            partials, finite = np.zeros(0), np.zeros(0, bool)
        MPI = _mpi.mpi()
        counts = [2 * len(indices) for indices in self.block_indices]
        starts = [int(c) for c in np.concatenate([[0], np.cumsum(counts)[:-1]])]
        everyone = np.empty(sum(counts), np.float64)
        mine = np.concatenate([partials, finite.astype(np.float64)])
        self.comm.Allgatherv([mine, MPI.DOUBLE], [everyone, (counts, starts), MPI.DOUBLE])
        ordered = np.zeros(self.total_blocks, np.float64)
        all_finite = True
        for indices, start in zip(self.block_indices, starts, strict=True):
            count = len(indices)
            ordered[indices] = everyone[start : start + count]
            all_finite = all_finite and bool(everyone[start + count : start + 2 * count].all())
        total = 0.0
        for partial in ordered.tolist():  # one after another, as one process adds them
            total = total + partial
        if math.isnan(total):
            return math.nan, all_finite
        return math.sqrt(total), all_finite
