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
    history = fit(
        model,
        X,
        y,
        epochs=2,
        batch_size=32,
        optimizer=SGD(0.05, momentum=0.9),
        rng=0,
        X_val=X_test,
        y_val=y_test,
        progress=True,
    )
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
        h = fit(
            model,
            X[:256],
            y[:256],
            epochs=1,
            batch_size=16,
            optimizer=SGD(0.05, momentum=0.9),
            rng=11,
            progress=False,
        )
        runs.append((h.step_loss, model.params()["4.W"].copy()))
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])


def test_batch_size_one_is_per_sample_sgd(sample):
    X, y, _, _ = sample
    model = book_model(rng=0)
    h = fit(
        model, X[:50], y[:50], epochs=1, batch_size=1, optimizer=SGD(0.01), rng=0, progress=False
    )
    assert len(h.step_loss) == 50


def test_last_partial_batch_is_used(sample):
    X, y, _, _ = sample
    h = fit(
        book_model(rng=0),
        X[:70],
        y[:70],
        epochs=1,
        batch_size=32,
        optimizer=SGD(0.01),
        rng=0,
        progress=False,
    )
    assert len(h.step_loss) == 3


@pytest.mark.filterwarnings(
    "ignore:overflow encountered:RuntimeWarning", "ignore:invalid value encountered:RuntimeWarning"
)
def test_divergence_stops_with_advice(sample):
    X, y, _, _ = sample
    with pytest.raises(FloatingPointError, match="Lower the learning rate"):
        fit(
            book_model(rng=0),
            X[:512] * 1e3,
            y[:512],
            epochs=3,
            batch_size=64,
            optimizer=SGD(1e30),
            rng=0,
            progress=False,
        )


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


# --------------------------------------------------------------------------------------------
# Hostile input (issue 13): every fault stops before the weights change, with a message that
# names what was expected.


def _scalings(X):
    """The two input scalings the book uses: scale01 (x / 255) and centred (x / 255 - 0.5)."""
    return {"scale01": X, "centred": X - np.float32(0.5)}


@pytest.mark.parametrize("scaling", ["scale01", "centred"])
@pytest.mark.filterwarnings(
    "ignore:overflow encountered:RuntimeWarning", "ignore:invalid value encountered:RuntimeWarning"
)
def test_a_learning_rate_far_too_high_is_caught_without_any_overflow(sample, scaling):
    X = _scalings(sample[0][:1024])[scaling]
    y = sample[1][:1024]
    for lr, momentum in [(10.0, 0.0), (10.0, 0.9), (1e12, 0.0)]:
        with pytest.raises(
            FloatingPointError, match="training diverged.*Lower the learning rate"
        ) as info:
            fit(
                book_model(rng=0),
                X,
                y,
                epochs=2,
                batch_size=32,
                optimizer=SGD(lr, momentum=momentum),
                rng=0,
                progress=False,
            )
        assert "times its" in str(info.value), str(info.value)  # the loss or the weights said so


@pytest.mark.parametrize("scaling", ["scale01", "centred"])
def test_a_sensible_learning_rate_is_not_mistaken_for_divergence(sample, scaling):
    X = _scalings(sample[0][:1024])[scaling]
    for lr, momentum, batch in [(0.2, 0.9, 32), (0.5, 0.0, 32), (0.01, 0.9, 1)]:
        fit(
            book_model(rng=0),
            X[:300] if batch == 1 else X,
            sample[1][: 300 if batch == 1 else 1024],
            epochs=1,
            batch_size=batch,
            optimizer=SGD(lr, momentum=momentum),
            rng=0,
            progress=False,
        )


def test_the_loss_staying_far_above_its_start_is_divergence():
    from scratchcnn.train import LOSS_FACTOR, LOSS_WINDOW, _Watch

    watch = _Watch({"w": np.ones(3)}, classes=10)
    assert watch(2.3, {"w": np.ones(3)}) is None
    for _ in range(LOSS_WINDOW - 2):
        assert watch(2.3 * LOSS_FACTOR * 2, {"w": np.ones(3)}) is None  # a few bad steps: not yet
    assert "more than 10 times its value at the start" in watch(
        2.3 * LOSS_FACTOR * 2, {"w": np.ones(3)}
    )
    watch = _Watch({"w": np.ones(3), "b": np.zeros(3)}, classes=10)
    assert (
        watch(2.3, {"w": np.ones(3) * 50, "b": np.ones(3) * 1e6}) is None
    )  # biases from zero are free
    assert "parameter w grew to 200 times" in watch(2.3, {"w": np.ones(3) * 200, "b": np.zeros(3)})


