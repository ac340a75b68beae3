"""The tables the tests are driven by: optimizer configurations (shared with `optkern selfcheck`)
and bad inputs with the exception and message each must raise. The configurations come from the
classes' records (optkern.records); the bad inputs are written out, plus one invalid value per
hyperparameter of every class with a record, derived from its rule (RULE_VIOLATIONS)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, NamedTuple
from unittest import mock

import numpy as np
import optkern
from optkern import _validation as v
from optkern import textbook
from optkern.configs import CONFIGS, Config
from optkern.records import records

try:
    import ml_dtypes
except ImportError:  # the bfloat16 cases then test other things
    ml_dtypes = None

__all__ = [
    "CONFIGS",
    "ERROR_CASES",
    "SIZES",
    "Config",
    "ErrorCase",
    "Snapshot",
    "assert_same",
    "snapshot",
]

SIZES = (1, 3, 15, 16, 17, 63, 64, 65, 1000, 100003)


class Snapshot(NamedTuple):
    """Copies of an optimizer's parameters and of every state_dict entry (arrays, step, scalars),
    keyed (parameter index, name)."""

    params: list[np.ndarray]
    state: dict[tuple[int, str], Any]


def snapshot(optimizer: optkern.Optimizer, params: list[np.ndarray]) -> Snapshot:
    saved = optimizer.state_dict()["state"]  # already copies
    return Snapshot(
        [p.copy() for p in params],
        {(i, key): value for i, entry in saved.items() for key, value in entry.items()},
    )


def assert_same(actual: Snapshot, expected: Snapshot) -> None:
    """Equal bit for bit (signed zeros included), except that NaNs compare equal wherever both
    have one."""
    for got, want in zip(actual.params, expected.params, strict=True):
        _assert_equal_strictly(got, want)
    assert actual.state.keys() == expected.state.keys()
    for key, want in expected.state.items():
        _assert_equal_strictly(actual.state[key], want, str(key))


def _assert_equal_strictly(actual: Any, desired: Any, err_msg: str = "") -> None:
    """``np.testing.assert_array_equal(actual, desired, strict=True)``, which NumPy 1.23 lacks
    (strict came in 1.24): the same shape and dtype, no broadcasting, then equal elements."""
    a, d = np.asanyarray(actual), np.asanyarray(desired)
    assert (a.shape, a.dtype) == (d.shape, d.dtype), err_msg
    np.testing.assert_array_equal(a, d, err_msg=err_msg)
    if a.dtype.kind == "f":  # assert_array_equal takes -0.0 for 0.0
        np.testing.assert_array_equal(np.signbit(a), np.signbit(d), err_msg=f"{err_msg} (sign)")


class ErrorCase(NamedTuple):
    name: str
    # Returns (arrays that must stay bit-identical, the call that must raise).
    build: Callable[[], tuple[list[np.ndarray], Callable[[], Any]]]
    error: type[Exception]
    match: str


def _arrays(dtype: Any = np.float32) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    W = rng.standard_normal((4, 3)).astype(dtype)
    b = rng.standard_normal(3).astype(dtype)
    return W, b, rng.standard_normal((4, 3)).astype(dtype), rng.standard_normal(3).astype(dtype)


def _stepped(cls: type = optkern.Adam, **kwargs: Any) -> tuple[Any, list[np.ndarray]]:
    """An optimizer over fresh W, b that has taken two steps (so it has state), and its arrays."""
    W, b, gW, gb = _arrays()
    opt = cls([W, b], **kwargs)
    opt.step([gW, gb])
    opt.step([gW, gb])
    watched = [W, b, gW, gb] + [a for s in opt.state.values() for a in s.values()]
    return opt, watched


def _step_with(
    grads: Callable[[list[np.ndarray]], list[Any]], cls: type = optkern.Adam, **kwargs: Any
) -> Callable[[], tuple[list[np.ndarray], Callable[[], Any]]]:
    def build() -> tuple[list[np.ndarray], Callable[[], Any]]:
        opt, watched = _stepped(cls, **kwargs)
        given = grads(watched)
        return watched, lambda: opt.step(given)

    return build


def _step_with_16_bit(
    dtype: Any, grads: Callable[[np.ndarray], np.ndarray], **kwargs: Any
) -> Callable[[], tuple[list[np.ndarray], Callable[[], Any]]]:
    """Adam over a 16-bit W (stepped twice, so it has state); the step with grads(gW) raises."""

    def build() -> tuple[list[np.ndarray], Callable[[], Any]]:
        W, _, gW, _ = _arrays()
        W, gW = W.astype(dtype), gW.astype(dtype)
        opt = optkern.Adam([W], **kwargs)
        opt.step([gW])
        opt.step([gW])
        watched = [W, gW] + [a for s in opt.state.values() for a in s.values()]
        return watched, lambda: opt.step([grads(gW)])

    return build


def _float16_group_made_stochastic() -> tuple[list[np.ndarray], Callable[[], Any]]:
    """Adam over a float16 W with master weights, stepped (so it has state), then its group asks
    for stochastic rounding, which stores nothing there (the master copy rounds to nearest into
    W): the next step raises."""
    W, _, gW, _ = _arrays()
    W, gW = W.astype(np.float16), gW.astype(np.float16)
    opt = optkern.Adam([W], master_weights=True)
    opt.step([gW])
    opt.param_groups[0]["rounding"] = "stochastic"
    watched = [W, gW] + [a for s in opt.state.values() for a in s.values()]
    return watched, lambda: opt.step([gW])


def _without_ml_dtypes(
    call: Callable[[], Any],
) -> Callable[[], tuple[list[np.ndarray], Callable[[], Any]]]:
    """``call`` as if ml_dtypes were not installed (a None entry in sys.modules fails its
    import)."""

    def run() -> Any:
        with mock.patch.dict(sys.modules, {"ml_dtypes": None}):
            return call()

    return lambda: ([], run)


def _construct(
    params: Callable[[], list[Any]], cls: type = optkern.Adam, **kwargs: Any
) -> Callable[[], tuple[list[np.ndarray], Callable[[], Any]]]:
    def build() -> tuple[list[np.ndarray], Callable[[], Any]]:
        given = params()
        watched = [p for p in given if isinstance(p, np.ndarray)]
        return watched, lambda: cls(given, **kwargs)

    return build


def _group_change(
    cls: type = optkern.SGD,
    then: dict[str, Any] | None = None,
    then_item: tuple[str, int, Any] | None = None,
    **change: Any,
) -> Callable[[], tuple[list[np.ndarray], Callable[[], Any]]]:
    """A hyperparameter made invalid between steps (e.g. by a schedule): the next step raises.
    With `then` (or `then_item`: key, index, value set inside a list), `change` is applied and
    stepped first (valid), and `then` is the invalid change: steps must not trust a hyperparameter
    because an equal-looking one was checked before."""

    def build() -> tuple[list[np.ndarray], Callable[[], Any]]:
        opt, watched = _stepped(cls, **({"lr": 0.1, "momentum": 0.9} if cls is optkern.SGD else {}))
        opt.param_groups[0].update(change)
        if then is not None or then_item is not None:
            opt.step(watched[2:4])
            if then is not None:
                opt.param_groups[0].update(then)
            if then_item is not None:
                key, index, value = then_item
                opt.param_groups[0][key][index] = value
        return watched, lambda: opt.step(watched[2:4])

    return build


def _readonly_after_binding() -> tuple[list[np.ndarray], Callable[[], Any]]:
    opt, watched = _stepped()
    watched[0].setflags(write=False)
    return watched, lambda: opt.step(watched[2:4])


def _resized_after_binding() -> tuple[list[np.ndarray], Callable[[], Any]]:
    W = np.ones(1 << 16, np.float32)
    opt = optkern.SGD([W], lr=0.1, momentum=0.9)
    opt.step([np.ones(1 << 16, np.float32)])
    W.resize((4,), refcheck=False)  # reallocates: the kernel must not use the old size
    return [W], lambda: opt.step([np.ones(4, np.float32)])


def _dtype_changed_after_binding(
    which: Callable[[Any, list[np.ndarray]], np.ndarray], dtype: Any = np.int32
) -> Callable[[], tuple[list[np.ndarray], Callable[[], Any]]]:
    """`a.dtype = np.int32` reinterprets a bound float32 array in place (same size, same data)."""

    def build() -> tuple[list[np.ndarray], Callable[[], Any]]:
        opt, watched = _stepped(optkern.Adam, lr=0.1)
        which(opt, watched).dtype = dtype
        return watched, lambda: opt.step(watched[2:4])

    return build


def _state_readonly_after_binding() -> tuple[list[np.ndarray], Callable[[], Any]]:
    opt, watched = _stepped(optkern.AdamW, lr=0.1)
    watched[-1].setflags(write=False)
    return watched, lambda: opt.step(watched[2:4])


def _params_list_changed(change: Callable[[list[Any]], None]) -> Callable[[], Any]:
    def build() -> tuple[list[np.ndarray], Callable[[], Any]]:
        opt, watched = _stepped(optkern.SGD, lr=0.1, momentum=0.9)
        change(opt.param_groups[0]["params"])
        return watched, lambda: opt.step(watched[2:4])

    return build


def _deleted_hyperparameter() -> tuple[list[np.ndarray], Callable[[], Any]]:
    opt, watched = _stepped(optkern.SGD, lr=0.1, momentum=0.9)
    del opt.param_groups[0]["lr"]
    return watched, lambda: opt.step(watched[2:4])


def _appended_group() -> tuple[list[np.ndarray], Callable[[], Any]]:
    opt, watched = _stepped(optkern.SGD, lr=0.1, momentum=0.9)
    opt.param_groups.append({"params": [np.zeros(3, np.float32)], **opt.defaults})
    return watched, lambda: opt.step(watched[2:4])


def _num_threads_set(value: Any) -> Callable[[], tuple[list[np.ndarray], Callable[[], Any]]]:
    def build() -> tuple[list[np.ndarray], Callable[[], Any]]:
        opt, watched = _stepped()
        return watched, lambda: setattr(opt, "num_threads", value)

    return build


def _set_state_all(name: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(sd: dict[str, Any]) -> None:
        for entry in sd["state"].values():
            entry[name] = value

    return mutate


def _step_after_loading_step(
    step: int,
) -> Callable[[], tuple[list[np.ndarray], Callable[[], Any]]]:
    def build() -> tuple[list[np.ndarray], Callable[[], Any]]:
        opt, watched = _stepped()
        sd = opt.state_dict()
        for entry in sd["state"].values():
            entry["step"] = step
        opt.load_state_dict(sd)
        watched = [*watched[:4], *(a for s in opt.state.values() for a in s.values())]
        return watched, lambda: opt.step(watched[2:4])

    return build


def _update_with_other_keys() -> tuple[list[np.ndarray], Callable[[], Any]]:
    W, b, gW, gb = _arrays()
    opt = optkern.Adam()
    opt.update({"W": W, "b": b}, {"W": gW, "b": gb})
    state = [a for s in opt.state.values() for a in s.values()]
    return [W, b, *state], lambda: opt.update({"W": W, "c": b}, {"W": gW, "c": gb})


def _update_with_other_grad_keys() -> tuple[list[np.ndarray], Callable[[], Any]]:
    W, b, gW, gb = _arrays()
    opt = optkern.Adam()
    opt.update({"W": W, "b": b}, {"W": gW, "b": gb})
    return [W, b], lambda: opt.update({"W": W, "b": b}, {"W": gW})


def _load(
    mutate: Callable[[dict[str, Any]], None], cls: type = optkern.Adam
) -> Callable[[], tuple[list[np.ndarray], Any]]:
    def build() -> tuple[list[np.ndarray], Callable[[], Any]]:
        opt, watched = _stepped(cls)
        sd = opt.state_dict()
        mutate(sd)
        return watched, lambda: opt.load_state_dict(sd)

    return build


def _set_state(index: int, name: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(sd: dict[str, Any]) -> None:
        sd["state"][index][name] = value

    return mutate


def _noncontiguous_param() -> list[Any]:
    return [np.zeros((4, 6), np.float32)[:, ::2]]


def _readonly_param() -> list[Any]:
    W = np.zeros(5, np.float32)
    W.setflags(write=False)
    return [W]


def _same_twice() -> list[Any]:
    W = np.zeros(5, np.float32)
    return [W, W]


def _overlapping_views() -> list[Any]:
    W = np.zeros(10, np.float32)
    return [W[:6], W[4:]]


ERROR_CASES: list[ErrorCase] = [
    # gradients
    ErrorCase("too few grads", _step_with(lambda a: [a[2]]), ValueError, r"expected 2 gradients"),
    ErrorCase(
        "too many grads",
        _step_with(lambda a: [a[2], a[3], a[3]]),
        ValueError,
        r"expected 2 gradients",
    ),
    ErrorCase(
        "shape mismatch",
        _step_with(lambda a: [a[2].T.copy(), a[3]]),
        ValueError,
        r"grads\[0\].*shape \(3, 4\) does not match .* \(4, 3\)",
    ),
    ErrorCase(
        "dtype mismatch",
        _step_with(lambda a: [a[2].astype(np.float64), a[3]]),
        TypeError,
        r"grads\[0\].*dtype float64 does not match its parameter's float32",
    ),
    ErrorCase(
        "int grad", _step_with(lambda a: [a[2].astype(np.int32), a[3]]), TypeError, r"dtype int32"
    ),
    ErrorCase("bool grad", _step_with(lambda a: [a[2], a[3] > 0]), TypeError, r"dtype bool"),
    ErrorCase(
        "complex grad",
        _step_with(lambda a: [a[2].astype(np.complex64), a[3]]),
        TypeError,
        r"dtype complex64",
    ),
    ErrorCase(
        "object grad", _step_with(lambda a: [a[2].astype(object), a[3]]), TypeError, r"dtype object"
    ),
    ErrorCase(
        "big-endian grad", _step_with(lambda a: [a[2].astype(">f4"), a[3]]), TypeError, r"dtype >f4"
    ),
    ErrorCase(
        "non-contiguous grad",
        _step_with(lambda a: [np.zeros((4, 6), np.float32)[:, ::2], a[3]]),
        ValueError,
        r"grads\[0\].*not C-contiguous",
    ),
    ErrorCase(
        "list grad",
        _step_with(lambda a: [a[2].tolist(), a[3]]),
        TypeError,
        r"grads\[0\].*must be a numpy.ndarray, got list",
    ),
    ErrorCase(
        "scalar grad",
        _step_with(lambda a: [a[2], 1.0]),
        TypeError,
        r"grads\[1\].*must be a numpy.ndarray, got float",
    ),
    ErrorCase(
        "grads not a list",
        _step_with(lambda a: {"W": a[2]}),
        TypeError,  # type: ignore
        r"grads must be a list or tuple",
    ),
    ErrorCase(
        "grads a dict",
        _step_with(lambda a: {"W": a[2], "b": a[3]}),
        TypeError,  # type: ignore
        r"grads must be a list or tuple .*got a dict.*update\(params, grads\).*"
        r"list\(grads\.values\(\)\)",
    ),
    ErrorCase(
        "grad aliases its param",
        _step_with(lambda a: [a[0], a[3]]),
        ValueError,
        r"grads\[0\].*shares memory with param_groups\[0\]\['params'\]\[0\]",
    ),
    ErrorCase(
        "grad aliases another param",
        _step_with(lambda a: [a[2], a[0][0]]),
        ValueError,
        r"shares memory with param_groups\[0\]\['params'\]\[0\]",
    ),
    ErrorCase(
        "grad aliases a state",
        _step_with(lambda a: [a[4], a[3]]),
        ValueError,
        r"shares memory with param_groups\[0\]\['params'\]\[0\] state 'exp_avg'",
    ),
    # parameters
    ErrorCase(
        "non-contiguous param",
        _construct(_noncontiguous_param),
        ValueError,
        r"param_groups\[0\]\['params'\]\[0\]: parameter is not C-contiguous",
    ),
    ErrorCase(
        "read-only param",
        _construct(_readonly_param),
        ValueError,
        r"\['params'\]\[0\]: parameter is read-only",
    ),
    ErrorCase(
        "read-only after binding",
        _readonly_after_binding,
        ValueError,
        r"\['params'\]\[0\]: array is read-only",
    ),
    ErrorCase(
        "resized after binding",
        _resized_after_binding,
        ValueError,
        r"\['params'\]\[0\]: the array was resized or reallocated",
    ),
    ErrorCase(
        "param dtype changed after binding",
        _dtype_changed_after_binding(lambda opt, arrays: arrays[0]),
        ValueError,
        r"\['params'\]\[0\]: the array's dtype was changed in place \(to int32\)",
    ),
    ErrorCase(
        "param made big-endian after binding",
        _dtype_changed_after_binding(lambda opt, arrays: arrays[0], ">f4"),
        ValueError,
        r"\['params'\]\[0\]: the array's dtype was changed in place \(to >f4\)",
    ),
    ErrorCase(
        "state dtype changed after binding",
        _dtype_changed_after_binding(lambda opt, arrays: opt.state[0]["exp_avg"]),
        ValueError,
        r"\['params'\]\[0\] state 'exp_avg': the array's dtype was changed in place",
    ),
    ErrorCase(
        "state read-only after binding",
        _state_readonly_after_binding,
        ValueError,
        r"\['params'\]\[1\] state 'exp_avg_sq': array is read-only",
    ),
    ErrorCase(
        "params list element replaced",
        _params_list_changed(lambda ps: ps.__setitem__(0, np.zeros((4, 3), np.float32))),
        ValueError,
        r"param_groups\[0\]\['params'\] was changed after the optimizer",
    ),
    ErrorCase(
        "params list popped",
        _params_list_changed(lambda ps: ps.pop(0)),
        ValueError,
        r"param_groups\[0\]\['params'\] was changed",
    ),
    ErrorCase(
        "params list appended",
        _params_list_changed(lambda ps: ps.append(np.zeros(2, np.float32))),
        ValueError,
        r"param_groups\[0\]\['params'\] was changed",
    ),
    ErrorCase("same param twice", _construct(_same_twice), ValueError, r"shares memory"),
    ErrorCase(
        "same param in two groups",
        lambda: ([], lambda: optkern.SGD([{"params": [W := np.zeros(3)]}, {"params": [W]}])),
        ValueError,
        r"shares memory",
    ),
    ErrorCase("overlapping params", _construct(_overlapping_views), ValueError, r"shares memory"),
    ErrorCase(
        "int param",
        _construct(lambda: [np.zeros(3, np.int64)]),
        TypeError,
        r"parameter dtype int64 is not supported; expected float32, float64, float16 or bfloat16",
    ),
    ErrorCase(  # bfloat16's bits, without the dtype that says so
        "uint16 param",
        _construct(lambda: [np.zeros(3, np.uint16)]),
        TypeError,
        r"dtype uint16 is not supported",
    ),
    # storage options and 16-bit arrays
    ErrorCase(
        "float64 grad for a float16 param",
        _step_with_16_bit(np.float16, lambda g: g.astype(np.float64)),
        TypeError,
        r"grads\[0\].*gradient dtype float64 does not match its parameter's float16 \(a 16-bit",
    ),
    ErrorCase(
        "master_weights on a float32 param",
        _construct(lambda: [np.zeros(3, np.float32)], master_weights=True),
        ValueError,
        r"\['params'\]\[0\]: master_weights=True needs a 16-bit",
    ),
    ErrorCase(
        "master_weights not a bool",
        _construct(lambda: [np.zeros(3, np.float16)], master_weights=1),
        TypeError,
        r"master_weights must be True or False",
    ),
    ErrorCase(
        "unknown state_dtype",
        _construct(lambda: [np.zeros(3, np.float32)], state_dtype="float8"),
        ValueError,
        r"invalid state_dtype='float8': expected None",
    ),
    ErrorCase(
        "state_dtype of another type",
        _construct(lambda: [np.zeros(3, np.float32)], state_dtype=np.int32),
        TypeError,
        r"state_dtype must be None, 'float32' or 'bfloat16'",
    ),
    ErrorCase(
        "float16 state_dtype",
        _construct(lambda: [np.zeros(3, np.float16)], state_dtype=np.float16),
        TypeError,
        r"state_dtype must be None, 'float32' or 'bfloat16', got <class 'numpy.float16'>",
    ),
    ErrorCase(
        "state_dtype for a float64 param",
        _construct(lambda: [np.zeros(3, np.float64)], state_dtype="float32"),
        ValueError,
        r"\['params'\]\[0\]: state_dtype='float32' does not go with a float64 parameter",
    ),
    *(
        [
            ErrorCase(
                "state_dtype changed after the state exists",
                _group_change(optkern.Adam, then={"state_dtype": "bfloat16"}),
                ValueError,
                r"'exp_avg' is float32, but state_dtype='bfloat16' asks for bfloat16: the state "
                r"dtype cannot change once the state exists",
            ),
            ErrorCase(
                "float16 grad for a bfloat16 param",
                _step_with_16_bit(ml_dtypes.bfloat16, lambda g: g.astype(np.float16)),
                TypeError,
                r"gradient dtype float16 does not match its parameter's bfloat16",
            ),
        ]
        if ml_dtypes is not None
        else []
    ),
    ErrorCase(
        "unknown rounding",
        _construct(lambda: [np.zeros(3, np.float32)], rounding="up"),
        ValueError,
        r"invalid rounding='up': expected 'nearest' or 'stochastic'",
    ),
    ErrorCase(
        "rounding not a str",
        _construct(lambda: [np.zeros(3, np.float32)], rounding=True),
        TypeError,
        r"rounding must be 'nearest' or 'stochastic', got True",
    ),
    ErrorCase(  # an option accepted and doing nothing would be a silent no-op
        "stochastic rounding of float32 without bfloat16 state",
        _construct(lambda: [np.zeros(3, np.float32)], rounding="stochastic"),
        ValueError,
        r"rounding='stochastic' rounds stores into 16-bit arrays, and this group stores none "
        r"\(it applies to float16 and bfloat16 parameters",
    ),
    ErrorCase(
        "stochastic rounding of bfloat16 with master weights and float32 state",
        _construct(
            lambda: [np.zeros(3, ml_dtypes.bfloat16 if ml_dtypes else np.float32)],
            rounding="stochastic",
            master_weights=ml_dtypes is not None,
        ),
        ValueError,
        r"rounding='stochastic' rounds stores into 16-bit arrays, and this group stores none",
    ),
    ErrorCase(
        "stochastic rounding of float16 with master weights",
        _construct(lambda: [np.zeros(3, np.float16)], rounding="stochastic", master_weights=True),
        ValueError,
        r"stores none \(with master_weights=True the parameter receives the master copy rounded "
        r"to nearest",
    ),
    ErrorCase(
        "stochastic rounding set on a float16 master-weights group between steps",
        _float16_group_made_stochastic,
        ValueError,
        r"param_groups\[0\]: rounding='stochastic' rounds stores into 16-bit arrays",
    ),
    ErrorCase(
        "seed a float",
        _construct(lambda: [np.zeros(3, np.float32)], seed=1.0),
        TypeError,
        r"seed must be an int in \[0, 2\*\*64\), got 1.0",
    ),
    ErrorCase(
        "seed a bool",
        _construct(lambda: [np.zeros(3, np.float32)], seed=True),
        TypeError,
        r"seed must be an int in \[0, 2\*\*64\), got True",
    ),
    ErrorCase(
        "seed a str",
        _construct(lambda: [np.zeros(3, np.float32)], seed="7"),
        TypeError,
        r"seed must be an int in \[0, 2\*\*64\), got '7'",
    ),
    ErrorCase(
        "negative seed",
        _construct(lambda: [np.zeros(3, np.float32)], seed=-1),
        ValueError,
        r"invalid seed=-1: must be in \[0, 2\*\*64\)",
    ),
    ErrorCase(
        "seed of 2**64",
        _construct(lambda: [np.zeros(3, np.float32)], seed=2**64),
        ValueError,
        r"invalid seed=18446744073709551616: must be in \[0, 2\*\*64\)",
    ),
    ErrorCase(
        "seed made invalid between steps",
        _group_change(optkern.SGD, seed=2**70),
        ValueError,
        r"invalid seed=1180591620717411303424: must be in",
    ),
    ErrorCase(
        "bfloat16 state without ml_dtypes",
        _without_ml_dtypes(lambda: optkern.Adam([np.zeros(3, np.float32)], state_dtype="bfloat16")),
        ValueError,
        r"bfloat16 needs the ml_dtypes package",
    ),
    ErrorCase(
        "list param",
        _construct(lambda: [[1.0, 2.0]]),
        TypeError,
        r"\['params'\]\[0\]: parameter must be a numpy.ndarray, got list",
    ),
    ErrorCase(
        "single array as params",
        lambda: ([], lambda: optkern.Adam(np.zeros(3))),
        TypeError,
        r"wrap a single array in a list",
    ),
    ErrorCase(
        "empty params", lambda: ([], lambda: optkern.Adam([])), ValueError, r"empty parameter list"
    ),
    # hyperparameters at construction
    *[
        ErrorCase(
            f"{cls.__name__} {key}={value!r}",
            _construct(lambda: [np.zeros(3, np.float32)], cls, **{key: value}),
            ValueError,
            rf"invalid {key}",
        )
        for cls, key, value in [
            (optkern.Adam, "lr", -1e-3),
            (optkern.Adam, "lr", float("nan")),
            (optkern.Adam, "lr", float("inf")),
            (optkern.Adam, "eps", -1.0),
            (optkern.Adam, "eps", float("nan")),
            (optkern.Adam, "weight_decay", -0.1),
            (optkern.Adam, "weight_decay", float("inf")),
            (optkern.SGD, "momentum", -0.9),
            (optkern.SGD, "momentum", float("nan")),
            (optkern.SGD, "dampening", 1.5),
            (optkern.RMSprop, "alpha", 1.0),
            (optkern.RMSprop, "alpha", -0.1),
            (optkern.RMSprop, "momentum", float("-inf")),
            (optkern.Adagrad, "lr_decay", -1.0),
            (optkern.Adagrad, "initial_accumulator_value", -1.0),
            (optkern.Adagrad, "eps", float("inf")),
            (optkern.Adadelta, "lr", -1.0),
            (optkern.Adadelta, "rho", 1.5),
            (optkern.Adadelta, "rho", -0.1),
            (optkern.Adadelta, "rho", float("nan")),
            (optkern.Adadelta, "eps", -1e-6),
            (optkern.Adadelta, "weight_decay", -1.0),
            (optkern.Adamax, "lr", float("inf")),
            (optkern.Adamax, "eps", float("nan")),
            (optkern.Adamax, "weight_decay", -0.5),
            (optkern.NAdam, "momentum_decay", -4e-3),
            (optkern.NAdam, "momentum_decay", float("inf")),
            (optkern.NAdam, "eps", -1e-8),
            (optkern.NAdam, "weight_decay", float("nan")),
            (optkern.RAdam, "lr", -1e-3),
            (optkern.RAdam, "eps", float("-inf")),
            (optkern.RAdam, "weight_decay", -1e-2),
            (optkern.Lion, "lr", float("nan")),
            (optkern.Lion, "weight_decay", -0.1),
        ]
    ],
    *[
        ErrorCase(
            f"{cls.__name__} betas={value!r}",
            _construct(lambda: [np.zeros(3, np.float32)], cls, betas=value),
            ValueError,
            message,
        )
        for cls, value, message in [
            (optkern.Adamax, (1.0, 0.999), r"invalid betas\[0\]=1.0: must be in \[0, 1\)"),
            (optkern.NAdam, (0.9, 1.0), r"invalid betas\[1\]=1.0: must be in \[0, 1\)"),
            (optkern.RAdam, (-0.1, 0.999), r"invalid betas\[0\]=-0.1"),
            (optkern.RAdam, (0.9, float("nan")), r"invalid betas\[1\]=nan: must be finite"),
            (optkern.Lion, (1.5, 0.99), r"invalid betas\[0\]=1.5: must be in \[0, 1\]"),
            (optkern.Lion, (0.9, -0.01), r"invalid betas\[1\]=-0.01: must be in \[0, 1\]"),
        ]
    ],
    *[
        ErrorCase(
            f"{cls.__name__} {key} not a bool",
            _construct(lambda: [np.zeros(3, np.float32)], cls, **{key: 1}),
            TypeError,
            rf"{key} must be True or False",
        )
        for cls, key in [
            (optkern.Adadelta, "maximize"),
            (optkern.Adamax, "maximize"),
            (optkern.NAdam, "decoupled_weight_decay"),
            (optkern.RAdam, "decoupled_weight_decay"),
            (optkern.Lion, "maximize"),
        ]
    ],
    ErrorCase(
        "Lion has no eps",
        _construct(lambda: [np.zeros(3, np.float32)], optkern.Lion, eps=1e-8),
        TypeError,
        r"unexpected keyword argument 'eps'",
    ),
    ErrorCase(
        "beta1 = 1",
        _construct(lambda: [np.zeros(3, np.float32)], betas=(1.0, 0.999)),
        ValueError,
        r"invalid betas\[0\]=1.0: must be in \[0, 1\)",
    ),
    ErrorCase(
        "beta2 < 0",
        _construct(lambda: [np.zeros(3, np.float32)], betas=(0.9, -0.1)),
        ValueError,
        r"invalid betas\[1\]",
    ),
    ErrorCase(
        "betas not a pair",
        _construct(lambda: [np.zeros(3, np.float32)], betas=0.9),
        TypeError,
        r"betas must be a pair",
    ),
    ErrorCase(
        "lr not a number",
        _construct(lambda: [np.zeros(3, np.float32)], lr="0.1"),
        TypeError,
        r"lr must be a real number",
    ),
    ErrorCase(
        "amsgrad not a bool",
        _construct(lambda: [np.zeros(3, np.float32)], amsgrad=1),
        TypeError,
        r"amsgrad must be True or False",
    ),
    ErrorCase(
        "nesterov without momentum",
        _construct(lambda: [np.zeros(3, np.float32)], optkern.SGD, nesterov=True),
        ValueError,
        r"nesterov requires momentum > 0 and dampening = 0",
    ),
    ErrorCase(
        "nesterov with dampening",
        _construct(
            lambda: [np.zeros(3, np.float32)],
            optkern.SGD,
            momentum=0.9,
            nesterov=True,
            dampening=0.1,
        ),
        ValueError,
        r"nesterov requires momentum > 0 and dampening = 0",
    ),
    ErrorCase(
        "unknown keyword",
        _construct(lambda: [np.zeros(3, np.float32)], fused=True),
        TypeError,
        r"unexpected keyword argument 'fused'",
    ),
    ErrorCase(
        "unknown group key",
        lambda: ([], lambda: optkern.Adam([{"params": [np.zeros(3)], "lrr": 0.1}])),
        TypeError,
        r"param_groups\[0\]: unknown hyperparameter 'lrr' for Adam \(did you mean 'lr'\?\)",
    ),
    ErrorCase(
        "num_threads = 0",
        _construct(lambda: [np.zeros(3, np.float32)], num_threads=0),
        ValueError,
        r"invalid num_threads=0",
    ),
    ErrorCase(
        "unknown backend",
        _construct(lambda: [np.zeros(3, np.float32)], backend="gpu"),
        ValueError,
        r"backend must be one of",
    ),
    # hyperparameters changed between steps
    ErrorCase(
        "lr set to NaN",
        _group_change(lr=float("nan")),
        ValueError,
        r"param_groups\[0\]: invalid lr=nan",
    ),
    ErrorCase(
        "momentum set negative",
        _group_change(momentum=-0.5),
        ValueError,
        r"param_groups\[0\]: invalid momentum",
    ),
    ErrorCase(
        "weight_decay set to inf",
        _group_change(weight_decay=float("inf")),
        ValueError,
        r"invalid weight_decay=inf",
    ),
    ErrorCase(
        "lr set from 1 to True (equal, but not a number)",
        _group_change(optkern.Adam, lr=1, then={"lr": True}),
        TypeError,
        r"param_groups\[0\]: lr must be a real number, got bool",
    ),
    ErrorCase(
        "betas set to an equal pair holding a bool",
        _group_change(optkern.Adam, betas=(0.9, 0.0), then={"betas": (0.9, False)}),
        TypeError,
        r"betas\[1\] must be a real number, got bool",
    ),
    ErrorCase(
        "betas list changed in place",
        _group_change(optkern.Adam, betas=[0.9, 0.999], then_item=("betas", 0, 1.5)),
        ValueError,
        r"invalid betas\[0\]=1.5",
    ),
    ErrorCase(
        "NAdam momentum_decay set negative",
        _group_change(optkern.NAdam, momentum_decay=-1.0),
        ValueError,
        r"param_groups\[0\]: invalid momentum_decay=-1.0: must be >= 0",
    ),
    ErrorCase(
        "Adadelta rho set above 1",
        _group_change(optkern.Adadelta, rho=1.01),
        ValueError,
        r"param_groups\[0\]: invalid rho=1.01: must be in \[0, 1\]",
    ),
    ErrorCase(
        "Lion betas set to a scalar",
        _group_change(optkern.Lion, betas=0.9),
        TypeError,
        r"param_groups\[0\]: betas must be a pair",
    ),
    # textbook style
    ErrorCase(
        "update with other keys",
        _update_with_other_keys,
        ValueError,
        r"params keys differ from the first update\(\) call: missing \['b'\], "
        r"unexpected \['c'\]",
    ),
    ErrorCase(
        "update with missing grad", _update_with_other_grad_keys, ValueError, r"grads keys differ"
    ),
    ErrorCase(
        "update with lists",
        lambda: ([], lambda: optkern.Adam().update([], [])),
        TypeError,
        r"two dicts",
    ),
    ErrorCase(
        "update on a list-built optimizer",
        lambda: ([], lambda: optkern.Adam([np.zeros(2)]).update({}, {})),
        TypeError,
        r"built with a parameter list: call step",
    ),
    ErrorCase(
        "step without params",
        lambda: ([], lambda: optkern.Adam().step([])),
        ValueError,
        r"has no parameters",
    ),
    # checkpoints
    ErrorCase(
        "load: wrong shape",
        _load(_set_state(0, "exp_avg", np.zeros((3, 4), np.float32))),
        ValueError,
        r"state\[0\]\['exp_avg'\] is float32\(3, 4\), expected float32\(4, 3\)",
    ),
    ErrorCase(
        "load: wrong dtype",
        _load(_set_state(1, "exp_avg_sq", np.zeros(3, np.float64))),
        ValueError,
        r"state\[1\]\['exp_avg_sq'\] is float64\(3,\), expected float32\(3,\)",
    ),
    ErrorCase(
        "load: unknown state",
        _load(_set_state(1, "velocity", np.zeros(3, np.float32))),
        ValueError,
        r"unknown array 'velocity'",
    ),
    ErrorCase(
        "load: unknown top-level key",
        _load(lambda sd: sd.update(extra=1)),
        ValueError,
        r"unknown \['extra'\]",
    ),
    ErrorCase(
        "load: missing state key",
        _load(lambda sd: sd.pop("state")),
        ValueError,
        r"missing \['state'\]",
    ),
    ErrorCase(
        "load: bad param index",
        _load(lambda sd: sd["state"].update({7: {}})),
        ValueError,
        r"state keys \[7\] are not parameter indices",
    ),
    ErrorCase(
        "load: another class's hyperparameter",
        _load(lambda sd: sd["param_groups"][0].update(momentum=0.9)),
        TypeError,
        r"unknown hyperparameter 'momentum' for Adam \(a hyperparameter of other optimizers\)",
    ),
    ErrorCase(
        "load: missing hyperparameter",
        _load(lambda sd: sd["param_groups"][0].pop("eps")),
        ValueError,
        r"param_groups\[0\] has no 'eps': every param group of Adam holds all of",
    ),
    ErrorCase(
        "load: invalid hyperparameter",
        _load(lambda sd: sd["param_groups"][0].update(lr=-1.0)),
        ValueError,
        r"invalid lr=-1.0",
    ),
    ErrorCase(
        "load: NAdam without mu_product",
        _load(lambda sd: sd["state"][0].pop("mu_product"), optkern.NAdam),
        ValueError,
        r"state\[0\] has step 2 but no 'mu_product', which NAdam needs to resume",
    ),
    ErrorCase(
        "load: NAdam mu_product nan",
        _load(_set_state(1, "mu_product", float("nan")), optkern.NAdam),
        ValueError,
        r"state\[1\]\['mu_product'\] must be a finite float, got nan",
    ),
    ErrorCase(
        "load: NAdam mu_product not a number",
        _load(_set_state(0, "mu_product", "0.5"), optkern.NAdam),
        ValueError,
        r"state\[0\]\['mu_product'\] must be a finite float",
    ),
    ErrorCase(
        "load: NAdam mu_product differs within a group",
        _load(_set_state(1, "mu_product", 0.5), optkern.NAdam),
        ValueError,
        r"param_groups\[0\]: its parameters have different steps, state arrays or mu_product",
    ),
    ErrorCase(
        "load: one index twice",
        _load(lambda sd: sd["state"].update({"0": sd["state"][0]})),
        ValueError,
        r"state has two keys for one parameter index",
    ),
    ErrorCase(
        "load: group count",
        _load(lambda sd: sd["param_groups"].append({})),
        ValueError,
        r"expected 1 param groups, got 2",
    ),
    # Issue 18: messages that name the hyperparameter, key or file.
    ErrorCase(
        "lr beyond float range",
        _construct(lambda: [np.zeros(3, np.float32)], lr=10**400),
        ValueError,
        r"Adam: invalid lr=10000000000000000000\.\.\. \(401 characters\): must be finite",
    ),
    ErrorCase(
        "betas beyond float range",
        _group_change(optkern.Adam, betas=(0.9, 10**400)),
        ValueError,
        r"param_groups\[0\]: invalid betas\[1\]=.*must be finite",
    ),
    ErrorCase(
        "load: lr beyond float range",
        _load(lambda sd: sd["param_groups"][0].update(lr=10**400)),
        ValueError,
        r"load_state_dict: param_groups\[0\]: invalid lr=.*must be finite",
    ),
    ErrorCase(
        "misspelled key at step time",
        _group_change(optkern.Adam, learning_rate=0.5),
        TypeError,
        r"param_groups\[0\]: unknown hyperparameter 'learning_rate' for Adam "
        r"\(did you mean 'lr'\?\)",
    ),
    ErrorCase(
        "near miss at step time",
        _group_change(optkern.SGD, momentun=0.5),
        TypeError,
        r"unknown hyperparameter 'momentun' for SGD \(did you mean 'momentum'\?\)",
    ),
    ErrorCase(
        "hyperparameter deleted",
        _deleted_hyperparameter,
        ValueError,
        r"param_groups\[0\] has no 'lr': every param group of SGD holds all of",
    ),
    ErrorCase(
        "group appended to param_groups",
        _appended_group,
        ValueError,
        r"SGD\.param_groups holds 2 groups, but the optimizer was built with 1: add groups "
        r"with add_param_group\(\)",
    ),
    ErrorCase(
        "num_threads too large",
        _num_threads_set(2**63),
        ValueError,
        r"Adam\.num_threads: invalid num_threads=9223372036854775808: at most",
    ),
    ErrorCase(
        "num_threads not an int",
        _num_threads_set(2.0),
        TypeError,
        r"Adam\.num_threads: num_threads must be None or an int",
    ),
    ErrorCase(
        "dict as params",
        lambda: ([], lambda: optkern.Adam({"W": np.zeros(3, np.float32)})),
        TypeError,
        r"Adam: params is a dict \(keys 'W'\); pass list\(d\.values\(\)\)",
    ),
    ErrorCase(
        "load: NAdam mu_product negative",
        _load(_set_state_all("mu_product", -3.0), optkern.NAdam),
        ValueError,
        r"mu_product=-3\.0 is out of range: after 2 steps it lies in \[0, 1\)",
    ),
    ErrorCase(
        "load: NAdam mu_product too large",
        _load(_set_state_all("mu_product", 1e300), optkern.NAdam),
        ValueError,
        r"mu_product=1e\+300 is out of range",
    ),
    ErrorCase(
        "load: NAdam mu_product one after steps",
        _load(_set_state_all("mu_product", 1.0), optkern.NAdam),
        ValueError,
        r"mu_product=1\.0 is out of range",
    ),
    ErrorCase(
        "load: another class's checkpoint",
        _load(lambda sd: sd.update(optimizer="AdamW")),
        ValueError,
        r"this checkpoint was written by AdamW, not by Adam",
    ),
    ErrorCase(
        "step past 2**53",
        _step_after_loading_step(2**53),
        ValueError,
        r"param_groups\[0\] has reached the largest step count optkern supports, 2\*\*53",
    ),
]

# A value each rule refuses, the error and the message's pattern (with {key} for the name).
RULE_VIOLATIONS: dict[Any, tuple[Any, type[Exception], str]] = {
    v.non_negative: (-1.0, ValueError, r"invalid {key}=-1\.0: must be >= 0"),
    v.unit_interval: (1.0, ValueError, r"invalid {key}=1\.0: must be in \[0, 1\)"),
    v.closed_unit_interval: (1.5, ValueError, r"invalid {key}=1\.5: must be in \[0, 1\]"),
    v.boolean: (1, TypeError, r"{key} must be True or False"),
    v.betas: ((0.9, 1.0), ValueError, r"invalid {key}\[1\]=1\.0: must be in \[0, 1\)"),
    v.closed_betas: ((1.5, 0.9), ValueError, r"invalid {key}\[0\]=1\.5: must be in \[0, 1\]"),
}


def _construct_any(cls: type, **kwargs: Any) -> Callable[[], tuple[list[np.ndarray], Any]]:
    """Like _construct, for the torch-style and the textbook classes (params by keyword)."""
    if not issubclass(cls, textbook._Textbook):
        return _construct(lambda: [np.zeros(3, np.float32)], cls, **kwargs)

    def build() -> tuple[list[np.ndarray], Callable[[], Any]]:
        param = np.zeros(3, np.float32)
        return [param], lambda: cls(params=[param], **kwargs)

    return build


ERROR_CASES += [
    ErrorCase(
        f"{'textbook.' * issubclass(entry.cls, textbook._Textbook)}{entry.cls.__name__}: rule of {key}",
        _construct_any(entry.cls, **{key: RULE_VIOLATIONS[rule][0]}),
        RULE_VIOLATIONS[rule][1],
        RULE_VIOLATIONS[rule][2].format(key=key),
    )
    for entry in records()
    for key, rule in entry.cls._rules.items()
    if key not in entry.cls._fixed
]
