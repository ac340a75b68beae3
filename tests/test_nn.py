"""optkern.nn and optkern.data: backward passes against finite differences, dtype and in-place
contracts, layer modes, initialisers, batching and the dataset loaders."""

from __future__ import annotations

import gzip
import math
import re
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import optkern
import pytest
from optkern import data, nn
from optkern.nn import init
from optkern.nn.gradcheck import numerical_gradient, relative_error

TOL = 1e-6  # relative error a correct float64 backward pass must stay under


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def away_from_zero(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Random values with |x| in [0.1, 1]: no finite-difference step crosses ReLU's kink."""
    g = rng(seed)
    return g.uniform(0.1, 1.0, shape) * g.choice([-1.0, 1.0], shape)


# --------------------------------------------------------------------------- layer gradients


def check_layer(layer: nn.Layer, x: np.ndarray, params: dict[str, np.ndarray]) -> None:
    """Backprop of L = Σ out·R (so ∂L/∂out = R) against finite differences, for x and params.

    ``params`` maps the layer's gradient attribute (``"dW"`` …) to the parameter array it is
    the gradient of.
    """
    out = layer.forward(x, train=True)
    weights = rng(99).standard_normal(out.shape)

    def f(_: np.ndarray) -> float:
        return float(np.sum(layer.forward(x, train=True) * weights))

    dx = layer.backward(weights.copy())
    analytic = {name: getattr(layer, name).copy() for name in params}
    assert dx.shape == x.shape
    assert relative_error(dx, numerical_gradient(f, x)) < TOL
    for name, array in params.items():
        assert analytic[name].shape == array.shape
        assert relative_error(analytic[name], numerical_gradient(f, array)) < TOL, name


@pytest.mark.parametrize("x_shape", [(4, 6), (3, 2, 3), (2, 1, 2, 3)])
def test_affine_gradient_any_input_shape(x_shape: tuple[int, ...]) -> None:
    g = rng(1)
    W = g.standard_normal((math.prod(x_shape[1:]), 5))
    b = g.standard_normal(5)
    layer = nn.Affine(W, b)
    check_layer(layer, g.standard_normal(x_shape), {"dW": W, "db": b})


@pytest.mark.parametrize("layer_type", [nn.ReLU, nn.Sigmoid, nn.Tanh])
def test_activation_gradient(layer_type: type[nn.Layer]) -> None:
    check_layer(layer_type(), away_from_zero((5, 7)) * 3, {})


@pytest.mark.parametrize("x_shape", [(6, 4), (5, 2, 3)])
def test_batchnorm_train_gradient(x_shape: tuple[int, ...]) -> None:
    g = rng(2)
    features = math.prod(x_shape[1:])
    gamma = g.uniform(0.5, 1.5, features)
    beta = g.standard_normal(features)
    layer = nn.BatchNorm(gamma, beta)
    # Shifted, scaled input: the mean and variance terms of the backward pass matter.
    x = 3 + 2 * g.standard_normal(x_shape)
    check_layer(layer, x, {"dgamma": gamma, "dbeta": beta})


def test_batchnorm_eval_gradient() -> None:
    g = rng(3)
    layer = nn.BatchNorm(g.uniform(0.5, 1.5, 4), g.standard_normal(4))
    layer.forward(g.standard_normal((8, 4)), train=True)  # non-trivial running stats
    x = g.standard_normal((5, 4))
    weights = g.standard_normal((5, 4))
    layer.forward(x, train=False)
    dx = layer.backward(weights)

    def f(_: np.ndarray) -> float:
        return float(np.sum(layer.forward(x, train=False) * weights))

    assert relative_error(dx, numerical_gradient(f, x)) < TOL


def test_dropout_gradient_with_fixed_mask() -> None:
    mask = rng(4).random((6, 5)) > 0.3
    check_layer(nn.Dropout(0.3, mask=mask), rng(5).standard_normal((6, 5)), {})


@pytest.mark.parametrize("one_hot", [False, True])
def test_softmax_with_loss_gradient(one_hot: bool) -> None:
    g = rng(6)
    x = 4 * g.standard_normal((7, 5))
    labels = g.integers(0, 5, 7)
    t = np.eye(5)[labels] if one_hot else labels
    layer = nn.SoftmaxWithLoss()
    loss = layer.forward(x, t)
    dx = layer.backward()
    assert relative_error(dx, numerical_gradient(lambda _: layer.forward(x, t), x)) < TOL
    # The loss itself: mean of −log softmax at the label, computed the direct way.
    p = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    assert loss == pytest.approx(-np.mean(np.log(p[np.arange(7), labels])), rel=1e-12)


def test_softmax_with_loss_is_stable_for_huge_scores() -> None:
    x = np.array([[1000.0, 0.0, -1000.0], [-1e4, 1e4, 0.0]], dtype=np.float32)
    layer = nn.SoftmaxWithLoss()
    loss = layer.forward(x, np.array([0, 1]))
    assert loss.dtype == np.float32
    assert loss == pytest.approx(0.0, abs=1e-6)
    assert np.all(np.isfinite(layer.backward()))


def test_sigmoid_does_not_overflow() -> None:
    x = np.array([-1e4, -100.0, 0.0, 100.0, 1e4], dtype=np.float32)
    y = nn.sigmoid(x)  # warnings are errors here: e^(1e4) must never be computed
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y[[0, 2, 4]], [0.0, 0.5, 1.0])
    # The negative branch keeps relative precision where 1 − σ(−x) would round to 0.
    tiny = nn.sigmoid(np.array([-30.0, -700.0]))
    np.testing.assert_allclose(tiny, np.exp([-30.0, -700.0]) / (1 + np.exp([-30.0, -700.0])))


