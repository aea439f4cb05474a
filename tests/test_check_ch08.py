"""The chapter 8 checks accept right answers and name each classic mistake."""

from __future__ import annotations

import numpy as np
import pytest
from checking import failure, passes, stub
from numpy.lib.stride_tricks import sliding_window_view

from scratchcnn.check import ExerciseNotAttempted, check, exercises
from scratchcnn.layers import Conv2D


def _sizes(x_shape, k, stride):
    n, c, h, w = x_shape
    return n, c, h, w, (h - k) // stride + 1, (w - k) // stride + 1


# --- 8.1 col2im -----------------------------------------------------------------------------


def col2im(dcols, x_shape, kernel_size, stride=1):
    n, c, h, w, ho, wo = _sizes(x_shape, kernel_size, stride)
    k = kernel_size
    blocks = dcols.reshape(c, k, k, n, ho, wo)
    dx = np.zeros(x_shape, dtype=dcols.dtype)
    for p in range(k):
        for q in range(k):
            dx[:, :, p : p + stride * ho : stride, q : q + stride * wo : stride] += blocks[
                :, p, q
            ].transpose(1, 0, 2, 3)
    return dx


def col2im_loops(dcols, x_shape, kernel_size, stride=1):
    n, c, h, w, ho, wo = _sizes(x_shape, kernel_size, stride)
    k = kernel_size
    dx = np.zeros(x_shape, dtype=dcols.dtype)
    for col in range(n * ho * wo):
        img, rest = divmod(col, ho * wo)
        i, j = divmod(rest, wo)
        window = dcols[:, col].reshape(c, k, k)
        dx[img, :, i * stride : i * stride + k, j * stride : j * stride + k] += window
    return dx


def col2im_add_at(dcols, x_shape, kernel_size, stride=1):
    n, c, h, w, ho, wo = _sizes(x_shape, kernel_size, stride)
    k = kernel_size
    cc, pp, qq, nn, ii, jj = np.meshgrid(
        *(np.arange(m) for m in (c, k, k, n, ho, wo)), indexing="ij"
    )
    dx = np.zeros(x_shape, dtype=dcols.dtype)
    np.add.at(dx, (nn, cc, ii * stride + pp, jj * stride + qq), dcols.reshape(c, k, k, n, ho, wo))
    return dx


def col2im_assigns(dcols, x_shape, kernel_size, stride=1):
    """= instead of +=: right while windows do not overlap."""
    n, c, h, w, ho, wo = _sizes(x_shape, kernel_size, stride)
    k = kernel_size
    blocks = dcols.reshape(c, k, k, n, ho, wo)
    dx = np.zeros(x_shape, dtype=dcols.dtype)
    for p in range(k):
        for q in range(k):
            dx[:, :, p : p + stride * ho : stride, q : q + stride * wo : stride] = blocks[
                :, p, q
            ].transpose(1, 0, 2, 3)
    return dx


def col2im_fancy_plus_equals(dcols, x_shape, kernel_size, stride=1):
    """dx[idx] += values: NumPy's buffered fancy indexing keeps one of each repeated index."""
    n, c, h, w, ho, wo = _sizes(x_shape, kernel_size, stride)
    k = kernel_size
    cc, pp, qq, nn, ii, jj = np.meshgrid(
        *(np.arange(m) for m in (c, k, k, n, ho, wo)), indexing="ij"
    )
    dx = np.zeros(x_shape, dtype=dcols.dtype)
    dx[nn, cc, ii * stride + pp, jj * stride + qq] += dcols.reshape(c, k, k, n, ho, wo)
    return dx


def col2im_empty(dcols, x_shape, kernel_size, stride=1):
    dx = col2im(dcols, x_shape, kernel_size, stride)
    n, c, h, w, ho, wo = _sizes(x_shape, kernel_size, stride)
    covered = col2im(np.ones_like(dcols), x_shape, kernel_size, stride) > 0
    dx[~covered] = 1e3  # what np.empty may hold
    return dx


def col2im_swapped_pq(dcols, x_shape, kernel_size, stride=1):
    c, k = x_shape[1], kernel_size
    return col2im(
        dcols.reshape(c, k, k, -1).transpose(0, 2, 1, 3).reshape(dcols.shape), x_shape, k, stride
    )


def col2im_no_stride(dcols, x_shape, kernel_size, stride=1):
    n, c, h, w, ho, wo = _sizes(x_shape, kernel_size, stride)
    k = kernel_size
    blocks = dcols.reshape(c, k, k, n, ho, wo)
    dx = np.zeros(x_shape, dtype=dcols.dtype)
    for p in range(k):
        for q in range(k):
            dx[:, :, p : p + ho, q : q + wo] += blocks[:, p, q].transpose(1, 0, 2, 3)
    return dx


def col2im_float64(dcols, x_shape, kernel_size, stride=1):
    return col2im(dcols, x_shape, kernel_size, stride).astype(np.float64)


# --- 8.2 conv_forward_im2col ----------------------------------------------------------------


def _windows(x, k, stride, padding):
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    return sliding_window_view(xp, (k, k), axis=(2, 3))[
        :, :, ::stride, ::stride
    ]  # (N, C, H_out, W_out, K, K)


def conv_forward_im2col(x, W, b, stride=1, padding=0):
    f, c, k, _ = W.shape
    win = _windows(x, k, stride, padding)
    n, _, ho, wo = win.shape[:4]
    cols = win.transpose(1, 4, 5, 0, 2, 3).reshape(c * k * k, n * ho * wo)  # (C*K*K, N*H_out*W_out)
    out = W.reshape(f, -1) @ cols + b[:, None]  # (F, N*H_out*W_out)
    return out.reshape(f, n, ho, wo).transpose(1, 0, 2, 3)


