"""ZeroOptimizer: ZeRO stage 1, the optimizer state partitioned over the ranks.

Layout: the parameters are copied, at construction, into one flat buffer per dtype (every param
group's tensors of that dtype in order, no gaps), and from then on *the parameters are views of
those buffers*: ``zero.params`` (per group, in the given order and shapes). The arrays passed in
are not updated (a step would otherwise have to copy every parameter back); rebind the model to
the views. Each buffer is partitioned into contiguous ranges, one per rank, on cache-line
boundaries with sizes differing by at most one line (``layout.partition``).

A step: the gradients are reduce-scattered to the owners of their ranges (fixed rank order by
default, ``reduction``), so each rank holds the mean gradient of its range only; a plain optkern
optimizer of the given class, whose parameters are this rank's 1-D range of each group (one view
per group and dtype), updates that range and holds state for it alone (1/N of the state); then
an in-place Allgatherv gives every rank every range. All optkern algorithms are element-wise, so
this is exactly the single-process step on the mean gradients. ``max_grad_norm`` and
``skip_if_nonfinite`` use the global norm computed across ranks bit for bit as one process does
(``norm.ShardedNorm``); the clip coefficient and ``1 / grad_scale`` are applied to the reduced
gradient range as the kernel would apply them (the same multiply, rounded the same way), and the
local optimizer steps with a multiplier of 1.

Not supported: ``rounding="stochastic"`` (its random bits depend on the element's position in its
tensor, which a range view does not carry) and ``ema=`` (a ValueError / TypeError).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .. import reference, textbook
from ..optimizer import Optimizer
from . import _mpi
from ._common import (
    DEFAULT_BUCKET_BYTES,
    agree_step,
    check_keywords,
    check_options,
    step_digest,
)
from .consistency import agree, agree_on_errors, agree_on_state, describe_groups
from .layout import FlatLayout, partition
from .norm import ShardedNorm
from .reduction import Reducer, arithmetic_dtype
from .staging import GradStaging, check_grads


def _construct(cls: type[Optimizer], params: Any, hyperparameters: Mapping[str, Any]) -> Optimizer:
    """``cls`` over ``params``. The textbook classes (``optkern.textbook``) take their
    hyperparameters first, as the lecture's code does, and ``params`` only by keyword; the
    torch-style ones take ``params`` first, as torch does (a subclass may name it otherwise)."""
    if issubclass(cls, textbook._Textbook):
        return cls(params=params, **hyperparameters)
    return cls(params, **hyperparameters)


class ZeroOptimizer:
    """``optimizer_class`` (``optkern.AdamW``, ...) over ``params`` with its state sharded over the
    ranks of ``comm`` (default COMM_WORLD). ``hyperparameters`` go to the optimizer class as they
    would without sharding; ``deterministic``, ``bucket_bytes`` as for ``DataParallel``;
    ``broadcast=True`` copies rank 0's initial parameters to every rank.

    Collective: every rank builds it with the same parameter shapes, dtypes, groups and
    hyperparameters (checked; an error on every rank otherwise) and calls every ``step``,
    ``state_dict`` and ``load_state_dict``.
    """

    def __init__(
        self,
        optimizer_class: type[Optimizer],
        params: Iterable[NDArray[Any]] | Iterable[Mapping[str, Any]],
        comm: Any = None,
        *,
        deterministic: bool = True,
        bucket_bytes: int = DEFAULT_BUCKET_BYTES,
        broadcast: bool = True,
        **hyperparameters: Any,
    ) -> None:
        where = "ZeroOptimizer"
        self.comm = comm = _mpi.world_or(comm)
        rank, ranks = comm.Get_rank(), comm.Get_size()
        error: Exception | None = None
        probe: Optimizer | None = None
        try:
            if not (isinstance(optimizer_class, type) and issubclass(optimizer_class, Optimizer)):
                raise TypeError(
                    f"{where}: optimizer_class must be an optkern optimizer class, got "
                    f"{optimizer_class!r}"
                )
            check_options(deterministic, bucket_bytes, where)
            items: list[Any] = list(params)
            # A plain optimizer over the arrays checks them and the hyperparameters (and fills
            # in the defaults); it holds no state and is dropped.
            probe = _construct(optimizer_class, items, hyperparameters)
            for index, group in enumerate(probe.param_groups):
                if group.get("rounding", "nearest") == "stochastic":
                    raise ValueError(
                        f"{where}: param_groups[{index}] has rounding='stochastic', which "
                        "ZeroOptimizer does not support (the random bits depend on each "
                        "element's position in its tensor, which a shard does not carry)"
                    )
        except (TypeError, ValueError) as caught:
            error = caught
        agree_on_errors(comm, error, where)
        assert probe is not None
        groups = probe.param_groups
        agree(
            comm,
            describe_groups(optimizer_class.__name__, groups, [g["params"] for g in groups]),
            f"{where}: the parameters and hyperparameters",
        )
        given = [p for g in groups for p in g["params"]]
        self._layout = layout = FlatLayout([p.shape for p in given], [p.dtype for p in given])
        for dtype, count in layout.sizes.items():  # the same on every rank: agreed above
            _mpi.check_elements(count, f"the flat buffer of its {dtype} parameters", where)
        self._buffers = layout.buffers()
        views = layout.views(self._buffers)
        for source, view in zip(given, views, strict=True):
            np.copyto(view, source)
        if broadcast:
            for buffer in self._buffers.values():
                if buffer.size:
                    raw, mpi_type = _mpi.raw(buffer)
                    comm.Bcast([raw, mpi_type], root=0)
        self._flat_params = views
        counts = [len(g["params"]) for g in groups]
        starts = np.concatenate([[0], np.cumsum(counts)]).astype(int).tolist()
        #: The parameters, per param group: views of the flat buffers (see the module docstring).
        self.params: list[list[NDArray[Any]]] = [
            views[starts[i] : starts[i + 1]] for i in range(len(groups))
        ]
        self._ranges = {d: partition(n, ranks, d) for d, n in layout.sizes.items()}
        # Per group, per dtype in it: (dtype, segment start, segment end) in the dtype's buffer.
        self._segments: list[list[tuple[np.dtype[Any], int, int]]] = []
        local_groups = []
        for index, group in enumerate(groups):
            segments: dict[np.dtype[Any], tuple[int, int]] = {}
            for slot in layout.slots[starts[index] : starts[index + 1]]:
                lo, hi = segments.get(slot.dtype, (slot.offset, slot.offset))
                segments[slot.dtype] = (lo, slot.offset + slot.size)
            entries = [(d, lo, hi) for d, (lo, hi) in segments.items()]
            self._segments.append(entries)
            shard_views = []
            for dtype, lo, hi in entries:
                a, b = self._clip(dtype, lo, hi)
                shard_views.append(self._buffers[dtype][a:b])
            if not shard_views:  # a group of no parameters cannot be: the probe refused it
                raise AssertionError("unreachable")
            local_groups.append(
                {**{k: v for k, v in group.items() if k != "params"}, "params": shard_views}
            )
        #: The plain optimizer of this rank's ranges (its state is this rank's shard of the state).
        self.optimizer: Optimizer = _construct(optimizer_class, local_groups, hyperparameters)
        self._reducer = Reducer(comm, deterministic=deterministic, bucket_bytes=bucket_bytes)
        self._staging = GradStaging(layout)
        self._norm = ShardedNorm(layout, self._ranges, rank, comm)
        self._shards: dict[tuple[Any, Any], NDArray[Any]] = {}
        self.deterministic = deterministic

    def _clip(self, dtype: np.dtype[Any], lo: int, hi: int) -> tuple[int, int]:
        """[lo, hi) of ``dtype``'s buffer intersected with this rank's range (empty: at its
        start)."""
        mine_lo, mine_hi = self._ranges[dtype][self.comm.Get_rank()]
        a, b = max(lo, mine_lo), min(hi, mine_hi)
        return (a, b) if a < b else (mine_lo, mine_lo)

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        """The local optimizer's param groups: the hyperparameters to schedule (their
        ``params`` are this rank's ranges; the full parameters are ``self.params``)."""
        return self.optimizer.param_groups

    @property
    def step_count(self) -> int:
        return self.optimizer.step_count

    def grad_buffers(self) -> list[NDArray[Any]]:
        """One array per parameter, views into the flat gradient buffers: gradients written there
        and passed to ``step`` are not copied. After a step this rank's range of a float32 or
        float64 buffer holds the mean over ranks (times the clip and unscale factors), the rest
        this rank's own gradients (16-bit buffers: unchanged): write them all again."""
        return self._staging.buffers()

    def state_bytes(self) -> int:
        """Bytes of optimizer state this rank holds."""
        return sum(a.nbytes for s in self.optimizer.state.values() for a in s.values())

    # ---------------------------------------------------------------------------------- step

    def step(self, grads: list[NDArray[Any]] | tuple[NDArray[Any], ...], **keywords: Any) -> Any:
        """One step on the mean over ranks of ``grads`` (each rank's, one per parameter), with
        ``max_grad_norm``, ``grad_scale`` and ``skip_if_nonfinite`` as ``Optimizer.step``: the
        same result, bit for bit, as one process stepping on that mean. Returns the norm (or None
        when not measured). Checked and agreed on by every rank before anything moves."""
        where = "ZeroOptimizer.step"
        error, dtypes = check_grads(grads, self._flat_params, where)
        error = error or check_keywords(keywords, where)
        if error is None:
            # The hyperparameters (a scheduler may have set a bad one), checked as the local
            # step would check them, but now: that step runs after the reduce-scatter, and a
            # rank that raised there would leave the others waiting in the allgather. _prepare
            # is exactly that check (and caches its result for the step); the Optimizer API has
            # no public check-only call.
            try:
                self.optimizer._prepare()
            except (TypeError, ValueError) as caught:
                error = caught
        agree_step(self.comm, error, step_digest(self.optimizer.param_groups, keywords), where)
        buffers = self._staging.stage(grads, dtypes)
        rank = self.comm.Get_rank()
        shards: dict[np.dtype[Any], NDArray[Any]] = {}
        for param_dtype, buffer in buffers.items():
            ranges = self._ranges[param_dtype]
            lo, hi = ranges[rank]
            wide = arithmetic_dtype(buffer.dtype)
            in_place = wide == buffer.dtype  # float32, float64: the range of the buffer itself
            out = buffer[lo:hi] if in_place else self._shard(param_dtype, wide, hi - lo)
            self._reducer.reduce_scatter(buffer, ranges, out, mean=True)
            shards[param_dtype] = out
        max_norm = keywords.get("max_grad_norm")
        scale = float(keywords.get("grad_scale") or 1.0)
        skip = bool(keywords.get("skip_if_nonfinite", False))
        norm = None
        multiplier = 1.0 / scale
        if max_norm is not None or skip:
            measured, finite = self._norm.norm(shards)
            norm = measured / scale
            if skip and not finite:
                return norm  # every rank: the same verdict from the same partials
            coefficient = 1.0
            if max_norm is not None:
                coefficient = reference.clip_coefficient(float(max_norm), norm)
            multiplier = coefficient / scale
        if multiplier != 1.0 or math.isnan(multiplier):
            for shard in shards.values():  # as the kernel: times the multiplier in its type
                np.multiply(shard, shard.dtype.type(multiplier), out=shard)
        local = []
        for segments in self._segments:
            for dtype, lo, hi in segments:
                a, b = self._clip(dtype, lo, hi)
                start = self._ranges[dtype][rank][0]
                local.append(shards[dtype][a - start : b - start])
        self.optimizer.step(local)
        for dtype, buffer in self._buffers.items():
            self._reducer.allgather(buffer, self._ranges[dtype])
        return norm

    def _shard(self, key: Any, dtype: np.dtype[Any], size: int) -> NDArray[Any]:
        held = self._shards.get((key, dtype))
        if held is None:
            held = self._shards[(key, dtype)] = np.empty(size, dtype)
        return held

    # ---------------------------------------------------------------------------- checkpoints

    def _views(self, rank: int) -> list[tuple[int, np.dtype[Any], int, int]]:
        """The local optimizer's parameters on ``rank``, in order: (group, dtype, lo, hi) ranges
        of the dtype's buffer (empty ones at the range's start)."""
        out = []
        for group, segments in enumerate(self._segments):
            for dtype, lo, hi in segments:
                mine_lo, mine_hi = self._ranges[dtype][rank]
                a, b = max(lo, mine_lo), min(hi, mine_hi)
                out.append((group, dtype, *((a, b) if a < b else (mine_lo, mine_lo))))
        return out

    def _slots_of(self, group: int, dtype: np.dtype[Any]) -> list[Any]:
        first = sum(len(p) for p in self.params[:group])
        slots = self._layout.slots[first : first + len(self.params[group])]
        return [s for s in slots if s.dtype == dtype]

    def state_dict(self, to: int | None = 0) -> dict[str, Any] | None:
        """The whole optimizer state in optkern's single-process format (what
        ``optimizer_class(params).state_dict()`` gives; loadable by a plain optimizer), on rank
        ``to`` (None elsewhere), or on every rank with ``to=None``. Collective."""
        comm = self.comm
        local = self.optimizer.state_dict()
        everyone = comm.allgather(local) if to is None else comm.gather(local, root=to)
        if everyone is None:
            return None
        views = [self._views(rank) for rank in range(comm.Get_size())]
        state: dict[int, dict[str, Any]] = {}
        for position, (group, dtype, _, _) in enumerate(views[0]):
            entries = [sd["state"].get(position) for sd in everyone]
            present = [e for e in entries if e is not None]
            if not present:
                continue
            scalars = {k: v for k, v in present[0].items() if not isinstance(v, np.ndarray)}
            names = [k for k, v in present[0].items() if isinstance(v, np.ndarray)]
            for slot in self._slots_of(group, dtype):
                entry = dict(scalars)
                for name in names:
                    sample = present[0][name]
                    full = np.empty(slot.size, sample.dtype)
                    for rank, e in enumerate(entries):
                        _, _, a, b = views[rank][position]
                        lo, hi = max(a, slot.offset), min(b, slot.offset + slot.size)
                        if lo < hi and e is not None:
                            full[lo - slot.offset : hi - slot.offset] = e[name][lo - a : hi - a]
                    entry[name] = full.reshape(slot.shape)
                state[slot.index] = entry
        groups = []
        first = 0
        for group, local_group in enumerate(local["param_groups"]):
            count = len(self.params[group])
            hyper = {k: v for k, v in local_group.items() if k != "params"}
            groups.append({**hyper, "params": list(range(first, first + count))})
            first += count
        return {"state": state, "param_groups": groups, "optimizer": local["optimizer"]}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Load a single-process state dict (``state_dict()``'s, or a plain optimizer's of the
        same class and parameters), saved at any rank count: each rank takes its ranges.
        Collective: every rank passes the same dict (checked: a digest of its content is compared
        across ranks); an error on any rank is one on every rank, with nothing loaded."""
        where = "ZeroOptimizer.load_state_dict"
        agree_on_state(self.comm, state_dict, where)
        error: Exception | None = None
        local: dict[str, Any] | None = None
        try:
            local = self._local_state(state_dict, where)
        except (TypeError, ValueError) as caught:
            error = caught
        agree_on_errors(self.comm, error, where)
        assert local is not None
        try:
            self.optimizer.load_state_dict(local)
        except (TypeError, ValueError) as caught:
            error = caught
        agree_on_errors(self.comm, error, where)

    def _local_state(self, full: Mapping[str, Any], where: str) -> dict[str, Any]:
        if not isinstance(full, Mapping) or not isinstance(full.get("param_groups"), list):
            raise TypeError(f"{where}: expected a state dict with 'state' and 'param_groups'")
        groups = full["param_groups"]
        if len(groups) != len(self.params):
            raise ValueError(
                f"{where}: it has {len(groups)} param groups, this optimizer {len(self.params)}"
            )
        saved_state = full.get("state", {})
        if not isinstance(saved_state, Mapping):
            raise TypeError(f"{where}: 'state' must be a dict")
        for index, (group, params) in enumerate(zip(groups, self.params, strict=True)):
            if not isinstance(group, Mapping) or len(group.get("params", ())) != len(params):
                raise ValueError(
                    f"{where}: param_groups[{index}] must list {len(params)} parameters"
                )
        indices = [list(g["params"]) for g in groups]
        state: dict[int, dict[str, Any]] = {}
        for position, (group, dtype, a, b) in enumerate(self._views(self.comm.Get_rank())):
            slots = self._slots_of(group, dtype)
            first = sum(len(p) for p in self.params[:group])
            saved = []
            for slot in slots:
                key = indices[group][slot.index - first]
                entry = saved_state.get(key, saved_state.get(str(key)))
                saved.append(entry)
            present = [e for e in saved if e is not None]
            if not present:
                continue
            if len(present) != len(saved):
                raise ValueError(
                    f"{where}: param_groups[{group}] has state for some of its {dtype} "
                    "parameters but not others"
                )
            scalars = {k: v for k, v in present[0].items() if not isinstance(v, np.ndarray)}
            names = [k for k, v in present[0].items() if isinstance(v, np.ndarray)]
            loaded: dict[str, Any] = dict(scalars)
            for name in names:
                pieces = []
                for slot, e in zip(slots, saved, strict=True):
                    array = e.get(name) if isinstance(e, Mapping) else None
                    if not isinstance(array, np.ndarray) or array.size != slot.size:
                        raise ValueError(
                            f"{where}: state[{slot.index}][{name!r}] must be an array of "
                            f"{slot.size} elements (the parameter's shape {slot.shape})"
                        )
                    lo, hi = max(a, slot.offset), min(b, slot.offset + slot.size)
                    if lo < hi:
                        flat = array.reshape(-1)
                        pieces.append(flat[lo - slot.offset : hi - slot.offset])
                sample = present[0][name]
                loaded[name] = np.concatenate(pieces) if pieces else np.zeros(0, sample.dtype)
            state[position] = loaded
        local_groups = []
        start = 0
        for group, hyper in enumerate(groups):
            count = len(self.optimizer.param_groups[group]["params"])
            local_groups.append(
                {
                    **{k: v for k, v in hyper.items() if k != "params"},
                    "params": list(range(start, start + count)),
                }
            )
            start += count
        out: dict[str, Any] = {"state": state, "param_groups": local_groups}
        if "optimizer" in full:
            out["optimizer"] = full["optimizer"]
        return out
