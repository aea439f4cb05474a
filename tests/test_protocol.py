"""One protocol for every layer: nested models and a new activation work everywhere unchanged.

``Tanh`` below is written here, in the test, on purpose: a layer that no module of the package
knows must train with ``fit``, be counted by ``model_flops`` and be checked by ``check_layer``.
"""

from __future__ import annotations

import numpy as np
import pytest

from scratchcnn import col2im as top_col2im
from scratchcnn import im2col as top_im2col
from scratchcnn import naive
from scratchcnn.gradcheck import check_layer, rel_error
from scratchcnn.layers import (
    Affine,
    Conv2D,
    Dropout,
    Elementwise,
    Flatten,
    Layer,
    Loss,
    MaxPool2D,
    ReLU,
    Sequential,
    SoftmaxCrossEntropy,
    col2im,
    im2col,
)
from scratchcnn.models import book_model
from scratchcnn.optim import SGD
from scratchcnn.perf import model_flops
from scratchcnn.train import evaluate, fit

GRAD_TOL = 1e-7


class Tanh(Elementwise):
    """tanh(x), gradient 1 - tanh(x)^2: a layer the package has never heard of."""

    forward_flops = 5
    backward_flops = 3

    def forward(self, x):
        self._t = np.tanh(x)
        return self._t

    def backward(self, dout, input_grad=True):
        return dout * (1 - self._t**2) if input_grad else None


def small_cnn(rng, dtype=np.float64, activation=ReLU):
    return Sequential(
        [
            Conv2D(1, 2, 3, padding=1, rng=rng, dtype=dtype),
            activation(),
            MaxPool2D(2),
            Flatten(),
            Affine(2 * 4 * 4, 3, rng=rng, dtype=dtype),
        ]
    )


def nested(rng, dtype=np.float64):
    """A model inside a model inside a model: features, then a head that is itself nested."""
    features = Sequential([Conv2D(1, 2, 3, padding=1, rng=rng, dtype=dtype), Tanh(), MaxPool2D(2)])
    head = Sequential(
        [
            Flatten(),
            Sequential([Affine(2 * 4 * 4, 5, rng=rng, dtype=dtype), ReLU()]),
            Affine(5, 3, rng=rng, dtype=dtype),
        ]
    )
    return Sequential([features, head])


def assert_grads_ok(errors):
    bad = {k: v for k, v in errors.items() if not v < GRAD_TOL}
    assert not bad, f"relative errors above {GRAD_TOL}: {bad}"


