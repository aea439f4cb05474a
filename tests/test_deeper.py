"""Chapter 9's package pieces: Dropout, Adam and lenet, gradient- and reference-checked.

The references are written here, one step at a time, from the papers' formulas (Kingma & Ba 2015,
algorithm 1, with weight decay added to the gradient as ``torch.optim.Adam`` does; inverted dropout
as in Srivastava et al. 2014 with the scaling moved to training time). A run against PyTorch 2.13
agreed to ~1e-15 (see the chapter 9 notes); torch is not a dependency, so it is not run here.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from scratchcnn.gradcheck import check_layer
from scratchcnn.layers import (
    Affine,
    Conv2D,
    Dropout,
    Flatten,
    Layer,
    MaxPool2D,
    ReLU,
    Sequential,
    SoftmaxCrossEntropy,
)
from scratchcnn.models import book_model, lenet
from scratchcnn.optim import SGD, Adam
from scratchcnn.perf import model_flops
from scratchcnn.train import evaluate, fit

GRAD_TOL = 1e-7


def assert_grads_ok(errors):
    bad = {k: v for k, v in errors.items() if not v < GRAD_TOL}
    assert not bad, f"relative errors above {GRAD_TOL}: {bad}"


# --------------------------------------------------------------------------------- Dropout


def test_dropout_matches_a_hand_written_inverted_dropout():
    x = np.random.default_rng(0).standard_normal((4, 3, 5, 5))
    p = 0.3
    layer = Dropout(p, rng=42)
    out = layer.forward(x)
    keep = np.random.default_rng(42).random(x.shape) >= p  # the same draws, by hand
    np.testing.assert_allclose(out, np.where(keep, x / (1 - p), 0.0), rtol=1e-15, atol=0)
    dout = np.random.default_rng(1).standard_normal(x.shape)
    np.testing.assert_allclose(
        layer.backward(dout), np.where(keep, dout / (1 - p), 0.0), rtol=1e-15, atol=0
    )


def test_dropout_drops_a_share_p_and_keeps_the_mean():
    x = np.ones((200, 1000), dtype=np.float32)
    out = Dropout(0.25, rng=0).forward(x)
    assert out.dtype == np.float32
    assert abs((out == 0).mean() - 0.25) < 0.005
    assert set(np.unique(out)) == {0.0, np.float32(1 / 0.75)}
    assert abs(out.mean() - 1.0) < 0.01  # inverted dropout: E[out] = x


def test_dropout_is_the_identity_in_eval_mode_and_draws_a_new_mask_each_step():
    x = np.random.default_rng(0).standard_normal((8, 16))
    layer = Dropout(0.5, rng=0)
    a, b = layer.forward(x), layer.forward(x)
    assert not np.array_equal(a, b)
    layer.eval()
    assert layer.forward(x) is x
    dout = np.ones_like(x)
    assert layer.backward(dout) is dout
    assert Dropout(0.0, rng=0).forward(x) is x


def test_dropout_gradient_check_in_training_mode():
    rng = np.random.default_rng(7)
    assert_grads_ok(check_layer(Dropout(0.5, rng=3), rng.standard_normal((3, 4, 5))))
    model = Sequential(
        [
            Affine(6, 5, rng=rng, dtype=np.float64),
            ReLU(),
            Dropout(0.4, rng=rng),
            Affine(5, 3, rng=rng, dtype=np.float64),
        ]
    )
    assert_grads_ok(check_layer(model, rng.standard_normal((4, 6))))


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5, "0.5", True])
def test_dropout_refuses_a_bad_probability(p):
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        Dropout(p, rng=0)


def test_dropout_flops_and_repr():
    assert repr(Dropout(0.5, rng=0)) == "Dropout(p=0.5)"
    assert Dropout(0.5, rng=0).flops((2, 10)) == (40, 20)


# ---------------------------------------------------------------- fit and evaluate switch modes


class ModeSpy(Layer):
    """The identity, recording the mode it ran in."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append(self.training)
        return x

    def backward(self, dout, input_grad=True):
        return dout

    def flops(self, input_shape, input_grad=True):
        return 0, 0


