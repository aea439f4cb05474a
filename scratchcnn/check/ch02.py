"""Checks for chapter 2 (convolution).

- 2.1 ``corr2d(x, k)``: valid cross-correlation of one 2-D array with one 2-D kernel.
- 2.2 ``conv_forward(x, W, b, stride=1, padding=0)``: the convolutional layer's forward pass.
- 2.3 ``kernel``: a hand-made kernel that finds horizontal edges (low values above, high below).

Each check first compares the output's shape (a wrong shape names the likely indexing mistake),
then its values; when the values are wrong it tries the classic mistakes (a flipped kernel, a
forgotten bias, windows that ignore the stride, ...) and names the one that matches.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..naive import conv_forward_naive, corr2d_naive, output_size
from . import (
    HIDDEN,
    Mistake,
    call,
    diagnose,
    exercise,
    expect_close,
    fail,
    hidden_rng,
    result_array,
    same,
    scored,
)

CROSS_CORRELATION = (
    "cross-correlation, which this book and every framework call 'convolution', does not flip "
    "the kernel: out[i, j] = sum over (p, q) of x[i + p, j + q] * k[p, q]"
)
SIZE_FORMULA = (
    "O = (W - K + 2P) // S + 1 along each axis (W input size, K kernel, P padding, S stride)"
)


def _corr2d(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Valid cross-correlation of a 2-D ``x`` with a 2-D ``k`` (any shapes), vectorized.

    Agrees with :func:`scratchcnn.naive.corr2d_naive` (tests/test_naive_references.py); used where a
    check needs many of them (2.3's step images).
    """
    windows = sliding_window_view(
        np.asarray(x, dtype=np.float64), k.shape
    )  # (H - kh + 1, W - kw + 1, kh, kw)
    return np.einsum("ijpq,pq->ij", windows, np.asarray(k, dtype=np.float64))


# ---------------------------------------------------------------------------------------------
# 2.1 corr2d


def _corr2d_shape_hint(got: tuple, x_shape: tuple, k_shape: tuple) -> str:
    (h, w), (kh, kw) = x_shape, k_shape
    right = (h - kh + 1, w - kw + 1)
    if got == (h - kh, w - kw):
        return (
            f"one row and one column short: a kernel of height {kh} fits at {h} - {kh} + 1 = "
            f"{h - kh + 1} vertical positions, so loop over range(H - kh + 1), not range(H - kh)"
        )
    if got == (h, w):
        return (
            "the output has the input's size: a valid cross-correlation uses no padding, "
            f"so the kernel fits at only (H - kh + 1, W - kw + 1) = {right} positions"
        )
    if got == (h + kh - 1, w + kw - 1):
        return f"that is the 'full' output (every partial overlap); valid mode keeps only the {right} full windows"
    if got == right[::-1]:
        return f"rows and columns are swapped: the output has H - kh + 1 = {right[0]} rows and W - kw + 1 = {right[1]} columns"
    if kh != kw and got in ((h - kh + 1, w - kh + 1), (h - kw + 1, w - kw + 1)):
        return (
            "it looks like one kernel size was used for both axes: a kernel of shape (kh, kw) = "
            f"{k_shape} gives an output of (H - kh + 1, W - kw + 1) = {right}"
        )
    return f"a (H, W) input and a (kh, kw) kernel give a valid output of shape (H - kh + 1, W - kw + 1) = {right}"


