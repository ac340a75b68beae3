"""Layers with a hand-written backward pass, in the style of "Deep Learning from Scratch".

Every layer has ``forward(x, train=True)`` and ``backward(dout)``: ``forward`` caches what the
backward pass needs, and ``backward`` takes ∂L/∂out and returns ∂L/∂x. Layers with parameters
hold *references* to the caller's arrays (never copies) and never rebind them, so an optimizer that
updates those arrays in place is seen by the next forward pass; their gradients are stored as new
arrays (``dW``, ``db``, ``dgamma``, ``dbeta``) after each backward pass.

Dtypes are preserved: float32 in gives float32 out. Scalars mixed into array arithmetic are Python
floats (which never upcast an array) and in-place updates keep the array's dtype.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.floating[Any]]


class Layer:
    """The interface every layer implements."""

    def forward(self, x: Array, train: bool = True) -> Array:
        """The layer's output for input ``x``; ``train`` selects training behaviour."""
        raise NotImplementedError

    def backward(self, dout: Array) -> Array:
        """∂L/∂x given ∂L/∂out, for the input of the most recent ``forward`` call."""
        raise NotImplementedError


class Affine(Layer):
    """out = x·W + b, with x flattened to (N, -1) so e.g. image batches can be fed directly.

    Backward::

        dx = dout·Wᵀ  (reshaped back to x's shape)
        dW = xᵀ·dout
        db = Σ_n dout[n]
    """

    def __init__(self, W: Array, b: Array) -> None:
        if W.ndim != 2 or b.shape != (W.shape[1],):
            raise ValueError(
                f"Affine needs W of shape (D, M) and b of shape (M,), got {W.shape} and {b.shape}"
            )
        self.W = W  # references, not copies: in-place optimizer updates must be visible here
        self.b = b
        self.x: Array | None = None
        self.x_shape: tuple[int, ...] = ()
        self.dW: Array | None = None
        self.db: Array | None = None

    def forward(self, x: Array, train: bool = True) -> Array:
        self.x_shape = x.shape
        self.x = x.reshape(x.shape[0], -1)
        return self.x @ self.W + self.b

    def backward(self, dout: Array) -> Array:
        if self.x is None:
            raise RuntimeError("Affine.backward called before forward")
        # matmul and sum allocate new arrays, so the gradients never alias x, dout or W.
        self.dW = self.x.T @ dout
        self.db = dout.sum(axis=0)
        dx: Array = (dout @ self.W.T).reshape(self.x_shape)
        return dx


class ReLU(Layer):
    """out = max(x, 0); dx = dout where x > 0, else 0."""

    def __init__(self) -> None:
        self.mask: NDArray[np.bool_] | None = None  # True where the unit was active

    def forward(self, x: Array, train: bool = True) -> Array:
        self.mask = x > 0
        # A ufunc with a Python int keeps x's dtype (x * mask would turn -inf into NaN).
        return np.maximum(x, 0)

    def backward(self, dout: Array) -> Array:
        if self.mask is None:
            raise RuntimeError("ReLU.backward called before forward")
        return dout * self.mask


def sigmoid(x: Array) -> Array:
    """σ(x) = 1 / (1 + e^(−x)), evaluated without overflow.

    With z = e^(−|x|) ∈ (0, 1]: σ(x) = 1 / (1 + z) for x ≥ 0 and z / (1 + z) for x < 0. Both
    branches are algebraically σ(x), but e^(−|x|) never overflows (plain e^(−x) does for
    x ≲ −89 in float32, which would raise under ``-W error``), and the x < 0 branch keeps full
    relative precision for tiny outputs.
    """
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + z), z / (1 + z))


class Sigmoid(Layer):
    """out = σ(x); dx = dout·out·(1 − out)."""

    def __init__(self) -> None:
        self.out: Array | None = None

    def forward(self, x: Array, train: bool = True) -> Array:
        self.out = sigmoid(x)
        return self.out

    def backward(self, dout: Array) -> Array:
        if self.out is None:
            raise RuntimeError("Sigmoid.backward called before forward")
        return dout * self.out * (1 - self.out)


class Tanh(Layer):
    """out = tanh(x); dx = dout·(1 − out²)."""

    def __init__(self) -> None:
        self.out: Array | None = None

    def forward(self, x: Array, train: bool = True) -> Array:
        self.out = np.tanh(x)
        return self.out

    def backward(self, dout: Array) -> Array:
        if self.out is None:
            raise RuntimeError("Tanh.backward called before forward")
        return dout * (1 - self.out * self.out)


