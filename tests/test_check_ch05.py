"""The chapter 5 checks accept right answers and name each classic backpropagation mistake."""

from __future__ import annotations

import numpy as np
import pytest
from checking import failure, passes, stub
from scipy.signal import convolve2d, correlate2d

from scratchcnn.check import ExerciseNotAttempted, check, exercises
from scratchcnn.layers import MaxPool2D
from scratchcnn.naive import affine_backward_naive, maxpool_backward_naive

# --- right answers, written the way a reader would -----------------------------------------------


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))  # (N, K)
    return e / e.sum(axis=1, keepdims=True)


def softmax_cross_entropy_backward(logits, labels):
    n = logits.shape[0]
    g = _softmax(logits)
    g[np.arange(n), labels] -= 1
    return g / n


def maxpool_backward(dout, x, k, stride):
    dx = np.zeros_like(x)
    n_img, ch, ho, wo = dout.shape
    for n in range(n_img):
        for c in range(ch):
            for i in range(ho):
                for j in range(wo):
                    window = x[n, c, i * stride : i * stride + k, j * stride : j * stride + k]
                    p, q = np.unravel_index(np.argmax(window), window.shape)
                    dx[n, c, i * stride + p, j * stride + q] += dout[n, c, i, j]
    return dx


def affine_backward(dout, x, W):
    return dout @ W.T, x.T @ dout, dout.sum(axis=0)


def conv_backward_dW(dout, x):
    n_img, c_in, h, _ = x.shape
    f_out, ho = dout.shape[1], dout.shape[2]
    k = h - ho + 1
    dW = np.zeros((f_out, c_in, k, k))
    for n in range(n_img):
        for f in range(f_out):
            for c in range(c_in):
                dW[f, c] += correlate2d(x[n, c], dout[n, f], mode="valid")
    return dW


def test_the_four_exercises_are_registered():
    assert {"5.1", "5.2", "5.3", "5.4"} <= set(exercises())


def _pool_vectorized(dout, x, k, stride):
    layer = MaxPool2D(k, stride)
    layer.forward(x)
    return layer.backward(dout)


@pytest.mark.parametrize(
    "exercise_id, answer",
    [
        ("5.1", softmax_cross_entropy_backward),
        ("5.2", maxpool_backward),
        ("5.2", maxpool_backward_naive),
        ("5.2", _pool_vectorized),
        ("5.3", affine_backward),
        ("5.3", affine_backward_naive),
        ("5.4", conv_backward_dW),
    ],
)
def test_right_answers_pass(exercise_id, answer, capsys):
    passes(exercise_id, answer, capsys)


@pytest.mark.parametrize("exercise_id", ["5.1", "5.2", "5.3", "5.4"])
@pytest.mark.parametrize("answer", [stub, ...])
def test_stubs_are_not_attempted(exercise_id, answer):
    with pytest.raises(ExerciseNotAttempted, match="not done yet"):
        check(exercise_id, answer)


def test_a_function_returning_none_is_told_to_return():
    message = failure("5.1", lambda logits, labels: None)
    assert "return" in message


# --- 5.1 softmax + cross-entropy -----------------------------------------------------------------


def test_5_1_forgotten_one_over_n():
    message = failure("5.1", lambda z, y: softmax_cross_entropy_backward(z, y) * z.shape[0])
    assert "1/N factor" in message and "missing" in message


def test_5_1_one_over_n_applied_twice():
    message = failure("5.1", lambda z, y: softmax_cross_entropy_backward(z, y) / z.shape[0])
    assert "1/N factor" in message and "twice" in message


def test_5_1_divided_by_the_number_of_classes():
    message = failure(
        "5.1", lambda z, y: softmax_cross_entropy_backward(z, y) * z.shape[0] / z.shape[1]
    )
    assert "1/N factor" in message and "classes" in message


@pytest.mark.parametrize(
    "answer", [lambda z, y: _softmax(z) / z.shape[0], lambda z, y: _softmax(z)]
)
def test_5_1_missing_one_hot_subtraction(answer):
    assert "one-hot subtraction is missing" in failure("5.1", answer)


def test_5_1_wrong_sign():
    assert "wrong sign" in failure("5.1", lambda z, y: -softmax_cross_entropy_backward(z, y))


def test_5_1_softmax_over_the_batch_axis():
    def answer(z, y):
        e = np.exp(z - z.max(axis=0, keepdims=True))
        g = e / e.sum(axis=0, keepdims=True)
        g[np.arange(len(y)), y] -= 1
        return g / len(y)

    assert "batch axis" in failure("5.1", answer)


