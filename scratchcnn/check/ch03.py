"""Checks for chapter 3 (pooling).

- 3.1 ``maxpool_forward(x, k, stride)``: max pooling of ``(N, C, H, W)`` images, loops allowed.
- 3.2 ``pool_output_size(size, k, stride)``: the number of windows along one axis.
- 3.3 ``avgpool_forward(x, k)``: average pooling with ``stride = k``, by a reshape (no loops).

Each check first compares the output's shape (a wrong shape names the likely mistake: a stride
that is ignored, a size rounded up, ...), then its values; when the values are wrong it compares
them with the classic mistakes (the mean instead of the maximum, a running maximum started at 0,
windows as wide as the stride, a reshape that mixes up the window axes) and names the one that
matches.
"""

from __future__ import annotations

import math

import numpy as np

from ..naive import maxpool_forward_naive, pool_forward_naive
from . import (
    HIDDEN,
    ExerciseFailed,
    ExerciseNotAttempted,
    Mistake,
    call,
    diagnose,
    exercise,
    expect_close,
    fail,
    hidden_rng,
    rehint,
    result_array,
    same,
    scored,
)

SIZE_FORMULA = (
    "O = (W - K) // S + 1 along each axis (W input size, K window size, S stride): round down"
)
MAX_DEFINITION = (
    "out[n, c, i, j] = max of x[n, c, i*S : i*S + K, j*S : j*S + K]: the window starts at row i*S "
    "and column j*S and is K wide"
)


def _out(size: int, k: int, s: int) -> int:
    return (size - k) // s + 1


def _pool_naive(x: np.ndarray, k: int, s: int, reduce) -> np.ndarray:
    """Pool every ``k x k`` window at stride ``s`` with ``reduce``: :func:`scratchcnn.naive.pool_forward_naive`."""
    return pool_forward_naive(x, k, s, reduce)


# ---------------------------------------------------------------------------------------------
# 3.1 maxpool_forward


