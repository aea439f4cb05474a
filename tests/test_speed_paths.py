"""The fast paths of issue 15 compute exactly what the plain layers compute (speed is never asserted)."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from scratchcnn.layers import Conv2D, MaxPool2D, ReLU, Sequential, SoftmaxCrossEntropy
from scratchcnn.models import book_model, lenet
from scratchcnn.optim import SGD
from scratchcnn.train import fit, resolve_blas_threads

RNG = np.random.default_rng(15)


def _layer_by_layer(model, x, labels):
    """Forward and backward through each layer's own public methods, no fusion, every check on."""
    for layer in model.layers:
        x = layer.forward(x)
    loss_fn = SoftmaxCrossEntropy()
    loss = loss_fn.forward(x, labels)
    dout = loss_fn.backward()
    for layer in reversed(model.layers):
        dout = layer.backward(dout)
    return loss, x, dout, {k: v.copy() for k, v in model.grads().items()}


def _as_trained(model, x, labels):
    """Forward and backward through the model itself, as training runs it (fused steps)."""
    loss_fn = SoftmaxCrossEntropy()
    logits = model.forward(x)
    loss = loss_fn.forward(logits, labels)
    dx = model.backward(loss_fn.backward())
    return loss, logits, dx, {k: v.copy() for k, v in model.grads().items()}