def test_5_1_overflow_without_the_max_shift():
    def answer(z, y):
        with np.errstate(over="ignore", invalid="ignore"):
            e = np.exp(z)
            g = e / e.sum(axis=1, keepdims=True)
        g[np.arange(len(y)), y] -= 1
        return g / len(y)

    message = failure("5.1", answer)
    assert "NaN or infinity" in message and "maximum" in message


def test_5_1_returning_loss_and_gradient():
    message = failure("5.1", lambda z, y: (0.0, softmax_cross_entropy_backward(z, y)))
    assert "tuple" in message and "only the gradient" in message


# --- 5.2 max pooling -----------------------------------------------------------------------------


def _route(dout, x, k, stride, pick):
    """Max-pool backward with a custom rule ``pick(window) -> {(p, q): share}``."""
    dx = np.zeros_like(x)
    n_img, ch, ho, wo = dout.shape
    for n in range(n_img):
        for c in range(ch):
            for i in range(ho):
                for j in range(wo):
                    window = x[n, c, i * stride : i * stride + k, j * stride : j * stride + k]
                    for (p, q), share in pick(window).items():
                        dx[n, c, i * stride + p, j * stride + q] += share * dout[n, c, i, j]
    return dx


def _all_ties(window):
    return {tuple(p): 1.0 for p in np.argwhere(window == window.max())}


def _split_ties(window):
    tied = np.argwhere(window == window.max())
    return {tuple(p): 1.0 / len(tied) for p in tied}


def _last_max(window):
    return {tuple(np.argwhere(window == window.max())[-1]): 1.0}


def test_5_2_gradient_to_every_tied_maximum():
    message = failure("5.2", lambda dout, x, k, s: _route(dout, x, k, s, _all_ties))
    assert "more than one position in a tied window" in message
    assert "first-maximum rule" in message


def test_5_2_vectorized_all_ties_mask_is_caught_too():
    def answer(dout, x, k, s):  # the seed notebook's rule: upsample and compare with the maximum
        out = x.reshape(x.shape[0], x.shape[1], x.shape[2] // k, k, x.shape[3] // k, k).max(
            axis=(3, 5)
        )
        up = out.repeat(k, axis=2).repeat(k, axis=3)
        return (x == up) * dout.repeat(k, axis=2).repeat(k, axis=3)

    message = failure("5.2", answer)
    assert "more than one position in a tied window" in message


def test_5_2_even_split_is_named_but_refused():
    message = failure("5.2", lambda dout, x, k, s: _route(dout, x, k, s, _split_ties))
    assert "more than one position in a tied window" in message and "split evenly" in message


def test_5_2_last_of_the_tied_maxima():
    message = failure("5.2", lambda dout, x, k, s: _route(dout, x, k, s, _last_max))
    assert "not to the first one" in message and "first-maximum rule" in message


def test_5_2_wrong_position_from_a_bad_unravel():
    def answer(dout, x, k, stride):
        dx = np.zeros_like(x)
        n_img, ch, ho, wo = dout.shape
        for n in range(n_img):
            for c in range(ch):
                for i in range(ho):
                    for j in range(wo):
                        window = x[n, c, i * stride : i * stride + k, j * stride : j * stride + k]
                        q, p = np.unravel_index(np.argmax(window), window.shape)  # swapped
                        dx[n, c, i * stride + p, j * stride + q] += dout[n, c, i, j]
        return dx

    message = failure("5.2", answer)
    assert "which is not the maximum" in message


def test_5_2_forgetting_the_window_corner():
    def answer(dout, x, k, stride):
        dx = np.zeros_like(x)
        n_img, ch, ho, wo = dout.shape
        for n in range(n_img):
            for c in range(ch):
                for i in range(ho):
                    for j in range(wo):
                        window = x[n, c, i * stride : i * stride + k, j * stride : j * stride + k]
                        p, q = np.unravel_index(np.argmax(window), window.shape)
                        dx[n, c, p, q] += dout[
                            n, c, i, j
                        ]  # the corner (i*stride, j*stride) is missing
        return dx

    message = failure("5.2", answer)
    assert (
        "not the maximum" in message
        or "received no gradient" in message
        or "spread over" in message
    )


def test_5_2_gradient_of_one_instead_of_dout():
    message = failure("5.2", lambda dout, x, k, s: maxpool_backward(np.ones_like(dout), x, k, s))
    assert "upstream gradient" in message