def _maxpool_shape_hint(got: tuple, x_shape: tuple, k: int, s: int) -> str:
    n, c, h, w = x_shape
    right = (n, c, _out(h, k, s), _out(w, k, s))
    if len(got) != 4:
        return f"pooling keeps the image and channel axes: (N, C, H_out, W_out) = {right}"
    if got[:2] != (n, c):
        return f"pooling works on every image and every channel separately: the output is (N, C, H_out, W_out) = {right}"
    size = got[2:]
    wrong = {
        "the stride seems to be ignored (windows taken at every position, stride 1)": (
            _out(h, k, 1),
            _out(w, k, 1),
        ),
        "the stride seems to be taken equal to the window size K": (_out(h, k, k), _out(w, k, k)),
        "the size seems rounded up instead of down (a partial window at the edge was kept)": (
            -(-(h - k) // s) + 1,
            -(-(w - k) // s) + 1,
        ),
        "the output has the input's size": (h, w),
        "the size seems to be H // K instead of (H - K) // S + 1": (h // k, w // k),
    }
    for what, shape in wrong.items():
        if size == shape and shape != right[2:]:
            return f"{what}: {SIZE_FORMULA}; here ({h} - {k}) // {s} + 1 = {right[2]} rows"
    return f"{SIZE_FORMULA}; here the output is {right}"


def _maxpool_cases(rng: np.random.Generator):
    hand = np.array([[1, 3, 2, 0], [4, 2, 1, 5], [0, 1, 3, 2], [6, 2, 0, 4]], dtype=float)
    yield "the 4x4 example of the chapter, K = 2, S = 2", hand.reshape(1, 1, 4, 4), 2, 2
    yield "N=2, C=3, random 6x6 images, K = 2, S = 2", rng.standard_normal((2, 3, 6, 6)), 2, 2
    yield (
        "N=2, C=2, random 7x7 images, overlapping K = 3, S = 2",
        rng.standard_normal((2, 2, 7, 7)),
        3,
        2,
    )
    yield (
        "N=1, C=2, random 7x5 images (not square, a leftover row), K = 2, S = 2",
        rng.standard_normal((1, 2, 7, 5)),
        2,
        2,
    )
    yield "N=1, C=1, random 5x5 image, K = 2, S = 1", rng.standard_normal((1, 1, 5, 5)), 2, 1
    yield (
        "N=2, C=1, all values negative, 4x6 images, K = 2, S = 2",
        -rng.uniform(1, 2, (2, 1, 4, 6)),
        2,
        2,
    )
    yield "N=1, C=1, random 9x9 image, K = 3, S = 3", rng.standard_normal((1, 1, 9, 9)), 3, 3
    # Windows with gaps between them (K < S): windows placed every K pixels go wrong only here.
    yield (
        "N=2, C=1, random 8x9 images, gaps between windows, K = 2, S = 3",
        rng.standard_normal((2, 1, 8, 9)),
        2,
        3,
    )
    hidden = hidden_rng()
    for i in range(HIDDEN):
        n, c = int(hidden.integers(1, 4)), int(hidden.integers(1, 4))
        k, st = (
            int(hidden.integers(2, 5)),
            int(hidden.integers(1, 4)),
        )  # k = 1 would let x itself pass
        h, w = int(hidden.integers(k, 10)), int(hidden.integers(k, 10))
        x = hidden.standard_normal((n, c, h, w)) - (2.0 if hidden.random() < 0.2 else 0.0)
        if hidden.random() < 0.3:
            x = x.astype(np.float32)
        yield (
            f"hidden random case {i + 1}: N={n}, C={c}, {x.dtype} {h}x{w} images, K = {k}, S = {st}",
            x,
            k,
            st,
        )


def _cut(pooled: np.ndarray, x: np.ndarray, k: int, s: int) -> np.ndarray:
    """``pooled`` cut to the right output size (the mistaken code loops over the right range)."""
    return pooled[:, :, : _out(x.shape[2], k, s), : _out(x.shape[3], k, s)]


MAXPOOL_MISTAKES = [
    Mistake(
        "the values are the mean of each window, not its maximum: that is average pooling",
        lambda x, k, s: _pool_naive(x, k, s, np.mean),
        f"take window.max() instead of window.mean(); {MAX_DEFINITION}",
    ),
    Mistake(
        "every negative maximum came out as 0: the running maximum seems to start at 0",
        lambda x, k, s: np.maximum(maxpool_forward_naive(x, k, s), 0),
        "start from the window's first value (or -inf), or simply use window.max(): a pooling layer's input "
        "can be negative, e.g. a feature map with no ReLU before the pooling",
    ),
    Mistake(
        lambda x, k, s: (
            f"the output has the right size but its windows ignore the stride {s}: window (i, j) starts at (i, j)"
        ),
        lambda x, k, s: _cut(_pool_naive(x, k, 1, np.max), x, k, s),
        MAX_DEFINITION,
        when=lambda x, k, s: s != 1,
    ),
    Mistake(
        lambda x, k, s: f"the windows seem to be {s} wide (the stride) instead of K = {k}",
        lambda x, k, s: _cut(_pool_naive(x, s, s, np.max), x, k, s),
        f"the window size and the stride are different numbers here; {MAX_DEFINITION}",
        when=lambda x, k, s: s != k,
    ),
    Mistake(
        lambda x, k, s: (
            f"the windows seem to start every K = {k} positions instead of every S = {s}"
        ),
        lambda x, k, s: _cut(_pool_naive(x, k, k, np.max), x, k, s),
        MAX_DEFINITION,
        when=lambda x, k, s: s != k,
    ),
]


@exercise("3.1", "max pooling forward, with loops")
def _check_maxpool(maxpool_forward) -> str:
    rng = np.random.default_rng(2031)
    n_cases = 0
    for case, x, k, s in _maxpool_cases(rng):
        with scored(case):
            expected = maxpool_forward_naive(x, k, s)  # (N, C, H_out, W_out)
            got = result_array(call(maxpool_forward, x, k, s, case=case), expected.shape, case)
            if got.shape != expected.shape:
                fail(
                    case,
                    f"the result should have shape {expected.shape} for x of shape {x.shape}, k = {k} and "
                    f"stride = {s}, got shape {got.shape}",
                    _maxpool_shape_hint(got.shape, x.shape, k, s),
                )
            if not same(got, expected):
                diagnose(got, (x, k, s), MAXPOOL_MISTAKES, case, same)
                expect_close(got, expected, case=case, hint=MAX_DEFINITION)
            n_cases += 1
    return f"{n_cases} cases: K = S, overlapping windows (K = 3, S = 2), gaps (K = 2, S = 3), stride 1, leftover rows, negative inputs"


# ---------------------------------------------------------------------------------------------
# 3.2 pool_output_size

_SIZE_CASES = (
    (26, 2, 2),  # the book's model: 26 -> 13
    (28, 2, 2),
    (27, 2, 2),  # a leftover row: dropped
    (26, 3, 2),  # overlapping windows
    (13, 3, 2),
    (7, 3, 2),
    (224, 3, 2),
    (5, 5, 1),  # one window
    (10, 1, 1),
    (9, 3, 3),
    (12, 4, 3),
)


def _size_hint(got, size: int, k: int, s: int) -> str:
    right = _out(size, k, s)
    candidates = {
        "the result was rounded up: a window that would stick out past the edge does not count, "
        "so round down with //": math.ceil((size - k) / s) + 1,
        "the '+ 1' is missing: the first window sits at position 0 before any step is taken": (
            size - k
        )
        // s,
        "that is size // k, which is right only when the stride equals the window size; with overlapping "
        "windows the answer depends on the stride": size // k,
        "that is size // stride, which forgets that the last window must fit entirely": size // s,
    }
    for what, value in candidates.items():
        if got == value and value != right:
            return f"{what}; {SIZE_FORMULA}"
    return SIZE_FORMULA


def _size_cases():
    for size, k, s in _SIZE_CASES:
        yield f"size = {size}, k = {k}, stride = {s}", size, k, s
    hidden = hidden_rng()
    for i in range(HIDDEN):
        k, s = int(hidden.integers(1, 8)), int(hidden.integers(1, 5))
        size = int(hidden.integers(k, 300))
        yield f"hidden random case {i + 1}: size = {size}, k = {k}, stride = {s}", size, k, s


@exercise("3.2", "the output size of a pooling layer")
def _check_pool_output_size(pool_output_size) -> str:
    for case, size, k, s in _size_cases():
        with scored(case):
            got = call(pool_output_size, size, k, s, case=case)
            expected = _out(size, k, s)
            if got is None or got is Ellipsis:
                expect_close(got, expected, case=case)
            if isinstance(got, (float, np.floating)):
                fail(
                    case,
                    f"the result is the float {got!r}; a number of windows is an integer",
                    "use integer division (size - k) // stride + 1, not /",
                )
            if isinstance(got, (bool, np.bool_)) or not isinstance(got, (int, np.integer)):
                fail(case, f"expected an int, got {type(got).__name__} {got!r:.60}")
            if got != expected:
                fail(
                    case,
                    f"expected {expected} windows, got {got}",
                    _size_hint(int(got), size, k, s),
                )
    case = "size = 2, k = 3, stride = 1 (the window is larger than the input)"
    with scored(case):
        _window_too_large(pool_output_size, case)
    return f"{len(_SIZE_CASES) + HIDDEN} sizes (K = S, overlapping windows, leftover rows) and a window larger than the input"


def _window_too_large(pool_output_size, case: str) -> None:
    try:
        got = pool_output_size(2, 3, 1)
    except ValueError:
        pass
    except NotImplementedError:
        raise ExerciseNotAttempted() from None
    except Exception as err:
        fail(case, f"expected a ValueError, got {type(err).__name__}: {err}")
    else:
        fail(
            case,
            f"expected a ValueError, got {got!r}",
            "no 3-wide window fits in 2 pixels; the formula would give (2 - 3) // 1 + 1 = 0, which "
            "hides the mistake: raise ValueError(...) naming the sizes when k > size",
        )


# ---------------------------------------------------------------------------------------------
# 3.3 avgpool_forward


def _avgpool_cases(rng: np.random.Generator):
    hand = np.arange(16, dtype=float).reshape(1, 1, 4, 4)
    yield "x = 0..15 as one 4x4 image, k = 2", hand, 2
    yield "N=2, C=3, random 6x6 images, k = 2", rng.standard_normal((2, 3, 6, 6)), 2
    yield "N=1, C=2, random 6x9 images (not square), k = 3", rng.standard_normal((1, 2, 6, 9)), 3
    yield (
        "N=3, C=3, random 4x4 images, k = 2 (as many images as channels)",
        rng.standard_normal((3, 3, 4, 4)),
        2,
    )
    yield (
        "N=2, C=1, random 7x7 images (a leftover row and column), k = 2",
        rng.standard_normal((2, 1, 7, 7)),
        2,
    )
    yield "N=1, C=1, random 5x8 image (leftovers), k = 3", rng.standard_normal((1, 1, 5, 8)), 3
    hidden = hidden_rng()
    for i in range(HIDDEN):
        n, c, k = (
            int(hidden.integers(1, 4)),
            int(hidden.integers(1, 4)),
            int(hidden.integers(2, 5)),
        )  # k > 1
        h, w = int(hidden.integers(k, 11)), int(hidden.integers(k, 11))
        yield (
            f"hidden random case {i + 1}: N={n}, C={c}, {h}x{w} images, k = {k}",
            hidden.standard_normal((n, c, h, w)),
            k,
        )


def _wrong_reshape(x: np.ndarray, k: int) -> np.ndarray:
    """The mistake reshape(N, C, H/k, W/k, k, k): it cuts each row into pieces, not windows."""
    n, c, h, w = x.shape
    ho, wo = h // k, w // k
    return x[:, :, : ho * k, : wo * k].reshape(n, c, ho, wo, k, k).mean(axis=(4, 5))


AVGPOOL_MISTAKES = [
    Mistake(
        "the values are each window's maximum: that is max pooling",
        lambda x, k: _pool_naive(x, k, k, np.max),
        "take the mean over the window axes",
    ),
    Mistake(
        "the windows are not k x k squares: reshape(N, C, H // k, W // k, k, k) cuts each image row into "
        "pieces of k consecutive pixels instead",
        _wrong_reshape,
        "in memory, a row's pixels are contiguous: reshape to (N, C, H // k, k, W // k, k) (row block, row in "
        "block, column block, column in block) and average axes (3, 5)",
    ),
]


@exercise("3.3", "average pooling by a reshape")
def _check_avgpool(avgpool_forward) -> str:
    rng = np.random.default_rng(2033)
    n_cases = 0
    for case, x, k in _avgpool_cases(rng):
        with scored(case):
            expected = _pool_naive(x, k, k, np.mean)  # (N, C, H // k, W // k)
            leftover = x.shape[2] % k or x.shape[3] % k
            try:
                raw = call(avgpool_forward, x, k, case=case)
            except ExerciseNotAttempted:
                raise
            except ExerciseFailed as err:
                if leftover:
                    rehint(
                        err,
                        f"{x.shape[2]} rows do not split into whole windows of {k}: drop "
                        f"the leftover rows and columns first, x[:, :, :H_out*k, :W_out*k], as max "
                        "pooling does, then reshape",
                    )
                raise
            got = result_array(raw, expected.shape, case)
            if got.shape != expected.shape:
                fail(
                    case,
                    f"the result should have shape {expected.shape} for x of shape {x.shape} and k = {k}, got shape {got.shape}",
                    "(N, C, H, W) -> (N, C, H // k, k, W // k, k), then the mean over the two window axes 3 and 5",
                )
            if not same(got, expected):
                diagnose(got, (x, k), AVGPOOL_MISTAKES, case, same)
                expect_close(
                    got,
                    expected,
                    case=case,
                    hint="out[n, c, i, j] = mean of x[n, c, i*k:(i+1)*k, j*k:(j+1)*k]",
                )
            n_cases += 1
    return f"{n_cases} cases, including non-square images and leftover rows and columns"
