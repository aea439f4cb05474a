"""The chapter 2 checks accept a right answer and name each classic mistake."""

from __future__ import annotations

import numpy as np
import pytest
from checking import failure, passes, stub
from scipy.signal import convolve2d, correlate2d

from scratchcnn.check import ExerciseNotAttempted, check, exercises
from scratchcnn.naive import conv_forward_naive

# --- reference answers, written the way a reader would ------------------------------------------


def corr2d(x, k):
    h, w = k.shape
    out = np.zeros((x.shape[0] - h + 1, x.shape[1] - w + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(x[i : i + h, j : j + w] * k)
    return out


def conv_forward(x, W, b, stride=1, padding=0):
    n, c, h, w = x.shape
    f, _, k, _ = W.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    ho, wo = (h - k + 2 * padding) // stride + 1, (w - k + 2 * padding) // stride + 1
    out = np.zeros((n, f, ho, wo))
    for i in range(ho):
        for j in range(wo):
            window = xp[
                :, :, i * stride : i * stride + k, j * stride : j * stride + k
            ]  # (N, C, K, K)
            out[:, :, i, j] = np.tensordot(window, W, axes=([1, 2, 3], [1, 2, 3])) + b
    return out


SOBEL_Y = np.array([[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]])


def test_the_three_exercises_are_registered():
    ids = exercises()
    assert {"2.1", "2.2", "2.3"} <= set(ids)


@pytest.mark.parametrize(
    "exercise_id, answer",
    [
        ("2.1", corr2d),
        ("2.1", lambda x, k: correlate2d(x, k, mode="valid")),
        ("2.2", conv_forward),
        ("2.2", lambda x, W, b, stride=1, padding=0: conv_forward_naive(x, W, b, stride, padding)),
        ("2.3", SOBEL_Y),
        ("2.3", np.array([[-1.0, -1.0], [1.0, 1.0]])),
        ("2.3", [[-1, -1, -1], [0, 0, 0], [1, 1, 1]]),
    ],
)
def test_right_answers_pass(exercise_id, answer, capsys):
    passes(exercise_id, answer, capsys)


@pytest.mark.parametrize("exercise_id", ["2.1", "2.2", "2.3"])
@pytest.mark.parametrize("answer", [stub, ...])
def test_stubs_are_not_attempted(exercise_id, answer):
    if exercise_id == "2.3" and answer is stub:
        answer = ...
    with pytest.raises(ExerciseNotAttempted, match="not done yet"):
        check(exercise_id, answer)


# --- 2.1 ---------------------------------------------------------------------------------------


def test_corr2d_flipped_kernel_is_named():
    message = failure("2.1", lambda x, k: convolve2d(x, k, mode="valid"))
    assert "kernel looks flipped" in message
    assert "does not flip" in message
    # The first case's kernel [[0, 1], [2, 3]] is not symmetric: the flip shows at once.
    assert "[[0, 1], [2, 3]]" in message


def test_corr2d_half_flipped_kernel_is_named():
    message = failure("2.1", lambda x, k: corr2d(x, k[::-1, :]))
    assert "flipped upside down" in message


@pytest.mark.parametrize(
    "mistake, words",
    [
        (lambda x, k: corr2d(x, k)[:-1, :-1], "range(H - kh + 1)"),
        (lambda x, k: correlate2d(x, k, mode="same"), "no padding"),
        (lambda x, k: correlate2d(x, k, mode="full"), "'full' output"),
        (lambda x, k: corr2d(x, k).T if x.shape[0] != x.shape[1] else corr2d(x, k), "swapped"),
    ],
)
def test_corr2d_wrong_output_size_is_named(mistake, words):
    message = failure("2.1", mistake)
    assert "should have shape" in message
    assert words in message


def test_corr2d_transposed_result_is_named():
    assert "the result is transposed" in failure("2.1", lambda x, k: corr2d(x, k).T)


def test_corr2d_square_kernel_assumption_is_named():
    def square_only(x, k):
        kk = k.shape[0]
        out = np.zeros((x.shape[0] - kk + 1, x.shape[1] - kk + 1))
        for i in range(out.shape[0]):
            for j in range(out.shape[1]):
                out[i, j] = (
                    np.sum(x[i : i + kk, j : j + kk] * k[:kk, :kk]) if k.shape[1] >= kk else 0.0
                )
        return out

    message = failure("2.1", square_only)
    assert "non-square" in message
    assert "one kernel size was used for both axes" in message


def test_corr2d_forgotten_return_and_errors_are_reported():
    assert "forget to `return`" in failure("2.1", lambda x, k: None)
    assert "raised IndexError" in failure("2.1", lambda x, k: x[100])


# --- 2.2 ---------------------------------------------------------------------------------------


def test_conv_missing_bias_is_named():
    message = failure(
        "2.2", lambda x, W, b, stride=1, padding=0: conv_forward(x, W, 0 * b, stride, padding)
    )
    assert "bias b seems not to be added" in message


def test_conv_flipped_kernel_is_named():
    message = failure(
        "2.2",
        lambda x, W, b, stride=1, padding=0: conv_forward(
            x, W[:, :, ::-1, ::-1], b, stride, padding
        ),
    )
    assert "kernel looks flipped" in message
    assert "does not flip" in message


def test_conv_flipped_kernel_without_bias_is_named():
    message = failure(
        "2.2",
        lambda x, W, b, stride=1, padding=0: conv_forward(
            x, W[:, :, ::-1, ::-1], 0 * b, stride, padding
        ),
    )
    assert "kernel looks flipped" in message and "bias b seems not to be added" in message


@pytest.mark.parametrize(
    "mistake, words",
    [
        (
            lambda x, W, b, stride=1, padding=0: conv_forward(x, W, b, 1, padding),
            "stride seems to be ignored",
        ),
        (
            lambda x, W, b, stride=1, padding=0: conv_forward(x, W, b, stride, 0),
            "padding seems to be ignored",
        ),
        (
            lambda x, W, b, stride=1, padding=0: conv_forward(x, W, b, 1, 0),
            "padding seems to be ignored",
        ),
    ],
)
def test_conv_stride_and_padding_mistakes_are_named(mistake, words):
    message = failure("2.2", mistake)
    assert words in message
    assert "O = (W - K + 2P) // S + 1" in message


def test_conv_rounding_up_is_named():
    def rounds_up(x, W, b, stride=1, padding=0):
        out = conv_forward(x, W, b, stride, padding)
        n, c, h, w = x.shape
        k = W.shape[2]
        ho = -(-(h - k + 2 * padding) // stride) + 1
        wo = -(-(w - k + 2 * padding) // stride) + 1
        full = np.zeros(out.shape[:2] + (ho, wo))
        full[:, :, : out.shape[2], : out.shape[3]] = out
        return full

    message = failure("2.2", rounds_up)
    assert "rounded up instead of down" in message
    assert "leftover row" in message  # the 8x8, K=3, S=2 case is the first where it shows


def test_conv_windows_that_ignore_the_stride_are_named():
    def strideless(x, W, b, stride=1, padding=0):
        out = conv_forward(x, W, b, 1, padding)
        ho = (x.shape[2] - W.shape[2] + 2 * padding) // stride + 1
        wo = (x.shape[3] - W.shape[2] + 2 * padding) // stride + 1
        return out[:, :, :ho, :wo]

    message = failure("2.2", strideless)
    assert "windows ignore the stride" in message
    assert "i*S" in message


def test_conv_first_channel_only_is_named():
    message = failure(
        "2.2",
        lambda x, W, b, stride=1, padding=0: conv_forward(x[:, :1], W[:, :1], b, stride, padding),
    )
    assert "only the first input channel" in message


def test_conv_edge_padding_is_named():
    def edge_pad(x, W, b, stride=1, padding=0):
        xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)), mode="edge")
        return conv_forward(xp, W, b, stride, 0)

    assert "pad with zeros" in failure("2.2", edge_pad)


def test_conv_swapped_axes_are_named():
    message = failure(
        "2.2",
        lambda x, W, b, stride=1, padding=0: conv_forward(x, W, b, stride, padding).transpose(
            1, 0, 2, 3
        ),
    )
    assert "(N, F, H_out, W_out)" in message


# --- 2.3 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kernel, words",
    [
        (-SOBEL_Y, "opposite edge"),
        (SOBEL_Y.T, "vertical edge"),
        (np.ones((3, 3)), "no edge at all"),
        (np.zeros((3, 3)), "finds no edge"),
        (np.array([[-1.0, -1.0], [2.0, 2.0]]), "sum to 0"),
        (np.array([[-1.0, -1.0, -1.0], [2.0, 2.0, 2.0], [-1.0, -1.0, -1.0]]), "line detector"),
        (np.zeros((1, 3)), "one row"),
        (np.zeros((3, 3, 3)), "2-D kernel"),
        ("sobel", "2-D array of numbers"),
    ],
)
def test_edge_kernel_mistakes_are_named(kernel, words):
    assert words in failure("2.3", kernel)