def _assert_same_step(ours, reference):
    """The loss, logits, input gradient and every parameter gradient agree to 1e-12."""
    (loss, logits, dx, grads), (loss_ref, logits_ref, dx_ref, grads_ref) = ours, reference
    assert loss == pytest.approx(loss_ref, rel=1e-13, abs=1e-13)
    np.testing.assert_allclose(logits, logits_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-12, atol=1e-12)
    assert grads.keys() == grads_ref.keys()
    for name, g in grads.items():
        np.testing.assert_allclose(g, grads_ref[name], rtol=1e-12, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("make", [book_model, lenet], ids=["book_model", "lenet"])
@pytest.mark.parametrize("ties", [False, True], ids=["continuous", "ties"])
def test_sequential_fused_relu_pool_matches_the_layers_one_by_one(make, ties):
    x = RNG.standard_normal((5, 1, 28, 28))
    if ties:  # blank background and repeated values: ReLU zeros and tied maxima everywhere
        x = np.round(np.clip(x, 0, None) * 2) / 2
    labels = RNG.integers(0, 10, 5)
    ref = make(rng=3, dtype=np.float64).eval()
    fast = make(rng=3, dtype=np.float64).eval()
    ours = _as_trained(fast, x, labels)
    assert fast._fused, "the ReLU + MaxPool2D pairs should run fused"
    _assert_same_step(ours, _layer_by_layer(ref, x, labels))


def test_pool_backward_after_a_fused_forward_says_what_to_do():
    model = Sequential([Conv2D(1, 2, 3, dtype=np.float64), ReLU(), MaxPool2D(2)])
    out = model.forward(RNG.standard_normal((2, 1, 8, 8)))
    with pytest.raises(RuntimeError, match="fused with the ReLU.*Sequential's backward"):
        model.layers[2].backward(np.ones_like(out))
    assert model.layers[1].backward(np.ones((2, 2, 6, 6))).shape == (
        2,
        2,
        6,
        6,
    )  # ReLU's own still works


def test_the_first_layer_still_refuses_bad_input_inside_a_model():
    model = book_model(rng=0)
    x = np.zeros((2, 1, 28, 28), np.float32)
    x[0, 0, 3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.forward(x)
    with pytest.raises(TypeError, match="float32 parameters but got float64"):
        model.forward(np.zeros((2, 1, 28, 28)))
    with pytest.raises(ValueError, match=r"expected input \(N, 1, H, W\)"):
        model.forward(np.zeros((2, 3, 28, 28), np.float32))


@pytest.mark.parametrize("padding", [0, 2])
def test_reused_buffers_never_leak_between_calls(padding):
    conv = Conv2D(3, 4, 3, padding=padding, dtype=np.float64)
    a, b = RNG.standard_normal((2, 3, 7, 6)), RNG.standard_normal((2, 3, 7, 6))
    out_a = conv.forward(a)
    kept = out_a.copy()
    out_b = conv.forward(b)
    np.testing.assert_array_equal(out_a, kept)  # results are never reused buffers
    fresh = Conv2D(3, 4, 3, padding=padding, dtype=np.float64)
    fresh.params = {k: v.copy() for k, v in conv.params.items()}
    np.testing.assert_allclose(out_b, fresh.forward(b), rtol=0, atol=0)
    # a different batch size in between (evaluation) and back: still the right answer
    conv.forward(RNG.standard_normal((5, 3, 7, 6)))
    np.testing.assert_allclose(conv.forward(a), kept, rtol=0, atol=0)
    dout = RNG.standard_normal(kept.shape)
    dx = conv.backward(dout)
    fresh.forward(a)
    np.testing.assert_allclose(dx, fresh.backward(dout), rtol=0, atol=0)
    np.testing.assert_allclose(conv.grads["W"], fresh.grads["W"], rtol=0, atol=0)


def test_blas_thread_policy(monkeypatch):
    monkeypatch.delenv("SCRATCHCNN_BLAS_THREADS", raising=False)
    assert resolve_blas_threads() == 1  # the default: one thread never collapses on a busy machine
    assert (
        resolve_blas_threads(2) == 2
        and resolve_blas_threads(0) is None
        and resolve_blas_threads("auto") is None
    )
    monkeypatch.setenv("SCRATCHCNN_BLAS_THREADS", "2")
    assert resolve_blas_threads() == 2 and resolve_blas_threads(1) == 1  # the argument wins
    monkeypatch.setenv("SCRATCHCNN_BLAS_THREADS", "many")
    with pytest.raises(ValueError, match="SCRATCHCNN_BLAS_THREADS must be a count of threads"):
        resolve_blas_threads()
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="blas_threads must be"):
            resolve_blas_threads(bad)


def test_fit_runs_blas_with_the_chosen_threads_and_restores_them(monkeypatch):
    monkeypatch.delenv("SCRATCHCNN_BLAS_THREADS", raising=False)
    seen = []

    class Spy(SGD):
        def step(self, params, grads):
            seen.append({i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"})
            super().step(params, grads)

    before = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    X, y = RNG.random((64, 1, 28, 28), dtype=np.float32), RNG.integers(0, 10, 64)
    fit(
        book_model(rng=0), X, y, epochs=1, batch_size=32, optimizer=Spy(0.01), rng=0, progress=False
    )
    assert seen and all(s <= {1} for s in seen)
    assert [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"] == before
    with pytest.raises(ValueError, match="blas_threads"):
        fit(
            book_model(rng=0),
            X,
            y,
            epochs=1,
            batch_size=32,
            optimizer=SGD(0.01),
            rng=0,
            progress=False,
            blas_threads="lots",
        )


def test_naive_step_lives_in_naive_and_chapter_8_imports_it_from_there():
    import json
    from pathlib import Path

    from scratchcnn import naive

    assert naive.naive_step.__module__ == "scratchcnn.naive"
    chapter = json.loads((Path(__file__).parents[1] / "notebooks/08_fast_cnn.ipynb").read_text())
    code = "".join("".join(c["source"]) for c in chapter["cells"] if c["cell_type"] == "code")
    assert "naive_step" in code and "scratchcnn.bench" not in code


@pytest.mark.parametrize(
    "c_in, c_out, k, padding, h, w",
    [(1, 8, 3, 0, 28, 28), (16, 32, 5, 2, 14, 14), (3, 4, 3, 1, 7, 9), (2, 3, 1, 0, 5, 4)],
)
def test_the_stride_1_input_gradient_is_col2im_of_the_columns(c_in, c_out, k, padding, h, w):
    from scratchcnn.layers import col2im

    conv = Conv2D(c_in, c_out, k, padding=padding, rng=1, dtype=np.float64)
    for n in (3, 2, 3):  # a new batch size, then the first one again: the buffers are reused
        x = RNG.standard_normal((n, c_in, h, w))
        dout = RNG.standard_normal(conv.output_shape(x.shape))
        conv.forward(x)
        dx = conv.backward(dout)
        d2 = dout.transpose(1, 0, 2, 3).reshape(c_out, -1)
        expected = col2im(conv.params["W"].reshape(c_out, -1).T @ d2, x.shape, k, 1, padding)
        assert dx.shape == x.shape
        np.testing.assert_allclose(dx, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "c_in, c_out, k, stride, padding, size",
    [
        (1, 8, 3, 1, 0, 28),
        (1, 4, 3, 1, 0, 9),
        (2, 6, 3, 1, 1, 13),
        (1, 3, 2, 1, 1, 6),
        (1, 16, 5, 1, 2, 28),
    ],
    ids=["book", "odd output", "padding", "even kernel", "lenet"],
)
@pytest.mark.parametrize("ties", [False, True], ids=["continuous", "ties"])
def test_fused_convolution_relu_pooling_matches_the_layers_one_by_one(
    c_in, c_out, k, stride, padding, size, ties
):
    from scratchcnn.layers import Affine, Flatten

    def make():
        conv = Conv2D(c_in, c_out, k, stride=stride, padding=padding, rng=5, dtype=np.float64)
        _, _, h, w = conv.output_shape((1, c_in, size, size))
        return Sequential(
            [
                conv,
                ReLU(),
                MaxPool2D(2),
                Flatten(),
                Affine(c_out * (h // 2) * (w // 2), 3, rng=6, dtype=np.float64),
            ]
        )

    x = RNG.standard_normal((4, c_in, size, size))
    if ties:
        x = np.round(np.clip(x, 0, None))
    labels = RNG.integers(0, 3, 4)
    ref, fast = make(), make()
    ours = _as_trained(fast, x, labels)
    assert fast._last_steps[0][:2] == (0, 3), "the convolution, ReLU and pooling should run fused"
    _assert_same_step(ours, _layer_by_layer(ref, x, labels))


def test_layers_of_a_fused_step_say_what_to_do_when_backpropagated_alone():
    model = book_model(rng=0)
    x = RNG.standard_normal((2, 1, 28, 28)).astype(np.float32)
    out = model.forward(x)
    conv, relu, pool = model.layers[:3]
    for layer, shape in [(conv, (2, 8, 26, 26)), (relu, (2, 8, 26, 26)), (pool, (2, 8, 13, 13))]:
        with pytest.raises(RuntimeError, match="fused with the .*Sequential's backward"):
            layer.backward(np.ones(shape, dtype=np.float32))
    model.backward(np.ones_like(out))  # the model's own backward works
    for layer in (conv, relu, pool):  # and each layer again after its own forward
        x = layer.forward(x)
        assert layer.backward(np.ones_like(x)).shape[0] == 2


def test_the_fused_step_refuses_bad_input_like_the_convolution():
    with pytest.raises(ValueError, match=r"Conv2D expected input \(N, 1, H, W\)"):
        book_model(rng=0).forward(np.zeros((2, 3, 28, 28), dtype=np.float32))
    with pytest.raises(ValueError, match="NaN"):
        book_model(rng=0).forward(np.full((2, 1, 28, 28), np.nan, dtype=np.float32))


@pytest.mark.parametrize(
    "m, n, length",
    [
        (8, 10, 46592),  # the book's: 4096-column blocks (2048 in float64) and a remainder
        (16, 26, 4 * 2048),  # blocks only, no remainder
        (32, 401, 12544),  # a large result: one product
        (3, 5, 7),  # too short to cut
        (1, 1, 100_000),
    ],
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_long_product_is_the_plain_product(m, n, length, dtype):
    from scratchcnn.layers import _long_product

    a = RNG.standard_normal((m, length)).astype(dtype)
    b = RNG.standard_normal((n, length)).astype(dtype)
    exact = a.astype(np.float64) @ b.T.astype(np.float64)
    got = _long_product(a, b)
    assert got.shape == (m, n) and got.dtype == dtype
    # float64 to rounding; float32 to the rounding of a sum of `length` products
    tol = 1e-12 if dtype == np.float64 else 1e-6 * np.sqrt(length)
    np.testing.assert_allclose(got, exact, rtol=0, atol=tol * np.abs(a).max() * np.abs(b).max())


@pytest.mark.parametrize("fused", [False, True], ids=["plain", "fused"])
def test_weight_gradients_of_a_full_batch_are_one_product_of_the_columns(fused):
    """At batch 64 the weight gradient is summed in blocks: it equals the one plain product."""
    model = Sequential([Conv2D(1, 8, 3, rng=2, dtype=np.float64), ReLU(), MaxPool2D(2)])
    conv, _, pool = model.layers
    x = RNG.standard_normal((64, 1, 28, 28))
    out = model.forward(x) if fused else conv.forward(x)
    dout = RNG.standard_normal(out.shape)
    if fused:
        assert model._last_steps[0][:2] == (0, 3), "the three layers should run fused"
        d2 = pool._backward_pooled(dout)  # (8, 4, 64, 13, 14): what the fused backward routes
        conv._backward_pooled(d2, input_grad=False)
    else:
        conv.backward(dout, input_grad=False)
        d2 = dout.transpose(1, 0, 2, 3)  # (8, 64, 26, 26)
    expected = d2.reshape(8, -1) @ conv._cols.T  # (8, 10): [dW | db] as one product
    np.testing.assert_allclose(conv.grads["W"].reshape(8, -1), expected[:, :-1], rtol=1e-12)
    np.testing.assert_allclose(conv.grads["b"], expected[:, -1], rtol=1e-12)


@pytest.mark.parametrize(
    "m, k, length",
    [(8, 10, 46592), (16, 26, 57344), (8, 10, 4 * 4096), (32, 401, 12544), (2, 3, 5)],
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_wide_product_is_the_plain_product(m, k, length, dtype):
    from scratchcnn.layers import _wide_product

    a = RNG.standard_normal((m, k)).astype(dtype)
    b = RNG.standard_normal((k, length)).astype(dtype)
    out = np.full((m, length), np.nan, dtype=dtype)
    assert _wide_product(a, b, out) is out
    np.testing.assert_allclose(out, a @ b, rtol=1e-12 if dtype == np.float64 else 1e-5, atol=1e-5)
