"""DataParallel: every rank holds all parameters and the whole optimizer; gradients are averaged.

Each rank computes the gradients of its share of the batch; ``step`` sums them over the ranks
(``reduction``), in fixed rank order by default (``reduction.Reducer``), so every rank gets the
same bits, and steps its own optimizer with them: the parameters stay identical on every rank
without ever being sent. The result is exactly what one process computes from the same
gradients: ``opt.step([(g_0 + g_1 + ... + g_{N-1}) / N])``, summed left to right.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from ..optimizer import Optimizer
from . import _mpi
from ._common import (
    DEFAULT_BUCKET_BYTES,
    agree_step,
    check_keywords,
    check_options,
    step_digest,
)
from .broadcast import broadcast_parameters
from .consistency import agree, agree_on_errors, agree_on_state, describe_groups
from .layout import FlatLayout, aligned_empty, partition
from .reduction import Reducer, arithmetic_dtype
from .staging import GradStaging, check_grads


class DataParallel:
    """Data-parallel steps of ``optimizer`` over the ranks of ``comm`` (default COMM_WORLD).

    - ``reduction``: ``"mean"`` (the ranks' gradients summed in rank order, then divided by N)
      or ``"sum"``.
    - ``deterministic=True``: fixed rank order (bit-identical to one process for any rank
      count); False: the MPI library's Allreduce (reproducible only for a fixed MPI library,
      version, rank count and message size).
    - ``bucket_bytes``: the largest message of a round (see ``optkern.distributed.reduction``).
    - ``broadcast=True``: rank 0's parameters are copied to every rank at construction.

    Collective: every rank builds it with the same parameters (shapes, dtypes, groups,
    hyperparameters; checked, an error on every rank otherwise) and calls every ``step``.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        comm: Any = None,
        reduction: Literal["mean", "sum"] = "mean",
        *,
        deterministic: bool = True,
        bucket_bytes: int = DEFAULT_BUCKET_BYTES,
        broadcast: bool = True,
    ) -> None:
        where = "DataParallel"
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{where}: optimizer must be an optkern optimizer, got {optimizer!r}")
        if not optimizer.param_groups:
            raise ValueError(f"{where}: the optimizer has no parameters (build it with params)")
        if reduction not in ("mean", "sum"):
            raise ValueError(f"{where}: reduction must be 'mean' or 'sum', got {reduction!r}")
        check_options(deterministic, bucket_bytes, where)
        self.comm = _mpi.world_or(comm)
        self.optimizer = optimizer
        self.reduction = reduction
        self.deterministic = deterministic
        groups = optimizer.param_groups
        agree(
            self.comm,
            describe_groups(type(optimizer).__name__, groups, [g["params"] for g in groups]),
            f"{where}: the optimizer",
        )
        self._params: list[NDArray[Any]] = [p for g in groups for p in g["params"]]
        self._layout = FlatLayout([p.shape for p in self._params], [p.dtype for p in self._params])
        for dtype, count in self._layout.sizes.items():  # the same on every rank: agreed above
            _mpi.check_elements(count, f"the flat buffer of its {dtype} parameters", where)
        if broadcast:
            broadcast_parameters(self._params, 0, self.comm)
        self._staging = GradStaging(self._layout)
        self._reducer = Reducer(self.comm, deterministic=deterministic, bucket_bytes=bucket_bytes)
        self._widened: dict[np.dtype[Any], NDArray[Any]] = {}

    @property
    def step_count(self) -> int:
        return self.optimizer.step_count

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return self.optimizer.param_groups

    def grad_buffers(self) -> list[NDArray[Any]]:
        """One array per parameter (its shape and dtype), views into flat buffers: write the
        gradients into them and pass this list to ``step``, and nothing is copied. After a step
        they hold the reduced gradients (float32 and float64), or are unchanged (16-bit)."""
        return self._staging.buffers()

    def step(self, grads: list[NDArray[Any]] | tuple[NDArray[Any], ...], **keywords: Any) -> Any:
        """Reduce ``grads`` (this rank's) over the ranks, then ``optimizer.step`` with the result
        and ``keywords`` (``max_grad_norm``, ``grad_scale``, ``skip_if_nonfinite``). Returns what
        that step returns. Every rank's gradients and keywords are checked and agreed on before
        anything moves; a problem on any rank is an error on every rank."""
        where = "DataParallel.step"
        error, dtypes = check_grads(grads, self._params, where)
        error = error or check_keywords(keywords, where)
        agree_step(self.comm, error, step_digest(self.optimizer.param_groups, keywords), where)
        buffers = self._staging.stage(grads, dtypes)
        reduced: dict[np.dtype[Any], NDArray[Any]] = {}
        for param_dtype, buffer in buffers.items():
            wide = arithmetic_dtype(buffer.dtype)
            out = buffer if wide == buffer.dtype else self._wide(param_dtype, buffer.size, wide)
            ranges = partition(buffer.size, self.comm.Get_size(), buffer.dtype)
            self._reducer.allreduce(buffer, ranges, out, mean=self.reduction == "mean")
            reduced[param_dtype] = out
        views = [
            reduced[s.dtype][s.offset : s.offset + s.size].reshape(s.shape)
            for s in self._layout.slots
        ]
        return self.optimizer.step(views, **keywords)

    def _wide(self, key: np.dtype[Any], size: int, dtype: np.dtype[Any]) -> NDArray[Any]:
        held = self._widened.get(key)
        if held is None:
            held = self._widened[key] = aligned_empty(size, dtype)
        return held

    def state_dict(self) -> dict[str, Any]:
        """The optimizer's ``state_dict()`` (the same on every rank)."""
        return self.optimizer.state_dict()

    def load_state_dict(self, state_dict: Any) -> None:
        """``optimizer.load_state_dict(state_dict)`` on every rank. Collective: every rank passes
        the same dict (checked by a digest of its content); a load that fails on any rank is an
        error on every rank (a rank whose load succeeded has loaded it, as in
        ``broadcast_optimizer_state``)."""
        where = "DataParallel.load_state_dict"
        agree_on_state(self.comm, state_dict, where)
        error: Exception | None = None
        try:
            self.optimizer.load_state_dict(state_dict)
        except (TypeError, ValueError) as caught:
            error = caught
        agree_on_errors(self.comm, error, where)
