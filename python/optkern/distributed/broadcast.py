"""Start-up: every rank takes the root rank's parameters and optimizer state."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..optimizer import Optimizer
from . import _mpi
from .consistency import agree, agree_on_errors


def _arrays_of(params: Any, where: str) -> list[NDArray[Any]]:
    if isinstance(params, Optimizer):
        return [p for group in params.param_groups for p in group["params"]]
    if isinstance(params, np.ndarray) or not isinstance(params, Iterable):
        raise TypeError(
            f"{where}: params must be a list of arrays, of param groups or an optimizer"
        )
    items = list(params)
    if items and all(isinstance(item, Mapping) for item in items):
        return [p for item in items for p in item["params"]]
    return items


def broadcast_parameters(params: Any, root: int = 0, comm: Any = None) -> None:
    """Copy rank ``root``'s parameters into every rank's, in place. ``params``: a list of arrays,
    of param-group dicts, or an optkern optimizer (its parameters). Collective: every rank calls
    it with the same shapes and dtypes (checked first, an error on every rank otherwise)."""
    comm = _mpi.world_or(comm)
    where = "broadcast_parameters"
    arrays = _arrays_of(params, where)
    error: Exception | None = None
    for index, array in enumerate(arrays):
        if not isinstance(array, np.ndarray):
            error = TypeError(f"{where}: params[{index}] is a {type(array).__name__}, not an array")
        elif not (array.flags.c_contiguous and array.flags.writeable):
            error = ValueError(f"{where}: params[{index}] must be C-contiguous and writeable")
        if error is not None:
            break
    agree_on_errors(comm, error, where)
    agree(comm, [f"{a.shape}:{a.dtype.name}" for a in arrays], f"{where}: the parameter list")
    for index, array in enumerate(arrays):  # the same shapes on every rank: agreed above
        _mpi.check_elements(array.size, f"params[{index}]", where)
    for array in arrays:
        if array.size:
            raw, mpi_type = _mpi.raw(array.reshape(-1))
            comm.Bcast([raw, mpi_type], root=root)


def broadcast_optimizer_state(opt: Optimizer, root: int = 0, comm: Any = None) -> None:
    """Load rank ``root``'s ``opt.state_dict()`` into every rank's ``opt`` (hyperparameters, step
    counts and state arrays). Collective; a load that fails on any rank is an error on every rank
    (a rank whose load succeeded has loaded it)."""
    comm = _mpi.world_or(comm)
    state = opt.state_dict() if comm.Get_rank() == root else None
    state = comm.bcast(state, root=root)
    error: Exception | None = None
    if comm.Get_rank() != root:
        try:
            opt.load_state_dict(state)
        except (TypeError, ValueError) as caught:
            error = caught
    agree_on_errors(comm, error, "broadcast_optimizer_state")