# A gradient checker is only useful if it fails on wrong gradients.
def _naive_batchnorm_dx(layer: nn.BatchNorm, dout: np.ndarray) -> np.ndarray:
    """The classic bug: treating the batch mean and variance as constants in training mode."""
    return layer.gamma * dout / layer.std


@pytest.mark.parametrize(
    "corrupt",
    [
        pytest.param(lambda dx, layer, dout: dx * 1.0001, id="scaled-by-1.0001"),
        pytest.param(lambda dx, layer, dout: -dx, id="sign-flipped"),
        pytest.param(
            lambda dx, layer, dout: (
                dx + np.where(np.arange(dx.size) == 3, 1e-4, 0.0).reshape(dx.shape)
            ),
            id="one-element-off-by-1e-4",
        ),
        pytest.param(lambda dx, layer, dout: _naive_batchnorm_dx(layer, dout), id="naive-bn"),
    ],
)
def test_gradient_check_detects_wrong_gradient(corrupt: Callable) -> None:
    g = rng(7)
    layer = nn.BatchNorm(g.uniform(0.5, 1.5, 4), g.standard_normal(4))
    x = 3 + 2 * g.standard_normal((6, 4))
    dout = g.standard_normal((6, 4))
    layer.forward(x)
    dx = layer.backward(dout)

    def f(_: np.ndarray) -> float:
        return float(np.sum(layer.forward(x) * dout))

    numeric = numerical_gradient(f, x)
    assert relative_error(dx, numeric) < TOL  # the real gradient passes…
    assert relative_error(corrupt(dx, layer, dout), numeric) > TOL  # …a wrong one does not


def test_numerical_gradient_restores_x_even_if_f_raises() -> None:
    x = rng(8).standard_normal((3, 2))
    before = x.copy()
    numerical_gradient(lambda v: float(np.sum(v**3)), x)
    np.testing.assert_array_equal(x, before)

    def boom(_: np.ndarray) -> float:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        numerical_gradient(boom, x)
    np.testing.assert_array_equal(x, before)


# --------------------------------------------------------------------------- network gradients

NET_CONFIGS = {
    "relu": dict(),
    "relu-weight-decay": dict(weight_decay=0.1),
    "batchnorm": dict(use_batchnorm=True),
    "batchnorm-weight-decay-dropout": dict(use_batchnorm=True, weight_decay=0.05, dropout=0.3),
    "dropout": dict(dropout=0.5),
    "sigmoid-xavier": dict(activation="sigmoid", weight_init="xavier"),
    "tanh-std-0.5": dict(activation="tanh", weight_init=0.5, weight_decay=0.01),
}
N, D, H, C = 7, 5, (6, 4), 3


def make_net(dtype: type = np.float64, **kwargs: object) -> nn.MultiLayerNet:
    return nn.MultiLayerNet(D, H, C, dtype=dtype, seed=3, **kwargs)  # type: ignore[arg-type]


