"""The chapter 7 checks accept right answers and name each classic mistake."""

from __future__ import annotations

import math

import numpy as np
import pytest
from checking import failure, passes, stub
from numpy.lib.stride_tricks import as_strided, sliding_window_view

from scratchcnn.check import ExerciseNotAttempted, check, exercises

# --- 7.1 c_strides --------------------------------------------------------------------------


def c_strides(shape, itemsize):
    strides, step = [], itemsize
    for size in reversed(shape):
        strides.append(step)
        step *= size
    return tuple(reversed(strides))


def fortran_strides(shape, itemsize):
    strides, step = [], itemsize
    for size in shape:
        strides.append(step)
        step *= size
    return tuple(strides)


def element_strides(shape, itemsize):
    return tuple(s // itemsize for s in c_strides(shape, itemsize))


def own_axis_included(shape, itemsize):
    return tuple(itemsize * math.prod(shape[k:]) for k in range(len(shape)))


def reversed_strides(shape, itemsize):
    return c_strides(shape, itemsize)[::-1]


def float_strides(shape, itemsize):
    return [itemsize * math.prod(shape) / math.prod(shape[: k + 1]) for k in range(len(shape))]


# --- 7.2 im2col -----------------------------------------------------------------------------


def im2col(x, k, stride=1):
    windows = sliding_window_view(x, (k, k))[::stride, ::stride]  # (H_out, W_out, k, k)
    return windows.reshape(-1, k * k)


def im2col_loops(x, k, stride=1):
    ho, wo = (x.shape[0] - k) // stride + 1, (x.shape[1] - k) // stride + 1
    out = np.empty((ho * wo, k * k), dtype=x.dtype)
    for i in range(ho):
        for j in range(wo):
            out[i * wo + j] = x[i * stride : i * stride + k, j * stride : j * stride + k].reshape(
                -1
            )
    return out


def im2col_as_strided_right(x, k, stride=1):
    ho, wo = (x.shape[0] - k) // stride + 1, (x.shape[1] - k) // stride + 1
    sh, sw = x.strides
    windows = as_strided(x, (ho, wo, k, k), (stride * sh, stride * sw, sh, sw), writeable=False)
    return windows.reshape(-1, k * k)


def im2col_transposed(x, k, stride=1):
    return im2col(x, k, stride).T


def im2col_column_major(x, k, stride=1):
    windows = sliding_window_view(x, (k, k))[::stride, ::stride]
    return windows.transpose(0, 1, 3, 2).reshape(-1, k * k)


def im2col_no_stride(x, k, stride=1):
    return sliding_window_view(x, (k, k)).reshape(-1, k * k)


def im2col_columns_first(x, k, stride=1):
    windows = sliding_window_view(x, (k, k))[::stride, ::stride]
    return windows.transpose(1, 0, 2, 3).reshape(-1, k * k)


def im2col_c_order_assumed(x, k, stride=1):
    """as_strided with the strides a C-ordered image WOULD have: wrong for views."""
    h, w = x.shape
    ho, wo = (h - k) // stride + 1, (w - k) // stride + 1
    item = x.itemsize
    windows = as_strided(
        x, (ho, wo, k, k), (stride * w * item, stride * item, w * item, item), writeable=False
    )
    return windows.reshape(-1, k * k)


def im2col_writes_through_view(x, k, stride=1):
    windows = as_strided(x, (x.shape[0] - k + 1, x.shape[1] - k + 1, k, k), x.strides * 2)
    windows[...] = windows  # "harmless": but overlapping windows written through a view
    return windows[::stride, ::stride].reshape(-1, k * k)


def im2col_makes_writable_and_scales(x, k, stride=1):
    x.flags.writeable = True  # allowed: the array owns its memory
    x *= 1  # no change for most values...
    x[0, 0] = 0  # ...but this one changes the reader's image
    return im2col(x, k, stride)


def im2col_float64(x, k, stride=1):
    ho, wo = (x.shape[0] - k) // stride + 1, (x.shape[1] - k) // stride + 1
    out = np.zeros((ho * wo, k * k))
    out[...] = im2col(x, k, stride)
    return out


def test_the_exercises_are_registered():
    assert {"7.1", "7.2"} <= set(exercises())


@pytest.mark.parametrize(
    "exercise_id, answer",
    [
        ("7.1", c_strides),
        ("7.1", lambda shape, itemsize: np.empty(shape, dtype=f"V{itemsize}").strides),
        ("7.1", lambda shape, itemsize: [np.int64(s) for s in c_strides(shape, itemsize)]),
        ("7.2", im2col),
        ("7.2", im2col_loops),
        ("7.2", im2col_as_strided_right),
    ],
)
def test_right_answers_pass(exercise_id, answer, capsys):
    passes(exercise_id, answer, capsys)


@pytest.mark.parametrize("exercise_id", ["7.1", "7.2"])
@pytest.mark.parametrize("answer", [stub, ...])
def test_stubs_are_not_attempted(exercise_id, answer):
    with pytest.raises(ExerciseNotAttempted, match="not done yet"):
        check(exercise_id, answer)


@pytest.mark.parametrize(
    "answer, words",
    [
        (fortran_strides, ["Fortran order", "last axis moves fastest"]),
        (element_strides, ["count elements", "bytes", "multiply by the itemsize"]),
        (own_axis_included, ["include the size of its own axis", "AFTER k"]),
        (reversed_strides, ["reverse order"]),
        (lambda shape, itemsize: None, ["None", "return"]),
        (lambda shape, itemsize: "8, 8", ["tuple of 2 integers"]),
        (lambda shape, itemsize: c_strides(shape, itemsize)[:-1], ["one per axis"]),
    ],
)
def test_strides_mistakes_are_named(answer, words):
    message = failure("7.1", answer)
    for word in words:
        assert word in message, message


def test_float_strides_pass_only_when_whole():
    check("7.1", float_strides)  # whole numbers of bytes, given as floats: accepted
    message = failure("7.1", lambda shape, itemsize: [s + 0.5 for s in c_strides(shape, itemsize)])
    assert "whole numbers of bytes" in message


@pytest.mark.parametrize(
    "answer, words",
    [
        (im2col_transposed, ["that is the transpose", "one ROW per window"]),
        (im2col_column_major, ["column by column", "row by row"]),
        (im2col_no_stride, ["stride 2 seems to be ignored", "[::stride, ::stride]"]),
        (im2col_columns_first, ["rows are in the wrong order", "r = i*W_out + j"]),
        (im2col_c_order_assumed, ["not C-contiguous", "strides of a C-ordered image", "x.strides"]),
        (im2col_writes_through_view, ["tried to write into the input image", "read-only"]),
        (im2col_makes_writable_and_scales, ["changed its input image"]),
        (im2col_float64, ["dtype float64", "float32", "twice the memory"]),
        (lambda x, k, stride=1: None, ["None", "return"]),
        (lambda x, k, stride=1: im2col(x, k, stride).tolist(), ["NumPy array", "list"]),
    ],
)
def test_im2col_mistakes_are_named(answer, words):
    message = failure("7.2", answer)
    for word in words:
        assert word in message, message


def test_im2col_check_names_the_failing_case():
    message = failure("7.2", im2col_c_order_assumed)
    assert "transposed view" in message  # the case that exposes the assumption