def test_fit_trains_in_training_mode_and_evaluates_in_eval_mode():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 1, 6, 6)).astype(np.float32), rng.integers(0, 3, 40)
    spy = ModeSpy()
    model = Sequential([Flatten(), spy, Affine(36, 3, rng=0)])
    model.eval()
    fit(
        model,
        X,
        y,
        epochs=2,
        batch_size=20,
        optimizer=SGD(0.1),
        rng=0,
        X_val=X,
        y_val=y,
        progress=False,
    )
    # per epoch: two training steps, then one validation batch in eval mode
    assert spy.seen == [True, True, False, True, True, False]
    assert model.training  # left in training mode after fit
    spy.seen.clear()
    evaluate(model, X, y)
    assert spy.seen == [False] and model.training  # evaluate puts the mode back
    model.eval()
    evaluate(model, X, y)
    assert not model.training
    model.train()
    model.predict(X)
    assert spy.seen[-1] is False and model.training


# ------------------------------------------------------------------------------------ Adam


def adam_reference(w, grads, lr, beta1, beta2, eps, weight_decay):
    """Kingma & Ba's algorithm 1, entry by entry, with L2 weight decay added to the gradient."""
    w = [float(v) for v in w]
    m, v = [0.0] * len(w), [0.0] * len(w)
    path = []
    for t, g in enumerate(grads, start=1):
        for i in range(len(w)):
            gi = float(g[i]) + weight_decay * w[i]
            m[i] = beta1 * m[i] + (1 - beta1) * gi
            v[i] = beta2 * v[i] + (1 - beta2) * gi * gi
            m_hat = m[i] / (1 - beta1**t)
            v_hat = v[i] / (1 - beta2**t)
            w[i] -= lr * m_hat / (math.sqrt(v_hat) + eps)
        path.append(list(w))
    return np.array(path)


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
@pytest.mark.parametrize("lr, betas, eps", [(1e-3, (0.9, 0.999), 1e-8), (0.05, (0.8, 0.99), 1e-6)])
def test_adam_matches_the_hand_written_reference(lr, betas, eps, weight_decay):
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal(7)
    grads = rng.standard_normal((25, 7)) * np.array(
        [1e-4, 1e-2, 0.1, 1, 10, 100, 0]
    )  # scales and a 0
    params = {"w": w0.copy()}
    opt = Adam(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
    path = []
    for g in grads:
        opt.step(params, {"w": g.copy()})
        path.append(params["w"].copy())
    expected = adam_reference(w0, grads, lr, *betas, eps, weight_decay)
    np.testing.assert_allclose(np.array(path), expected, rtol=1e-12, atol=1e-15)


def test_adam_first_step_moves_every_weight_by_about_lr_whatever_the_gradient_scale():
    # The bias correction at work: m_hat = g and v_hat = g^2 after one step, so the step is
    # lr * g / (|g| + eps) = lr * sign(g) for every gradient much larger than eps.
    params = {"w": np.zeros(5)}
    Adam(lr=0.01).step(params, {"w": np.array([1e-3, -0.5, 2.0, -40.0, 1e4])})
    np.testing.assert_allclose(params["w"], -0.01 * np.array([1, -1, 1, -1, 1]), rtol=1e-4)


def test_adam_keeps_float32_updates_in_place_and_state_per_name():
    model = book_model(rng=0)
    W = model.layers[0].params["W"]
    before = W.copy()
    loss_fn = SoftmaxCrossEntropy()
    x = np.random.default_rng(0).random((4, 1, 28, 28), dtype=np.float32)
    opt = Adam()
    for _ in range(2):
        loss_fn.forward(model.forward(x), np.arange(4))
        model.backward(loss_fn.backward(), input_grad=False)
        opt.step(model.params(), model.grads())
    assert (
        model.layers[0].params["W"] is W and W.dtype == np.float32 and not np.array_equal(W, before)
    )
    assert set(opt.state) == set(model.params()) and opt.state["0.W"]["t"] == 2
    assert opt.state["0.W"]["m"].dtype == np.float32


def test_adam_minimises_a_badly_scaled_quadratic():
    params = {"w": np.array([3.0, -2.0])}
    opt = Adam(lr=0.05)
    for _ in range(2000):
        w = params["w"]
        opt.step(params, {"w": np.array([1.0, 1000.0]) * w})  # f = (w1^2 + 1000 w2^2) / 2
    assert np.abs(params["w"]).max() < 1e-3


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"lr": 0}, "lr"),
        ({"lr": -1}, "lr"),
        ({"betas": (0.9, 1.0)}, "betas"),
        ({"betas": 0.9}, "betas"),
        ({"eps": -1}, "eps"),
        ({"weight_decay": -0.1}, "weight_decay"),
    ],
)
def test_adam_refuses_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Adam(**kwargs)