def conv_rows_layout(x, W, b, stride=1, padding=0):
    """One row per window (the classic CS231n layout): also right."""
    f, c, k, _ = W.shape
    win = _windows(x, k, stride, padding)
    n, _, ho, wo = win.shape[:4]
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * k * k)
    out = cols @ W.reshape(f, -1).T + b  # (N*H_out*W_out, F)
    return out.reshape(n, ho, wo, f).transpose(0, 3, 1, 2)


def conv_with_package_layer(x, W, b, stride=1, padding=0):
    layer = Conv2D(
        W.shape[1], W.shape[0], W.shape[2], stride=stride, padding=padding, dtype=x.dtype
    )
    layer.params["W"][...] = W
    layer.params["b"][...] = b
    return layer.forward(x)


def conv_reshape_mixes(x, W, b, stride=1, padding=0):
    out = conv_forward_im2col(x, W, b, stride, padding)
    n, f, ho, wo = out.shape
    return np.ascontiguousarray(out.transpose(1, 0, 2, 3)).reshape(n, f, ho, wo)


def conv_no_bias(x, W, b, stride=1, padding=0):
    return conv_forward_im2col(x, W, np.zeros_like(b), stride, padding)


def conv_flipped(x, W, b, stride=1, padding=0):
    return conv_forward_im2col(x, W[:, :, ::-1, ::-1], b, stride, padding)


def conv_no_padding(x, W, b, stride=1, padding=0):
    return conv_forward_im2col(x, W, b, stride, 0)


def conv_no_stride(x, W, b, stride=1, padding=0):
    return conv_forward_im2col(x, W, b, 1, padding)


def conv_float64_bias_row(x, W, b, stride=1, padding=0):
    f, c, k, _ = W.shape
    win = _windows(x, k, stride, padding)
    n, _, ho, wo = win.shape[:4]
    cols = np.ones((c * k * k + 1, n * ho * wo))  # float64 by default
    cols[:-1] = win.transpose(1, 4, 5, 0, 2, 3).reshape(c * k * k, -1)
    wb = np.concatenate([W.reshape(f, -1), b[:, None]], axis=1)
    return (wb @ cols).reshape(f, n, ho, wo).transpose(1, 0, 2, 3)


def conv_returns_fn_layout(x, W, b, stride=1, padding=0):
    return conv_forward_im2col(x, W, b, stride, padding).transpose(1, 0, 2, 3)


def test_the_exercises_are_registered():
    assert {"8.1", "8.2"} <= set(exercises())


@pytest.mark.parametrize(
    "exercise_id, answer",
    [
        ("8.1", col2im),
        ("8.1", col2im_loops),
        ("8.1", col2im_add_at),
        ("8.2", conv_forward_im2col),
        ("8.2", conv_rows_layout),
        ("8.2", conv_with_package_layer),
    ],
)
def test_right_answers_pass(exercise_id, answer, capsys):
    passes(exercise_id, answer, capsys)


@pytest.mark.parametrize("exercise_id", ["8.1", "8.2"])
@pytest.mark.parametrize("answer", [stub, ...])
def test_stubs_are_not_attempted(exercise_id, answer):
    with pytest.raises(ExerciseNotAttempted, match="not done yet"):
        check(exercise_id, answer)


@pytest.mark.parametrize(
    "answer, words",
    [
        (
            col2im_assigns,
            ["overlapping windows", "kernel 3 > stride 1", "up to 9 windows", "+=", "never assign"],
        ),
        (
            col2im_fancy_plus_equals,
            [
                "wrong where windows overlap",
                "only one window's gradient",
                "np.add.at",
                "repeated indices",
            ],
        ),
        (col2im_empty, ["no window covers", "np.zeros", "np.empty"]),
        (col2im_swapped_pq, ["p and q", "swapped"]),
        (col2im_no_stride, ["ignoring the stride 2"]),
        (col2im_float64, ["dtype float64", "float32", "dtype=dcols.dtype"]),
        (lambda dcols, x_shape, kernel_size, stride=1: None, ["None", "return"]),
        (
            lambda dcols, x_shape, kernel_size, stride=1: np.zeros(x_shape[1:]),
            ["shape (1, 1, 4, 4)"],
        ),
    ],
)
def test_col2im_mistakes_are_named(answer, words):
    message = failure("8.1", answer)
    for word in words:
        assert word in message, message


def test_assignment_passes_the_non_overlapping_cases_and_fails_on_the_first_overlap():
    message = failure("8.1", col2im_assigns)
    assert "Case overlapping windows: N=2, C=2, 6x5 images, kernel 3, stride 1" in message


@pytest.mark.parametrize(
    "answer, words",
    [
        (
            conv_reshape_mixes,
            ["images and filters are mixed up", "(F, N, H_out, W_out)", ".transpose(1, 0, 2, 3)"],
        ),
        (conv_no_bias, ["bias b seems not to be added", "b[:, None]"]),
        (conv_flipped, ["rotated by 180 degrees", "cross-correlation"]),
        (conv_no_padding, ["padding 1 seems to be ignored", "np.pad"]),
        (conv_no_stride, ["stride 2 seems to be ignored"]),
        (conv_float64_bias_row, ["dtype float64 for float32 input", "twice the memory"]),
        (
            conv_returns_fn_layout,
            ["should have shape (2, 4, 4, 4)", "then transpose to (N, F, H_out, W_out)"],
        ),
        (lambda x, W, b, stride=1, padding=0: None, ["None", "return"]),
    ],
)
def test_conv_mistakes_are_named(answer, words):
    message = failure("8.2", answer)
    for word in words:
        assert word in message, message
