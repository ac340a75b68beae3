"""A small pure-NumPy neural-network library for comparing optimizers.

Layers with hand-written backward passes, a fully connected ``MultiLayerNet`` whose ``params``
dict of arrays is updated in place by any optimizer (``optkern.SGD().update(net.params,
net.gradient(x, t))``), weight initialisers, mini-batch iterators and a finite-difference
gradient checker. Everything stays in the dtype the network was built with (float32 or float64);
with ``param_dtype`` float16 or bfloat16 only ``params`` are stored in 16 bits.

Datasets live in ``optkern.data``.
"""

from __future__ import annotations

from . import init
from .batches import minibatches, random_batches
from .gradcheck import numerical_gradient, relative_error
from .layers import (
    Affine,
    BatchNorm,
    Dropout,
    Layer,
    ReLU,
    Sigmoid,
    SoftmaxWithLoss,
    Tanh,
    sigmoid,
    softmax,
)
from .network import MultiLayerNet

__all__ = [
    "Affine",
    "BatchNorm",
    "Dropout",
    "Layer",
    "MultiLayerNet",
    "ReLU",
    "Sigmoid",
    "SoftmaxWithLoss",
    "Tanh",
    "init",
    "minibatches",
    "numerical_gradient",
    "random_batches",
    "relative_error",
    "sigmoid",
    "softmax",
]
