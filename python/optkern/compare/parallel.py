"""``optkern compare --distributed dp|zero``: every variant trained data-parallel over MPI ranks,
and checked bit for bit against one process.

Each of the N ranks builds the same network from the seed, draws the same mini-batches and takes
its share of every batch: rows ``[r·B/N, (r+1)·B/N)`` of the batch of B samples (B must be a
multiple of N, so that every share has the same size and the mean of the shares' mean gradients
is a mean over the batch). The network's backward pass gives the mean gradient of the rank's
share; ``DataParallel`` (``dp``: every rank steps the whole optimizer) or ``ZeroOptimizer``
(``zero``: each rank updates and holds the state of its range) steps on the mean over ranks,
summed in rank order (``deterministic=True``).

**What it is compared with.** The single-process computation that the distributed run equals,
by the definition of ``optkern.distributed``: one process computes the gradients of the same N
shares one after another (``SharedBatches``: N copies of the network, each standing for a rank,
with the same parameters; copy k keeps rank k's batch-norm statistics and dropout stream), sums
them in rank order, divides by N, and steps the plain optimizer with ``opt.step(grads)`` (the
EMA fused into that step). Rank 0 runs it after the distributed run, with the same loop
(``runner.train``), and the two loss curves (and lr, norm and accuracy curves) must be equal bit
for bit. That is not the whole-batch run: the mean of N share means rounds differently from the
mean over the batch in one backward pass, so the curves differ from ``optkern compare`` without
``--distributed`` in the last bits, growing over the run as training amplifies them.

The loss of an iteration is the mean over ranks of the shares' losses (float64, summed in rank
order, gathered after the run). The accuracies are measured on rank 0 (its parameters are every
rank's; its batch-norm running statistics are those of share 0). Rank 0 prints, writes and
times; ``time s`` and ``update s`` are rank 0's, with the collectives inside ``update s``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..ema import EMA
from ..nn import MultiLayerNet
from ..optimizer import Optimizer
from .dataset import Dataset
from .experiments import Variant
from .progress import Progress
from .runner import (
    ONE_PROCESS,
    Outcome,
    RunResult,
    Settings,
    TappedNet,
    WholeBatch,
    build_network,
    train,
)

#: ``--distributed`` values.
MODES = ("dp", "zero")


def shares(batch_size: int, ranks: int) -> list[tuple[int, int]]:
    """The rows (lo, hi) of a batch that each rank trains on, in rank order."""
    size = batch_size // ranks
    return [(rank * size, (rank + 1) * size) for rank in range(ranks)]


def check(settings: Settings, mode: str, ranks: int) -> None:
    """ValueError (one line, naming the option) where ``settings`` cannot run distributed."""
    option = f"--distributed {mode}"
    if mode not in MODES:
        raise ValueError(f"--distributed must be one of {', '.join(MODES)}, got {mode!r}")
    if settings.backend == "both":
        raise ValueError(
            f"{option}: --backend both is not supported (the run is already compared with one "
            "process bit for bit); pick optkern or reference"
        )
    if settings.training.accumulate != 1:
        raise ValueError(
            f"{option}: --accumulate is not supported (each rank's share already is a "
            "micro-batch of the step; raise --batch-size instead)"
        )
    if settings.batch_size % ranks:
        raise ValueError(
            f"{option}: --batch-size {settings.batch_size} is not a multiple of the {ranks} "
            "ranks (every rank trains on an equal share of each batch)"
        )
    if mode == "zero":
        for variant in settings.variants():
            if variant.storage.optimizer_options().get("rounding") == "stochastic":
                raise ValueError(
                    f"{option}: variant {variant.label!r} rounds stochastically, which "
                    "ZeroOptimizer does not support; use --distributed dp"
                )


def rank_order_mean(values: Sequence[NDArray[Any]]) -> NDArray[Any]:
    """((v_0 + v_1) + ...) / N element by element, in the values' dtype: what the deterministic
    reduction of ``optkern.distributed`` computes (N = 1: a copy)."""
    total = np.array(values[0], copy=True)
    for value in values[1:]:
        np.add(total, value, out=total)
    if len(values) > 1:
        np.divide(total, total.dtype.type(len(values)), out=total)
    return total


class SharedBatches(WholeBatch):
    """One process, as N ranks would step: each batch's N shares' gradients, each computed by
    its own copy of the network (for rank k's batch-norm statistics and dropout masks), their
    rank-order mean, and the plain optimizer (``WholeBatch``'s) stepping on it."""

    def __init__(
        self,
        variant: Variant,
        settings: Settings,
        backend: str,
        net: MultiLayerNet,
        *,
        ranks: int,
        data: Dataset,
    ) -> None:
        super().__init__(variant, settings, backend, net)
        self._shares = shares(settings.batch_size, ranks)
        # Copy 0 is the network the optimizer updates; the others get its parameters each time.
        others = [TappedNet(build_network(variant, data, settings)) for _ in range(ranks - 1)]
        self._copies = [self.tapped, *others]

    def gradients(self, x: Any, t: Any) -> tuple[list[NDArray[Any]], float]:
        per_share = []
        share_losses = []
        for copy, (lo, hi) in zip(self._copies, self._shares, strict=True):
            if copy is not self.tapped:
                for key in copy.keys:
                    np.copyto(copy.net.params[key], self.tapped.net.params[key])
            grads, loss = copy.gradient(x[lo:hi], t[lo:hi])
            per_share.append(grads)
            share_losses.append(loss)
        mean = [rank_order_mean([g[j] for g in per_share]) for j in range(len(per_share[0]))]
        return mean, float(rank_order_mean([np.array(loss) for loss in share_losses]))


class RankShare:
    """This rank's part of a distributed run: the gradients of its share of each batch, stepped
    by ``DataParallel`` or ``ZeroOptimizer`` (deterministic), the EMA updated after the step
    (neither takes ``ema=``: ``step`` + ``ema.update()`` gives the fused step's bits)."""

    def __init__(
        self,
        variant: Variant,
        settings: Settings,
        backend: str,
        net: MultiLayerNet,
        *,
        mode: str,
        comm: Any,
    ) -> None:
        from ..distributed import DataParallel, ZeroOptimizer  # needs mpi4py: only here

        self.comm = comm
        self.evaluates = comm.Get_rank() == 0
        self.tapped = TappedNet(net)
        arrays = [net.params[key] for key in self.tapped.keys]
        self._arrays = arrays
        rank, ranks = comm.Get_rank(), comm.Get_size()
        self._lo, self._hi = shares(settings.batch_size, ranks)[rank]
        options = variant.storage.optimizer_options()
        training = settings.training
        self._options: dict[str, Any] = training.step_options()
        self._views: list[NDArray[Any]] = []
        self._stepper: Any
        if mode == "dp":
            local = variant.optimizer.build(backend, options, params=arrays)
            self._stepper = DataParallel(local, comm)
            self.optimizer: Optimizer = local
        else:
            cls, kwargs = variant.optimizer.constructor(backend, options)
            zero = ZeroOptimizer(cls, arrays, comm, **kwargs)
            # The network's layers hold its own arrays, so the step's result (zero.params,
            # views of its flat buffers) is copied into them: 4 bytes a parameter per step.
            self._views = zero.params[0]
            self._stepper = zero
            self.optimizer = zero.optimizer  # what the scheduler drives: this rank's ranges
        self.ema = None if training.ema is None else EMA(arrays, decay=training.ema)

    def gradients(self, x: Any, t: Any) -> tuple[list[NDArray[Any]], float]:
        return self.tapped.gradient(x[self._lo : self._hi], t[self._lo : self._hi])

    def step(self, grads: list[NDArray[Any]]) -> Any:
        norm = self._stepper.step(grads, **self._options)
        for array, view in zip(self._arrays, self._views, strict=False):
            np.copyto(array, view)
        if self.ema is not None:
            self.ema.update()
        return norm

    def finish(self, losses: NDArray[np.float64]) -> NDArray[np.float64]:
        """The iteration losses: every rank's share losses, their mean in rank order."""
        everyone: list[NDArray[np.float64]] = self.comm.allgather(losses)
        return rank_order_mean(everyone)


def wait_for_root(comm: Any) -> None:
    """A barrier that sleeps: MPICH's blocking calls spin on a core, which rank 0, busy with the
    one-process run, would share with the waiting ranks (there are more ranks than cores here)."""
    request = comm.Ibarrier()
    if comm.Get_rank() == 0:
        request.Wait()
        return
    while not request.Test():
        time.sleep(0.01)


def run(
    settings: Settings,
    data: Dataset,
    mode: str,
    comm: Any,
    progress: Progress | None = None,
) -> list[Outcome]:
    """Every variant trained over ``comm``'s ranks (collective), then (rank 0) its one-process
    comparison. Outcomes on rank 0 hold both runs (the distributed one first, ``ONE_PROCESS``
    second); other ranks return an empty list."""
    ranks = comm.Get_size()
    check(settings, mode, ranks)
    root = comm.Get_rank() == 0
    outcomes = []
    for variant in settings.variants():
        backend = settings.backend
        if progress is not None:
            progress.start(f"{variant.label} [{mode}, {ranks} ranks]")

        def distributed(v: Variant, s: Settings, b: str, net: MultiLayerNet) -> RankShare:
            return RankShare(v, s, b, net, mode=mode, comm=comm)

        result = train(variant, data, settings, backend, progress, distributed)
        if root:
            _finish(progress, result)
            outcome = Outcome(variant)
            outcome.runs[backend] = result
            if progress is not None:
                progress.start(f"{variant.label} [one process, {ranks} shares]")

            def one_process(v: Variant, s: Settings, b: str, net: MultiLayerNet) -> SharedBatches:
                return SharedBatches(v, s, b, net, ranks=ranks, data=data)

            outcome.runs[ONE_PROCESS] = train(
                variant, data, settings, backend, progress, one_process
            )
            _finish(progress, outcome.runs[ONE_PROCESS])
            outcomes.append(outcome)
        wait_for_root(comm)
    return outcomes


def _finish(progress: Progress | None, result: RunResult) -> None:
    if progress is not None:
        progress.finish(f"{result.time_s:.2f} s ({result.update_s:.3f} s in updates)")


def describe(mode: str, ranks: int, settings: Settings) -> dict[str, Any]:
    """The "distributed" entry of results.json's config."""
    return {
        "mode": mode,
        "class": "DataParallel" if mode == "dp" else "ZeroOptimizer",
        "ranks": ranks,
        "deterministic": True,
        "share_rows": settings.batch_size // ranks,
        "compared_with": (
            f"one process stepping on the rank-order mean of the {ranks} shares' gradients "
            f"(runs[{ONE_PROCESS!r}]): loss, lr, gradient-norm and accuracy curves bit for bit"
        ),
        "timings": "rank 0's",
    }


def verdict(mode: str, ranks: int, outcomes: Sequence[Outcome]) -> str:
    """The line that says whether every variant's curves were bit-identical to one process."""
    same = [o.variant.label for o in outcomes if o.identical]
    differ = [o.variant.label for o in outcomes if not o.identical]
    plural = "" if ranks == 1 else "s"
    head = (
        f"--distributed {mode} over {ranks} rank{plural}: the curves of {len(same)} of "
        f"{len(outcomes)} variants are bit-identical to one process stepping on the rank-order "
        f"mean of the {ranks} share{plural}' gradients"
    )
    return head + (f"; they differ for {', '.join(differ)}" if differ else "")