class BatchNorm(Layer):
    """Batch normalisation over the batch axis (Ioffe & Szegedy, 2015).

    Inputs of more than two dimensions are flattened to (N, D) (D = ``gamma.size``), as the
    textbook does. In training mode, per feature j over the N rows::

        μ = mean(x)   σ² = mean((x − μ)²)   (the biased batch variance)
        x̂ = (x − μ) / √(σ² + eps)
        out = γ·x̂ + β
        running_mean ← momentum·running_mean + (1 − momentum)·μ
        running_var  ← momentum·running_var  + (1 − momentum)·σ²

    In evaluation mode (``train=False``) μ and σ² are replaced by the running statistics, which
    start at 0 and 1 (so an untrained layer is just γ·x/√(1 + eps) + β) and are not updated.

    Backward in training mode, with g = ∂L/∂x̂ = γ·dout and means over the batch::

        dβ = Σ dout    dγ = Σ dout·x̂
        dx = (g − mean(g) − x̂·mean(g·x̂)) / √(σ² + eps)

    (the terms through μ and σ², which depend on every row, make dx sum to zero per feature).
    Backward after an evaluation-mode forward treats μ, σ² as constants: dx = g / √(σ² + eps).
    """

    def __init__(
        self,
        gamma: Array,
        beta: Array,
        momentum: float = 0.9,
        eps: float = 1e-7,
        running_mean: Array | None = None,
        running_var: Array | None = None,
    ) -> None:
        if gamma.ndim != 1 or beta.shape != gamma.shape:
            raise ValueError(
                f"BatchNorm needs 1-d gamma and beta of the same shape, got "
                f"{gamma.shape} and {beta.shape}"
            )
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {momentum}")
        if not eps > 0:
            raise ValueError(f"eps must be > 0, got {eps}")
        self.gamma = gamma  # references to the network's parameter arrays
        self.beta = beta
        self.momentum = float(momentum)
        self.eps = float(eps)
        self.running_mean = np.zeros_like(gamma) if running_mean is None else running_mean
        self.running_var = np.ones_like(gamma) if running_var is None else running_var
        self.input_shape: tuple[int, ...] = ()
        self.xn: Array | None = None  # x̂, cached for backward
        self.std: Array | None = None  # √(σ² + eps) actually used in forward
        self.train = True
        self.dgamma: Array | None = None
        self.dbeta: Array | None = None

    def forward(self, x: Array, train: bool = True) -> Array:
        self.input_shape = x.shape
        x2 = x.reshape(x.shape[0], -1)
        if train:
            mu = x2.mean(axis=0)
            xc = x2 - mu
            var = (xc * xc).mean(axis=0)
            # In-place updates: the running statistics keep their identity and dtype.
            self.running_mean *= self.momentum
            self.running_mean += (1 - self.momentum) * mu
            self.running_var *= self.momentum
            self.running_var += (1 - self.momentum) * var
        else:
            xc = x2 - self.running_mean
            var = self.running_var
        self.train = train
        self.std = np.sqrt(var + self.eps)
        self.xn = xc / self.std
        return (self.gamma * self.xn + self.beta).reshape(self.input_shape)

    def backward(self, dout: Array) -> Array:
        if self.xn is None or self.std is None:
            raise RuntimeError("BatchNorm.backward called before forward")
        d2 = dout.reshape(dout.shape[0], -1)
        self.dbeta = d2.sum(axis=0)
        self.dgamma = (d2 * self.xn).sum(axis=0)
        g = self.gamma * d2
        if self.train:
            g = g - g.mean(axis=0) - self.xn * (g * self.xn).mean(axis=0)
        return (g / self.std).reshape(self.input_shape)