def fix_dropout_masks(net: nn.MultiLayerNet, seed: int = 0) -> None:
    """Freezes every dropout mask, so the training-mode loss is a deterministic function."""
    g = rng(seed)
    width = 0
    for layer in net.layers.values():
        if isinstance(layer, nn.Affine):
            width = layer.W.shape[1]  # a dropout layer sees the preceding Affine's outputs
        elif isinstance(layer, nn.Dropout):
            layer.set_mask(g.random((N, width)) >= layer.ratio)


def batch(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    g = rng(seed)
    return g.standard_normal((N, D)), g.integers(0, C, N)


def jitter_params(net: nn.MultiLayerNet, seed: int = 0) -> None:
    """Moves every parameter off its initial value, in place.

    Zero biases and unit γ are special points: with a dropout mask that zeroes a whole row, a
    ReLU input would sit exactly on the kink at 0, where finite differences are one-sided.
    """
    g = rng(seed)
    for param in net.params.values():
        param += 0.1 * g.standard_normal(param.shape)


def network_error(net: nn.MultiLayerNet, grads: dict, x: np.ndarray, t: np.ndarray) -> float:
    """Relative error of ``grads`` against finite differences of the training-mode loss.

    One error over all parameters together: with batch norm the gradient of the bias before it
    is exactly zero (BN subtracts the mean), so a per-array ratio would only compare
    finite-difference noise with rounding noise.
    """

    def f(_: np.ndarray) -> float:
        return float(net.loss(x, t, train=True))

    # Perturbing net.params[key] in place moves the network: the layers share the array.
    numeric = [numerical_gradient(f, net.params[key]).ravel() for key in grads]
    return relative_error(
        np.concatenate([g.ravel() for g in grads.values()]), np.concatenate(numeric)
    )


@pytest.mark.parametrize("config", NET_CONFIGS.values(), ids=NET_CONFIGS.keys())
def test_network_gradient(config: dict) -> None:
    net = make_net(**config)
    jitter_params(net)
    fix_dropout_masks(net)
    x, t = batch()
    grads = net.gradient(x, t)
    assert list(grads) == list(net.params)
    assert network_error(net, grads, x, t) < TOL


@pytest.mark.parametrize("wrong", ["no-weight-decay", "no-bias-gradient", "W2-scaled-1.0001"])
def test_network_gradient_check_detects_wrong_gradient(wrong: str) -> None:
    net = make_net(use_batchnorm=True, weight_decay=0.1)
    jitter_params(net)
    x, t = batch()
    grads = net.gradient(x, t)
    if wrong == "no-weight-decay":
        grads["W1"] -= 0.1 * net.params["W1"]
    elif wrong == "no-bias-gradient":
        grads["b3"][...] = 0
    else:
        grads["W2"] *= 1.0001
    assert network_error(net, grads, x, t) > TOL


def test_network_gradient_with_one_hot_labels_matches_indices() -> None:
    net = make_net(use_batchnorm=True)
    x, t = batch()
    by_index = net.gradient(x, t)
    by_one_hot = net.gradient(x, np.eye(C)[t])
    for key in by_index:
        np.testing.assert_allclose(by_one_hot[key], by_index[key], rtol=1e-12, atol=1e-15)


def test_loss_includes_weight_decay() -> None:
    x, t = batch()
    plain, decayed = make_net(), make_net(weight_decay=0.2)
    penalty = 0.1 * sum(np.sum(decayed.params[f"W{i}"] ** 2) for i in (1, 2, 3))
    assert decayed.loss(x, t) == pytest.approx(plain.loss(x, t) + penalty, rel=1e-12)


def test_param_layout() -> None:
    net = make_net(use_batchnorm=True)
    hidden = [f"{name}{i}" for i in (1, 2) for name in ("W", "b", "gamma", "beta")]
    assert list(net.params) == [*hidden, "W3", "b3"]  # W1 b1 gamma1 beta1 W2 … W3 b3
    assert net.params["W1"].shape == (D, H[0])
    assert net.params["W3"].shape == (H[1], C)
    assert list(make_net().params) == ["W1", "b1", "W2", "b2", "W3", "b3"]


def test_same_seed_same_network_and_dropout() -> None:
    x, t = batch()
    a, b = make_net(dropout=0.5), make_net(dropout=0.5)
    for _ in range(2):
        ga, gb = a.gradient(x, t), b.gradient(x, t)
        for key in ga:
            np.testing.assert_array_equal(ga[key], gb[key])
    # Dropout draws from its own stream: turning it on does not change the initial weights.
    for key, value in make_net().params.items():
        np.testing.assert_array_equal(value, a.params[key])


# --------------------------------------------------------------------------- dtype and in place


@pytest.mark.parametrize("config", NET_CONFIGS.values(), ids=NET_CONFIGS.keys())
def test_float32_stays_float32(config: dict) -> None:
    net = make_net(np.float32, **config)
    x, t = batch()  # float64 input: converted, not allowed to upcast the network
    for value in net.params.values():
        assert value.dtype == np.float32
    out = net.predict(x, train=True)
    assert out.dtype == np.float32
    assert net.predict(x).dtype == np.float32
    assert net.loss(x, t).dtype == np.float32
    # Every intermediate activation too.
    h = x.astype(np.float32)
    for layer in net.layers.values():
        h = layer.forward(h, train=True)
        assert h.dtype == np.float32, type(layer).__name__
    grads = net.gradient(x, t)
    for key, grad in grads.items():
        assert grad.dtype == np.float32, key
    for layer in net.layers.values():
        for name in ("dW", "db", "dgamma", "dbeta"):
            if getattr(layer, name, None) is not None:
                assert getattr(layer, name).dtype == np.float32


@pytest.mark.parametrize("config", NET_CONFIGS.values(), ids=NET_CONFIGS.keys())
def test_float16_params_compute_in_float32(config: dict) -> None:
    net = make_net(np.float32, param_dtype=np.float16, **config)
    reference = make_net(np.float32, **config)
    x, t = batch()
    for key, value in net.params.items():
        assert value.dtype == np.float16, key
        # The float32 initial weights, rounded to nearest.
        np.testing.assert_array_equal(value, reference.params[key].astype(np.float16))
    # A float32 network holding the same (rounded) values computes the very same scores, also
    # after an in-place update of a 16-bit parameter: the next forward pass sees it.
    for key, value in net.params.items():
        reference.params[key][...] = value
    before = net.predict(x)
    assert before.dtype == np.float32
    np.testing.assert_array_equal(before, reference.predict(x))
    net.params["W1"][...] = 0
    reference.params["W1"][...] = 0
    np.testing.assert_array_equal(net.predict(x), reference.predict(x))
    assert not np.array_equal(before, net.predict(x))
    grads = net.gradient(x, t)
    assert list(grads) == list(net.params)
    for key, grad in grads.items():
        assert grad.dtype == np.float32, key


def test_param_dtype_bfloat16() -> None:
    ml_dtypes = pytest.importorskip("ml_dtypes")
    net = make_net(np.float32, param_dtype="bfloat16")
    assert all(value.dtype == ml_dtypes.bfloat16 for value in net.params.values())
    optkern.SGD(lr=0.1).update(net.params, net.gradient(*batch()))
    assert all(value.dtype == ml_dtypes.bfloat16 for value in net.params.values())


@pytest.mark.parametrize(
    ("dtype", "param_dtype", "message"),
    [
        (np.float64, np.float16, "dtype must be float32, got float64"),
        (np.float32, np.float64, "param_dtype must be None, float16 or bfloat16, got float64"),
        (np.float32, "bogus", "param_dtype must be None, float16 or bfloat16, got 'bogus'"),
    ],
)
def test_bad_param_dtype(dtype: type, param_dtype: object, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        make_net(dtype, param_dtype=param_dtype)


def test_float32_layers_and_scalars() -> None:
    x = rng(9).standard_normal((4, 3)).astype(np.float32)
    layer = nn.SoftmaxWithLoss()
    layer.forward(x, np.array([0, 1, 2, 0]))
    assert layer.backward(np.float64(1.0)).dtype == np.float32  # a float64 scalar must not upcast
    for w in (init.he((3, 2), 0), init.xavier((3, 2), 0), init.normal((3, 2), 0.01, 0)):
        assert w.dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_params_and_gradients_layout(dtype: type) -> None:
    net = make_net(dtype, use_batchnorm=True, weight_decay=0.1)
    x, t = batch()
    grads = net.gradient(x, t)
    for key, param in net.params.items():
        assert param.flags.c_contiguous, key
        assert param.flags.writeable, key
        assert param.flags.owndata, key
        grad = grads[key]
        assert grad.shape == param.shape, key
        assert grad.dtype == param.dtype, key
        assert grad.flags.c_contiguous, key
        assert grad.flags.writeable, key
        assert not np.shares_memory(grad, param), key
    # A second call returns new arrays; the first result is not overwritten.
    snapshot = {k: v.copy() for k, v in grads.items()}
    net.gradient(*batch(1))
    for key in grads:
        np.testing.assert_array_equal(grads[key], snapshot[key])


def test_params_are_the_layers_arrays_and_in_place_updates_show() -> None:
    net = make_net(np.float32, use_batchnorm=True)
    x, t = batch()
    originals = dict(net.params)
    assert net.params["W1"] is net.layers["Affine1"].W  # type: ignore[attr-defined]
    assert net.params["b2"] is net.layers["Affine2"].b  # type: ignore[attr-defined]
    assert net.params["gamma1"] is net.layers["BatchNorm1"].gamma  # type: ignore[attr-defined]
    assert net.params["beta2"] is net.layers["BatchNorm2"].beta  # type: ignore[attr-defined]

    before = net.predict(x)
    grads = net.gradient(x, t)
    for key in net.params:
        net.params[key] -= 0.1 * grads[key]  # textbook-style in-place update
    after = net.predict(x)
    assert not np.allclose(before, after)
    for key, value in net.params.items():
        assert value is originals[key], key

    # The new predictions are exactly those of a fresh network given the updated values.
    twin = make_net(np.float32, use_batchnorm=True)
    for key, value in net.params.items():
        twin.params[key][...] = value
    for name, layer in net.layers.items():
        if isinstance(layer, nn.BatchNorm):
            twin_bn = twin.layers[name]
            twin_bn.running_mean[...] = layer.running_mean  # type: ignore[attr-defined]
            twin_bn.running_var[...] = layer.running_var  # type: ignore[attr-defined]
    np.testing.assert_array_equal(twin.predict(x), after)


def test_optkern_optimizer_updates_network_in_place() -> None:
    net = make_net(np.float32)
    x, t = batch()
    originals = dict(net.params)
    expected = {key: value.copy() for key, value in net.params.items()}
    grads = net.gradient(x, t)
    for key in expected:
        expected[key] -= np.float32(0.1) * grads[key]
    optkern.SGD(lr=0.1).update(net.params, grads)
    for key, value in net.params.items():
        assert value is originals[key], key
        np.testing.assert_allclose(value, expected[key], rtol=1e-6, atol=1e-7)
    assert net.layers["Affine1"].W is originals["W1"]  # type: ignore[attr-defined]


def test_network_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="dtype"):
        make_net(np.float16)
    with pytest.raises(ValueError, match="activation"):
        make_net(activation="gelu")
    with pytest.raises(ValueError, match="dropout"):
        make_net(dropout=1.0)
    with pytest.raises(ValueError, match="weight init"):
        make_net(weight_init="orthogonal")


def test_accuracy() -> None:
    net = make_net()
    x, _ = batch()
    predicted = net.predict(x).argmax(axis=1)
    wrong = (predicted + 1) % C
    assert net.accuracy(x, predicted) == 1.0
    assert net.accuracy(x, np.eye(C)[predicted]) == 1.0
    assert net.accuracy(x, wrong) == 0.0


# --------------------------------------------------------------------------- BatchNorm modes


def test_batchnorm_train_normalises_with_batch_statistics() -> None:
    g = rng(10)
    layer = nn.BatchNorm(np.ones(3), np.zeros(3))
    x = 5 + 3 * g.standard_normal((50, 3))
    out = layer.forward(x, train=True)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=0), 1, rtol=1e-6)
    # Running stats: start at (0, 1), then move 10 % (1 − momentum) towards the batch's.
    np.testing.assert_allclose(layer.running_mean, 0.1 * x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(layer.running_var, 0.9 + 0.1 * x.var(axis=0), rtol=1e-12)


def test_batchnorm_eval_uses_running_statistics() -> None:
    g = rng(11)
    gamma, beta = g.uniform(0.5, 1.5, 3), g.standard_normal(3)
    layer = nn.BatchNorm(gamma, beta, momentum=0.5)
    running_mean, running_var = layer.running_mean, layer.running_var
    x = 2 + g.standard_normal((40, 3))
    for _ in range(60):  # the running stats converge to this batch's statistics
        train_out = layer.forward(x, train=True)
    assert layer.running_mean is running_mean  # updated in place
    assert layer.running_var is running_var
    np.testing.assert_allclose(layer.running_mean, x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(layer.running_var, x.var(axis=0), rtol=1e-12)
    np.testing.assert_allclose(layer.forward(x, train=False), train_out, rtol=1e-9, atol=1e-12)

    # Evaluation: the formula with the running stats, per sample, and no update of them.
    stats = (layer.running_mean.copy(), layer.running_var.copy())
    single = 7 * g.standard_normal((1, 3))
    expected = gamma * (single - stats[0]) / np.sqrt(stats[1] + 1e-7) + beta
    np.testing.assert_allclose(layer.forward(single, train=False), expected, rtol=1e-12)
    np.testing.assert_array_equal(layer.running_mean, stats[0])
    np.testing.assert_array_equal(layer.running_var, stats[1])


def test_network_eval_mode_is_deterministic_and_differs_from_train() -> None:
    net = make_net(use_batchnorm=True, dropout=0.5)
    x, _ = batch()
    np.testing.assert_array_equal(net.predict(x), net.predict(x))
    assert not np.allclose(net.predict(x, train=True), net.predict(x))


# --------------------------------------------------------------------------- Dropout


def test_dropout_eval_is_identity() -> None:
    x = rng(12).standard_normal((4, 5))
    layer = nn.Dropout(0.5, rng=0)
    np.testing.assert_array_equal(layer.forward(x, train=False), x)
    np.testing.assert_array_equal(layer.backward(x * 2), x * 2)


@pytest.mark.parametrize("ratio", [0.0, 0.2, 0.5, 0.9])
def test_dropout_train_scaling(ratio: float) -> None:
    x = rng(13).standard_normal((4, 5))
    mask = rng(14).random((4, 5)) >= ratio
    layer = nn.Dropout(ratio)
    layer.set_mask(mask.astype(np.int8))  # 0/1 values work as well as booleans
    out = layer.forward(x)
    np.testing.assert_allclose(out, np.where(mask, x / (1 - ratio), 0.0), rtol=1e-15)
    np.testing.assert_allclose(layer.backward(x), out, rtol=1e-15)


def test_dropout_random_mask_keeps_expectation() -> None:
    layer = nn.Dropout(0.3, rng=15)
    x = np.ones((200, 500), dtype=np.float32)
    out = layer.forward(x)
    assert out.dtype == np.float32
    assert layer.mask is not None
    assert layer.mask.mean() == pytest.approx(0.7, abs=0.01)
    assert out.mean() == pytest.approx(1.0, abs=0.015)
    assert not np.array_equal(layer.forward(x), out)  # a fresh mask per call


def test_dropout_rejects_bad_ratio_and_mask_shape() -> None:
    with pytest.raises(ValueError, match="ratio"):
        nn.Dropout(1.0)
    layer = nn.Dropout(0.5, mask=np.ones((2, 2), dtype=bool))
    with pytest.raises(ValueError, match="mask"):
        layer.forward(np.ones((3, 2)))


# --------------------------------------------------------------------------- init


@pytest.mark.parametrize(
    ("make", "expected_std"),
    [
        pytest.param(lambda s: init.he(s, 0), math.sqrt(2 / 400), id="he"),
        pytest.param(lambda s: init.xavier(s, 0), math.sqrt(1 / 400), id="xavier"),
        pytest.param(lambda s: init.normal(s, 0.01, 0), 0.01, id="normal"),
        pytest.param(lambda s: init.initialize(s, "relu", 0), math.sqrt(2 / 400), id="relu"),
        pytest.param(lambda s: init.initialize(s, "Sigmoid", 0), math.sqrt(1 / 400), id="sig"),
        pytest.param(lambda s: init.initialize(s, 0.05, 0), 0.05, id="float"),
    ],
)
def test_init_std(make: Callable, expected_std: float) -> None:
    w = make((400, 300))  # 120,000 samples: the empirical std is within ~0.5 %
    assert w.shape == (400, 300)
    assert w.dtype == np.float32
    assert w.std() == pytest.approx(expected_std, rel=0.02)
    assert abs(w.mean()) < 0.02 * expected_std


def test_resolve_std_and_network_init() -> None:
    assert init.resolve_std("he", 50) == math.sqrt(2 / 50)
    assert init.resolve_std("tanh", 50) == math.sqrt(1 / 50)
    assert init.resolve_std(0.01, 50) == 0.01
    for bad in ("bogus", 0.0, -1.0, math.inf):
        with pytest.raises(ValueError, match=r"init|std"):
            init.resolve_std(bad, 50)
    with pytest.raises(TypeError):
        init.resolve_std(True, 50)  # type: ignore[arg-type]
    net = nn.MultiLayerNet(300, [200], 10, weight_init="he", seed=1)
    assert net.params["W1"].std() == pytest.approx(math.sqrt(2 / 300), rel=0.03)
    assert net.params["W2"].std() == pytest.approx(math.sqrt(2 / 200), rel=0.1)
    assert not net.params["b1"].any()


def test_init_same_weights_for_both_dtypes() -> None:
    w64 = init.he((5, 4), 7, dtype=np.float64)
    np.testing.assert_array_equal(init.he((5, 4), 7, dtype=np.float32), w64.astype(np.float32))


# --------------------------------------------------------------------------- batches


def paired_data(n: int = 23) -> tuple[np.ndarray, np.ndarray]:
    x = np.arange(n * 2, dtype=np.float32).reshape(n, 2)  # row i is (2i, 2i + 1)
    return x, np.arange(n) * 10  # label of row i is 10·i


def assert_paired(xb: np.ndarray, tb: np.ndarray) -> None:
    np.testing.assert_array_equal(xb[:, 0] * 5, tb)


def test_minibatches_cover_each_sample_once() -> None:
    x, t = paired_data(23)
    batches = list(nn.minibatches(x, t, 5, rng=0))
    assert [len(tb) for _, tb in batches] == [5, 5, 5, 5, 3]
    for xb, tb in batches:
        assert_paired(xb, tb)
    seen = np.concatenate([tb for _, tb in batches])
    np.testing.assert_array_equal(np.sort(seen), t)
    assert not np.array_equal(seen, t)  # shuffled


def test_minibatches_deterministic_given_seed() -> None:
    x, t = paired_data()
    first = [tb for _, tb in nn.minibatches(x, t, 4, rng=1)]
    again = [tb for _, tb in nn.minibatches(x, t, 4, rng=1)]
    other = [tb for _, tb in nn.minibatches(x, t, 4, rng=2)]
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))
    # A shared Generator advances: the next epoch comes in a new order.
    g = np.random.default_rng(3)
    epoch1 = np.concatenate([tb for _, tb in nn.minibatches(x, t, 4, g)])
    epoch2 = np.concatenate([tb for _, tb in nn.minibatches(x, t, 4, g)])
    assert not np.array_equal(epoch1, epoch2)


