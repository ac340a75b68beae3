"""The multi-rank cases of tests/test_distributed.py, all in one launch per rank count:
``mpiexec -n K python -m mpi4py tests/distributed/cases.py``. Each case compares DataParallel and
ZeroOptimizer with one process stepping on the rank-order mean of every rank's gradients, byte
for byte (parameters, state, norms). Prints ``case NAME ok`` per case and ``all N cases ok``;
any failure raises, which under ``python -m mpi4py`` aborts the job (non-zero exit)."""

from __future__ import annotations

import hashlib
import sys

import numpy as np
import optkern
from mpi4py import MPI
from optkern.distributed import DataParallel, ZeroOptimizer

try:
    import ml_dtypes

    BF16: np.dtype | None = np.dtype(ml_dtypes.bfloat16)
except ImportError:  # the bf16 extra is absent: its cases are left out
    BF16 = None

COMM = MPI.COMM_WORLD
RANK, N = COMM.Get_rank(), COMM.Get_size()
# Uneven sizes, a zero-size one, and some that cross a norm block (2,048) at range boundaries.
SHAPES = [(37, 29), (0,), (5,), (4099,), (1,), (64, 33)]
ALGORITHMS = [
    (optkern.SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    (optkern.Momentum, {}),
    (optkern.Nesterov, {}),
    (optkern.Adagrad, {"lr_decay": 0.01, "weight_decay": 0.1}),
    (optkern.RMSprop, {"centered": True, "momentum": 0.5}),
    (optkern.Adam, {"amsgrad": True, "weight_decay": 0.01}),
    (optkern.AdamW, {}),
    (optkern.Adadelta, {}),
    (optkern.Adamax, {}),
    (optkern.NAdam, {"decoupled_weight_decay": True, "weight_decay": 0.01}),
    (optkern.RAdam, {}),
    (optkern.Lion, {"weight_decay": 0.1}),
]
passed = 0


def ok(name: str) -> None:
    global passed
    passed += 1
    if RANK == 0:
        print(f"case {name} ok", flush=True)


def grads_of(step: int, rank: int, shapes: list, dtypes: list) -> list[np.ndarray]:
    rng = np.random.default_rng(10_000 * step + rank)
    return [rng.standard_normal(s).astype(d) for s, d in zip(shapes, dtypes, strict=True)]


def rank_order_mean(step: int, shapes: list, dtypes: list) -> list[np.ndarray]:
    """What one process steps on: the ranks' gradients summed in rank order, divided by N (in
    float32 for 16-bit gradients, which stay float32)."""
    every = [grads_of(step, k, shapes, dtypes) for k in range(N)]
    out = []
    for i, dtype in enumerate(dtypes):
        wide = np.float64 if dtype == np.float64 else np.float32
        total = every[0][i].astype(wide)
        for k in range(1, N):
            total = total + every[k][i].astype(wide)
        out.append(total / wide(N))
    return out


def initial(shapes: list, dtypes: list) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [rng.standard_normal(s).astype(d) for s, d in zip(shapes, dtypes, strict=True)]


def groups_of(arrays: list[np.ndarray]) -> list[dict]:
    """Two param groups, the second with its own lr."""
    return [{"params": arrays[:3]}, {"params": arrays[3:], "lr": 0.003}]


def same(a: np.ndarray, b: np.ndarray, what: str) -> None:
    if a.dtype != b.dtype or a.shape != b.shape or a.tobytes() != b.tobytes():
        raise AssertionError(
            f"rank {RANK}: {what} differs: {a.dtype}{a.shape} vs {b.dtype}{b.shape}"
        )


def same_state(full: dict, ref: dict, what: str) -> None:
    assert full["optimizer"] == ref["optimizer"], what
    assert sorted(full["state"]) == sorted(ref["state"]), (
        what,
        sorted(full["state"]),
        sorted(ref["state"]),
    )
    for index, entry in ref["state"].items():
        got = full["state"][index]
        assert sorted(got) == sorted(entry), (what, index, sorted(got), sorted(entry))
        for key, value in entry.items():
            if isinstance(value, np.ndarray):
                same(got[key], value, f"{what} state[{index}][{key!r}]")
            else:
                assert got[key] == value, (what, index, key, got[key], value)
    for g, h in zip(full["param_groups"], ref["param_groups"], strict=True):
        assert g == h, (what, g, h)


def identical_everywhere(arrays: list[np.ndarray], what: str) -> None:
    digest = b"".join(a.tobytes() for a in arrays)
    everyone = COMM.allgather(hashlib.sha256(digest).hexdigest())
    assert len(set(everyone)) == 1, f"{what}: parameters differ between ranks"


def run_case(
    cls,
    hyper: dict,
    dtypes: list,
    steps: int,
    keywords_of,
    name: str,
    *,
    groups=True,
    grad_dtypes=None,
) -> None:
    shapes = SHAPES[: len(dtypes)]
    grad_dtypes = grad_dtypes or dtypes
    start = initial(shapes, dtypes)
    wrap = groups_of if groups else (lambda a: a)
    ref_params = [p.copy() for p in start]
    ref = cls(wrap(ref_params), **hyper)
    dp_params = [p.copy() for p in start]
    dp = DataParallel(cls(wrap(dp_params), **hyper), COMM)
    zero = ZeroOptimizer(cls, wrap([p.copy() for p in start]), COMM, **hyper)
    zero_params = [p for group in zero.params for p in group]
    buffers = zero.grad_buffers() if grad_dtypes == dtypes else None
    for step in range(steps):
        keywords = keywords_of(step)
        mine = grads_of(step, RANK, shapes, grad_dtypes)
        expected = ref.step(rank_order_mean(step, shapes, grad_dtypes), **keywords)
        got_dp = dp.step([g.copy() for g in mine], **keywords)
        if buffers is not None and step % 2:  # written in place: no copy
            for buffer, grad in zip(buffers, mine, strict=True):
                np.copyto(buffer, grad)
            got_zero = zero.step(buffers, **keywords)
        else:
            got_zero = zero.step(mine, **keywords)
        assert repr(expected) == repr(got_dp) == repr(got_zero), (
            name,
            step,
            expected,
            got_dp,
            got_zero,
        )
    for i, (a, b, c) in enumerate(zip(ref_params, dp_params, zero_params, strict=True)):
        same(b, a, f"{name} DataParallel param {i}")
        same(c, a, f"{name} ZeroOptimizer param {i}")
    reference_state = ref.state_dict()
    same_state(dp.state_dict(), reference_state, f"{name} DataParallel state")
    same_state(zero.state_dict(to=None), reference_state, f"{name} ZeroOptimizer state")
    ok(name)


def clip_on_odd_steps(step: int) -> dict:
    return {"max_grad_norm": 0.5} if step % 2 else {}


def algorithms() -> None:
    for cls, hyper in ALGORITHMS:
        for dtype in (np.float32, np.float64):
            dtypes = [np.dtype(dtype)] * len(SHAPES)
            run_case(cls, hyper, dtypes, 3, clip_on_odd_steps, f"{cls.__name__} {np.dtype(dtype)}")
    # one group holding float32 and float64 parameters: one global norm over both buffers
    mixed = [np.dtype(np.float32), np.dtype(np.float64)] * 3
    run_case(optkern.Adam, {}, mixed, 3, lambda s: {"max_grad_norm": 0.1}, "Adam mixed dtypes")
    run_case(optkern.SGD, {"lr": 0.1}, mixed, 2, lambda s: {}, "SGD one group", groups=False)


def sixteen_bit() -> None:
    kinds = [np.dtype(np.float16)] + ([BF16] if BF16 is not None else [])
    for dtype in kinds:
        dtypes = [dtype] * len(SHAPES)
        run_case(
            optkern.AdamW,
            {"master_weights": True},
            dtypes,
            3,
            clip_on_odd_steps,
            f"AdamW {dtype} master weights",
        )
        run_case(
            optkern.SGD,
            {"lr": 0.1, "momentum": 0.9},
            dtypes,
            2,
            lambda s: {},
            f"SGD {dtype} float32 grads",
            grad_dtypes=[np.dtype(np.float32)] * len(SHAPES),
        )
    if BF16 is not None:
        run_case(
            optkern.Adam,
            {"state_dtype": "bfloat16"},
            [np.dtype(np.float32)] * len(SHAPES),
            3,
            clip_on_odd_steps,
            "Adam bfloat16 state",
        )


def scaling_and_skips() -> None:
    """grad_scale, GradScaler and skip_if_nonfinite: an inf on one rank skips on every rank."""
    shapes = SHAPES
    dtypes = [np.dtype(np.float32)] * len(shapes)
    start = initial(shapes, dtypes)
    ref_params = [p.copy() for p in start]
    ref = optkern.Adam(ref_params, lr=0.01)
    zero = ZeroOptimizer(optkern.Adam, [p.copy() for p in start], COMM, lr=0.01)
    dp_params = [p.copy() for p in start]
    dp = DataParallel(optkern.Adam(dp_params, lr=0.01), COMM)
    scalers = [optkern.GradScaler(init_scale=1024.0) for _ in range(3)]
    bad_rank = N - 1
    for step in range(4):
        mine = grads_of(step, RANK, shapes, dtypes)
        mine = [g * np.float32(scalers[0].get_scale()) for g in mine]
        if step == 2 and bad_rank == RANK:
            mine[3][7] = np.inf
        every = [grads_of(step, k, shapes, dtypes) for k in range(N)]
        scaled = []
        for i in range(len(shapes)):
            parts = [every[k][i] * np.float32(scalers[0].get_scale()) for k in range(N)]
            if step == 2 and i == 3:
                parts[bad_rank] = parts[bad_rank].copy()
                parts[bad_rank][7] = np.inf
            total = parts[0]
            for k in range(1, N):
                total = total + parts[k]
            scaled.append(total / np.float32(N))
        n_ref = scalers[0].step(ref, scaled, max_grad_norm=1.0)
        n_zero = scalers[1].step(zero, mine, max_grad_norm=1.0)
        n_dp = scalers[2].step(dp, [g.copy() for g in mine], max_grad_norm=1.0)
        assert repr(n_ref) == repr(n_zero) == repr(n_dp), (step, n_ref, n_zero, n_dp)
        for s in scalers:
            s.update()
    assert ref.step_count == zero.step_count == dp.step_count == 3
    for a, b, c in zip(ref_params, [p for g in zero.params for p in g], dp_params, strict=True):
        same(b, a, "GradScaler ZeroOptimizer param")
        same(c, a, "GradScaler DataParallel param")
    same_state(zero.state_dict(to=None), ref.state_dict(), "GradScaler ZeroOptimizer state")
    ok("GradScaler and a non-finite gradient on one rank")
    grads = grads_of(9, RANK, shapes, dtypes)
    expected = ref.step(rank_order_mean(9, shapes, dtypes), grad_scale=4.0)
    assert zero.step(grads, grad_scale=4.0) is expected is None
    same(zero.params[0][0], ref_params[0], "grad_scale ZeroOptimizer")
    ok("grad_scale")


def expect_error(kind: type, fragment: str, call, *args, **kwargs) -> None:
    try:
        call(*args, **kwargs)
    except kind as error:
        message = str(error)
    else:
        raise AssertionError(f"rank {RANK}: expected {kind.__name__} containing {fragment!r}")
    if fragment not in message:
        raise AssertionError(f"rank {RANK}: {fragment!r} not in {message!r}")


def faults() -> None:
    """Bad input on one rank is an error on every rank, with nothing written anywhere."""
    shapes = SHAPES
    dtypes = [np.dtype(np.float32)] * len(shapes)
    last = N - 1
    zero = ZeroOptimizer(optkern.AdamW, initial(shapes, dtypes), COMM)
    dp = DataParallel(optkern.AdamW(initial(shapes, dtypes)), COMM)
    before = [p.copy() for g in zero.params for p in g]
    for target in (zero, dp):
        grads = grads_of(0, RANK, shapes, dtypes)
        if last == RANK:
            grads[3] = grads[3][:-1]
        expect_error(ValueError, "shape", target.step, grads)
        grads = grads_of(0, RANK, shapes, dtypes)
        if last == RANK:
            grads = grads[:-1]
        expect_error(ValueError, "gradients for", target.step, grads)
        grads = grads_of(0, RANK, shapes, dtypes)
        if last == RANK:
            grads[0] = grads[0].astype(np.float64)
        expect_error(TypeError, "dtype", target.step, grads)
        grads = grads_of(0, RANK, shapes, dtypes)
        kw = {"max_grad_norm": 1.0 if last == RANK else 2.0}
        if N > 1:
            expect_error(ValueError, "differ", target.step, grads, **kw)
        expect_error(TypeError, "unknown keyword", target.step, grads, ema=None)
    assert zero.step_count == dp.step_count == 0
    for a, b in zip(before, [p for g in zero.params for p in g], strict=True):
        same(b, a, "parameter after refused steps")
    zero.param_groups[0]["lr"] = -1.0
    expect_error(ValueError, "lr", lambda: zero.step(grads_of(0, RANK, shapes, dtypes)))
    zero.param_groups[0]["lr"] = 1e-3
    # a mismatched construction is an error on every rank, not a hang
    mine = list(shapes)
    if last == RANK and N > 1:
        mine[3] = (4100,)
    if N > 1:
        expect_error(
            ValueError,
            "differs between ranks",
            lambda: ZeroOptimizer(optkern.AdamW, initial(mine, dtypes), COMM),
        )
        expect_error(
            ValueError,
            "differs between ranks",
            lambda: DataParallel(optkern.AdamW(initial(mine, dtypes)), COMM),
        )
    expect_error(
        ValueError,
        "stochastic",
        lambda: ZeroOptimizer(
            optkern.SGD, [np.zeros(4, BF16 or np.float16)], COMM, rounding="stochastic"
        ),
    )
    ok("faults")


def native_collectives() -> None:
    """deterministic=False: the library's collectives; every rank still holds the same bits."""
    dtypes = [np.dtype(np.float32)] * len(SHAPES)
    zero = ZeroOptimizer(optkern.Adam, initial(SHAPES, dtypes), COMM, deterministic=False)
    dp_params = initial(SHAPES, dtypes)
    dp = DataParallel(optkern.Adam(dp_params), COMM, deterministic=False)
    for step in range(2):
        zero.step(grads_of(step, RANK, SHAPES, dtypes), max_grad_norm=1.0)
        dp.step(grads_of(step, RANK, SHAPES, dtypes))
    identical_everywhere([p for g in zero.params for p in g], "native ZeroOptimizer")
    identical_everywhere(dp_params, "native DataParallel")
    ok("native collectives")


def checkpoints() -> None:
    """Saved at N ranks, resumed at every smaller count (and by a plain optimizer): bit-identical
    to the uninterrupted single-process run."""
    dtypes = [np.dtype(np.float32)] * len(SHAPES)
    hyper = {"lr": 0.01, "weight_decay": 0.1}
    start = initial(SHAPES, dtypes)
    ref_params = [p.copy() for p in start]
    ref = optkern.NAdam(groups_of(ref_params), **hyper)
    for step in range(6):
        ref.step(rank_order_mean(step, SHAPES, dtypes), max_grad_norm=0.5)
    zero = ZeroOptimizer(optkern.NAdam, groups_of([p.copy() for p in start]), COMM, **hyper)
    for step in range(3):
        zero.step(grads_of(step, RANK, SHAPES, dtypes), max_grad_norm=0.5)
    saved = zero.state_dict(to=None)
    saved_params = [p.copy() for g in zero.params for p in g]
    for size in (s for s in (1, 2, 4) if s <= N):
        sub = COMM.Split(0 if size > RANK else MPI.UNDEFINED, RANK)
        if sub == MPI.COMM_NULL:
            continue
        resumed = ZeroOptimizer(
            optkern.NAdam, groups_of([p.copy() for p in saved_params]), sub, **hyper
        )
        resumed.load_state_dict(saved)
        for step in range(3, 6):
            # the smaller job's rank-order mean is the N-rank mean exactly: rank 0 passes it
            # times the rank count (a power of two: exact), the others zeros
            mean = rank_order_mean(step, SHAPES, dtypes)
            share = [g * np.float32(size) if RANK == 0 else np.zeros_like(g) for g in mean]
            resumed.step(share, max_grad_norm=0.5)
        for a, b in zip(ref_params, [p for g in resumed.params for p in g], strict=True):
            same(b, a, f"resumed at {size} ranks")
        sub.Free()
    plain_params = [p.copy() for p in saved_params]
    plain = optkern.NAdam(groups_of(plain_params), **hyper)
    plain.load_state_dict(saved)
    for step in range(3, 6):
        plain.step(rank_order_mean(step, SHAPES, dtypes), max_grad_norm=0.5)
    for a, b in zip(ref_params, plain_params, strict=True):
        same(b, a, "resumed by a plain optimizer")
    ok(
        f"checkpoint saved at {N} ranks, resumed at 1, 2, 4 ranks (up to {N}) and by a plain optimizer"
    )


def state_memory() -> None:
    dtypes = [np.dtype(np.float32)] * len(SHAPES)
    zero = ZeroOptimizer(optkern.Adam, initial(SHAPES, dtypes), COMM)
    zero.step(grads_of(0, RANK, SHAPES, dtypes))
    total = COMM.allreduce(zero.state_bytes())
    single = 2 * 4 * sum(int(np.prod(s)) for s in SHAPES)
    assert total == single, (total, single)
    ok("state bytes")


def textbook_classes() -> None:
    """The lecture's classes (hyperparameters first, params by keyword) shard too."""
    dtypes = [np.dtype(np.float32)] * len(SHAPES)
    for cls in (optkern.textbook.SGD, optkern.textbook.Momentum, optkern.textbook.Adam):
        ref_params = initial(SHAPES, dtypes)
        ref = cls(params=ref_params, lr=0.01)
        zero = ZeroOptimizer(cls, initial(SHAPES, dtypes), COMM, lr=0.01)
        for step in range(3):
            ref.step(rank_order_mean(step, SHAPES, dtypes))
            zero.step(grads_of(step, RANK, SHAPES, dtypes))
        for i, (a, b) in enumerate(zip(ref_params, zero.params[0], strict=True)):
            same(b, a, f"textbook {cls.__name__} ZeroOptimizer param {i}")
    ok("textbook classes")


def limits_and_loads() -> None:
    """A buffer past MPI's 32-bit counts is refused (the limit lowered to test it), and a
    load_state_dict whose dict differs on one rank is an error on every rank, nothing loaded."""
    from optkern.distributed import _mpi

    dtypes = [np.dtype(np.float32)] * len(SHAPES)
    saved_limit = _mpi.MAX_ELEMENTS
    _mpi.MAX_ELEMENTS = 4000  # SHAPES hold 4099 + 64 * 33 + ... float32 elements
    try:
        expect_error(
            ValueError,
            "32-bit counts",
            lambda: ZeroOptimizer(optkern.Adam, initial(SHAPES, dtypes), COMM),
        )
        expect_error(
            ValueError,
            "32-bit counts",
            lambda: DataParallel(optkern.Adam(initial(SHAPES, dtypes)), COMM),
        )
        expect_error(
            ValueError,
            "32-bit counts",
            optkern.distributed.broadcast_parameters,
            [np.zeros(4001, np.float32)],
            comm=COMM,
        )
    finally:
        _mpi.MAX_ELEMENTS = saved_limit
    zero = ZeroOptimizer(optkern.Adam, initial(SHAPES, dtypes), COMM)
    dp = DataParallel(optkern.Adam(initial(SHAPES, dtypes)), COMM)
    for target in (zero, dp):
        target.step(grads_of(0, RANK, SHAPES, dtypes))
    full = zero.state_dict(to=None)
    for step in range(1, 3):
        zero.step(grads_of(step, RANK, SHAPES, dtypes))
        dp.step(grads_of(step, RANK, SHAPES, dtypes))
    before_zero, before_dp = zero.state_dict(to=None), dp.state_dict()
    if N > 1:
        mine = zero.state_dict(to=None)  # after step 3 on the last rank: not rank 0's dict
        if RANK != N - 1:
            mine = full
        for target in (zero, dp):
            expect_error(ValueError, "differs from rank 0", target.load_state_dict, mine)
        same_state(zero.state_dict(to=None), before_zero, "ZeroOptimizer after a refused load")
        same_state(dp.state_dict(), before_dp, "DataParallel after a refused load")
    ok("MPI count limit, load_state_dict agreement")


if __name__ == "__main__":
    for case in (
        textbook_classes,
        limits_and_loads,
        algorithms,
        sixteen_bit,
        scaling_and_skips,
        faults,
        native_collectives,
        checkpoints,
        state_memory,
    ):
        case()
    if RANK == 0:
        print(f"all {passed} cases ok at {N} ranks", flush=True)
    sys.exit(0)