class Dropout(Layer):
    """Inverted dropout: zero each unit with probability ``ratio`` while training.

    Training: out = x·m / (1 − ratio), with m a 0/1 "keep" mask, m ~ Bernoulli(1 − ratio) drawn
    fresh per call. Dividing by the keep probability makes E[out] = x, so evaluation
    (``train=False``) is the identity and needs no rescaling. Backward: dx = dout·m / (1 − ratio)
    (just dout after an evaluation-mode forward).

    For deterministic tests set ``fixed_mask`` (or pass ``mask=``): a boolean keep-mask, or 0/1
    values, of the input's shape, used instead of random draws until set back to ``None``.
    """

    def __init__(
        self,
        ratio: float = 0.5,
        rng: np.random.Generator | int | None = None,
        mask: ArrayLike | None = None,
    ) -> None:
        # int and float are numbers.Real at run time; naming them keeps mypy's type float.
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float, numbers.Real)):
            raise TypeError(f"ratio must be a real number, got {type(ratio).__name__}")
        if not 0.0 <= ratio < 1.0:
            raise ValueError(f"dropout ratio must be in [0, 1), got {ratio}")
        self.ratio = float(ratio)
        self.rng = np.random.default_rng(rng)
        self.fixed_mask: NDArray[np.bool_] | None = None
        if mask is not None:
            self.set_mask(mask)
        self.mask: NDArray[np.bool_] | None = None  # the keep-mask of the last training forward
        self.train = True

    def set_mask(self, mask: ArrayLike | None) -> None:
        """Use this keep-mask (True/1 = keep) in every training forward; ``None`` = random again."""
        self.fixed_mask = None if mask is None else np.asarray(mask).astype(bool)

    def forward(self, x: Array, train: bool = True) -> Array:
        self.train = train
        if not train:
            return x
        if self.fixed_mask is not None:
            if self.fixed_mask.shape != x.shape:
                raise ValueError(
                    f"fixed dropout mask has shape {self.fixed_mask.shape}, input has {x.shape}"
                )
            self.mask = self.fixed_mask
        else:
            self.mask = self.rng.random(x.shape) >= self.ratio  # P(keep) = 1 − ratio
        return x * self.mask * (1 / (1 - self.ratio))

    def backward(self, dout: Array) -> Array:
        if not self.train:
            return dout
        if self.mask is None:
            raise RuntimeError("Dropout.backward called before forward")
        return dout * self.mask * (1 / (1 - self.ratio))


def softmax(x: Array) -> Array:
    """Row-wise softmax yᵢ = e^(xᵢ − max x) / Σⱼ e^(xⱼ − max x); subtracting the max avoids
    overflow and does not change the result."""
    z = x - x.max(axis=-1, keepdims=True)
    e = np.exp(z)
    y: Array = e / e.sum(axis=-1, keepdims=True)
    return y


class SoftmaxWithLoss:
    """Softmax followed by the mean cross-entropy over the batch, fused for a simple backward.

    ``forward(x, t)`` takes scores x of shape (N, C) and targets t: either int class indices of
    shape (N,) or one-hot (or any probability) rows of shape (N, C). With y = softmax(x)::

        loss = −(1/N) Σ_n Σ_c t[n, c]·log y[n, c]
        log y = (x − max x) − log Σ e^(x − max x)      (log-softmax: no log(0), no overflow)

    ``backward(dout=1)`` returns ∂loss/∂x = dout·(y − t) / N.
    The loss is returned as a NumPy scalar of x's dtype.
    """

    def __init__(self) -> None:
        self.y: Array | None = None  # softmax output
        self.t: NDArray[Any] | None = None  # targets as given (indices or rows)

    def forward(self, x: Array, t: ArrayLike) -> np.floating[Any]:
        if x.ndim != 2:
            raise ValueError(f"SoftmaxWithLoss expects scores of shape (N, C), got {x.shape}")
        n, c = x.shape
        t = np.asarray(t)
        z = x - x.max(axis=1, keepdims=True)
        log_y = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        if t.ndim == 1:
            if t.shape[0] != n or not np.issubdtype(t.dtype, np.integer):
                raise ValueError(f"integer labels must have shape ({n},), got {t.dtype} {t.shape}")
            if n and (t.min() < 0 or t.max() >= c):
                raise ValueError(f"labels must be in [0, {c}), got range [{t.min()}, {t.max()}]")
            picked = log_y[np.arange(n), t]
            loss = -picked.sum() / max(n, 1)
        elif t.shape == x.shape:
            loss = -(t.astype(x.dtype, copy=False) * log_y).sum() / max(n, 1)
        else:
            raise ValueError(f"targets must have shape ({n},) or {x.shape}, got {t.shape}")
        self.y = np.exp(log_y)
        self.t = t
        result: np.floating[Any] = x.dtype.type(loss)
        return result

    def backward(self, dout: float = 1.0) -> Array:
        if self.y is None or self.t is None:
            raise RuntimeError("SoftmaxWithLoss.backward called before forward")
        n = self.y.shape[0]
        dx: Array = self.y.copy()
        if self.t.ndim == 1:
            dx[np.arange(n), self.t] -= 1
        else:
            dx -= self.t
        # In place: a float64 scalar `dout` must not upcast a float32 gradient.
        dx *= float(dout) / max(n, 1)
        return dx