@pytest.mark.parametrize("iterations", [0, 1, 4, 5, 17])
def test_random_batches_exact_count_and_epochs(iterations: int) -> None:
    x, t = paired_data(23)  # 4 full batches of 5 per epoch, 3 leftovers dropped
    batches = list(nn.random_batches(x, t, 5, iterations, seed=0))
    assert len(batches) == iterations
    for xb, tb in batches:
        assert len(tb) == 5
        assert_paired(xb, tb)
    for start in range(0, iterations, 4):  # no sample repeats within an epoch
        epoch = np.concatenate([tb for _, tb in batches[start : start + 4]])
        assert len(np.unique(epoch)) == len(epoch)
    again = list(nn.random_batches(x, t, 5, iterations, seed=0))
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(batches, again, strict=True))


def test_batches_reject_bad_arguments() -> None:
    x, t = paired_data(5)
    with pytest.raises(ValueError, match="same number"):
        next(nn.minibatches(x, t[:4], 2, 0))
    with pytest.raises(ValueError, match="positive"):
        next(nn.minibatches(x, t, 0, 0))
    with pytest.raises(ValueError, match="exceeds"):
        next(nn.random_batches(x, t, 6, 1, 0))
    with pytest.raises(ValueError, match="iterations"):
        next(nn.random_batches(x, t, 2, -1, 0))


