# Type stub for the compiled module optkern._core (cpp/bindings.cpp).
from collections.abc import Sequence
from typing import Any, TypeAlias, overload

import numpy as np
from numpy.typing import NDArray

# Coefficients of a param group's step: fields of the algorithm's Params struct
# (cpp/optkern/params.h) by name, the doubles as float and the flags as bool (checked in C++).
_Coefficients: TypeAlias = dict[str, float | bool]
# One gradient per parameter, in a list or a tuple (anything else is a TypeError); each array is
# checked against its parameter (dtype, shape, layout, no shared memory) before anything is written.
_Grads: TypeAlias = list[NDArray[Any]] | tuple[NDArray[Any], ...]

version: str
compiler: str
openmp_runtime: str
has_openmp: bool
sanitized: bool
array_roles: dict[str, tuple[str, ...]]

class TensorGroup:
    def __init__(
        self,
        roles: Sequence[str],
        params: list[NDArray[Any]],
        states: list[list[NDArray[Any] | None]],
        param_labels: Sequence[str],
        grad_labels: Sequence[str],
        grad_index: Sequence[int],
        state_dtype: Any = None,
        masters: list[NDArray[Any]] = ...,
        stochastic: bool = False,
        seed: int = 0,
    ) -> None: ...
    @property
    def params(self) -> list[NDArray[Any]]: ...
    @property
    def states(self) -> list[list[NDArray[Any] | None]]: ...
    @property
    def masters(self) -> list[NDArray[Any] | None]: ...
    @property
    def planned_threads(self) -> int: ...
    @property
    def grad_index(self) -> list[int]: ...
    def __len__(self) -> int: ...

def check_disjoint(groups: Sequence[TensorGroup]) -> None: ...

# In one C call (no KeyboardInterrupt in between): owner.<key> = value for every item of
# attributes, then owners[i].<key> = value for every item of commits[i] (two lists of one
# length), then each (list, items) of extend extends list in place, then each (dict, key, value)
# of items sets dict[key] = value.
def set_attributes(
    owner: object,
    attributes: dict[str, Any],
    extend: list[tuple[list[Any], list[Any]]] = ...,
    items: list[tuple[dict[str, Any], str, Any]] = ...,
    owners: list[Any] = ...,
    commits: list[dict[str, Any]] = ...,
) -> None: ...
def _same_traffic_step(groups: Sequence[TensorGroup], grads: _Grads, num_threads: int) -> None: ...
def check_grads(groups: Sequence[TensorGroup], grads: _Grads) -> list[NDArray[Any]]: ...

class PreparedStep:
    """One optimizer's step with its tensor groups and fixed coefficients made once
    (cpp/prepared_step.h)."""

    # is_current and run are METH_FASTCALL methods: positional arguments only.
    # records[i]: the optimizer's record of param group i, whose `binding` and `params`
    # attributes are compared with what the step was prepared with.
    def is_current(self, param_groups: list[dict[str, Any]], records: list[Any], /) -> bool: ...
    # After the kernels ran, in the same call: owners[i].<key> = value for every item of
    # commits[i] (the step's bookkeeping, committed atomically with the update with respect to
    # KeyboardInterrupt; owners and commits are lists of one length, checked before the kernels).
    # With grad_options (max_norm or None, grad_scale, skip_if_nonfinite, ema_averages or None,
    # ema_weight), the statistics pass first (cpp/grad_stats.h): returns (the norm divided by
    # grad_scale, or None when not measured; skipped), and a skipped step commits nothing.
    @overload
    def run(
        self,
        step_coefficients: list[_Coefficients],
        grads: _Grads,
        num_threads: int,
        owners: list[Any],
        commits: list[dict[str, Any]],
        /,
    ) -> None: ...
    @overload
    def run(
        self,
        step_coefficients: list[_Coefficients],
        grads: _Grads,
        num_threads: int,
        owners: list[Any],
        commits: list[dict[str, Any]],
        grad_options: tuple[float | None, float, bool, list[NDArray[Any]] | None, float],
        /,
    ) -> tuple[float | None, bool]: ...
    @property
    def tensor_groups(self) -> list[TensorGroup]: ...
    @property
    def fixed_coefficients(self) -> list[_Coefficients]: ...
    # Benchmarks only: later steps go over each thread's part `repeats` times in one kernel call
    # (optkern/benchmarks/floor.py, the arithmetic floor).
    def _set_segment_repeats(self, repeats: int) -> None: ...
    @property
    def _segment_repeats(self) -> int: ...

