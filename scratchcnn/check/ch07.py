"""Checks for chapter 7 (tensor contiguity and strides).

- 7.1 ``c_strides(shape, itemsize)``: the strides, in bytes, of a C-ordered array.
- 7.2 ``im2col(x, k, stride=1)``: every ``k x k`` window of one 2-D image as a row of a matrix
  of shape ``(H_out*W_out, k*k)``, built from ``sliding_window_view``.

7.1 compares with the strides NumPy gives an array of that shape and names the usual mistakes
(Fortran order, elements instead of bytes, counting the axis itself). 7.2 hands the function
read-only images, some of them not C-contiguous (a transposed view, as chapter 7 produces), so
an answer that writes through a view or assumes the strides of a C-ordered image is caught.
"""

from __future__ import annotations

import math
import operator

import numpy as np

from ..naive import im2col_naive
from . import (
    HIDDEN,
    ExerciseNotAttempted,
    Mistake,
    call,
    diagnose,
    exercise,
    expect_close,
    fail,
    hidden_rng,
    scored,
)

# ---------------------------------------------------------------------------------------------
# 7.1 c_strides

C_ORDER = (
    "in C order the last axis moves fastest: its stride is the itemsize, and the stride of axis "
    "k is the itemsize times the sizes of all the axes AFTER k"
)


def _c_strides(shape: tuple, itemsize: int) -> tuple:
    """What NumPy does: the strides of an empty C-ordered array of that shape and itemsize."""
    return np.empty(shape, dtype=np.dtype(f"V{itemsize}")).strides


def _as_strides(got, expected: tuple, case: str) -> tuple:
    if got is Ellipsis:
        raise ExerciseNotAttempted()
    if got is None:
        fail(case, "the result is None: did the function forget to `return`?")
    if isinstance(got, np.ndarray):
        got = got.tolist()
    if not isinstance(got, (tuple, list)):
        fail(
            case,
            f"the result should be a tuple of {len(expected)} integers like {expected}, got {type(got).__name__} {got!r:.60}",
        )
    if any(
        isinstance(s, (bool, np.bool_)) or not isinstance(s, (int, np.integer, float, np.floating))
        for s in got
    ):
        fail(case, f"the strides should be integers, got {got!r:.80}")
    if any(float(s) != int(s) for s in got):
        fail(
            case,
            f"the strides should be whole numbers of bytes, got {got!r:.80}",
            "use integer arithmetic (*, not /)",
        )
    return tuple(int(s) for s in got)


def _strides_cases():
    yield "shape (3, 4), itemsize 8 (float64)", (3, 4), 8
    yield "shape (2, 3, 4), itemsize 4 (float32)", (2, 3, 4), 4
    yield "a batch of digits: shape (64, 1, 28, 28), itemsize 4", (64, 1, 28, 28), 4
    yield "shape (5,), itemsize 1 (uint8)", (5,), 1
    yield "shape (4, 1, 3), itemsize 2 (float16)", (4, 1, 3), 2
    yield "shape (2, 5, 1), itemsize 8", (2, 5, 1), 8
    yield "a 0-d array: shape (), itemsize 8", (), 8
    hidden = hidden_rng()
    for i in range(HIDDEN):
        shape = tuple(int(v) for v in hidden.integers(1, 7, int(hidden.integers(1, 5))))
        itemsize = int(hidden.choice([1, 2, 4, 8, 16]))
        yield f"hidden random case {i + 1}: shape {shape}, itemsize {itemsize}", shape, itemsize


def _expected_got(got, shape, itemsize) -> str:
    return f"expected {_c_strides(shape, itemsize)}, got {got}"


