"""The layers: gradients against finite differences, vectorized against naive, bad input refused."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import correlate2d

from scratchcnn import naive
from scratchcnn.gradcheck import check_layer, numerical_gradient, rel_error
from scratchcnn.layers import (
    Affine,
    Conv2D,
    Flatten,
    MaxPool2D,
    ReLU,
    Sequential,
    Sigmoid,
    SoftmaxCrossEntropy,
    conv_output_size,
    softmax,
)
from scratchcnn.models import book_model

GRAD_TOL = 1e-7
NAIVE_TOL = 1e-10


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def conv64(rng, c_in, c_out, k, stride=1, padding=0):
    layer = Conv2D(c_in, c_out, k, stride=stride, padding=padding, rng=rng, dtype=np.float64)
    layer.params["b"][:] = rng.standard_normal(c_out)  # a zero bias would hide bias bugs
    return layer


def assert_grads_ok(errors: dict[str, float]) -> None:
    bad = {k: v for k, v in errors.items() if not v < GRAD_TOL}
    assert not bad, f"relative errors above {GRAD_TOL}: {bad} (all: {errors})"


# ---------------------------------------------------------------- gradient checks (float64)


@pytest.mark.parametrize(
    "c_in, c_out, k, stride, padding, size",
    [
        (1, 3, 3, 1, 0, (7, 7)),
        (2, 3, 3, 1, 1, (6, 5)),
        (3, 2, 3, 2, 0, (7, 8)),
        (3, 4, 3, 2, 1, (8, 7)),
        (2, 2, 5, 3, 2, (9, 9)),
        (4, 3, 2, 1, 0, (5, 6)),
    ],
)
def test_conv_gradients(rng, c_in, c_out, k, stride, padding, size):
    layer = conv64(rng, c_in, c_out, k, stride, padding)
    assert_grads_ok(check_layer(layer, rng.standard_normal((2, c_in, *size))))


@pytest.mark.parametrize(
    "k, stride, size",
    [(2, None, (6, 8)), (2, 2, (7, 7)), (3, 2, (7, 9)), (3, 1, (5, 6)), (2, 1, (4, 4))],
)
def test_maxpool_gradients(rng, k, stride, size):
    # continuous random inputs: no ties, so the function is differentiable at x
    assert_grads_ok(check_layer(MaxPool2D(k, stride), rng.standard_normal((2, 3, *size))))


def test_affine_gradients(rng):
    layer = Affine(7, 5, rng=rng, dtype=np.float64)
    layer.params["b"][:] = rng.standard_normal(5)
    assert_grads_ok(check_layer(layer, rng.standard_normal((4, 7))))


@pytest.mark.parametrize("layer_type", [ReLU, Sigmoid, Flatten])
def test_parameterless_gradients(rng, layer_type):
    assert_grads_ok(check_layer(layer_type(), rng.standard_normal((3, 2, 4, 5))))


def test_softmax_cross_entropy_gradient(rng):
    logits = rng.standard_normal((6, 10)) * 3
    labels = rng.integers(0, 10, size=6)
    assert_grads_ok(check_layer(SoftmaxCrossEntropy(), logits, labels=labels))


@pytest.mark.slow
def test_whole_model_gradients(rng):
    model = book_model(rng=0, dtype=np.float64)
    model.layers[0].params["b"][:] = rng.standard_normal(8) * 0.1
    assert_grads_ok(check_layer(model, rng.standard_normal((2, 1, 28, 28))))


def test_whole_model_with_loss_gradients(rng):
    """Loss of the whole network w.r.t. every parameter, as training uses it."""
    model = Sequential(
        [
            conv64(rng, 1, 2, 3, padding=1),
            ReLU(),
            MaxPool2D(2),
            Flatten(),
            Affine(2 * 4 * 4, 3, rng=rng, dtype=np.float64),
        ]
    )
    x, y = rng.standard_normal((3, 1, 8, 8)), np.array([0, 2, 1])
    loss = SoftmaxCrossEntropy()
    loss.forward(model.forward(x), y)
    model.backward(loss.backward())
    for name, param in model.params().items():
        numeric = numerical_gradient(lambda _: loss.forward(model.forward(x), y), param)
        assert rel_error(model.grads()[name], numeric) < GRAD_TOL, name


def test_gradient_check_catches_a_wrong_backward(rng):
    """The checker itself must be able to fail."""

    class DoubledReLU(ReLU):
        def backward(self, dout, input_grad=True):
            return 2 * super().backward(dout)

    assert check_layer(DoubledReLU(), rng.standard_normal((2, 3)))["x"] > 0.1


# ---------------------------------------------------------------- naive vs vectorized


@pytest.mark.parametrize(
    "c_in, c_out, k, stride, padding",
    [(1, 8, 3, 1, 0), (3, 4, 3, 2, 1), (2, 3, 5, 2, 2), (2, 2, 3, 1, 2), (3, 2, 4, 3, 0)],
)
def test_conv_matches_naive(rng, c_in, c_out, k, stride, padding):
    layer = conv64(rng, c_in, c_out, k, stride, padding)
    x = rng.standard_normal((3, c_in, 9, 10))
    out = layer.forward(x)
    W, b = layer.params["W"], layer.params["b"]
    assert np.max(np.abs(out - naive.conv_forward_naive(x, W, b, stride, padding))) < NAIVE_TOL
    dout = rng.standard_normal(out.shape)
    dx = layer.backward(dout)
    ndx, ndW, ndb = naive.conv_backward_naive(dout, x, W, stride, padding)
    for name, a, b_ in [
        ("dx", dx, ndx),
        ("dW", layer.grads["W"], ndW),
        ("db", layer.grads["b"], ndb),
    ]:
        assert np.max(np.abs(a - b_)) < NAIVE_TOL, name


def test_conv_is_cross_correlation_like_scipy(rng):
    layer = conv64(rng, 3, 2, 3)
    x = rng.standard_normal((2, 3, 8, 9))
    out = layer.forward(x)
    W, b = layer.params["W"], layer.params["b"]
    for n in range(2):
        for f in range(2):
            expected = sum(correlate2d(x[n, c], W[f, c], mode="valid") for c in range(3)) + b[f]
            np.testing.assert_allclose(out[n, f], expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("k, stride", [(2, 2), (3, 2), (2, 1), (3, 3)])
def test_maxpool_matches_naive(rng, k, stride):
    x = rng.standard_normal((2, 3, 9, 8))
    layer = MaxPool2D(k, stride)
    out = layer.forward(x)
    np.testing.assert_array_equal(out, naive.maxpool_forward_naive(x, k, stride))
    dout = rng.standard_normal(out.shape)
    np.testing.assert_allclose(
        layer.backward(dout),
        naive.maxpool_backward_naive(dout, x, k, stride),
        rtol=0,
        atol=NAIVE_TOL,
    )


def test_affine_matches_naive(rng):
    layer = Affine(6, 4, rng=rng, dtype=np.float64)
    layer.params["b"][:] = rng.standard_normal(4)
    x = rng.standard_normal((5, 6))
    out = layer.forward(x)
    assert (
        np.max(np.abs(out - naive.affine_forward_naive(x, layer.params["W"], layer.params["b"])))
        < NAIVE_TOL
    )
    dout = rng.standard_normal(out.shape)
    dx = layer.backward(dout)
    ndx, ndW, ndb = naive.affine_backward_naive(dout, x, layer.params["W"])
    for a, b_ in [(dx, ndx), (layer.grads["W"], ndW), (layer.grads["b"], ndb)]:
        assert np.max(np.abs(a - b_)) < NAIVE_TOL


def test_relu_and_softmax_match_naive(rng):
    x = rng.standard_normal((4, 5))
    relu = ReLU()
    np.testing.assert_array_equal(relu.forward(x), naive.relu_forward_naive(x))
    dout = rng.standard_normal(x.shape)
    np.testing.assert_array_equal(relu.backward(dout), naive.relu_backward_naive(dout, x))
    for row in x:
        assert np.max(np.abs(softmax(row) - naive.softmax_naive(row))) < NAIVE_TOL
    labels = rng.integers(0, 5, size=4)
    loss_fn = SoftmaxCrossEntropy()
    loss = loss_fn.forward(x, labels)
    nloss, ndlogits = naive.softmax_cross_entropy_naive(x, labels)
    assert abs(loss - nloss) < NAIVE_TOL
    assert np.max(np.abs(loss_fn.backward() - ndlogits)) < NAIVE_TOL


def test_float32_is_the_default_and_close_to_float64(rng):
    layer = Conv2D(2, 3, 3, rng=0)
    assert layer.params["W"].dtype == np.float32
    x = rng.standard_normal((2, 2, 6, 6)).astype(np.float32)
    out32 = layer.forward(x)
    assert out32.dtype == np.float32
    layer64 = Conv2D(2, 3, 3, rng=0).astype(np.float64)
    np.testing.assert_allclose(out32, layer64.forward(x.astype(np.float64)), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- numerics and rules


def test_softmax_and_loss_stay_finite_for_huge_logits():
    logits = np.array([[1e4, 0.0, -1e4], [-1e4, -1e4, 1e4], [1e4, 1e4, 1e4]])
    p = softmax(logits)
    assert np.all(np.isfinite(p))
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_allclose(p[2], [1 / 3] * 3)
    loss_fn = SoftmaxCrossEntropy()
    loss = loss_fn.forward(logits, np.array([1, 2, 0]))
    assert np.isfinite(loss)
    assert loss == pytest.approx((1e4 + 0 + np.log(3)) / 3)
    assert np.all(np.isfinite(loss_fn.backward()))
    nloss, _ = naive.softmax_cross_entropy_naive(logits, np.array([1, 2, 0]))
    assert nloss == pytest.approx(loss)


def test_maxpool_ties_go_to_the_first_maximum_only():
    x = np.zeros((1, 1, 4, 4))  # every 2x2 window is a four-way tie, like MNIST's background
    x[0, 0, 2:, 2:] = [[5.0, 5.0], [1.0, 5.0]]  # a three-way tie at a non-zero value
    layer = MaxPool2D(2)
    layer.forward(x)
    dx = layer.backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    expected = np.array([[1, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]], dtype=float)
    np.testing.assert_array_equal(dx[0, 0], expected)
    np.testing.assert_array_equal(
        dx, naive.maxpool_backward_naive(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), x, 2)
    )
    assert dx.sum() == 10.0  # each window passes on its gradient exactly once


def test_maxpool_overlapping_ties_accumulate_once_per_window():
    x = np.zeros((1, 1, 3, 3))
    layer = MaxPool2D(2, stride=1)
    layer.forward(x)
    dx = layer.backward(np.ones((1, 1, 2, 2)))
    np.testing.assert_array_equal(dx[0, 0], [[1, 1, 0], [1, 1, 0], [0, 0, 0]])


def test_initialisation_scales(rng):
    conv = Conv2D(4, 64, 3, rng=0)
    assert conv.params["W"].std() == pytest.approx(np.sqrt(2 / 36), rel=0.05)
    conv = Conv2D(4, 64, 3, rng=0, init="lecun")
    assert conv.params["W"].std() == pytest.approx(np.sqrt(1 / 36), rel=0.05)
    aff = Affine(1352, 10, rng=0)
    assert aff.params["W"].std() == pytest.approx(np.sqrt(1 / 1352), rel=0.05)
    assert not aff.params["b"].any() and not conv.params["b"].any()


def test_same_seed_same_model():
    a, b = book_model(rng=7), book_model(rng=7)
    for name, value in a.params().items():
        np.testing.assert_array_equal(value, b.params()[name])
    assert not np.array_equal(book_model(rng=8).params()["0.W"], a.params()["0.W"])


def test_sequential_helpers(rng):
    model = book_model(rng=0)
    assert set(model.params()) == {"0.W", "0.b", "4.W", "4.b"}
    assert model.params().keys() == model.grads().keys()
    summary = model.summary((1, 1, 28, 28))
    assert "(1, 8, 26, 26)" in summary and "(1, 1352)" in summary and "13,610" in summary
    x = rng.random((5, 1, 28, 28), dtype=np.float32)
    pred = model.predict(x, batch_size=2)
    np.testing.assert_array_equal(pred, model.forward(x).argmax(axis=1))
    assert model.backward(np.ones((5, 10), np.float32), input_grad=False) is None


def test_conv_output_size_formula():
    assert conv_output_size(28, 3) == 26
    assert conv_output_size(28, 3, stride=1, padding=1) == 28
    assert conv_output_size(7, 3, stride=2, padding=1) == 4
    assert conv_output_size(5, 5) == 1


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 3),
    c_in=st.integers(1, 3),
    c_out=st.integers(1, 4),
    k=st.integers(1, 5),
    stride=st.integers(1, 3),
    padding=st.integers(0, 2),
    h=st.integers(1, 12),
    w=st.integers(1, 12),
)
def test_conv_output_shapes_property(n, c_in, c_out, k, stride, padding, h, w):
    layer = Conv2D(c_in, c_out, k, stride=stride, padding=padding, rng=0, dtype=np.float64)
    x = np.ones((n, c_in, h, w))
    if h + 2 * padding < k or w + 2 * padding < k:
        with pytest.raises(ValueError, match=r"O = \(W - K \+ 2P\) / S \+ 1"):
            layer.forward(x)
        return
    out = layer.forward(x)
    assert out.shape == (
        n,
        c_out,
        (h + 2 * padding - k) // stride + 1,
        (w + 2 * padding - k) // stride + 1,
    )
    assert layer.backward(np.ones(out.shape)).shape == x.shape


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 3),
    c=st.integers(1, 3),
    k=st.integers(1, 4),
    stride=st.integers(1, 4),
    h=st.integers(1, 12),
    w=st.integers(1, 12),
)
def test_maxpool_output_shapes_property(n, c, k, stride, h, w):
    layer = MaxPool2D(k, stride)
    x = np.arange(n * c * h * w, dtype=np.float64).reshape(n, c, h, w)
    if h < k or w < k:
        with pytest.raises(ValueError, match="does not fit"):
            layer.forward(x)
        return
    out = layer.forward(x)
    assert out.shape == (n, c, (h - k) // stride + 1, (w - k) // stride + 1)
    dx = layer.backward(np.ones(out.shape))
    assert dx.shape == x.shape and dx.sum() == out.size  # every window routes exactly once


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "make, x, error, words",
    [
        (
            lambda: Conv2D(1, 8, 3),
            np.zeros((28, 28), np.float32),
            ValueError,
            r"Conv2D expected input \(N, 1, H, W\), got shape \(28, 28\)",
        ),
        (
            lambda: Conv2D(1, 8, 3),
            np.zeros((2, 3, 28, 28), np.float32),
            ValueError,
            r"expected input \(N, 1, H, W\), got shape \(2, 3, 28, 28\)",
        ),
        (
            lambda: Conv2D(1, 8, 3),
            np.zeros((2, 1, 28, 28), np.uint8),
            TypeError,
            "float32 or float64.*uint8.*scale",
        ),
        (
            lambda: Conv2D(1, 8, 3),
            np.zeros((2, 1, 28, 28), np.float64),
            TypeError,
            "float32 parameters but got float64",
        ),
        (lambda: Conv2D(1, 8, 3), [[1.0]], TypeError, "NumPy array"),
        (
            lambda: Conv2D(1, 8, 5, padding=1),
            np.zeros((1, 1, 2, 2), np.float32),
            ValueError,
            r"does not fit.*O = \(W - K \+ 2P\) / S \+ 1",
        ),
        (
            lambda: Affine(1352, 10),
            np.zeros((4, 8, 13, 13), np.float32),
            ValueError,
            r"Affine expected input \(N, 1352\)",
        ),
        (
            lambda: Affine(1352, 10),
            np.zeros((4, 100), np.float32),
            ValueError,
            r"got shape \(4, 100\)",
        ),
        (lambda: MaxPool2D(2), np.zeros((4, 4), np.float32), ValueError, r"\(N, C, H, W\)"),
        (lambda: MaxPool2D(3), np.zeros((1, 1, 2, 2), np.float32), ValueError, "does not fit"),
        (lambda: Flatten(), np.zeros(3), ValueError, "at least 2 axes"),
    ],
)
def test_bad_input_is_refused_clearly(make, x, error, words):
    with pytest.raises(error, match=words):
        make().forward(x)


def test_nan_input_is_refused():
    x = np.zeros((2, 1, 6, 6), np.float32)
    x[1, 0, 2, 3] = np.nan
    with pytest.raises(ValueError, match="1 NaN or infinite"):
        Conv2D(1, 2, 3).forward(x)
    with pytest.raises(ValueError, match="NaN"):
        softmax(np.array([1.0, np.nan]))


@pytest.mark.parametrize(
    "logits, labels, error, words",
    [
        (np.zeros((3, 10)), np.array([1, 2]), ValueError, r"labels of shape \(3,\)"),
        (np.zeros((2, 10)), np.array([1.0, 2.0]), TypeError, "integer class labels"),
        (np.zeros((2, 10)), np.array([1, 10]), ValueError, r"\[0, 10\)"),
    ],
)
def test_bad_labels_are_refused(logits, labels, error, words):
    with pytest.raises(error, match=words):
        SoftmaxCrossEntropy().forward(logits, labels)


def test_bad_constructor_arguments_and_backward_before_forward():
    with pytest.raises(ValueError, match="kernel_size must be an integer >= 1"):
        Conv2D(1, 8, 0)
    with pytest.raises(ValueError, match="init must be"):
        Conv2D(1, 8, 3, init="xavier")
    with pytest.raises(TypeError, match="float32 or float64"):
        Affine(3, 2, dtype=np.int32)
    with pytest.raises(RuntimeError, match="before forward"):
        Conv2D(1, 2, 3).backward(np.zeros((1, 2, 1, 1), np.float32))
    layer = MaxPool2D(2)
    layer.forward(np.zeros((1, 1, 4, 4)))
    with pytest.raises(ValueError, match=r"dout of shape \(1, 1, 2, 2\)"):
        layer.backward(np.zeros((1, 1, 4, 4)))
