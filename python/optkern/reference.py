"""The slow twin of every kernel: plain NumPy, one function per algorithm, readable as the formula.

Each function updates one parameter and its state arrays in place. Its arguments are the arrays
in the order of ``_core.array_roles[name]`` (the order of the C++ math function's arguments), then
``hp``: the float64 coefficients the optimizer class computed for this step (the same dict the
kernel receives). Each performs the same IEEE operations in the same order as its twin in
``cpp/optkern/math/<name>.h``, with every coefficient cast to the array dtype first (in
``_cast``, as the kernel's one ``cast_params`` in ``cpp/optkern/step.h`` does), so results are
bit-identical. Decisions (is weight decay on?) are taken on the float64 values, as in the kernel.
Maximize and weight decay come first in every algorithm that has them, in one function,
``_prologue``, the twin of ``prologue`` in ``cpp/optkern/math/common.h``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import Any, ParamSpec

import numpy as np
from numpy.typing import NDArray

from . import _core
from ._storage import bfloat16, is_16_bit, is_bfloat16

P = ParamSpec("P")


def _quiet(function: Callable[P, None]) -> Callable[P, None]:
    """Overflow to inf and inf - inf = NaN are expected (they propagate, as in torch and in the
    kernels), so the reference does not warn about them."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        with np.errstate(all="ignore"):
            function(*args, **kwargs)

    return wrapper


def _cast(hp: Mapping[str, float | bool], dtype: np.dtype[Any]) -> SimpleNamespace:
    """Every float coefficient as a scalar of the array dtype (round to nearest, like C++)."""
    scalar = np.dtype(dtype).type
    return SimpleNamespace(**{k: scalar(v) if isinstance(v, float) else v for k, v in hp.items()})


def _prologue(
    param: NDArray[Any],
    grad: NDArray[Any],
    c: SimpleNamespace,
    hp: Mapping[str, float | bool],
    decoupled: bool,
) -> NDArray[Any]:
    """Twin of prologue() in math/common.h: g <- -g (maximize); then, with weight decay,
    p <- p*(1 - lr*wd) (``decoupled``) or g <- g + wd*p. Returns g (``grad`` is never written)."""
    g = -grad if c.maximize else grad
    if hp["weight_decay"] != 0:
        if decoupled:
            param[...] = param * c.decay_factor
        else:
            g = g + c.weight_decay * param
    return g


_WORD = 0xFFFFFFFF


def _mix32(x: NDArray[np.uint32]) -> NDArray[np.uint32]:
    """mix32 of ``cpp/optkern/rounding_hash.h`` (Chris Wellons' lowbias32) on a uint32 array;
    NumPy's integer arrays wrap modulo 2**32, as C++'s uint32 does (its scalars would warn)."""
    x = x ^ (x >> np.uint32(16))
    x = x * np.uint32(0x7FEB352D)
    x = x ^ (x >> np.uint32(15))
    x = x * np.uint32(0x846CA68B)
    out: NDArray[np.uint32] = x ^ (x >> np.uint32(16))
    return out


def _mix32_int(x: int) -> int:
    """_mix32 of one Python int below 2**32."""
    return int(_mix32(np.array([x], np.uint32))[0])


def rounding_keys(seed: int, step: int, tensor: int, role: int) -> tuple[int, int]:
    """The keys (k1, k2) of one array's stochastically rounded store: the twin of
    rounding_step_key, rounding_tensor_key and rounding_role_keys in ``rounding_hash.h``, which
    documents the function."""
    s = _mix32_int(0x9E3779B9 ^ (seed & _WORD))
    s = _mix32_int(s ^ (seed >> 32))
    s = _mix32_int(s ^ (step & _WORD))
    s = _mix32_int(s ^ (step >> 32))
    t = _mix32_int(s ^ tensor)
    k1 = _mix32_int(t ^ role)
    return k1, _mix32_int(k1 ^ 0x85EBCA6B)