# --------------------------------------------------------------------------- load_digits


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_load_digits(dtype: type) -> None:
    pytest.importorskip("sklearn")
    x_train, t_train, x_test, t_test = data.load_digits(dtype=dtype)
    assert len(x_train) + len(x_test) == 1797
    assert len(x_test) == math.ceil(0.25 * 1797)
    assert x_train.shape[1:] == x_test.shape[1:] == (64,)
    assert x_train.dtype == x_test.dtype == dtype
    assert t_train.dtype == t_test.dtype == np.int64
    assert x_train.flags.c_contiguous
    assert x_test.flags.c_contiguous
    assert x_train.min() == 0.0
    assert x_train.max() == 1.0
    assert 0.0 <= x_test.min() <= x_test.max() <= 1.0
    # Stratified: each class's share of the test set matches its share overall (±1 sample).
    counts = np.bincount(np.concatenate([t_train, t_test]), minlength=10)
    assert np.all(np.abs(np.bincount(t_test, minlength=10) - counts * 0.25) <= 1)
    again = data.load_digits(dtype=dtype)
    np.testing.assert_array_equal(again[3], t_test)
    assert not np.array_equal(data.load_digits(seed=1, dtype=dtype)[3], t_test)


def test_load_digits_without_sklearn_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sklearn", None)  # makes `import sklearn…` fail
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r'pip install "optkern\[examples\]"'):
        data.load_digits()


