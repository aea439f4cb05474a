"""The plain references the exercise checks use (scratchcnn.naive) agree with the fast layers and NumPy."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from scratchcnn import layers
from scratchcnn.naive import (
    col2im_naive,
    corr2d_naive,
    im2col_naive,
    log_softmax_naive,
    maxpool_forward_naive,
    output_size,
    pool_forward_naive,
    softmax_rows_naive,
)

RNG = np.random.default_rng(0)


@pytest.mark.parametrize(
    "size, k, s, p, out",
    [(28, 3, 1, 0, 26), (26, 2, 2, 0, 13), (27, 2, 2, 0, 13), (7, 3, 2, 1, 4), (5, 5, 1, 0, 1)],
)
def test_output_size(size, k, s, p, out):
    assert output_size(size, k, s, p) == out


def test_output_size_refuses_a_window_larger_than_the_input():
    with pytest.raises(ValueError, match="larger than the padded input"):
        output_size(2, 3)


@pytest.mark.parametrize(
    "xs, ks", [((6, 8), (3, 3)), ((5, 7), (2, 3)), ((4, 5), (4, 5)), ((9, 9), (8, 8))]
)
def test_corr2d_naive_is_valid_cross_correlation(xs, ks):
    x, k = RNG.standard_normal(xs), RNG.standard_normal(ks)
    want = np.einsum("ijpq,pq->ij", sliding_window_view(x, ks), k)
    np.testing.assert_allclose(corr2d_naive(x, k), want, rtol=1e-12, atol=1e-12)


def test_pool_forward_naive_max_and_mean():
    x = RNG.standard_normal((2, 3, 7, 5))
    np.testing.assert_array_equal(
        pool_forward_naive(x, 3, 2, np.max), maxpool_forward_naive(x, 3, 2)
    )
    mean = pool_forward_naive(x, 2, 2, np.mean)
    np.testing.assert_allclose(
        mean, x[:, :, :6, :4].reshape(2, 3, 3, 2, 2, 2).mean(axis=(3, 5)), rtol=1e-12
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_references_are_stable_and_agree_with_the_layers(dtype):
    z = np.array([[1000.0, -1000.0], [1000.0, 0.0], [0.0, -1000.0], [1.0, 2.0]], dtype=dtype)
    logp = log_softmax_naive(z)
    assert logp.dtype == np.float64 and np.all(np.isfinite(logp))
    np.testing.assert_allclose(logp, layers.log_softmax(z.astype(np.float64), axis=1), rtol=1e-12)
    np.testing.assert_allclose(softmax_rows_naive(z), np.exp(logp), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(softmax_rows_naive(z).sum(axis=1), 1.0, rtol=1e-12)


@pytest.mark.parametrize(
    "shape, k, s, p", [((2, 3, 6, 5), 3, 1, 0), ((1, 2, 7, 7), 3, 2, 1), ((3, 1, 8, 8), 2, 3, 0)]
)
def test_im2col_and_col2im_naive_agree_with_the_layers(shape, k, s, p):
    x = RNG.standard_normal(shape)
    cols = im2col_naive(x, k, s, p)
    np.testing.assert_array_equal(cols, layers.im2col(x, k, s, p))
    dcols = RNG.standard_normal(cols.shape)
    np.testing.assert_allclose(
        col2im_naive(dcols, shape, k, s, p),
        layers.col2im(dcols, shape, k, s, p),
        rtol=1e-12,
        atol=1e-12,
    )
    # the adjoint: <im2col(x), d> = <x, col2im(d)>
    assert np.isclose(np.sum(cols * dcols), np.sum(x * col2im_naive(dcols, shape, k, s, p)))
    assert im2col_naive(x.astype(np.float32), k, s, p).dtype == np.float32


def test_the_checks_vectorized_conv_dW_agrees_with_the_loops():
    from scratchcnn.check.ch05 import _conv_dW
    from scratchcnn.naive import conv_backward_naive

    x = RNG.standard_normal((2, 3, 6, 5))
    dout = RNG.standard_normal((2, 4, 4, 3))
    want = conv_backward_naive(dout, x, np.zeros((4, 3, 3, 3)))[1]
    np.testing.assert_allclose(_conv_dW(dout, x, 3), want, rtol=1e-12, atol=1e-12)


def test_the_checks_im2col_conv_agrees_with_the_loops():
    from scratchcnn.check.ch08 import conv_forward_naive as by_im2col
    from scratchcnn.naive import conv_forward_naive

    x, W, b = (
        RNG.standard_normal((2, 3, 7, 6)),
        RNG.standard_normal((4, 3, 3, 3)),
        RNG.standard_normal(4),
    )
    for stride, padding in ((1, 0), (2, 1), (3, 2)):
        np.testing.assert_allclose(
            by_im2col(x, W, b, stride, padding),
            conv_forward_naive(x, W, b, stride, padding),
            rtol=1e-12,
            atol=1e-12,
        )


def test_the_checks_conv_dx_agrees_with_the_loops():
    from scratchcnn.check.ch05 import _conv_dx
    from scratchcnn.naive import conv_backward_naive

    dout, W = RNG.standard_normal((2, 4, 3, 5)), RNG.standard_normal((4, 3, 3, 3))
    want = conv_backward_naive(dout, np.zeros((2, 3, 5, 7)), W)[0]
    np.testing.assert_allclose(_conv_dx(dout, W), want, rtol=1e-12, atol=1e-12)