def _untouched(model):
    return {k: v.copy() for k, v in model.params().items()}


def _assert_untouched(model, before):
    for k, v in model.params().items():
        np.testing.assert_array_equal(v, before[k], err_msg=f"{k} changed before the error")


def test_labels_are_validated_once_before_any_update(sample):
    X, y, _, _ = sample
    model = book_model(rng=0)
    before = _untouched(model)
    bad = y[:256].copy()
    bad[200] = 10  # in the last batch: found only after 6 updates before
    with pytest.raises(
        ValueError, match=r"0\.\.9 \(the model has 10 outputs\); 1 do not, the first y\[200\] = 10"
    ):
        fit(model, X[:256], bad, epochs=1, batch_size=32, optimizer=SGD(0.1), rng=0, progress=False)
    _assert_untouched(model, before)
    bad[200] = -1
    with pytest.raises(ValueError, match=r"y\[200\] = -1"):
        fit(model, X[:256], bad, epochs=1, batch_size=32, optimizer=SGD(0.1), rng=0, progress=False)
    with pytest.raises(TypeError, match="integer class labels, got float64"):
        fit(
            model,
            X[:256],
            y[:256] + 0.5,
            epochs=1,
            batch_size=32,
            optimizer=SGD(0.1),
            rng=0,
            progress=False,
        )
    with pytest.raises(ValueError, match=r"y_val\[3\] = 12"):
        fit(
            model,
            X[:64],
            y[:64],
            epochs=1,
            batch_size=32,
            optimizer=SGD(0.1),
            rng=0,
            progress=False,
            X_val=X[:8],
            y_val=np.array([0, 1, 2, 12, 4, 5, 6, 7]),
        )
    _assert_untouched(model, before)


def test_nan_in_the_data_is_reported_as_data_not_as_divergence(sample):
    X, y, _, _ = sample
    X = X[:128].copy()
    X[37, 0, 5, 6] = np.nan
    X[90, 0, 0, 0] = np.nan
    model = book_model(rng=0)
    before = _untouched(model)
    with pytest.raises(
        ValueError,
        match=r"contains 2 NaN values in 2 of its 128 examples, the first at X\[37, 0, 5, 6\]",
    ) as info:
        fit(model, X, y[:128], epochs=1, batch_size=32, optimizer=SGD(0.1), rng=0, progress=False)
    assert "learning rate" not in str(info.value).replace("not the learning rate", "")
    _assert_untouched(model, before)
    X[37, 0, 5, 6] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite values"):
        evaluate(model, X, y[:128])
    with pytest.raises(ValueError, match=r"X_val contains 2 NaN"):
        fit(
            model,
            sample[0][:64],
            y[:64],
            epochs=1,
            batch_size=32,
            optimizer=SGD(0.1),
            rng=0,
            progress=False,
            X_val=np.where(np.isinf(X), np.nan, X),
            y_val=y[:128],
        )


def test_sgd_refuses_nan_and_infinite_settings_and_accepts_numpy_scalars():
    for bad in (np.nan, np.inf, -np.inf):
        with pytest.raises(ValueError, match="weight_decay must be a finite number"):
            SGD(0.1, weight_decay=bad)
        with pytest.raises(ValueError, match="lr must be a finite number"):
            SGD(bad)
    with pytest.raises(ValueError, match="momentum must be a finite number"):
        SGD(0.1, momentum=np.nan)
    with pytest.raises(TypeError, match="lr must be a number, got bool"):
        SGD(True)
    with pytest.raises(TypeError, match="lr must be a number, got str"):
        SGD("0.1")
    opt = SGD(np.float32(0.1), momentum=np.float64(0.5), weight_decay=np.int64(0))
    assert type(opt.lr) is float and opt.lr == pytest.approx(0.1) and opt.momentum == 0.5