STRIDES_MISTAKES = [
    Mistake(
        lambda got, shape, itemsize: (
            f"{_expected_got(got, shape, itemsize)}: those are the strides of Fortran "
            "order, where the FIRST axis moves fastest"
        ),
        lambda shape, itemsize: np.empty(shape, dtype=np.dtype(f"V{itemsize}"), order="F").strides,
        C_ORDER,
        quotes_answer=True,
    ),
    Mistake(
        lambda got, shape, itemsize: (
            f"{_expected_got(got, shape, itemsize)}: those count elements, but NumPy's "
            "strides count bytes"
        ),
        lambda shape, itemsize: tuple(s // itemsize for s in _c_strides(shape, itemsize)),
        lambda got, shape, itemsize: f"multiply by the itemsize ({itemsize} bytes per element)",
        when=lambda shape, itemsize: itemsize > 1,
        quotes_answer=True,
    ),
    Mistake(
        lambda got, shape, itemsize: (
            f"{_expected_got(got, shape, itemsize)}: each stride seems to include the "
            "size of its own axis"
        ),
        lambda shape, itemsize: tuple(itemsize * math.prod(shape[k:]) for k in range(len(shape))),
        C_ORDER,
        quotes_answer=True,
    ),
    Mistake(
        lambda got, shape, itemsize: (
            f"{_expected_got(got, shape, itemsize)}: the strides are listed in reverse order"
        ),
        lambda shape, itemsize: _c_strides(shape, itemsize)[::-1],
        "give one stride per axis, axis 0 first",
        quotes_answer=True,
    ),
]


@exercise("7.1", "strides of a C-ordered array")
def _check_c_strides(c_strides) -> str:
    n = 0
    for case, shape, itemsize in _strides_cases():
        with scored(case):
            expected = _c_strides(shape, itemsize)
            got = _as_strides(call(c_strides, shape, itemsize, case=case), expected, case)
            if got == expected:
                n += 1
                continue
            if len(got) != len(expected):
                fail(
                    case,
                    f"expected {len(expected)} strides (one per axis), got {len(got)}: {got}",
                    C_ORDER,
                )
            diagnose(got, (shape, itemsize), STRIDES_MISTAKES, case, operator.eq)
            fail(case, f"expected {expected}, got {got}", C_ORDER)
    return f"{n} shapes, with axes of size 1 and a 0-d array, agree with NumPy's strides"


# ---------------------------------------------------------------------------------------------
# 7.2 im2col of one image

ROWS_ARE_WINDOWS = (
    "row r holds the window whose top-left corner is at (i*stride, j*stride) with r = i*W_out + j, "
    "read row by row: sliding_window_view(x, (k, k))[::stride, ::stride].reshape(-1, k*k)"
)


def _im2col(x: np.ndarray, k: int, stride: int) -> np.ndarray:
    """One image's windows as rows, (H_out*W_out, k*k): :func:`scratchcnn.naive.im2col_naive`, transposed."""
    return np.ascontiguousarray(im2col_naive(np.asarray(x)[None, None], k, stride).T)


def _read_only(x: np.ndarray) -> np.ndarray:
    x.flags.writeable = False
    return x


def _im2col_cases(rng: np.random.Generator):
    yield "x = 0..15 as a 4x4 image, k=2", np.arange(16.0).reshape(4, 4), 2, 1
    yield "random 6x7 image (float64), k=3", rng.standard_normal((6, 7)), 3, 1
    yield (
        "a 5x7 image that is a transposed view (not C-contiguous, strides (8, 40)), k=3",
        rng.standard_normal((7, 5)).T,
        3,
        1,
    )
    yield "a float32 28x28 image, k=3, stride 2", rng.random((28, 28), dtype=np.float32), 3, 2
    yield (
        "a uint8 9x8 digit-like image, k=2, stride 3",
        rng.integers(0, 256, (9, 8), dtype=np.uint8),
        2,
        3,
    )
    yield (
        "every other column of a 6x12 image (a strided view, strides (96, 16)), k=2",
        rng.standard_normal((6, 12))[:, ::2],
        2,
        1,
    )
    yield "k equal to the 3x4 image's height: k=3", rng.standard_normal((3, 4)), 3, 1
    yield "k=1 (every pixel is a window)", rng.standard_normal((3, 5)), 1, 1
    hidden = hidden_rng()
    for i in range(HIDDEN):
        k, stride = int(hidden.integers(1, 4)), int(hidden.integers(1, 4))
        h, w = int(hidden.integers(k, 10)), int(hidden.integers(k, 10))
        kind = int(hidden.integers(4))
        if kind == 0:
            x = hidden.integers(0, 256, (h, w), dtype=np.uint8)
        elif kind == 1:
            x = hidden.random((h, w), dtype=np.float32)
        elif kind == 2:
            x = hidden.standard_normal((w, h)).T  # a transposed view
        else:
            x = hidden.standard_normal((h, 2 * w))[:, ::2]  # a strided view
        yield (
            f"hidden random case {i + 1}: a {x.dtype} {h}x{w} image, k={k}, stride {stride}",
            x,
            k,
            stride,
        )


def _call_as_given(answer, x: np.ndarray, k: int, stride: int, case: str):
    """Call the reader's function with THIS (read-only, maybe strided) array, not a copy.

    :func:`scratchcnn.check.call` copies array arguments, which would make every image
    C-contiguous and writable; this exercise is about exactly those two properties.
    """
    if not callable(answer):
        call(answer, case=case)  # reports "expected a function"
    try:
        return answer(x, k, stride)
    except NotImplementedError:
        raise ExerciseNotAttempted() from None
    except ValueError as err:
        if "read-only" in str(err):
            fail(
                case,
                f"your code tried to write into the input image ({err})",
                "build the matrix by reading the windows, never by writing through them: a "
                "sliding_window_view is read-only on purpose, and writing through an as_strided "
                "view of overlapping windows changes several pixels at once",
            )
        fail(case, f"your code raised ValueError: {err}")
    except Exception as err:
        fail(case, f"your code raised {type(err).__name__}: {err}")


def _im2col_shape_hint(got: tuple, x_shape: tuple, k: int, stride: int) -> str:
    h, w = x_shape
    ho, wo = (h - k) // stride + 1, (w - k) // stride + 1
    if got == (k * k, ho * wo):
        return (
            f"that is the transpose: one ROW per window, so (H_out*W_out, k*k) = {(ho * wo, k * k)}"
        )
    if got == (ho, wo, k, k):
        return "those are the windows themselves: reshape them to (H_out*W_out, k*k), one row per window"
    if stride > 1 and got == ((h - k + 1) * (w - k + 1), k * k):
        return f"the stride {stride} seems to be ignored: keep every stride-th window, windows[::stride, ::stride]"
    if got == ((h - k) * (w - k), k * k):
        return f"one window short per axis: a k={k} window fits at (H - k) // stride + 1 positions along an axis of size H"
    return f"an (H, W) image has H_out = (H - k) // stride + 1 = {ho} by W_out = {wo} windows of k*k = {k * k} pixels each"


IM2COL_MISTAKES = [
    Mistake(
        "each window is flattened column by column",
        lambda x, k, stride: (
            _im2col(x, k, stride).reshape(-1, k, k).transpose(0, 2, 1).reshape(-1, k * k)
        ),
        "flatten each window row by row (C order): window.reshape(k*k)",
        when=lambda x, k, stride: k > 1,
    ),
]


@exercise("7.2", "im2col of one image with sliding_window_view")
def _check_im2col(im2col) -> str:
    rng = np.random.default_rng(2027)
    n = 0
    for case, x, k, stride in _im2col_cases(rng):
        with scored(case):
            original = x.copy()
            x = _read_only(x)
            expected = _im2col(original, k, stride)  # (H_out*W_out, k*k)
            got = _call_as_given(im2col, x, k, stride, case)
            if not np.array_equal(x, original):
                fail(
                    case,
                    "your function changed its input image",
                    "read the windows; never write through a view of the input",
                )
            if got is None or got is Ellipsis:
                expect_close(got, expected, case=case)
            if not isinstance(got, np.ndarray):
                fail(
                    case,
                    f"the result should be a NumPy array of shape {expected.shape}, got {type(got).__name__}",
                )
            if got.shape != expected.shape:
                fail(
                    case,
                    f"the result should have shape {expected.shape} for a {x.shape} image, k={k}, stride "
                    f"{stride}; got shape {got.shape}",
                    _im2col_shape_hint(got.shape, x.shape, k, stride),
                )
            if not np.array_equal(got, expected):
                diagnose(got, (original, k, stride), IM2COL_MISTAKES, case, np.array_equal)
                # Inline: any order of the right pixels, and any wrong values on a non-contiguous image.
                if np.array_equal(np.sort(got, axis=None), np.sort(expected, axis=None)):
                    fail(
                        case,
                        "the right pixels are there but the rows are in the wrong order",
                        ROWS_ARE_WINDOWS,
                    )
                if x.flags.c_contiguous is False:
                    fail(
                        case,
                        "wrong values for an image that is not C-contiguous (its strides are "
                        f"{x.strides} for shape {x.shape})",
                        "the code seems to assume the strides of a C-ordered image; sliding_window_view "
                        "reads the real strides from x.strides (as_strided would need them too)",
                    )
                expect_close(got, expected, case=case, hint=ROWS_ARE_WINDOWS, rtol=0, atol=0)
            if got.dtype != x.dtype:
                fail(
                    case,
                    f"the result has dtype {got.dtype} but the image is {x.dtype}",
                    "im2col only copies pixels: keep the image's dtype (a float64 matrix from a float32 "
                    "image takes twice the memory); reshape the windows instead of filling np.zeros(...)",
                )
            n += 1
    return f"{n} images: float64, float32 and uint8, strides 1 to 3, a transposed and a strided view, all read-only"