def _corr2d_cases(rng: np.random.Generator):
    yield (
        "x = 0..8 as 3x3, k = [[0, 1], [2, 3]]",
        np.arange(9.0).reshape(3, 3),
        np.array([[0.0, 1.0], [2.0, 3.0]]),
    )
    yield (
        "random 6x8 image, random 3x3 kernel",
        rng.standard_normal((6, 8)),
        rng.standard_normal((3, 3)),
    )
    yield (
        "random 5x7 image, non-square 2x3 kernel",
        rng.standard_normal((5, 7)),
        rng.standard_normal((2, 3)),
    )
    yield (
        "random 7x4 image, non-square 3x1 kernel",
        rng.standard_normal((7, 4)),
        rng.standard_normal((3, 1)),
    )
    yield (
        "kernel as large as the 4x5 image (one output pixel)",
        rng.standard_normal((4, 5)),
        rng.standard_normal((4, 5)),
    )
    yield "1x1 kernel (scales the image)", rng.standard_normal((3, 4)), np.array([[2.5]])
    yield (
        "an integer 5x6 image (pixel values 0..255) with a float 2x2 kernel",
        rng.integers(0, 256, (5, 6)),
        np.array([[0.25, -0.5], [0.75, 0.1]]),
    )
    hidden = hidden_rng()
    for i in range(HIDDEN):
        h, w = int(hidden.integers(2, 9)), int(hidden.integers(2, 9))
        kh, kw = int(hidden.integers(1, h + 1)), int(hidden.integers(1, w + 1))
        kind = hidden.integers(3)
        x = (
            hidden.integers(0, 256, (h, w))
            if kind == 0
            else hidden.standard_normal((h, w)).astype(np.float32 if kind == 1 else np.float64)
        )
        k = hidden.standard_normal((kh, kw)).astype(x.dtype if x.dtype.kind == "f" else np.float64)
        yield f"hidden random case {i + 1}: {x.dtype} {h}x{w} image, {kh}x{kw} kernel", x, k


INTEGER_BUFFER = Mistake(
    "the values are truncated to whole numbers: the output buffer seems to be an integer array (np.zeros_like "
    "of an integer image keeps its integer dtype)",
    lambda x, k: np.trunc(corr2d_naive(x, k)),
    "create the output as floats, np.zeros((H_out, W_out)) (float64 by default), whatever the image's dtype",
    when=lambda x, k: np.asarray(x).dtype.kind in "iub",
)
CORR2D_MISTAKES = [
    Mistake(
        "the values are those of the kernel rotated by 180 degrees: the kernel looks flipped, which is a "
        "true (mathematical) convolution",
        lambda x, k: corr2d_naive(x, k[::-1, ::-1]),
        CROSS_CORRELATION,
    ),
    Mistake(
        "the kernel looks flipped upside down",
        lambda x, k: corr2d_naive(x, k[::-1, :]),
        CROSS_CORRELATION,
    ),
    Mistake(
        "the kernel looks flipped left to right",
        lambda x, k: corr2d_naive(x, k[:, ::-1]),
        CROSS_CORRELATION,
    ),
    Mistake(
        "the result is transposed",
        lambda x, k: corr2d_naive(x, k).T,
        "out[i, j] is the window whose corner is at row i and column j",
    ),
    Mistake(
        "the values are those of the transposed kernel",
        lambda x, k: corr2d_naive(x, k.T),
        "k[p, q] multiplies the pixel p rows below and q columns right of the window's corner",
        when=lambda x, k: k.shape[0] == k.shape[1],
    ),
    INTEGER_BUFFER,
]


@exercise("2.1", "cross-correlation of one channel, with loops", numpy_only=True)
def _check_corr2d(corr2d) -> str:
    rng = np.random.default_rng(2021)
    n = 0
    for case, x, k in _corr2d_cases(rng):
        with scored(case):
            expected = corr2d_naive(x, k)
            got = result_array(call(corr2d, x, k, case=case), expected.shape, case)
            if got.shape != expected.shape:
                fail(
                    case,
                    f"the result should have shape {expected.shape} for x of shape {x.shape} and k of "
                    f"shape {k.shape}, got shape {got.shape}",
                    _corr2d_shape_hint(got.shape, x.shape, k.shape),
                )
            if not same(got, expected):
                diagnose(got, (x, k), CORR2D_MISTAKES, case, same)
                expect_close(
                    got,
                    expected,
                    case=case,
                    hint=f"out[i, j] = sum(x[i:i+kh, j:j+kw] * k); {CROSS_CORRELATION}",
                )
            n += 1
    return f"{n} cases, non-square images and kernels included"