def test_fit_accepts_numpy_integers_and_a_list_of_labels(sample):
    X, y, _, _ = sample
    h = fit(
        book_model(rng=0),
        X[:64],
        [int(v) for v in y[:64]],
        epochs=np.int64(2),
        batch_size=np.int32(32),
        optimizer=SGD(np.float32(0.05)),
        rng=0,
        progress=False,
    )
    assert h.epochs == 2 and len(h.step_loss) == 4
    with pytest.raises(ValueError, match=r"epochs must be an integer >= 1, got 0"):
        fit(book_model(rng=0), X[:64], y[:64], epochs=0, batch_size=32, optimizer=SGD(0.1), rng=0)
    with pytest.raises(ValueError, match=r"batch_size must be an integer >= 1, got 2.0"):
        fit(book_model(rng=0), X[:64], y[:64], epochs=1, batch_size=2.0, optimizer=SGD(0.1), rng=0)


def test_empty_data_sets_and_a_negative_batch_size_are_refused(sample):
    X, y, _, _ = sample
    model = book_model(rng=0)
    with pytest.raises(ValueError, match=r"fit: X holds no examples \(shape \(0, 1, 28, 28\)\)"):
        fit(model, X[:0], y[:0], epochs=1, batch_size=8, optimizer=SGD(0.1), rng=0)
    with pytest.raises(ValueError, match=r"evaluate: X holds no examples"):
        evaluate(model, X[:0], y[:0])
    with pytest.raises(ValueError, match=r"X_val holds no examples"):
        fit(
            model,
            X[:16],
            y[:16],
            epochs=1,
            batch_size=8,
            optimizer=SGD(0.1),
            rng=0,
            X_val=X[:0],
            y_val=y[:0],
        )
    with pytest.raises(ValueError, match=r"evaluate: batch_size must be an integer >= 1, got -1"):
        evaluate(model, X[:16], y[:16], batch_size=-1)
    with pytest.raises(ValueError, match=r"evaluate: batch_size must be an integer >= 1, got 0"):
        evaluate(model, X[:16], y[:16], batch_size=0)


def test_flatten_refuses_an_empty_batch_and_conv_backward_a_non_float_gradient():
    from scratchcnn.layers import Conv2D

    with pytest.raises(
        ValueError,
        match=r"Flatten expected a batch of at least one example \(N >= 1\), got shape \(0, 1, 28, 28\)",
    ):
        Flatten().forward(np.zeros((0, 1, 28, 28), np.float32))
    conv = Conv2D(1, 2, 3, rng=0)
    out = conv.forward(np.random.default_rng(0).standard_normal((2, 1, 5, 5)).astype(np.float32))
    for dtype in (np.int64, np.int32, bool, np.complex64):
        with pytest.raises(
            TypeError,
            match=f"Conv2D.backward expected a real floating gradient dout \\(float32.*got dtype {np.dtype(dtype)}",
        ):
            conv.backward(np.ones(out.shape, dtype=dtype))
    conv.backward(np.ones(out.shape, dtype=np.float32))  # and the right one still works


def test_numerical_gradient_restores_x_when_f_raises():
    x = np.array([1.0, 2.0, 3.0])
    calls = []

    def breaks_on_the_second_entry(v):
        calls.append(v.copy())
        if len(calls) == 3:  # x[1] is perturbed right now
            raise RuntimeError("f failed")
        return float(v.sum())

    with pytest.raises(RuntimeError, match="f failed"):
        numerical_gradient(breaks_on_the_second_entry, x)
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])


def test_sampled_gradient_check_restores_the_parameters_when_forward_raises():
    """check_layer(entries=...) perturbs sampled entries in place: a failing forward must not leave one."""
    from scratchcnn.gradcheck import check_layer
    from scratchcnn.layers import Affine

    layer = Affine(30, 4, rng=0, dtype=np.float64)
    before = {k: v.copy() for k, v in layer.params.items()}
    forward, calls = layer.forward, []

    def fails_later(x):
        calls.append(1)
        if len(calls) == 6:
            raise RuntimeError("forward failed")
        return forward(x)

    layer.forward = fails_later
    x = np.random.default_rng(1).standard_normal((3, 30))
    x_before = x.copy()
    with pytest.raises(RuntimeError, match="forward failed"):
        check_layer(layer, x, entries=5)
    np.testing.assert_array_equal(x, x_before)
    for key, value in before.items():
        np.testing.assert_array_equal(layer.params[key], value)
