"""Summing gradients over ranks, and gathering a buffer's ranges back onto every rank.

``deterministic=True`` sums in fixed rank order, so the result is what one process computes as
``((g_0 + g_1) + g_2) + ...`` element by element, then divided by N (``mean``), whatever the rank
count: each rank sends every other rank that rank's range of its buffer (``Alltoallv``), and each
rank adds the N pieces it received one after another in rank order. An MPI library's own
``Allreduce`` and ``Reduce_scatter`` pick the order themselves (MPICH at 4 ranks sums
(g0 + g1) + (g2 + g3), and its reduce-scatter and allreduce differ from each other), which is
what ``deterministic=False`` uses: reproducible only for one MPI library, version, rank count and
message size.

Rounding, for both: float32 and float64 gradients are summed in their own dtype (one rounding
per addition) and divided by N in that dtype (one rounding); float16 and bfloat16 gradients are
widened to float32 (exactly), summed and divided in float32, and stay float32 (never rounded back
to 16 bits), which is a gradient every optkern optimizer takes for a 16-bit parameter. The
16-bit elements cross the network as 16 bits in the deterministic reduce-scatter; the native one
sums float32 copies.

The deterministic reduce-scatter works in rounds, so that its receive buffer holds at most
``chunk`` elements from each rank (``bucket_bytes`` of DataParallel and ZeroOptimizer): round k
moves the k-th chunk of every rank's range.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import _mpi
from .layout import line_elements


def arithmetic_dtype(dtype: np.dtype[Any]) -> np.dtype[Any]:
    """The dtype a gradient of ``dtype`` is summed in: its own for float32 and float64, float32
    for the 16-bit ones."""
    return np.dtype(np.float64) if dtype == np.float64 else np.dtype(np.float32)


def chunk_elements(bucket_bytes: int, ranks: int, dtype: np.dtype[Any]) -> int:
    """Elements per rank and round: ``bucket_bytes`` over the ranks, in whole cache lines."""
    line = line_elements(dtype)
    per_rank = bucket_bytes // (ranks * dtype.itemsize)
    return max(line, per_rank // line * line)


class Reducer:
    """The collectives of one communicator: ``reduce_scatter``, ``allgather`` and their
    composition ``allreduce``, over buffers partitioned into ``ranges`` (one per rank)."""

    def __init__(self, comm: Any, *, deterministic: bool, bucket_bytes: int) -> None:
        self.comm = comm
        self.rank: int = comm.Get_rank()
        self.size: int = comm.Get_size()
        self.deterministic = deterministic
        self.bucket_bytes = bucket_bytes
        self._scratch: dict[tuple[np.dtype[Any], int], NDArray[Any]] = {}

    def _scratch_array(self, dtype: np.dtype[Any], size: int, slot: int) -> NDArray[Any]:
        key = (dtype, slot)
        held = self._scratch.get(key)
        if held is None or held.size < size:
            held = self._scratch[key] = np.empty(size, dtype)
        return held[:size]

    def reduce_scatter(
        self,
        buffer: NDArray[Any],
        ranges: list[tuple[int, int]],
        out: NDArray[Any],
        *,
        mean: bool,
    ) -> None:
        """``out`` (this rank's range, in ``arithmetic_dtype(buffer.dtype)``) gets the sum over
        ranks of their ``buffer[lo:hi]`` for this rank's (lo, hi), divided by N if ``mean``.
        ``out`` may be that range of ``buffer`` itself (float32 and float64)."""
        if self.deterministic:
            self._ordered_reduce_scatter(buffer, ranges, out)
        else:
            self._native_reduce_scatter(buffer, ranges, out)
        if mean and self.size > 1:
            np.divide(out, out.dtype.type(self.size), out=out)

    def _ordered_reduce_scatter(
        self, buffer: NDArray[Any], ranges: list[tuple[int, int]], out: NDArray[Any]
    ) -> None:
        ranks = self.size
        chunk = chunk_elements(self.bucket_bytes, ranks, buffer.dtype)
        longest = max(hi - lo for lo, hi in ranges)
        rounds = -(-longest // chunk)
        send, mpi_type = _mpi.raw(buffer)
        widen = out.dtype != buffer.dtype
        for k in range(rounds):
            counts = [max(0, min(chunk, hi - lo - k * chunk)) for lo, hi in ranges]
            starts = [min(lo + k * chunk, hi) for lo, hi in ranges]
            mine = counts[self.rank]
            received = self._scratch_array(buffer.dtype, ranks * mine, 0)
            received_raw, _ = _mpi.raw(received)
            self.comm.Alltoallv(
                [send, (counts, starts), mpi_type],
                [received_raw, ([mine] * ranks, [s * mine for s in range(ranks)]), mpi_type],
            )
            pieces = received.reshape(ranks, mine)
            target = out[k * chunk : k * chunk + mine]
            if not widen:
                if ranks == 1:
                    np.copyto(target, pieces[0])
                else:
                    np.add(pieces[0], pieces[1], out=target)
                    for s in range(2, ranks):
                        np.add(target, pieces[s], out=target)
                continue
            np.copyto(target, pieces[0], casting="unsafe")  # 16 bits to float32: exact
            wide = self._scratch_array(out.dtype, mine, 1)
            for s in range(1, ranks):
                np.copyto(wide, pieces[s], casting="unsafe")
                np.add(target, wide, out=target)

    def _native_reduce_scatter(
        self, buffer: NDArray[Any], ranges: list[tuple[int, int]], out: NDArray[Any]
    ) -> None:
        MPI = _mpi.mpi()
        counts = [hi - lo for lo, hi in ranges]
        if sum(counts) == 0:
            return
        source = buffer
        if out.dtype != buffer.dtype:  # 16-bit: MPI sums float32 copies
            source = self._scratch_array(out.dtype, buffer.size, 0)
            np.copyto(source, buffer, casting="unsafe")
        lo, hi = ranges[self.rank]
        if np.shares_memory(out, buffer):  # the result lands where this rank's range was read
            result = self._scratch_array(out.dtype, hi - lo, 1)
        else:
            result = out
        mpi_type = _mpi.float_type(out.dtype)
        self.comm.Reduce_scatter([source, mpi_type], [result, mpi_type], counts, op=MPI.SUM)
        if result is not out:
            np.copyto(out, result)

    def allgather(self, buffer: NDArray[Any], ranges: list[tuple[int, int]]) -> None:
        """Every rank's range of ``buffer`` from its owner, in place: each rank holds its own
        range and gets the others (pure data movement, exact in both modes)."""
        MPI = _mpi.mpi()
        chunk = chunk_elements(self.bucket_bytes, self.size, buffer.dtype)
        longest = max(hi - lo for lo, hi in ranges)
        raw, mpi_type = _mpi.raw(buffer)
        for k in range(-(-longest // chunk)):
            counts = [max(0, min(chunk, hi - lo - k * chunk)) for lo, hi in ranges]
            starts = [min(lo + k * chunk, hi) for lo, hi in ranges]
            self.comm.Allgatherv(MPI.IN_PLACE, [raw, (counts, starts), mpi_type])

    def allreduce(
        self,
        buffer: NDArray[Any],
        ranges: list[tuple[int, int]],
        out: NDArray[Any],
        *,
        mean: bool,
    ) -> None:
        """``out`` (``buffer``'s size, its arithmetic dtype; may be ``buffer``) gets the sum over
        ranks of ``buffer``, divided by N if ``mean``: a reduce-scatter then an allgather
        (deterministic), or the library's Allreduce in buckets."""
        if self.deterministic:
            lo, hi = ranges[self.rank]
            self._ordered_reduce_scatter(buffer, ranges, out[lo:hi])
            if mean and self.size > 1:
                np.divide(out[lo:hi], out.dtype.type(self.size), out=out[lo:hi])
            self.allgather(out, ranges)
            return
        MPI = _mpi.mpi()
        if out is not buffer:
            np.copyto(out, buffer, casting="unsafe")
        mpi_type = _mpi.float_type(out.dtype)
        step = max(1, self.bucket_bytes // out.dtype.itemsize)
        for begin in range(0, out.size, step):
            self.comm.Allreduce(MPI.IN_PLACE, [out[begin : begin + step], mpi_type], op=MPI.SUM)
        if mean and self.size > 1:
            np.divide(out, out.dtype.type(self.size), out=out)