# ---------------------------------------------------------------------------------------------
# 2.2 conv_forward


def _out(size: int, k: int, s: int, p: int) -> int:
    return (size - k + 2 * p) // s + 1


def _conv_shape_hint(got: tuple, x_shape: tuple, w_shape: tuple, stride: int, padding: int) -> str:
    n, c, h, w = x_shape
    f, _, k, _ = w_shape
    right = (n, f, _out(h, k, stride, padding), _out(w, k, stride, padding))
    if len(got) != 4:
        return f"the output is (N, F, H_out, W_out) = {right}: one feature map per image and filter"
    if got[:2] != (n, f):
        if got[:2] == (f, n):
            return (
                "the first two axes are swapped: the output is (N, F, H_out, W_out), images first"
            )
        return f"the output has one channel per filter: (N, F, H_out, W_out) with N = {n}, F = {f}"
    size = got[2:]
    wrong = {
        "the stride seems to be ignored": (_out(h, k, 1, padding), _out(w, k, 1, padding)),
        "the padding seems to be ignored": (_out(h, k, stride, 0), _out(w, k, stride, 0)),
        "the stride and the padding seem to be ignored": (_out(h, k, 1, 0), _out(w, k, 1, 0)),
        "the padding seems to be added on one side only": (
            _out(h - padding, k, stride, padding),
            _out(w - padding, k, stride, padding),
        ),
        "the size seems rounded up instead of down": (
            -(-(h - k + 2 * padding) // stride) + 1,
            -(-(w - k + 2 * padding) // stride) + 1,
        ),
    }
    for what, shape in wrong.items():
        if size == shape and shape != right[2:]:
            return f"{what}: {SIZE_FORMULA}, here ({h} - {k} + 2*{padding}) // {stride} + 1 = {right[2]} rows"
    return f"{SIZE_FORMULA}; here the output is {right}"


def _conv_cases(rng: np.random.Generator):
    def make(n, c, h, w, f, k):
        x = rng.standard_normal((n, c, h, w))  # (N, C, H, W)
        W = rng.standard_normal((f, c, k, k))  # (F, C, K, K)
        b = rng.uniform(0.5, 2.0, f) * rng.choice([-1.0, 1.0], f)  # (F,), never near zero
        return x, W, b

    yield (
        "N=2, C=3, 5x5 images, F=4 filters 3x3, stride 1, padding 0",
        *make(2, 3, 5, 5, 4, 3),
        1,
        0,
    )
    yield "N=1, C=1, 6x6 image, F=2 filters 3x3, stride 1, padding 1", *make(1, 1, 6, 6, 2, 3), 1, 1
    yield (
        "N=2, C=2, 7x7 images, F=3 filters 3x3, stride 2, padding 1",
        *make(2, 2, 7, 7, 3, 3),
        2,
        1,
    )
    yield (
        "N=1, C=2, 8x8 image, F=2 filters 3x3, stride 2, padding 0 (one leftover row)",
        *make(1, 2, 8, 8, 2, 3),
        2,
        0,
    )
    yield (
        "N=3, C=2, 5x7 images (not square), F=2 filters 3x3, stride 2, padding 1",
        *make(3, 2, 5, 7, 2, 3),
        2,
        1,
    )
    yield (
        "N=2, C=3, 4x4 images, F=5 filters 1x1, stride 1, padding 0",
        *make(2, 3, 4, 4, 5, 1),
        1,
        0,
    )
    yield "N=1, C=1, 6x6 image, F=1 filter 2x2, stride 3, padding 2", *make(1, 1, 6, 6, 1, 2), 3, 2
    hidden = hidden_rng()
    rng = hidden  # make() draws from `rng`: the hidden cases draw from the hidden generator
    for i in range(HIDDEN):
        n, c, f = (int(v) for v in hidden.integers(1, 4, 3))
        h, w = int(hidden.integers(3, 9)), int(hidden.integers(3, 9))
        k, stride, padding = (
            int(hidden.integers(1, 4)),
            int(hidden.integers(1, 4)),
            int(hidden.integers(0, 3)),
        )
        x, W, b = make(n, c, h, w, f, k)
        if hidden.random() < 0.3:
            x, W, b = x.astype(np.float32), W.astype(np.float32), b.astype(np.float32)
        yield (
            (
                f"hidden random case {i + 1}: N={n}, C={c}, {h}x{w} images, F={f} filters {k}x{k}, stride {stride}, "
                f"padding {padding}"
            ),
            x,
            W,
            b,
            stride,
            padding,
        )


def _strideless_windows(x, W, b, stride, padding, ho, wo):
    """The mistake of starting window (i, j) at (i, j) instead of (i*S, j*S)."""
    return conv_forward_naive(x, W, b, 1, padding)[:, :, :ho, :wo]


def _no_bias(x, W, b, stride, padding):
    return conv_forward_naive(x, W, np.zeros_like(b), stride, padding)


def _flipped(x, W, b, stride, padding):
    return conv_forward_naive(x, W[:, :, ::-1, ::-1], b, stride, padding)


def _strideless(x, W, b, stride, padding):
    ho = output_size(x.shape[2], W.shape[2], stride, padding)
    wo = output_size(x.shape[3], W.shape[2], stride, padding)
    return _strideless_windows(x, W, b, stride, padding, ho, wo)


def _edge_padded(x, W, b, stride, padding):
    pad = ((0, 0), (0, 0), (padding, padding), (padding, padding))
    return conv_forward_naive(np.pad(x, pad, mode="edge"), W, b, stride, 0)


CONV_MISTAKES = [
    Mistake(
        "the bias b seems not to be added: the result equals the weighted sums alone",
        _no_bias,
        "out[n, f, i, j] = sum(window * W[f]) + b[f]: add filter f's bias to every pixel of its feature map",
    ),
    Mistake(
        "the values are those of every kernel rotated by 180 degrees: the kernel looks flipped, which is a "
        "true (mathematical) convolution",
        _flipped,
        CROSS_CORRELATION,
    ),
    Mistake(
        "the kernel looks flipped (rotated by 180 degrees) and the bias b seems not to be added",
        lambda x, W, b, s, p: _no_bias(x, W[:, :, ::-1, ::-1], b, s, p),
        f"{CROSS_CORRELATION}; then add b[f]",
    ),
    Mistake(
        "the output has the right size but its windows ignore the stride",
        _strideless,
        "output pixel (i, j) reads the window that starts at row i*S and column j*S of the padded input",
        when=lambda x, W, b, s, p: s > 1,
    ),
    Mistake(
        "only the first input channel seems to be used",
        lambda x, W, b, s, p: conv_forward_naive(x[:, :1], W[:, :1], b, s, p),
        "each window is (C, K, K): multiply it by W[f], which is (C, K, K) too, and sum over all three axes",
        when=lambda x, W, b, s, p: x.shape[1] > 1,
    ),
    Mistake(
        "the padding repeats the edge pixels",
        _edge_padded,
        "pad with zeros: np.pad(x, ((0, 0), (0, 0), (P, P), (P, P)))",
        when=lambda x, W, b, s, p: p > 0,
    ),
]


@exercise("2.2", "the convolutional layer's forward pass, with loops", numpy_only=True)
def _check_conv_forward(conv_forward) -> str:
    rng = np.random.default_rng(2022)
    n_cases = 0
    for case, x, W, b, stride, padding in _conv_cases(rng):
        with scored(case):
            expected = conv_forward_naive(x, W, b, stride, padding)  # (N, F, H_out, W_out)
            got = result_array(
                call(conv_forward, x, W, b, stride=stride, padding=padding, case=case),
                expected.shape,
                case,
            )
            if got.shape != expected.shape:
                fail(
                    case,
                    f"the result should have shape {expected.shape} for x of shape {x.shape}, W of shape "
                    f"{W.shape}, stride {stride} and padding {padding}, got shape {got.shape}",
                    _conv_shape_hint(got.shape, x.shape, W.shape, stride, padding),
                )
            if not same(got, expected):
                diagnose(got, (x, W, b, stride, padding), CONV_MISTAKES, case, same)
                expect_close(
                    got,
                    expected,
                    case=case,
                    hint="out[n, f, i, j] = b[f] + sum over (c, p, q) of x_padded[n, c, i*S + p, j*S + q] * W[f, c, p, q]",
                )
            n_cases += 1
    return f"{n_cases} cases: several channels and filters, strides 1-3, padding 0-2, a non-square image"


# ---------------------------------------------------------------------------------------------
# 2.3 a hand-made edge kernel


def _step_images(size: int) -> list[np.ndarray]:
    """Zeros at the top and ones at the bottom, with the edge after every possible row."""
    return [
        np.where(np.arange(size)[:, None] >= t, 1.0, 0.0) * np.ones((1, size))
        for t in range(1, size)
    ]


@exercise("2.3", "a kernel that finds horizontal edges")
def _check_edge_kernel(kernel) -> str:
    case = "the kernel itself"
    if kernel is Ellipsis:
        expect_close(kernel, 0, case=case)
    try:
        k = np.asarray(kernel, dtype=float)
    except (TypeError, ValueError):
        fail(case, f"expected a 2-D array of numbers, got {type(kernel).__name__}")
    if k.ndim != 2 or not (1 <= k.shape[0] <= 31 and 1 <= k.shape[1] <= 31):
        fail(
            case,
            f"expected a 2-D kernel such as 3x3 (at most 31x31), got an array of shape {k.shape}",
        )
    if not np.all(np.isfinite(k)):
        fail(case, "the kernel contains NaN or infinity")
    if k.shape[0] < 2:
        fail(
            case,
            f"a kernel with one row (shape {k.shape}) cannot see a change from one row to the next",
            "use at least two rows, e.g. 3x3",
        )
    size = max(
        12, k.shape[0] + 4, k.shape[1] + 4
    )  # room for every edge position, whatever the kernel
    scale = float(np.abs(k).sum()) or 1.0
    tol = 1e-9 * scale

    flat = _corr2d(np.full((size, size), 0.7), k)
    if np.abs(flat).max() > tol:
        fail(
            "a flat image (every pixel 0.7)",
            f"the kernel responds with {flat.max():.4g} where there is no edge at all",
            "an edge detector gives 0 on a flat region: make the weights sum to 0",
        )
    vertical = [_corr2d(img.T, k) for img in _step_images(size)]
    if max(np.abs(v).max() for v in vertical) > tol:
        fail(
            "a vertical edge (0 on the left, 1 on the right)",
            "the kernel responds to a vertical edge",
            "it should see only changes from top to bottom: make every column of the kernel sum to 0",
        )
    responses = np.concatenate([_corr2d(img, k).ravel() for img in _step_images(size)])
    if np.abs(responses).max() <= tol:
        fail(
            "a horizontal edge (0 above, 1 below)",
            "the kernel gives 0 on a horizontal edge: it finds no edge at all",
            "give the bottom row positive weights and the top row negative ones, e.g. Sobel's [[-1, -2, -1], [0, 0, 0], [1, 2, 1]]",
        )
    if responses.max() <= tol:
        fail(
            "a horizontal edge (0 above, 1 below)",
            "the kernel responds negatively: it finds the opposite edge, 1 above and 0 below",
            "multiply the kernel by -1 (and remember that cross-correlation does not flip it: the top row of the kernel meets the top of the window)",
        )
    if responses.min() < -tol:
        fail(
            "a horizontal edge (0 above, 1 below)",
            f"the kernel answers one edge with both signs (from {responses.min():.3g} to {responses.max():.3g}): "
            "that is a line detector, not an edge detector",
            "the weights should go from negative rows at the top to positive rows at the bottom, with no sign change back",
        )
    return f"a {k.shape[0]}x{k.shape[1]} kernel: 0 on flat regions and vertical edges, positive where values rise from top to bottom"