# --------------------------------------------------------------------------- load_mnist

MNIST_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    """An IDX file: big-endian magic, big-endian uint32 dims, then the uint8 data."""
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_mnist(directory: Path, gz: bool | str, n_train: int = 5, n_test: int = 3) -> dict:
    """Tiny 3×4 'MNIST' in ``directory``: gz True, False, or "mixed" (alternate per file)."""
    g = rng(16)
    arrays = {
        "train_images": g.integers(0, 256, (n_train, 3, 4), dtype=np.uint8),
        "train_labels": g.integers(0, 10, n_train, dtype=np.uint8),
        "test_images": g.integers(0, 256, (n_test, 3, 4), dtype=np.uint8),
        "test_labels": g.integers(0, 10, n_test, dtype=np.uint8),
    }
    directory.mkdir(exist_ok=True)
    for i, (key, array) in enumerate(arrays.items()):
        payload = idx_bytes(array, 2051 if array.ndim == 3 else 2049)
        compress = gz if isinstance(gz, bool) else i % 2 == 0
        if compress:
            (directory / f"{MNIST_NAMES[key]}.gz").write_bytes(gzip.compress(payload))
        else:
            (directory / MNIST_NAMES[key]).write_bytes(payload)
    return arrays


@pytest.mark.parametrize("gz", [False, True, "mixed"])
def test_load_mnist(tmp_path: Path, gz: bool | str) -> None:
    arrays = write_mnist(tmp_path, gz)
    x_train, t_train, x_test, t_test = data.load_mnist(tmp_path)
    assert x_train.shape == (5, 12)
    assert x_test.shape == (3, 12)
    assert x_train.dtype == np.float32
    assert t_train.dtype == np.int64
    np.testing.assert_allclose(x_train, arrays["train_images"].reshape(5, 12) / 255, rtol=1e-6)
    np.testing.assert_array_equal(t_train, arrays["train_labels"])
    np.testing.assert_array_equal(t_test, arrays["test_labels"])
    raw = data.load_mnist(str(tmp_path), dtype=np.float64, normalize=False, flatten=False)
    assert raw[0].shape == (5, 1, 3, 4)
    assert raw[0].dtype == np.float64
    np.testing.assert_array_equal(raw[2][:, 0], arrays["test_images"])


