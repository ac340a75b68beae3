"""A fully connected classifier whose parameters an in-place optimizer can update directly.

Layout (the textbook's ``MultiLayerNetExtend``), for hidden layers i = 1 … L−1 and output layer L::

    Affine_i → [BatchNorm_i] → activation → [Dropout_i]   (each hidden layer)
    Affine_L → SoftmaxWithLoss

``params`` maps ``W1, b1, …, WL, bL`` (and ``gamma_i, beta_i`` per hidden layer with batch norm)
to arrays that the layers hold by reference. The network never rebinds a key of ``params`` to a
new array, so ``optimizer.update(net.params, net.gradient(x, t))`` (or ``p -= lr * g``) changes
the very arrays the next forward pass reads. Do not assign new arrays to ``params[key]`` yourself
(``params[key] -= …`` and ``params[key][...] = …`` are fine: both modify in place).

With ``param_dtype`` float16 or bfloat16 the ``params`` arrays are 16-bit and the layers compute
in float32 (``dtype``) with float32 copies of them, refreshed from ``params`` at the start of every
forward pass: the optimizer updates (and rounds into) the 16-bit arrays, the arithmetic stays
float32, and the gradients are float32 (which every optkern optimizer takes for a 16-bit
parameter). That is 16-bit weight storage as in mixed-precision training, without 16-bit
matrix products, which NumPy does not have for bfloat16 anyway.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from .. import _storage
from . import init
from .layers import Affine, BatchNorm, Dropout, Layer, ReLU, Sigmoid, SoftmaxWithLoss, Tanh

_ACTIVATIONS: dict[str, type[Layer]] = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh}
_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _param_dtype(value: DTypeLike | None, dtype: np.dtype[Any]) -> np.dtype[Any]:
    """The dtype of ``params``: ``dtype`` (None), or float16/bfloat16 with float32 compute."""
    if value is None:
        return dtype
    # "bfloat16" is a NumPy dtype name only once ml_dtypes is imported: import it on demand
    # (with a one-line error naming the extra if it is missing).
    resolved = _storage.bfloat16() if isinstance(value, str) and value == "bfloat16" else None
    if resolved is None:
        try:
            resolved = np.dtype(value)
        except TypeError:
            raise ValueError(
                f"param_dtype must be None, float16 or bfloat16, got {value!r}"
            ) from None
    if resolved == dtype:
        return dtype
    if not _storage.is_16_bit(resolved):
        raise ValueError(
            f"param_dtype must be None, float16 or bfloat16, got {_storage.dtype_name(resolved)}"
        )
    if dtype != np.float32:
        raise ValueError(
            f"param_dtype={_storage.dtype_name(resolved)} computes in float32: dtype must be "
            f"float32, got {dtype}"
        )
    return resolved


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


class MultiLayerNet:
    r"""Fully connected network with softmax cross-entropy loss.

    Args:
        input_size: features per sample (inputs of other shapes are flattened per sample).
        hidden_sizes: units of each hidden layer; empty gives softmax regression.
        output_size: number of classes.
        activation: ``"relu"``, ``"sigmoid"`` or ``"tanh"``.
        weight_init: ``"he"``/``"relu"`` (std √(2/n_in)), ``"xavier"``/``"sigmoid"``/``"tanh"``
            (std √(1/n_in)) or a number used as the std of every W (see ``init.resolve_std``).
            Biases and β start at 0, γ at 1.
        use_batchnorm: insert BatchNorm after every hidden Affine layer.
        dropout: dropout ratio after every hidden activation (0 disables the layers).
        weight_decay: λ of the L2 penalty ½·λ·Σ‖W‖² (weights only, not b, γ, β).
        dtype: float32 or float64; params (unless ``param_dtype`` says otherwise), activations,
            gradients and losses all use it.
        param_dtype: None (``dtype``), or ``np.float16`` / bfloat16 (``"bfloat16"`` or
            ``ml_dtypes.bfloat16``; needs ml_dtypes) with ``dtype`` float32: ``params`` are
            stored in that 16-bit dtype and everything else stays float32 (see the module
            docstring). The initial weights are the float32 ones rounded to nearest.
        seed: seeds the weight init and (through an independent stream) the dropout masks.
    """

    def __init__(
        self,
        input_size: int,
        hidden_sizes: Sequence[int],
        output_size: int,
        activation: str = "relu",
        weight_init: str | float = "he",
        use_batchnorm: bool = False,
        dropout: float = 0.0,
        weight_decay: float = 0.0,
        dtype: DTypeLike = np.float32,
        seed: int | None = 0,
        *,
        param_dtype: DTypeLike | None = None,
    ) -> None:
        resolved = np.dtype(dtype)
        if resolved not in _DTYPES:
            raise ValueError(f"dtype must be float32 or float64, got {resolved}")
        self.dtype = cast("np.dtype[np.floating[Any]]", resolved)  # float32 or float64: checked
        self.param_dtype = _param_dtype(param_dtype, self.dtype)
        if activation not in _ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if not weight_decay >= 0.0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
        self.input_size = _positive_int("input_size", input_size)
        self.hidden_sizes = [_positive_int("hidden size", h) for h in hidden_sizes]
        self.output_size = _positive_int("output_size", output_size)
        self.activation = activation
        self.weight_init = weight_init
        self.use_batchnorm = bool(use_batchnorm)
        self.dropout = float(dropout)
        self.weight_decay = float(weight_decay)
        # Two independent streams, so turning dropout on or off does not change the weights.
        init_seq, dropout_seq = np.random.SeedSequence(seed).spawn(2)
        init_rng = np.random.default_rng(init_seq)
        dropout_rng = np.random.default_rng(dropout_seq)

        # What the layers compute with: ``params`` itself, or (16-bit ``params``) float32 copies,
        # keyed alike, that _refresh() overwrites from ``params`` before each forward pass.
        working: dict[str, NDArray[np.floating[Any]]] = {}
        self.layers: dict[str, Layer] = {}  # in forward order
        sizes = [self.input_size, *self.hidden_sizes, self.output_size]
        n_layers = len(sizes) - 1
        for i in range(1, n_layers + 1):
            n_in, n_out = sizes[i - 1], sizes[i]
            W = working[f"W{i}"] = init.initialize((n_in, n_out), weight_init, init_rng, self.dtype)
            b = working[f"b{i}"] = np.zeros(n_out, self.dtype)
            self.layers[f"Affine{i}"] = Affine(W, b)
            if i == n_layers:
                break
            if self.use_batchnorm:
                gamma = working[f"gamma{i}"] = np.ones(n_out, self.dtype)
                beta = working[f"beta{i}"] = np.zeros(n_out, self.dtype)
                self.layers[f"BatchNorm{i}"] = BatchNorm(gamma, beta)
            self.layers[f"Activation{i}"] = _ACTIVATIONS[activation]()
            if self.dropout > 0:
                self.layers[f"Dropout{i}"] = Dropout(self.dropout, dropout_rng)
        self.n_layers = n_layers
        self.last_layer = SoftmaxWithLoss()
        if self.param_dtype == self.dtype:
            self.params: dict[str, NDArray[Any]] = working
            self._working: dict[str, NDArray[np.floating[Any]]] = {}
        else:
            # Drawn in float32 and rounded, so a 16-bit network starts where the float32 one
            # with the same seed does, up to rounding.
            self.params = {key: value.astype(self.param_dtype) for key, value in working.items()}
            self._working = working
            self._refresh()

    def _refresh(self) -> None:
        """Copies the 16-bit ``params`` into the float32 arrays the layers hold (exact)."""
        for key, value in self._working.items():
            np.copyto(value, self.params[key])  # a safe cast: widening to float32 never rounds

    def _as_input(self, x: ArrayLike) -> NDArray[np.floating[Any]]:
        """x in the network's dtype (a float64 batch would otherwise upcast every activation)."""
        return np.asarray(x, dtype=self.dtype)

    def predict(self, x: ArrayLike, train: bool = False) -> NDArray[np.floating[Any]]:
        """Class scores (pre-softmax) of shape (N, output_size).

        ``train=False`` (the default) uses BatchNorm's running statistics and disables dropout.
        """
        self._refresh()  # params may have been updated since the last pass
        out = self._as_input(x)
        for layer in self.layers.values():
            out = layer.forward(out, train)
        return out

    def loss(self, x: ArrayLike, t: ArrayLike, train: bool = True) -> np.floating[Any]:
        """Mean cross-entropy of softmax(predict(x)) against t, plus ½·λ·Σ_i Σ W_i²."""
        ce = self.last_layer.forward(self.predict(x, train), t)
        penalty = 0.0
        if self.weight_decay:
            # The layers' arrays: float32 even for 16-bit params (a float16 W·W could overflow).
            weights = (self._layer_weight(i) for i in range(1, self.n_layers + 1))
            penalty = 0.5 * self.weight_decay * sum(float(np.sum(W * W)) for W in weights)
        # A NumPy scalar of the network's dtype, like every other output.
        total: np.floating[Any] = self.dtype.type(ce + penalty)
        return total

    def _layer_weight(self, i: int) -> NDArray[np.floating[Any]]:
        affine = self.layers[f"Affine{i}"]
        assert isinstance(affine, Affine)
        return affine.W

    def accuracy(self, x: ArrayLike, t: ArrayLike) -> float:
        """Fraction of samples whose arg-max score is the label (t: indices or one-hot rows)."""
        t = np.asarray(t)
        labels = t.argmax(axis=1) if t.ndim != 1 else t
        predicted = self.predict(x, train=False).argmax(axis=1)
        return float(np.mean(predicted == labels)) if labels.size else 0.0

    def gradient(self, x: ArrayLike, t: ArrayLike) -> dict[str, NDArray[np.floating[Any]]]:
        """Gradients of ``loss(x, t, train=True)`` by backpropagation, keyed like ``params``.

        dW_i includes the weight-decay term λ·W_i. Each gradient is a new C-contiguous array of
        the parameter's shape and of ``dtype`` (the parameter's dtype, float32 for 16-bit params;
        never a view of a parameter). Like the training-mode
        forward pass it runs, this updates BatchNorm running statistics and draws dropout masks.
        """
        self.loss(x, t, train=True)
        dout = self.last_layer.backward(1.0)
        for layer in reversed(self.layers.values()):
            dout = layer.backward(dout)

        grads: dict[str, NDArray[np.floating[Any]]] = {}
        for i in range(1, self.n_layers + 1):
            affine = self.layers[f"Affine{i}"]
            assert isinstance(affine, Affine)
            assert affine.dW is not None
            assert affine.db is not None
            dW = affine.dW
            if self.weight_decay:
                dW = dW + self.weight_decay * affine.W  # Python float: stays in dtype
            grads[f"W{i}"] = dW
            grads[f"b{i}"] = affine.db
            bn = self.layers.get(f"BatchNorm{i}")
            if isinstance(bn, BatchNorm):
                assert bn.dgamma is not None
                assert bn.dbeta is not None
                grads[f"gamma{i}"] = bn.dgamma
                grads[f"beta{i}"] = bn.dbeta
        # Same key order as params; enforce layout/dtype defensively (no copy when already right).
        return {key: np.ascontiguousarray(grads[key], dtype=self.dtype) for key in self.params}