def test_adam_refuses_mismatched_params_and_grads():
    with pytest.raises(ValueError, match="different keys"):
        Adam().step({"a": np.zeros(2)}, {"b": np.zeros(2)})
    with pytest.raises(ValueError, match="shape"):
        Adam().step({"a": np.zeros(2)}, {"a": np.zeros(3)})
    assert repr(Adam()) == "Adam(lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.0)"


# ----------------------------------------------------------------------------------- lenet


def test_lenet_is_built_exactly_as_chapter_9_describes():
    model = lenet(rng=0)
    kinds = [type(layer) for layer in model.layers]
    assert kinds == [
        Conv2D,
        ReLU,
        MaxPool2D,
        Conv2D,
        ReLU,
        MaxPool2D,
        Flatten,
        Affine,
        ReLU,
        Dropout,
        Affine,
    ]
    c1, c2 = model.layers[0], model.layers[3]
    assert (c1.in_channels, c1.out_channels, c1.kernel_size, c1.padding) == (1, 16, 5, 2)
    assert (c2.in_channels, c2.out_channels, c2.kernel_size, c2.padding) == (16, 32, 5, 2)
    assert (model.layers[7].in_features, model.layers[7].out_features) == (32 * 7 * 7, 128)
    assert model.layers[9].p == 0.5 and model.layers[10].out_features == 10
    assert model.output_shape((3, 1, 28, 28)) == (3, 10)
    assert sum(v.size for v in model.params().values()) == 416 + 12_832 + 200_832 + 1_290
    count = model_flops(model, (1, 28, 28))
    assert [r.output_shape for r in count.layers][:6] == [
        (16, 28, 28),
        (16, 28, 28),
        (16, 14, 14),
        (32, 14, 14),
        (32, 14, 14),
        (32, 7, 7),
    ]
    assert count.forward == 6_082_080


def test_lenet_is_reproducible_and_seeded():
    a, b = lenet(rng=0), lenet(rng=0)
    assert all(np.array_equal(v, b.params()[k]) for k, v in a.params().items())
    assert not np.array_equal(lenet(rng=1).params()["0.W"], a.params()["0.W"])
    assert lenet(rng=0, dtype=np.float64).dtype == np.float64


@pytest.mark.slow
def test_whole_lenet_gradient_check_float64_in_training_mode():
    # Every parameter array and the input, dropout active, 40 entries of each array: the full
    # network of the chapter, its second convolution's input gradient included.
    rng = np.random.default_rng(0)
    model = lenet(rng=0, dtype=np.float64)
    for v in model.params().values():
        if v.ndim == 1:
            v[...] = rng.standard_normal(v.shape) * 0.1  # nonzero biases
    x = rng.standard_normal((2, 1, 28, 28))
    errors = check_layer(model, x, entries=40)
    assert set(errors) == {"x", *model.params()}
    assert_grads_ok(errors)


@pytest.mark.slow
def test_narrow_lenet_gradient_check_every_entry():
    rng = np.random.default_rng(1)
    model = lenet(rng=1, channels=(2, 3), hidden=8, dtype=np.float64)
    for v in model.params().values():
        if v.ndim == 1:
            v[...] = rng.standard_normal(v.shape) * 0.1
    assert_grads_ok(check_layer(model, rng.standard_normal((2, 1, 28, 28))))


@pytest.mark.slow
def test_lenet_learns_real_digits():
    from scratchcnn.data import load_mnist

    data = load_mnist("sample")
    X = (data.X_train[:1000, None] / np.float32(255) - np.float32(0.5)).astype(np.float32)
    Xt = (data.X_test[:500, None] / np.float32(255) - np.float32(0.5)).astype(np.float32)
    model = lenet(rng=0)
    fit(
        model,
        X,
        data.y_train[:1000],
        epochs=2,
        batch_size=32,
        optimizer=Adam(1e-3),
        rng=0,
        progress=False,
    )
    assert evaluate(model, Xt, data.y_test[:500])[1] > 0.85