def random_words(keys: tuple[int, int], first: int, count: int) -> NDArray[np.uint32]:
    """The random words of elements first, ..., first + count - 1 under ``keys``:
    mix32(mix32(k1 ^ e_lo) ^ k2 ^ e_hi) (``rounding_word`` in ``rounding_hash.h``)."""
    element = np.arange(first, first + count, dtype=np.uint64)
    low = (element & np.uint64(_WORD)).astype(np.uint32)
    high = (element >> np.uint64(32)).astype(np.uint32)
    return _mix32(_mix32(low ^ np.uint32(keys[0])) ^ (np.uint32(keys[1]) ^ high))


def round_bfloat16_stochastic(values: NDArray[np.float32], words: NDArray[np.uint32]) -> Any:
    """float32 ``values`` rounded to bfloat16 stochastically with the low 16 bits r of
    ``words``: the bits u of each value truncated after adding r, (u + r) >> 16, which rounds up
    with probability equal to the dropped fraction of an ulp (twin of
    store_bfloat16_stochastic_one in ``cpp/optkern/convert.h``). NaN becomes the quiet NaN of
    its sign, as the round-to-nearest store gives it; ±inf stays (its low bits are zero)."""
    u = np.ascontiguousarray(values, np.float32).view(np.uint32)
    bits = ((u + (words & np.uint32(0xFFFF))) >> np.uint32(16)).astype(np.uint16)
    nan = (u & np.uint32(0x7FFFFFFF)) > np.uint32(0x7F800000)
    sign = ((u >> np.uint32(16)) & np.uint32(0x8000)).astype(np.uint16)
    bits = np.where(nan, sign | np.uint16(0x7FC0), bits)
    return bits.view(bfloat16())


def round_float16_stochastic(values: NDArray[np.float32], words: NDArray[np.uint32]) -> Any:
    """float32 ``values`` rounded to float16 stochastically with the random ``words`` (twin of
    float16_stochastic_grid_one and store_float16_stochastic in ``cpp/optkern/convert.h``, which
    say why it is unbiased): each value moved onto a neighbouring float16 value by adding the
    low ``dropped`` bits of its word to its bits and truncating them (``dropped``: 13 where
    float16 is normal, one more per binade below 2**-14, 23 at most); below 2**-24, ±2**-24 when
    the word's low 24 bits are below |x| * 2**48, else ±0; ±inf and NaN as they are. The grid
    value is then converted to float16 exactly (NumPy's ``astype``, which also turns 65536 into
    inf and gives NaN its bits)."""
    u = np.ascontiguousarray(values, np.float32).view(np.uint32)
    magnitude = u & np.uint32(0x7FFFFFFF)
    exponent = (magnitude >> np.uint32(23)).astype(np.int64)
    dropped = np.where(exponent >= 113, 13, np.clip(126 - exponent, 0, 23)).astype(np.uint32)
    mask = (np.uint32(1) << dropped) - np.uint32(1)
    truncated = (u + (words & mask)) & ~mask
    with np.errstate(over="ignore"):  # |x| * 2**48 overflows for large x, which it does not pick
        scaled = magnitude.view(np.float32) * np.float32(2.0**48)
    up = (words & np.uint32(0xFFFFFF)).astype(np.float32) < scaled
    tiny = (u & np.uint32(0x80000000)) | np.where(up, np.uint32(0x33800000), np.uint32(0))
    grid = np.where(
        magnitude > np.uint32(0x7F800000),
        u,
        np.where(magnitude < np.uint32(0x33800000), tiny, truncated),
    ).astype(np.uint32)
    with np.errstate(over="ignore", invalid="ignore"):  # 65536 and beyond become inf, as meant
        return grid.view(np.float32).astype(np.float16)


# ----------------------------------------------------------------- gradient norms and scaling

#: The kinds of norm (norm_type 2, 1, inf) in the order of the kernels' NormKind
#: (cpp/optkern/grad_call.h).
NORM_KINDS = (2.0, 1.0, float("inf"))


def _norm_combine(kind: float, lane: NDArray[np.float64], x: NDArray[np.float64]) -> Any:
    if kind == 2.0:
        return lane + x * x
    if kind == 1.0:
        return lane + np.abs(x)
    a = np.abs(x)  # the larger, and NaN once either is NaN
    return np.where((a > lane) | np.isnan(a), a, lane)


