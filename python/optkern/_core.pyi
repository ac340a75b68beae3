# Type stub for the compiled module optkern._core (cpp/bindings.cpp).
from collections.abc import Sequence
from typing import Any, TypeAlias

from numpy.typing import NDArray

# The coefficients of one tensor group's step: every field of the algorithm's Params struct
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
    ) -> None: ...
    @property
    def params(self) -> list[NDArray[Any]]: ...
    @property
    def states(self) -> list[list[NDArray[Any] | None]]: ...
    @property
    def planned_threads(self) -> int: ...
    @property
    def grad_index(self) -> list[int]: ...
    def __len__(self) -> int: ...

def check_disjoint(groups: Sequence[TensorGroup]) -> None: ...
def same_items(a: list[Any] | tuple[Any, ...], b: list[Any] | tuple[Any, ...]) -> bool: ...
def _same_traffic_step(groups: Sequence[TensorGroup], grads: _Grads, num_threads: int) -> None: ...
def check_grads(groups: Sequence[TensorGroup], grads: _Grads) -> list[NDArray[Any]]: ...

# One <algorithm>_step per entry of OPTKERN_FOR_EACH_ALGORITHM (cpp/optkern/algorithms.h);
# `coefficients` holds one dict per tensor group.
def sgd_step(
    groups: Sequence[TensorGroup],
    coefficients: list[_Coefficients],
    grads: _Grads,
    num_threads: int,
) -> None: ...
def adagrad_step(
    groups: Sequence[TensorGroup],
    coefficients: list[_Coefficients],
    grads: _Grads,
    num_threads: int,
) -> None: ...
def rmsprop_step(
    groups: Sequence[TensorGroup],
    coefficients: list[_Coefficients],
    grads: _Grads,
    num_threads: int,
) -> None: ...
def adam_step(
    groups: Sequence[TensorGroup],
    coefficients: list[_Coefficients],
    grads: _Grads,
    num_threads: int,
) -> None: ...
def adadelta_step(
    groups: Sequence[TensorGroup],
    coefficients: list[_Coefficients],
    grads: _Grads,
    num_threads: int,
) -> None: ...
def adamax_step(
    groups: Sequence[TensorGroup],
    coefficients: list[_Coefficients],
    grads: _Grads,
    num_threads: int,
) -> None: ...
def nadam_step(
    groups: Sequence[TensorGroup],
    coefficients: list[_Coefficients],
    grads: _Grads,
    num_threads: int,
) -> None: ...
def radam_step(
    groups: Sequence[TensorGroup],
    coefficients: list[_Coefficients],
    grads: _Grads,
    num_threads: int,
) -> None: ...
def lion_step(
    groups: Sequence[TensorGroup],
    coefficients: list[_Coefficients],
    grads: _Grads,
    num_threads: int,
) -> None: ...
def textbook_momentum_step(
    groups: Sequence[TensorGroup],
    coefficients: list[_Coefficients],
    grads: _Grads,
    num_threads: int,
) -> None: ...
def textbook_nesterov_step(
    groups: Sequence[TensorGroup],
    coefficients: list[_Coefficients],
    grads: _Grads,
    num_threads: int,
) -> None: ...
def textbook_adagrad_step(
    groups: Sequence[TensorGroup],
    coefficients: list[_Coefficients],
    grads: _Grads,
    num_threads: int,
) -> None: ...
def textbook_rmsprop_step(
    groups: Sequence[TensorGroup],
    coefficients: list[_Coefficients],
    grads: _Grads,
    num_threads: int,
) -> None: ...
def textbook_adam_step(
    groups: Sequence[TensorGroup],
    coefficients: list[_Coefficients],
    grads: _Grads,
    num_threads: int,
) -> None: ...
def compiled_isas() -> list[str]: ...
def supported_isas() -> list[str]: ...
def active_isa() -> str: ...
def _select_isa(name: str) -> None: ...
def max_threads() -> int: ...
def openmp_library() -> str: ...
def _min_elements_per_thread() -> int: ...
def _set_min_elements_per_thread(elements: int) -> None: ...
