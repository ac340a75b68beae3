"""The arithmetic floor of a step: the same kernel, through the same loop, on data that stays in
the cache (32 KiB per thread), so that what bounds it is the arithmetic (square roots, divisions,
the conversions) and not the memory. Next to the same-traffic ceiling
(harness.same_traffic_ceiling: the memory, no math), the larger of the two is the limit a step is
judged against (report.Case.share_of_limit).

How: an optimizer of the same algorithm, hyperparameters, storage and thread count over one tensor
of ``per_thread`` elements per thread (32 KiB of parameter, gradient and states per thread: two
thirds of Zen 5's 48 KiB L1 data cache; on Zen 2 and 3, whose L1 is 32 KiB, partly in L2), cut
into one part per thread, whose kernel call goes over each thread's part ``repeats`` times
(``PreparedStep._set_segment_repeats``): one call, one OpenMP region, no Python between passes.
The repeats bring the element updates of one call to at least the case's count and at least
2**20 per thread, so that the call's fixed cost (the Python call, the OpenMP region) is under
1 %; the timing is then scaled to the case's element count (``Floor.scale``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .. import _core
from ..optimizer import Optimizer

#: Bytes of parameter, gradient and states per thread. Half as many (16 KiB) made the 16-bit floors
#: 1.1-1.4x slower on the Zen 5 VM (bfloat16 Adam 0.418 against 0.300 ns per element): each pass
#: over a part pays the segment's dispatch and peel once, which then weighed against only 1,344
#: elements. From 32 KiB to 256 KiB the 16-bit floors stayed within 9 % (bfloat16 0.300-0.321,
#: float16 0.415-0.453), while float32's rose by a third (0.153 to 0.203) once its arrays left
#: the 48 KiB L1.
RESIDENT_BYTES = 32 * 1024
#: The least element updates of one floor call, per thread.
MIN_UPDATES = 2**20


@dataclass(frozen=True)
class Floor:
    """A floor step and the factor that turns its seconds into seconds for the case's count."""

    step: Callable[[], None]
    scale: float
    per_thread: int
    repeats: int


def per_thread_elements(bytes_per_resident_element: int) -> int:
    """Elements per thread whose arrays fill RESIDENT_BYTES, a multiple of 64 (whole cache lines
    for every storage type), at least 64."""
    return max(64, RESIDENT_BYTES // bytes_per_resident_element // 64 * 64)


def arithmetic_floor(
    make: Callable[[list[NDArray[Any]], int], Optimizer],
    dtype: np.dtype[Any],
    grad_dtype: np.dtype[Any],
    bytes_per_resident_element: int,
    elements: int,
    threads: int,
) -> Floor:
    """The floor of a step of ``elements`` element updates on ``threads`` threads. ``make(params,
    threads)`` builds the optimizer (of the case's algorithm, hyperparameters and storage) with
    num_threads=threads; ``bytes_per_resident_element``: the bytes of one element's parameter,
    gradient and states (each in its storage type)."""
    per_thread = per_thread_elements(bytes_per_resident_element)
    size = per_thread * threads
    rng = np.random.default_rng(1)
    param = rng.standard_normal(size).astype(dtype)
    grads = [rng.standard_normal(size).astype(grad_dtype)]
    repeats = max(1, -(-max(elements, MIN_UPDATES * threads) // size))
    optimizer = make([param], threads)

    def run() -> None:
        # A grain far below per_thread, so that the tensor is cut into one part per thread; the
        # other contenders' steps keep the library's grain.
        previous = _core._min_elements_per_thread()
        _core._set_min_elements_per_thread(16)
        try:
            optimizer.step(grads)
        finally:
            _core._set_min_elements_per_thread(previous)

    run()  # the state exists and the step is prepared
    prepared = optimizer._prepared
    if prepared is None:
        raise ValueError("arithmetic_floor: the optimizer's step did not prepare")
    prepared._set_segment_repeats(repeats)

    def step() -> None:
        run()
        if optimizer._prepared is not prepared:  # prepared anew: the repeats were not applied
            raise RuntimeError("arithmetic_floor: the optimizer prepared its step anew")

    return Floor(step, elements / (repeats * size), per_thread, repeats)