def _block_partials(grad: NDArray[Any], kind: float) -> NDArray[np.float64]:
    """One gradient's block partials: blocks of ``_core.norm_block`` elements from its first,
    each in ``_core.norm_lanes`` float64 lanes (lane j: elements j, j + lanes, ... in order),
    the lanes then combined pairwise (j with j + lanes / 2, then + lanes / 4, ..., + 1)."""
    block, lanes = _core.norm_block, _core.norm_lanes
    flat = grad.reshape(-1)
    if flat.dtype != np.float64:
        flat = flat.astype(np.float32)  # 16-bit through float32, as the kernels load them
    values = np.zeros(-(-flat.size // block) * block, np.float64)
    values[: flat.size] = flat  # zero padding: adds nothing to a lane (never -0.0) or a maximum
    rows = values.reshape(-1, block // lanes, lanes)
    lane = np.zeros((rows.shape[0], lanes), np.float64)
    for row in range(rows.shape[1]):
        lane = _norm_combine(kind, lane, rows[:, row, :])
    width = lanes // 2
    while width >= 1:
        if kind == float("inf"):
            lane = _norm_combine(kind, lane[:, :width], lane[:, width : 2 * width])
        else:
            lane = lane[:, :width] + lane[:, width : 2 * width]
        width //= 2
    return lane[:, 0]


def grad_norm(grads: list[NDArray[Any]], norm_type: float = 2.0) -> tuple[float, bool]:
    """(norm, every element finite) of all ``grads`` together: the twin of the statistics pass
    (cpp/grad_stats.cpp, cpp/optkern/grad_ops.h), bit for bit. The block partials of every
    gradient, in the order given, are summed one after another (the largest taken, for inf)."""
    kind = float(norm_type)
    total = 0.0
    finite = True
    with np.errstate(all="ignore"):  # inf and NaN elements make the norm inf or NaN
        for grad in grads:
            for partial in _block_partials(grad, kind).tolist():
                if kind == float("inf"):
                    total = partial if (partial > total or math.isnan(partial)) else total
                else:
                    total = total + partial
            exact = grad if grad.dtype in (np.float32, np.float64) else grad.astype(np.float32)
            finite = finite and bool(np.isfinite(exact).all())
    if math.isnan(total):
        return math.nan, finite
    return (math.sqrt(total) if kind == 2.0 else total), finite


def clip_coefficient(max_norm: float, norm: float) -> float:
    """torch's clip coefficient, max_norm / (norm + 1e-6), at most 1 (NaN stays NaN)."""
    coefficient = max_norm / (norm + 1e-6)  # norm >= 0 (or NaN): never a division by zero
    return min(coefficient, 1.0)  # a NaN coefficient stays NaN: min keeps its first argument


def grad_options(
    grads: list[NDArray[Any]], max_norm: float | None, grad_scale: float, skip: bool
) -> tuple[float | None, float, bool]:
    """A step's (norm, gradient multiplier, skipped) for ``step()``'s keywords: the twin of
    PreparedStep::apply_grad_options (cpp/prepared_step.cpp)."""
    norm = None
    if max_norm is not None or skip:
        measured, finite = grad_norm(grads)
        norm = measured / grad_scale
        if skip and not finite:
            return norm, 1.0, True
    coefficient = 1.0
    if max_norm is not None and norm is not None:
        coefficient = clip_coefficient(max_norm, norm)
    return norm, coefficient / grad_scale, False


def scaled_grad(grad: NDArray[Any], multiplier: float) -> NDArray[Any]:
    """The gradient a step uses: in the arithmetic type (float64 for float64, else float32),
    multiplied by the step's gradient multiplier rounded to that type, as every kernel does with
    each element it reads (1 for a plain step: the same values, with a signalling NaN quieted)."""
    compute = np.float64 if grad.dtype == np.float64 else np.float32
    with np.errstate(all="ignore"):
        scaled: NDArray[Any] = grad.astype(compute) * compute(multiplier)
    return scaled


def scale_grads(grads: list[NDArray[Any]], factor: float) -> None:
    """clip_grad_norm_'s in-place multiply (optkern/grad_ops.h scale_grads): each element times
    ``factor`` rounded to the arithmetic type, stored back rounded to nearest even."""
    with np.errstate(all="ignore"):
        for grad in grads:
            compute = np.float64 if grad.dtype == np.float64 else np.float32
            grad[...] = (grad.astype(compute) * compute(factor)).astype(grad.dtype)


def clamp_grads(grads: list[NDArray[Any]], bound: float) -> None:
    """clip_grad_value_'s in-place clamp to [-bound, bound] (NaN stays NaN)."""
    with np.errstate(all="ignore"):
        for grad in grads:
            compute = np.float64 if grad.dtype == np.float64 else np.float32
            x = grad.astype(compute)
            high = compute(bound)
            low = -high
            grad[...] = np.where(x < low, low, np.where(x > high, high, x)).astype(grad.dtype)


def accumulate(buffers: list[NDArray[Any]], grads: list[NDArray[Any]], scale: float) -> None:
    """optkern.accumulate's twin (cpp/optkern/averaging.h): buffer + grad * scale in place, in
    float64 for float64 and float32 otherwise (16-bit buffers stored back rounded to nearest)."""
    with np.errstate(all="ignore"):
        for buffer, grad in zip(buffers, grads, strict=True):
            compute = np.float64 if buffer.dtype == np.float64 else np.float32
            total = buffer.astype(compute) + grad.astype(compute) * compute(scale)
            buffer[...] = total.astype(buffer.dtype)


def ema_update(averages: list[NDArray[Any]], params: list[NDArray[Any]], weight: float) -> None:
    """optkern.EMA.update's twin (cpp/optkern/averaging.h): lerp(average, param, weight) in
    torch's two-sided form, in place, without fused multiply-adds; weight 1 copies."""
    with np.errstate(all="ignore"):
        for average, param in zip(averages, params, strict=True):
            compute = np.float64 if average.dtype == np.float64 else np.float32
            a, p, w = average.astype(compute), param.astype(compute), compute(weight)
            difference = p - a
            result = a + w * difference if w < 0.5 else p - difference * (compute(1) - w)
            if w == 1:  # a copy, as torch's copy_ (the formula: inf -> NaN, -0.0 -> +0.0)
                result = p
            average[...] = result.astype(average.dtype)


def stored_step(
    function: Callable[..., None],
    param: NDArray[Any],
    grad: NDArray[Any],
    states: list[NDArray[Any] | None],
    hp: Mapping[str, float | bool],
    master: NDArray[Any] | None = None,
    stochastic: tuple[int, int, int] | None = None,
) -> None:
    """One algorithm's ``function`` on arrays stored in 16 bits (or float32 beside 16-bit ones):
    the twin of the Converted loop in ``cpp/optkern/loop.h``. Every array is loaded (exactly)
    into float32, the float32 formula runs on the copies, and each written array is stored back
    rounded to nearest even (NumPy's ``astype``; ml_dtypes' for bfloat16). With a master copy,
    the formula updates ``master`` in place of the parameter, and the parameter receives the
    rounded master.

    ``stochastic``: (seed, step, tensor) for rounding="stochastic": then every store into a
    16-bit array but the master-to-parameter one rounds stochastically
    (``round_bfloat16_stochastic``, ``round_float16_stochastic``), with the random words of its role (0 the parameter, 2 + i
    for ``states[i]``) and each element's index in the flattened tensor."""
    updated = master if master is not None else param
    p = updated.astype(np.float32)
    s = [None if a is None else a.astype(np.float32) for a in states]

    def store(array: NDArray[Any], value: NDArray[np.float32], role: int) -> None:
        if stochastic is None or not is_16_bit(array.dtype):
            array[...] = value.astype(array.dtype)
            return
        seed, step, tensor = stochastic
        words = random_words(rounding_keys(seed, step, tensor, role), 0, value.size)
        rounded = (
            round_bfloat16_stochastic if is_bfloat16(array.dtype) else round_float16_stochastic
        )
        array[...] = rounded(value.reshape(-1), words).reshape(array.shape)

    with np.errstate(all="ignore"):  # NaN and overflow to inf round as they are
        function(p, grad.astype(np.float32), *s, hp)
        for position, (array, value) in enumerate(zip(states, s, strict=True)):
            if array is not None and value is not None:
                store(array, value, 2 + position)
        store(updated, p, 0)
        if master is not None:
            param[...] = p.astype(param.dtype)


@_quiet
def sgd(
    param: NDArray[Any],
    grad: NDArray[Any],
    momentum_buffer: NDArray[Any] | None,
    hp: Mapping[str, float | bool],
) -> None:
    """Twin of math/sgd.h. g <- -g (maximize); g <- g + wd*p; with momentum mu: b <- g (first
    step) or b <- mu*b + (1 - dampening)*g, then g <- g + mu*b (nesterov) or g <- b; p <- p - lr*g."""
    c = _cast(hp, param.dtype)
    g = _prologue(param, grad, c, hp, decoupled=False)
    if hp["momentum"] != 0:
        assert momentum_buffer is not None
        if c.first_step:
            momentum_buffer[...] = g
        else:
            momentum_buffer[...] = c.momentum * momentum_buffer + c.one_minus_dampening * g
        g = g + c.momentum * momentum_buffer if c.nesterov else momentum_buffer
    param[...] = param - c.lr * g


@_quiet
def adagrad(
    param: NDArray[Any], grad: NDArray[Any], sum: NDArray[Any], hp: Mapping[str, float | bool]
) -> None:
    """Twin of math/adagrad.h. g <- -g (maximize); g <- g + wd*p; s <- s + g*g;
    p <- p - clr * (g / (sqrt(s) + eps))."""
    c = _cast(hp, param.dtype)
    g = _prologue(param, grad, c, hp, decoupled=False)
    sum[...] = sum + g * g
    std = np.sqrt(sum) + c.eps
    param[...] = param - c.clr * (g / std)


@_quiet
def rmsprop(
    param: NDArray[Any],
    grad: NDArray[Any],
    square_avg: NDArray[Any],
    momentum_buffer: NDArray[Any] | None,
    grad_avg: NDArray[Any] | None,
    hp: Mapping[str, float | bool],
) -> None:
    """Twin of math/rmsprop.h. g <- -g (maximize); g <- g + wd*p; v <- alpha*v + (1-alpha)*(g*g);
    d <- sqrt(v - a*a) + eps with a <- alpha*a + (1-alpha)*g (centered), else sqrt(v) + eps;
    b <- mu*b + g/d, p <- p - lr*b (momentum), else p <- p - lr*(g/d)."""
    c = _cast(hp, param.dtype)
    g = _prologue(param, grad, c, hp, decoupled=False)
    square_avg[...] = c.alpha * square_avg + c.one_minus_alpha * (g * g)
    if c.centered:
        assert grad_avg is not None
        grad_avg[...] = c.alpha * grad_avg + c.one_minus_alpha * g
        denom = np.sqrt(square_avg - grad_avg * grad_avg) + c.eps
    else:
        denom = np.sqrt(square_avg) + c.eps
    if hp["momentum"] != 0:
        assert momentum_buffer is not None
        momentum_buffer[...] = c.momentum * momentum_buffer + g / denom
        param[...] = param - c.lr * momentum_buffer
    else:
        param[...] = param - c.lr * (g / denom)


@_quiet
def adam(
    param: NDArray[Any],
    grad: NDArray[Any],
    exp_avg: NDArray[Any],
    exp_avg_sq: NDArray[Any],
    max_exp_avg_sq: NDArray[Any] | None,
    hp: Mapping[str, float | bool],
) -> None:
    """Twin of math/adam.h. g <- -g (maximize); p <- p*(1 - lr*wd) (decoupled) or g <- g + wd*p;
    m <- beta1*m + (1-beta1)*g; v <- beta2*v + (1-beta2)*(g*g); vmax <- max(vmax, v) (amsgrad);
    p <- p - step_size * (m / (sqrt(v or vmax) * (1 / sqrt(1 - beta2^t)) + eps))."""
    c = _cast(hp, param.dtype)
    g = _prologue(param, grad, c, hp, decoupled=c.decoupled_weight_decay)
    exp_avg[...] = c.beta1 * exp_avg + c.one_minus_beta1 * g
    exp_avg_sq[...] = c.beta2 * exp_avg_sq + c.one_minus_beta2 * (g * g)
    second_moment = exp_avg_sq
    if c.amsgrad:
        assert max_exp_avg_sq is not None
        np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        second_moment = max_exp_avg_sq
    denom = np.sqrt(second_moment) * c.inv_bias_correction2_sqrt + c.eps
    param[...] = param - c.step_size * (exp_avg / denom)


@_quiet
def adadelta(
    param: NDArray[Any],
    grad: NDArray[Any],
    square_avg: NDArray[Any],
    acc_delta: NDArray[Any],
    hp: Mapping[str, float | bool],
) -> None:
    """Twin of math/adadelta.h. g <- -g (maximize); g <- g + wd*p; v <- rho*v + (1-rho)*(g*g);
    d <- (sqrt(u + eps) / sqrt(v + eps)) * g; u <- rho*u + (1-rho)*(d*d); p <- p - lr*d."""
    c = _cast(hp, param.dtype)
    g = _prologue(param, grad, c, hp, decoupled=False)
    square_avg[...] = c.rho * square_avg + c.one_minus_rho * (g * g)
    std = np.sqrt(square_avg + c.eps)
    delta = (np.sqrt(acc_delta + c.eps) / std) * g
    acc_delta[...] = c.rho * acc_delta + c.one_minus_rho * (delta * delta)
    param[...] = param - c.lr * delta


@_quiet
def adamax(
    param: NDArray[Any],
    grad: NDArray[Any],
    exp_avg: NDArray[Any],
    exp_inf: NDArray[Any],
    hp: Mapping[str, float | bool],
) -> None:
    """Twin of math/adamax.h. g <- -g (maximize); g <- g + wd*p; m <- beta1*m + (1-beta1)*g;
    u <- max(beta2*u, |g| + eps); p <- p - clr*(m / u) with clr = lr / (1 - beta1^t)."""
    c = _cast(hp, param.dtype)
    g = _prologue(param, grad, c, hp, decoupled=False)
    exp_avg[...] = c.beta1 * exp_avg + c.one_minus_beta1 * g
    exp_inf[...] = np.maximum(c.beta2 * exp_inf, np.abs(g) + c.eps)
    param[...] = param - c.clr * (exp_avg / exp_inf)


@_quiet
def nadam(
    param: NDArray[Any],
    grad: NDArray[Any],
    exp_avg: NDArray[Any],
    exp_avg_sq: NDArray[Any],
    hp: Mapping[str, float | bool],
) -> None:
    """Twin of math/nadam.h. g <- -g (maximize); p <- p*(1 - lr*wd) (decoupled) or g <- g + wd*p;
    m <- beta1*m + (1-beta1)*g; v <- beta2*v + (1-beta2)*(g*g); d <- sqrt(v * (1/(1 - beta2^t))) + eps;
    p <- p - (grad_coef*g + exp_avg_coef*m) / d."""
    c = _cast(hp, param.dtype)
    g = _prologue(param, grad, c, hp, decoupled=c.decoupled_weight_decay)
    exp_avg[...] = c.beta1 * exp_avg + c.one_minus_beta1 * g
    exp_avg_sq[...] = c.beta2 * exp_avg_sq + c.one_minus_beta2 * (g * g)
    denom = np.sqrt(exp_avg_sq * c.inv_bias_correction2) + c.eps
    param[...] = param - (c.grad_coef * g + c.exp_avg_coef * exp_avg) / denom


@_quiet
def radam(
    param: NDArray[Any],
    grad: NDArray[Any],
    exp_avg: NDArray[Any],
    exp_avg_sq: NDArray[Any],
    hp: Mapping[str, float | bool],
) -> None:
    """Twin of math/radam.h. g <- -g (maximize); p <- p*(1 - lr*wd) (decoupled) or g <- g + wd*p;
    m <- beta1*m + (1-beta1)*g; v <- beta2*v + (1-beta2)*(g*g); then
    p <- p - step_size*(m / (sqrt(v) + eps)) when rectified, else p <- p - step_size*m."""
    c = _cast(hp, param.dtype)
    g = _prologue(param, grad, c, hp, decoupled=c.decoupled_weight_decay)
    exp_avg[...] = c.beta1 * exp_avg + c.one_minus_beta1 * g
    exp_avg_sq[...] = c.beta2 * exp_avg_sq + c.one_minus_beta2 * (g * g)
    if c.rectified:
        param[...] = param - c.step_size * (exp_avg / (np.sqrt(exp_avg_sq) + c.eps))
    else:
        param[...] = param - c.step_size * exp_avg


@_quiet
def lion(
    param: NDArray[Any], grad: NDArray[Any], exp_avg: NDArray[Any], hp: Mapping[str, float | bool]
) -> None:
    """Twin of math/lion.h. g <- -g (maximize); p <- p*(1 - lr*wd) (wd != 0);
    c <- beta1*m + (1-beta1)*g; p <- p - lr*sign(c); m <- beta2*m + (1-beta2)*g."""
    c = _cast(hp, param.dtype)
    # Lion's decay is decoupled; the interpolation reads neither p nor the decay, so decaying
    # first (the shared prologue) gives the same bits as decaying after it.
    g = _prologue(param, grad, c, hp, decoupled=True)
    interpolated = c.beta1 * exp_avg + c.one_minus_beta1 * g
    param[...] = param - c.lr * np.sign(interpolated)
    exp_avg[...] = c.beta2 * exp_avg + c.one_minus_beta2 * g


# The textbook's optimizer classes (optkern.textbook): each line below is the textbook's NumPy
# statement with the scalar part already evaluated in float64 by the class.


@_quiet
def textbook_momentum(
    param: NDArray[Any], grad: NDArray[Any], v: NDArray[Any], hp: Mapping[str, float | bool]
) -> None:
    """Twin of math/textbook_momentum.h. v <- momentum*v - lr*g; p <- p + v."""
    c = _cast(hp, param.dtype)
    v[...] = c.momentum * v - c.lr * grad
    param += v


@_quiet
def textbook_nesterov(
    param: NDArray[Any], grad: NDArray[Any], v: NDArray[Any], hp: Mapping[str, float | bool]
) -> None:
    """Twin of math/textbook_nesterov.h. p <- p + (momentum*momentum)*v;
    p <- p - ((1 + momentum)*lr)*g; v <- v*momentum; v <- v - lr*g."""
    c = _cast(hp, param.dtype)
    param += c.momentum_squared * v
    param -= c.gradient_scale * grad
    v *= c.momentum
    v -= c.lr * grad


@_quiet
def textbook_adagrad(
    param: NDArray[Any], grad: NDArray[Any], h: NDArray[Any], hp: Mapping[str, float | bool]
) -> None:
    """Twin of math/textbook_adagrad.h. h <- h + g*g; p <- p - (lr*g) / (sqrt(h) + eps)."""
    c = _cast(hp, param.dtype)
    h += grad * grad
    param -= c.lr * grad / (np.sqrt(h) + c.eps)


@_quiet
def textbook_rmsprop(
    param: NDArray[Any], grad: NDArray[Any], h: NDArray[Any], hp: Mapping[str, float | bool]
) -> None:
    """Twin of math/textbook_rmsprop.h. h <- h*decay_rate; h <- h + ((1 - decay_rate)*g)*g;
    p <- p - (lr*g) / (sqrt(h) + eps)."""
    c = _cast(hp, param.dtype)
    h *= c.decay_rate
    h += c.one_minus_decay_rate * grad * grad
    param -= c.lr * grad / (np.sqrt(h) + c.eps)


@_quiet
def textbook_adam(
    param: NDArray[Any],
    grad: NDArray[Any],
    m: NDArray[Any],
    v: NDArray[Any],
    hp: Mapping[str, float | bool],
) -> None:
    """Twin of math/textbook_adam.h. m <- m + (1-beta1)*(g - m); v <- v + (1-beta2)*(g*g - v);
    p <- p - (lr_t*m) / (sqrt(v) + eps), in float64 when ``update_in_float64`` (NumPy 2 widens the
    textbook's float64 scalar lr_t times a float32 array), rounded once to the array dtype."""
    c = _cast(hp, param.dtype)
    m += c.one_minus_beta1 * (grad - m)
    v += c.one_minus_beta2 * (grad * grad - v)
    denom = np.sqrt(v) + c.eps
    if hp["update_in_float64"]:
        wide = param.astype(np.float64) - hp["lr_t"] * m.astype(np.float64) / denom.astype(
            np.float64
        )
        param[...] = wide.astype(param.dtype)
    else:
        param -= c.lr_t * m / denom