def toy_data(n=60, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.standard_normal((n, 1, 8, 8)) * 0.3
    X[np.arange(n), 0, 2 * y + 1, 2 * y + 1] += 2.0  # each class lights up its own pixel
    return X.astype(dtype), y


# ----------------------------------------------------------------------------- the protocol


def test_every_layer_and_the_model_is_a_layer_with_the_whole_protocol():
    model = book_model(rng=0)
    assert isinstance(model, Layer)
    for layer in model.layers + [model, Dropout(0.5, rng=0), Tanh()]:
        for name in ("forward", "backward", "output_shape", "flops", "train", "eval"):
            assert callable(getattr(layer, name)), (layer, name)
        assert isinstance(layer.params, dict) and layer.params.keys() == layer.grads.keys()
    assert isinstance(SoftmaxCrossEntropy(), Loss) and not isinstance(SoftmaxCrossEntropy(), Layer)


def test_params_read_as_a_dict_or_called_as_before():
    model = book_model(rng=0)
    assert model.params() is not None and model.params().keys() == model.params.keys()
    assert model.params()["0.W"] is model.layers[0].params["W"]  # the layers' own arrays
    conv = model.layers[0]
    assert conv.params() is conv.params and conv.grads().keys() == {"W", "b"}
    with pytest.raises(AttributeError, match="built from its layers"):
        model.params = {}


def test_output_shape_of_every_layer_and_the_model():
    model = book_model(rng=0)
    assert model.output_shape((5, 1, 28, 28)) == (5, 10)
    assert (
        model.output_shape((5, 1, 28, 28))
        == model.forward(np.zeros((5, 1, 28, 28), np.float32)).shape
    )
    assert Flatten().output_shape((2, 3, 4, 5)) == (2, 60)
    assert Tanh().output_shape((2, 7)) == (2, 7)


def test_train_and_eval_reach_every_nested_layer():
    drop = Dropout(0.5, rng=0)
    model = Sequential([Sequential([Affine(4, 4, rng=0), drop]), ReLU()])
    assert model.eval() is model
    assert not model.training and not model.layers[0].training and not drop.training
    model.train()
    assert model.training and drop.training


def test_a_layer_without_flops_is_refused_with_advice():
    class Mystery(Layer):
        def forward(self, x):
            return x

    with pytest.raises(TypeError, match="Mystery.*flops"):
        model_flops([Mystery()], (4,))


# ---------------------------------------------------------------------------- nested models


def test_nested_sequential_names_parameters_recursively():
    model = nested(0)
    assert set(model.params()) == {"0.0.W", "0.0.b", "1.1.0.W", "1.1.0.b", "1.2.W", "1.2.b"}
    assert model.params().keys() == model.grads().keys()
    assert model.dtype == np.float64
    assert model.astype(np.float32).dtype == np.float32
    assert all(v.dtype == np.float32 for v in model.params().values())


def test_nested_sequential_gradient_check():
    rng = np.random.default_rng(3)
    model = nested(rng)
    for v in model.params().values():
        v[...] = rng.standard_normal(v.shape) * 0.5  # biases too: zeros would hide bias bugs
    errors = check_layer(model, rng.standard_normal((2, 1, 8, 8)))
    assert set(errors) == {"x", *model.params()}
    assert_grads_ok(errors)


def test_nested_sequential_in_model_flops_equals_the_flat_model():
    rng = np.random.default_rng(0)
    inner = Sequential([Conv2D(1, 8, 3, rng=rng), ReLU()])
    nest = Sequential(
        [inner, Sequential([MaxPool2D(2), Flatten()]), Affine(8 * 13 * 13, 10, rng=rng)]
    )
    flat = book_model(rng=0)
    a, b = model_flops(nest, (1, 28, 28)), model_flops(flat, (1, 28, 28))
    assert (a.forward, a.backward) == (b.forward, b.backward) == (133_848, 167_658)
    assert [r.name.split(" ", 1)[1] for r in a.layers] == [r.name for r in b.layers]
    assert [r.name.split(" ", 1)[0] for r in a.layers] == ["0.0", "0.1", "1.0", "1.1", "2"]
    assert nest.flops((1, 1, 28, 28), input_grad=False) == (a.forward, a.backward)


def test_nested_sequential_trains_with_fit_and_evaluate():
    X, y = toy_data()
    model = nested(np.random.default_rng(1))
    before = evaluate(model, X, y)[0]
    history = fit(
        model,
        X,
        y,
        epochs=15,
        batch_size=10,
        optimizer=SGD(0.1, momentum=0.9),
        rng=0,
        progress=False,
    )
    loss, acc = evaluate(model, X, y)
    assert loss < before / 2 and acc > 0.9 and history.epochs == 15


# ------------------------------------------------------------------ a new activation: Tanh


def test_tanh_written_outside_the_package_passes_check_layer():
    rng = np.random.default_rng(5)
    assert_grads_ok(check_layer(Tanh(), rng.standard_normal((3, 4))))
    assert_grads_ok(check_layer(small_cnn(rng, activation=Tanh), rng.standard_normal((2, 1, 8, 8))))


def test_tanh_written_outside_the_package_is_counted_by_model_flops():
    count = model_flops(small_cnn(0, np.float32, activation=Tanh), (1, 8, 8))
    tanh = count.layers[1]
    assert tanh.name == "Tanh()" and tanh.output_shape == (2, 8, 8)
    assert (tanh.forward, tanh.backward) == (5 * 128, 3 * 128)


def test_tanh_written_outside_the_package_trains_with_fit():
    X, y = toy_data()
    model = small_cnn(np.random.default_rng(2), activation=Tanh)
    fit(
        model,
        X,
        y,
        epochs=15,
        batch_size=10,
        optimizer=SGD(0.1, momentum=0.9),
        rng=0,
        progress=False,
    )
    assert evaluate(model, X, y)[1] > 0.9


# --------------------------------------------------------------------------- im2col, col2im


def test_im2col_and_col2im_are_exported_from_the_package():
    assert top_im2col is im2col and top_col2im is col2im


@pytest.mark.parametrize(
    "k, s, p", [(3, 1, 0), (3, 1, 1), (3, 2, 1), (2, 2, 0), (5, 3, 2), (1, 1, 0)]
)
def test_im2col_layout_and_convolution_as_one_product(k, s, p):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 7, 8))  # (N, C, H, W)
    W, b = rng.standard_normal((4, 3, k, k)), rng.standard_normal(4)
    cols = im2col(x, k, s, p)
    ho, wo = (7 + 2 * p - k) // s + 1, (8 + 2 * p - k) // s + 1
    assert cols.shape == (3 * k * k, 2 * ho * wo) and cols.dtype == x.dtype
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    # row (c, q, r), column (n, i, j) holds x_padded[n, c, i*s + q, j*s + r]
    c, q, r, n, i, j = 2, k - 1, 0, 1, ho - 1, wo // 2
    assert cols[(c * k + q) * k + r, (n * ho + i) * wo + j] == xp[n, c, i * s + q, j * s + r]
    out = (W.reshape(4, -1) @ cols + b[:, None]).reshape(4, 2, ho, wo).transpose(1, 0, 2, 3)
    np.testing.assert_allclose(
        out, naive.conv_forward_naive(x, W, b, stride=s, padding=p), atol=1e-12
    )


@pytest.mark.parametrize("k, s, p", [(3, 1, 0), (3, 2, 1), (2, 3, 0), (5, 1, 2)])
def test_col2im_is_the_adjoint_of_im2col_and_the_convolution_input_gradient(k, s, p):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 2, 8, 7))
    cols = rng.standard_normal(im2col(x, k, s, p).shape)
    # <im2col(x), cols> == <x, col2im(cols)>: col2im adds every entry back where it was read
    np.testing.assert_allclose(
        np.sum(im2col(x, k, s, p) * cols), np.sum(x * col2im(cols, x.shape, k, s, p))
    )
    W = rng.standard_normal((3, 2, k, k))
    conv = Conv2D(2, 3, k, stride=s, padding=p, rng=0, dtype=np.float64)
    conv.params["W"][...] = W
    dout = rng.standard_normal(conv.forward(x).shape)
    dx_naive = naive.conv_backward_naive(dout, x, W, stride=s, padding=p)[0]
    d2 = dout.transpose(1, 0, 2, 3).reshape(3, -1)  # (C_out, N*H_out*W_out)
    dx = col2im(W.reshape(3, -1).T @ d2, x.shape, k, s, p)  # (N, C, H, W)
    assert rel_error(dx, dx_naive) < 1e-12 and rel_error(conv.backward(dout), dx_naive) < 1e-12


def test_im2col_and_col2im_refuse_wrong_shapes():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        im2col(np.zeros((3, 4, 4)), 2)
    with pytest.raises(ValueError, match=r"C\*K\*K"):
        col2im(np.zeros((4, 8)), (1, 1, 4, 4), 2)