def test_5_2_assigning_instead_of_adding_in_overlapping_windows():
    def answer(dout, x, k, stride):
        dx = np.zeros_like(x)
        n_img, ch, ho, wo = dout.shape
        for n in range(n_img):
            for c in range(ch):
                for i in range(ho):
                    for j in range(wo):
                        window = x[n, c, i * stride : i * stride + k, j * stride : j * stride + k]
                        p, q = np.unravel_index(np.argmax(window), window.shape)
                        dx[n, c, i * stride + p, j * stride + q] = dout[n, c, i, j]
        return dx

    message = failure("5.2", answer)
    assert "+=" in message and "overlapping" in message


def test_5_2_returning_the_pooled_shape():
    message = failure("5.2", lambda dout, x, k, s: dout)
    assert "shape of the input x" in message


# --- 5.3 affine ----------------------------------------------------------------------------------


def test_5_3_transposed_dW():
    message = failure("5.3", lambda dout, x, W: (dout @ W.T, dout.T @ x, dout.sum(axis=0)))
    assert "dW" in message and "transposed" in message


def test_5_3_transposed_dW_in_the_square_case():
    def answer(dout, x, W):  # right shape whenever D == M, wrong values
        dW = x.T @ dout
        return dout @ W.T, dW.T if dW.shape[0] == dW.shape[1] else dW, dout.sum(axis=0)

    message = failure("5.3", answer)
    assert "dW is wrong" in message and "transposed" in message


def test_5_3_transposed_dx():
    message = failure("5.3", lambda dout, x, W: ((dout @ W.T).T, x.T @ dout, dout.sum(axis=0)))
    assert "dx" in message and "transposed" in message


def test_5_3_W_not_transposed_in_dx():
    def answer(dout, x, W):
        dx = dout @ W if W.shape[0] == W.shape[1] else dout @ W.T
        return dx, x.T @ dout, dout.sum(axis=0)

    assert "without transposing" in failure("5.3", answer)


def test_5_3_missing_db_sum():
    message = failure("5.3", lambda dout, x, W: (dout @ W.T, x.T @ dout, dout))
    assert "db" in message and "sum over the batch is missing" in message


def test_5_3_db_summed_over_the_wrong_axis():
    message = failure("5.3", lambda dout, x, W: (dout @ W.T, x.T @ dout, dout.sum(axis=1)))
    assert "wrong axis" in message


def test_5_3_db_averaged():
    message = failure("5.3", lambda dout, x, W: (dout @ W.T, x.T @ dout, dout.mean(axis=0)))
    assert "db is wrong" in message and "mean" in message


def test_5_3_db_of_the_first_image_only():
    message = failure("5.3", lambda dout, x, W: (dout @ W.T, x.T @ dout, dout[0]))
    assert "first image" in message


def test_5_3_dW_averaged():
    message = failure("5.3", lambda dout, x, W: (dout @ W.T, x.T @ dout / len(x), dout.sum(axis=0)))
    assert "dW" in message and "divided by N" in message


def test_5_3_two_items_only():
    message = failure("5.3", lambda dout, x, W: (dout @ W.T, x.T @ dout))
    assert "three arrays" in message


# --- 5.4 convolution dW --------------------------------------------------------------------------


def _dW_with(op, dout, x, **kw):
    n_img, c_in, h, _ = x.shape
    f_out, ho = dout.shape[1], dout.shape[2]
    k = h - ho + 1
    dW = np.zeros((f_out, c_in, k, k))
    for n in range(n_img):
        for f in range(f_out):
            for c in range(c_in):
                dW[f, c] += op(x[n, c], dout[n, f], mode="valid")
    return dW


def test_5_4_flipped_kernel_from_a_true_convolution():
    message = failure("5.4", lambda dout, x: _dW_with(convolve2d, dout, x))
    assert "flipped" in message and "cross-correlation" in message


def test_5_4_rotated_result():
    message = failure("5.4", lambda dout, x: conv_backward_dW(dout, x)[..., ::-1, ::-1])
    assert "rotated by 180 degrees" in message and "no flip" in message


def test_5_4_swapped_filter_and_channel_axes():
    message = failure("5.4", lambda dout, x: conv_backward_dW(dout, x).transpose(1, 0, 2, 3))
    assert "swapped" in message


def test_5_4_first_image_only():
    message = failure("5.4", lambda dout, x: conv_backward_dW(dout[:1], x[:1]))
    assert "sum over the batch is missing" in message


def test_5_4_averaged_over_the_batch():
    message = failure("5.4", lambda dout, x: conv_backward_dW(dout, x) / len(x))
    assert "mean over the batch" in message


def test_5_4_per_image_gradients_not_summed():
    def answer(dout, x):
        return np.stack([conv_backward_dW(dout[i : i + 1], x[i : i + 1]) for i in range(len(x))])

    assert "sum over the batch is missing" in failure("5.4", answer)
