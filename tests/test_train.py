"""Optimizer, training loop and gradient-check helpers."""

from __future__ import annotations

import numpy as np
import pytest

from scratchcnn.data import load_mnist
from scratchcnn.gradcheck import numerical_gradient, rel_error
from scratchcnn.layers import Affine, Flatten, Sequential
from scratchcnn.models import book_model
from scratchcnn.optim import SGD
from scratchcnn.train import evaluate, fit


@pytest.fixture(scope="module")
def sample():
    data = load_mnist("sample")
    to_float = lambda X: (X[:, None] / np.float32(255)).astype(np.float32)  # noqa: E731 (N, 1, 28, 28)
    return to_float(data.X_train), data.y_train, to_float(data.X_test), data.y_test


def test_book_model_learns_real_digits_in_seconds(sample, capsys):
    X, y, X_test, y_test = sample
    model = book_model(rng=0)
    loss0, acc0 = evaluate(model, X_test, y_test)
    history = fit(model, X, y, epochs=2, batch_size=32, optimizer=SGD(0.05, momentum=0.9), rng=0,
                  X_val=X_test, y_val=y_test, progress=True)
    loss, acc = evaluate(model, X_test, y_test)
    assert acc0 < 0.25 and acc > 0.85, f"test accuracy {acc0:.3f} -> {acc:.3f}"
    assert loss < loss0 / 3
    assert history.epochs == 2 and len(history.step_loss) == 2 * 125
    assert history.val_acc[-1] == pytest.approx(acc)
    assert np.mean(history.step_loss[-20:]) < np.mean(history.step_loss[:20]) / 3
    assert all(s > 0 for s in history.epoch_seconds)
    assert "epoch 2/2" in capsys.readouterr().out


def test_training_is_reproducible(sample):
    X, y, _, _ = sample
    runs = []
    for _ in range(2):
        model = book_model(rng=3)
        h = fit(model, X[:256], y[:256], epochs=1, batch_size=16, optimizer=SGD(0.05, momentum=0.9), rng=11, progress=False)
        runs.append((h.step_loss, model.params()["4.W"].copy()))
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])


def test_batch_size_one_is_per_sample_sgd(sample):
    X, y, _, _ = sample
    model = book_model(rng=0)
    h = fit(model, X[:50], y[:50], epochs=1, batch_size=1, optimizer=SGD(0.01), rng=0, progress=False)
    assert len(h.step_loss) == 50


def test_last_partial_batch_is_used(sample):
    X, y, _, _ = sample
    h = fit(book_model(rng=0), X[:70], y[:70], epochs=1, batch_size=32, optimizer=SGD(0.01), rng=0, progress=False)
    assert len(h.step_loss) == 3


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning", "ignore:invalid value encountered:RuntimeWarning")
def test_divergence_stops_with_advice(sample):
    X, y, _, _ = sample
    with pytest.raises(FloatingPointError, match="Lower the learning rate"):
        fit(book_model(rng=0), X[:512] * 1e3, y[:512], epochs=3, batch_size=64, optimizer=SGD(1e30), rng=0, progress=False)


def test_fit_refuses_bad_data(sample):
    X, y, _, _ = sample
    model = book_model(rng=0)
    opt = SGD(0.1)
    with pytest.raises(TypeError, match="floating point"):
        fit(model, (X * 255).astype(np.uint8), y, epochs=1, batch_size=8, optimizer=opt, rng=0)
    with pytest.raises(TypeError, match="model is float32 but X is float64"):
        fit(model, X.astype(np.float64), y, epochs=1, batch_size=8, optimizer=opt, rng=0)
    with pytest.raises(ValueError, match=r"y must have shape \(4000,\)"):
        fit(model, X, y[:10], epochs=1, batch_size=8, optimizer=opt, rng=0)
    with pytest.raises(ValueError, match="both X_val and y_val"):
        fit(model, X, y, epochs=1, batch_size=8, optimizer=opt, rng=0, X_val=X)


def test_sgd_plain_momentum_and_weight_decay():
    w = np.array([1.0, -2.0])
    SGD(0.1).step({"w": w}, {"w": np.array([1.0, 1.0])})
    np.testing.assert_allclose(w, [0.9, -2.1])
    opt = SGD(0.1, momentum=0.5)
    w = np.array([0.0])
    for _ in range(2):
        opt.step({"w": w}, {"w": np.array([1.0])})
    np.testing.assert_allclose(w, [-0.1 - 0.15])  # v1 = -0.1, v2 = 0.5 * v1 - 0.1
    w = np.array([2.0])
    SGD(0.1, weight_decay=0.5).step({"w": w}, {"w": np.array([0.0])})
    np.testing.assert_allclose(w, [2.0 - 0.1 * 0.5 * 2.0])


def test_sgd_refuses_bad_settings():
    with pytest.raises(ValueError, match="lr must be a positive number"):
        SGD(0)
    with pytest.raises(ValueError, match="momentum"):
        SGD(0.1, momentum=1.0)
    with pytest.raises(ValueError, match="different keys"):
        SGD(0.1).step({"a": np.zeros(1)}, {"b": np.zeros(1)})


def test_sgd_updates_a_single_layer_and_a_model_alike():
    layer = Affine(3, 2, rng=0)
    before = layer.params["W"].copy()
    layer.grads["W"][...] = 1.0
    SGD(0.5).step(layer.params, layer.grads)
    np.testing.assert_allclose(layer.params["W"], before - 0.5)
    model = Sequential([Flatten(), Affine(4, 2, rng=0)])
    model.grads()["1.b"][...] = 2.0
    SGD(0.25).step(model.params(), model.grads())
    np.testing.assert_allclose(model.params()["1.b"], -0.5)


def test_numerical_gradient_and_rel_error():
    x = np.array([1.0, 2.0, -3.0])
    g = numerical_gradient(lambda v: float(np.sum(v**3)), x)
    np.testing.assert_allclose(g, 3 * x**2, rtol=1e-8)
    np.testing.assert_array_equal(x, [1.0, 2.0, -3.0])  # restored
    assert rel_error(np.array([1.0, 0.0]), np.array([1.0, 0.0])) == 0.0
    assert rel_error(np.array([1.0]), np.array([1.1])) == pytest.approx(0.1 / 2.1)
    with pytest.raises(TypeError, match="float64"):
        numerical_gradient(lambda v: 0.0, x.astype(np.float32))
    with pytest.raises(ValueError, match="shapes differ"):
        rel_error(np.zeros(2), np.zeros(3))
