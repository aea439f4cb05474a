"""The checks of chapter 3's exercises: right answers pass, stubs say "not done", mistakes are named."""

from __future__ import annotations

import math

import numpy as np
import pytest
from checking import passes

from scratchcnn.check import ExerciseFailed, ExerciseNotAttempted, check, exercises
from scratchcnn.layers import MaxPool2D

# --------------------------------------------------------------------------- 3.1 maxpool_forward


def maxpool_right(x, k, stride):
    n, c, h, w = x.shape
    ho, wo = (h - k) // stride + 1, (w - k) // stride + 1
    out = np.zeros((n, c, ho, wo))
    for i in range(ho):
        for j in range(wo):
            out[:, :, i, j] = x[:, :, i * stride : i * stride + k, j * stride : j * stride + k].max(
                axis=(2, 3)
            )
    return out


def maxpool_with_layer(x, k, stride):
    return MaxPool2D(k, stride).forward(x)


def maxpool_generic(x, k, stride, *, window, step, reduce=np.max, size=None):
    """A pooling with configurable mistakes: window width, step between windows, reduction, size."""
    n, c, h, w = x.shape
    ho, wo = size(h, w) if size else ((h - k) // stride + 1, (w - k) // stride + 1)
    out = np.zeros((n, c, ho, wo))
    for i in range(ho):
        for j in range(wo):
            patch = x[:, :, i * step : i * step + window, j * step : j * step + window]
            out[:, :, i, j] = reduce(patch, axis=(2, 3)) if patch.size else 0.0
    return out


def maxpool_stride_ignored(x, k, stride):  # stride 1 everywhere: wrong output size
    return maxpool_generic(x, k, 1, window=k, step=1)


def maxpool_stride1_windows(x, k, stride):  # right size, but window (i, j) starts at (i, j)
    return maxpool_generic(x, k, stride, window=k, step=1)


def maxpool_mean(x, k, stride):
    return maxpool_generic(x, k, stride, window=k, step=stride, reduce=np.mean)


def maxpool_window_is_stride(x, k, stride):
    return maxpool_generic(x, k, stride, window=stride, step=stride)


def maxpool_rounded_up(x, k, stride):
    def size(h, w):
        return math.ceil((h - k) / stride) + 1, math.ceil((w - k) / stride) + 1

    return maxpool_generic(x, k, stride, window=k, step=stride, size=size)


def maxpool_running_max_from_zero(x, k, stride):
    return np.maximum(maxpool_right(x, k, stride), 0)


def maxpool_stub(x, k, stride):
    raise NotImplementedError("Exercise 3.1")


def test_chapter_3_exercises_are_registered():
    ids = exercises()
    assert {"3.1", "3.2", "3.3"} <= set(ids)


@pytest.mark.parametrize("answer", [maxpool_right, maxpool_with_layer])
def test_maxpool_right_answers_pass(answer, capsys):
    passes("3.1", answer, capsys)


@pytest.mark.parametrize("stub", [maxpool_stub, ...])
def test_maxpool_stub_is_not_attempted(stub):
    with pytest.raises(ExerciseNotAttempted):
        check("3.1", stub)


@pytest.mark.parametrize(
    "answer, words",
    [
        (maxpool_stride_ignored, ["shape", "stride seems to be ignored"]),
        (maxpool_stride1_windows, ["ignore the stride"]),
        (maxpool_mean, ["mean", "average pooling", "max()"]),
        (maxpool_window_is_stride, ["windows seem to be 2 wide", "stride"]),
        (maxpool_rounded_up, ["rounded up", "round down"]),
        (maxpool_running_max_from_zero, ["start at 0"]),
    ],
    ids=[
        "stride-ignored",
        "stride-1-windows",
        "mean",
        "window-is-stride",
        "rounded-up",
        "max-from-zero",
    ],
)
def test_maxpool_mistakes_are_named(answer, words):
    with pytest.raises(ExerciseFailed) as info:
        check("3.1", answer)
    message = str(info.value)
    assert not isinstance(info.value, ExerciseNotAttempted)
    assert message.startswith("Exercise 3.1 (")
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


def test_maxpool_error_in_reader_code_is_reported_with_the_case():
    def broken(x, k, stride):
        return x[:, :, ::stride, ::stride][:, :, 10]  # IndexError on 4x4 inputs

    with pytest.raises(ExerciseFailed, match="IndexError"):
        check("3.1", broken)


def test_maxpool_none_result_says_return():
    with pytest.raises(ExerciseFailed, match="return"):
        check("3.1", lambda x, k, stride: None)


# --------------------------------------------------------------------------- 3.2 pool_output_size


def size_right(size, k, stride):
    if k > size:
        raise ValueError(f"a window of {k} does not fit in {size} pixels")
    return (size - k) // stride + 1


def size_no_raise(size, k, stride):
    return (size - k) // stride + 1


def size_float(size, k, stride):
    if k > size:
        raise ValueError("too large")
    return (size - k) / stride + 1


def size_ceil(size, k, stride):
    if k > size:
        raise ValueError("too large")
    return math.ceil((size - k) / stride) + 1


def size_no_plus_one(size, k, stride):
    if k > size:
        raise ValueError("too large")
    return (size - k) // stride


def size_div_k(size, k, stride):
    if k > size:
        raise ValueError("too large")
    return size // k


def test_pool_output_size_right_answer_passes(capsys):
    passes("3.2", size_right, capsys)


def test_pool_output_size_stub_is_not_attempted():
    def stub(size, k, stride):
        raise NotImplementedError

    with pytest.raises(ExerciseNotAttempted):
        check("3.2", stub)


@pytest.mark.parametrize(
    "answer, words",
    [
        (size_float, ["float", "//"]),
        (size_ceil, ["rounded up", "round down"]),
        (size_no_plus_one, ["+ 1"]),
        (size_div_k, ["size // k", "overlapping"]),
        (size_no_raise, ["ValueError", "larger than the input"]),
    ],
    ids=["float", "ceil", "no-plus-one", "div-k", "no-raise"],
)
def test_pool_output_size_mistakes_are_named(answer, words):
    with pytest.raises(ExerciseFailed) as info:
        check("3.2", answer)
    assert not isinstance(info.value, ExerciseNotAttempted)
    for word in words:
        assert word in str(info.value), f"{word!r} not in {str(info.value)!r}"


# --------------------------------------------------------------------------- 3.3 avgpool_forward


def avgpool_right(x, k):
    n, c, h, w = x.shape
    ho, wo = h // k, w // k
    return x[:, :, : ho * k, : wo * k].reshape(n, c, ho, k, wo, k).mean(axis=(3, 5))


def avgpool_wrong_reshape(x, k):
    n, c, h, w = x.shape
    ho, wo = h // k, w // k
    return x[:, :, : ho * k, : wo * k].reshape(n, c, ho, wo, k, k).mean(axis=(4, 5))


def avgpool_no_crop(x, k):
    n, c, h, w = x.shape
    return x.reshape(n, c, h // k, k, w // k, k).mean(axis=(3, 5))


def avgpool_max(x, k):
    n, c, h, w = x.shape
    ho, wo = h // k, w // k
    return x[:, :, : ho * k, : wo * k].reshape(n, c, ho, k, wo, k).max(axis=(3, 5))


def test_avgpool_right_answer_passes(capsys):
    passes("3.3", avgpool_right, capsys)


def test_avgpool_stub_is_not_attempted():
    with pytest.raises(ExerciseNotAttempted):
        check("3.3", ...)


@pytest.mark.parametrize(
    "answer, words",
    [
        (avgpool_wrong_reshape, ["not k x k squares", "(N, C, H // k, k, W // k, k)"]),
        (avgpool_no_crop, ["leftover rows", "ValueError"]),
        (avgpool_max, ["max pooling"]),
    ],
    ids=["wrong-reshape", "no-crop", "max"],
)
def test_avgpool_mistakes_are_named(answer, words):
    with pytest.raises(ExerciseFailed) as info:
        check("3.3", answer)
    assert not isinstance(info.value, ExerciseNotAttempted)
    for word in words:
        assert word in str(info.value), f"{word!r} not in {str(info.value)!r}"