def test_load_mnist_missing_directory(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    with pytest.raises(FileNotFoundError, match="no-such-dir"):
        data.load_mnist(missing)


def test_load_mnist_missing_file_is_named(tmp_path: Path) -> None:
    write_mnist(tmp_path, gz=True)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError) as info:
        data.load_mnist(tmp_path)
    message = str(info.value)
    assert "t10k-labels-idx1-ubyte" in message
    assert str(tmp_path) in message
    assert "train-images" not in message


def test_load_mnist_bad_magic_number(tmp_path: Path) -> None:
    arrays = write_mnist(tmp_path, gz=False)
    # Labels written where images belong: magic 2049 instead of 2051.
    (tmp_path / MNIST_NAMES["train_images"]).write_bytes(idx_bytes(arrays["train_labels"], 2049))
    with pytest.raises(ValueError, match=r"magic number 2049 .*expected 2051"):
        data.load_mnist(tmp_path)


def test_load_mnist_truncated_and_mismatched_files(tmp_path: Path) -> None:
    write_mnist(tmp_path, gz=False)
    path = tmp_path / MNIST_NAMES["test_images"]
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(ValueError, match="holds"):
        data.load_mnist(tmp_path)
    write_mnist(tmp_path, gz=False, n_test=4)
    labels = rng(17).integers(0, 10, 2, dtype=np.uint8)
    (tmp_path / MNIST_NAMES["test_labels"]).write_bytes(idx_bytes(labels, 2049))
    with pytest.raises(ValueError, match="4 images but 2 labels"):
        data.load_mnist(tmp_path)