# One optimizer's choice between its default threads and one thread (cpp/thread_choice.h).
# Workload 0: a plain step, +1 with the statistics pass, +2 with a fused EMA.
class ThreadChoice:
    def __init__(self) -> None: ...
    def next_is_parallel(self, workload: int = 0) -> bool: ...
    def record(self, workload: int, parallel: bool, nanoseconds: int) -> None: ...
    def reset(self) -> None: ...
    # Tests only: record() takes these instead of the measured durations (0, 0: measured again).
    def _set_fake_durations(self, serial_ns: int, parallel_ns: int) -> None: ...
    def serial_estimate_ns(self, workload: int = 0) -> int: ...
    def in_parallel_mode(self, workload: int = 0) -> bool: ...
    def probes(self, workload: int = 0) -> int: ...
    def fallbacks(self, workload: int = 0) -> int: ...

# Each entry of OPTKERN_FOR_EACH_ALGORITHM (cpp/optkern/params.h) also has a function
# `<algorithm>_prepare(tensor_groups, param_groups, bindings, fixed_coefficients,
# thread_choice=None) -> PreparedStep`.
# They are not declared one by one here: Python reaches them only by name
# (`getattr(_core, f"{kernel}_prepare")`, typed as `optimizer.PrepareStep`), so a new algorithm
# needs no line in this stub (.ci/stubtest-allowlist.txt accepts them by pattern).
# The gradient kernels (cpp/grad_stats.h): kind 0, 1, 2 is the 2-, 1- and inf-norm. grad_norm
# returns (norm, every element finite); clip_grad_norm multiplies the grads in place by the clip
# coefficient where it is below 1 (not with error_if_nonfinite and a non-finite element) and
# returns the same; clamp_grads clamps them in place to [-bound, bound].
def grad_norm(tensors: _Grads, kind: int, num_threads: int) -> tuple[float, bool]: ...

# grad_norm's block partials and per block whether all its elements are finite, in block order
# (blocks of norm_block elements from each tensor's first): optkern.distributed sums them across
# ranks in that order.
def grad_norm_partials(
    tensors: _Grads, kind: int, num_threads: int
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]: ...
def clip_grad_norm(
    grads: _Grads, max_norm: float, kind: int, error_if_nonfinite: bool, num_threads: int
) -> tuple[float, bool]: ...
def clamp_grads(grads: _Grads, bound: float, num_threads: int) -> None: ...

# buffers[i] += grads[i] * scale; averages[i] = lerp(averages[i], params[i], weight) (in place,
# cpp/optkern/averaging.h).
def accumulate(buffers: _Grads, grads: _Grads, scale: float, num_threads: int) -> None: ...
def ema_update(averages: _Grads, params: _Grads, weight: float, num_threads: int) -> None: ...

# Raises what ema_update would raise for these arrays, and writes nothing.
def check_array_pairs(averages: _Grads, params: _Grads) -> None: ...

# Elements per block of the norm's fixed order, and float64 lanes per block.
norm_block: int
norm_lanes: int

def compiled_isas() -> list[str]: ...
def supported_isas() -> list[str]: ...
def active_isa() -> str: ...
def _select_isa(name: str) -> None: ...

# Tests only: one 16-bit conversion of optkern/convert.h with the kernels of `isa` (not selected),
# from source into out: "load_float16" and "load_bfloat16" take uint16 bits to float32,
# "store_float16" and "store_bfloat16" float32 to uint16 bits (round to nearest even). Both arrays
# C-contiguous, of one size, not overlapping.
def _convert(isa: str, conversion: str, source: NDArray[Any], out: NDArray[Any]) -> None: ...
def max_threads() -> int: ...
def _set_default_thread_cap(cap: int) -> None: ...
def _default_thread_cap() -> int: ...
def thread_limit() -> int: ...
def forked_child() -> bool: ...
def openmp_library() -> str: ...
def _min_elements_per_thread() -> int: ...
def _set_min_elements_per_thread(elements: int) -> None: ...
