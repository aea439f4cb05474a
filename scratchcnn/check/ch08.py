"""Checks for chapter 8 (making the CNN fast).

- 8.1 ``col2im(dcols, x_shape, kernel_size, stride=1)``: the gradient of the im2col matrix
  added back onto the image, with overlapping windows accumulated (the heart of the fast
  convolution's backward pass).
- 8.2 ``conv_forward_im2col(x, W, b, stride=1, padding=0)``: the convolution's forward pass as
  one matrix product over the whole batch, with stride and padding.

The im2col layout is the chapter's: ``cols`` has shape ``(C*K*K, N*H_out*W_out)``, its rows
ordered ``(c, p, q)`` (channel, row and column inside the window) and its columns ``(n, i, j)``
(image, output row, output column).

8.1 starts with windows that do not overlap (where assigning instead of adding goes unnoticed)
and then makes them overlap (stride < kernel): an answer that is wrong exactly where windows
overlap is told so. 8.2 compares with the loop convolution of :mod:`scratchcnn.naive` and names
the reshape that mixes images and filters up, a flipped kernel, a missing bias, and a float32
input turned into a float64 output.
"""

from __future__ import annotations

import numpy as np

from ..naive import col2im_naive, im2col_naive
from . import HIDDEN, Mistake, call, diagnose, exercise, expect_close, fail, hidden_rng, scored

# ---------------------------------------------------------------------------------------------
# 8.1 col2im

LAYOUT = (
    "row (c, p, q) and column (n, i, j) of dcols belong at dx[n, c, i*stride + p, j*stride + q]: "
    "dcols.reshape(C, K, K, N, H_out, W_out)[:, p, q] is one (C, N, H_out, W_out) block per offset (p, q)"
)
ACCUMULATE = (
    "a pixel covered by several windows receives a gradient from each of them: add with "
    "dx[:, :, p : p + stride*H_out : stride, q : q + stride*W_out : stride] += block (or np.add.at), "
    "never assign with =. Beware that "
    "fancy indexing dx[rows, cols] += values also keeps only one of repeated indices"
)


def _out(size: int, k: int, s: int) -> int:
    return (size - k) // s + 1


def _targets(x_shape: tuple, k: int, stride: int, place: int | None = None):
    """Index arrays (n, c, row, col) of every entry of the (C*K*K, N*H_out*W_out) matrix."""
    n, c, h, w = x_shape
    ho, wo = _out(h, k, stride), _out(w, k, stride)
    place = stride if place is None else place
    cc, pp, qq, nn, ii, jj = np.meshgrid(
        np.arange(c),
        np.arange(k),
        np.arange(k),
        np.arange(n),
        np.arange(ho),
        np.arange(wo),
        indexing="ij",
    )
    return nn.ravel(), cc.ravel(), (ii * place + pp).ravel(), (jj * place + qq).ravel()


def _col2im(
    dcols: np.ndarray, x_shape: tuple, k: int, stride: int, place: int | None = None
) -> np.ndarray:
    """Every entry added to its pixel with np.add.at (repeated pixels accumulate).

    With ``place == stride`` (the default) this is :func:`scratchcnn.naive.col2im_naive`; another
    ``place`` makes the mistake of windows placed ``place`` pixels apart.
    """
    if place is None or place == stride:
        return col2im_naive(dcols, x_shape, k, stride)
    dx = np.zeros(x_shape, dtype=dcols.dtype)  # (N, C, H, W)
    np.add.at(dx, _targets(x_shape, k, stride, place), dcols.ravel())
    return dx


def _coverage(x_shape: tuple, k: int, stride: int) -> np.ndarray:
    """How many windows cover each pixel."""
    return _col2im(
        np.ones(
            (
                x_shape[1] * k * k,
                x_shape[0] * _out(x_shape[2], k, stride) * _out(x_shape[3], k, stride),
            )
        ),
        x_shape,
        k,
        stride,
    )


def _require_shape(got, shape: tuple, case: str, name: str) -> None:
    """Fail for None, the stub, a non-array or a wrong shape (values are compared later)."""
    if got is None or got is Ellipsis:
        expect_close(got, np.zeros(shape), case=case, name=name)  # raises the right error
    try:
        got_shape = np.asarray(got, dtype=float).shape
    except (TypeError, ValueError):
        fail(case, f"{name} should be an array of shape {shape}, got {type(got).__name__}")
    if got_shape != shape:
        fail(case, f"{name} should have shape {shape}, got shape {got_shape}")


def _col2im_cases(rng: np.random.Generator):
    def make(n, c, h, w, k, s, dtype=np.float64):
        rows, cols_ = c * k * k, n * _out(h, k, s) * _out(w, k, s)
        return rng.standard_normal((rows, cols_)).astype(dtype), (n, c, h, w), k, s

    yield (
        "no overlap: N=1, C=1, 4x4 image, kernel 2, stride 2",
        np.arange(16.0).reshape(4, 4),
        (1, 1, 4, 4),
        2,
        2,
    )
    yield "no overlap: N=2, C=2, 6x4 images, kernel 2, stride 2", *make(2, 2, 6, 4, 2, 2)
    yield (
        "overlapping windows: N=2, C=2, 6x5 images, kernel 3, stride 1 (up to 9 windows per pixel)",
        *make(2, 2, 6, 5, 3, 1),
    )
    yield (
        "overlapping windows: N=2, C=1, 7x7 images, kernel 3, stride 2 (windows share a row or column)",
        *make(2, 1, 7, 7, 3, 2),
    )
    yield (
        "gaps: N=1, C=2, 8x8 image, kernel 2, stride 3 (pixels no window covers, a leftover row)",
        *make(1, 2, 8, 8, 2, 3),
    )
    yield "float32: N=3, C=1, 9x9 images, kernel 3, stride 1", *make(3, 1, 9, 9, 3, 1, np.float32)
    yield "one window as large as the 3x3 image: N=2, C=3, kernel 3", *make(2, 3, 3, 3, 3, 1)
    yield "kernel 1: N=3, C=2, 3x4 images", *make(3, 2, 3, 4, 1, 1)
    hidden = hidden_rng()
    rng = hidden  # make() draws from `rng`
    for i in range(HIDDEN):
        n, c, k, s = (int(v) for v in hidden.integers(1, 4, 4))
        h, w = int(hidden.integers(k, 9)), int(hidden.integers(k, 9))
        dtype = np.float32 if hidden.random() < 0.3 else np.float64
        yield (
            f"hidden random case {i + 1}: N={n}, C={c}, {h}x{w} images, kernel {k}, stride {s}, {np.dtype(dtype).name}",
            *make(n, c, h, w, k, s, dtype),
        )


def _swapped_offsets(dcols: np.ndarray, x_shape: tuple, k: int, stride: int) -> np.ndarray:
    """The mistake of reading the rows of dcols as (c, q, p) instead of (c, p, q)."""
    swapped = dcols.reshape(x_shape[1], k, k, -1).transpose(0, 2, 1, 3).reshape(dcols.shape)
    return _col2im(swapped, x_shape, k, stride)


COL2IM_MISTAKES = [
    Mistake(
        "the offsets p and q inside the window seem swapped",
        _swapped_offsets,
        LAYOUT,
        when=lambda dcols, x_shape, k, stride: k > 1,
    ),
    Mistake(
        lambda dcols, x_shape, k, stride: (
            f"the windows seem to be placed one pixel apart, ignoring the stride {stride}"
        ),
        lambda dcols, x_shape, k, stride: _col2im(dcols, x_shape, k, stride, place=1),
        "window (i, j) starts at row i*stride and column j*stride: slice dx[..., p : p + stride*H_out : stride, ...]",
        when=lambda dcols, x_shape, k, stride: stride > 1,
    ),
]


@exercise("8.1", "col2im: adding overlapping windows' gradients back")
def _check_col2im(col2im) -> str:
    rng = np.random.default_rng(2028)
    n_cases = 0
    for case, dcols, x_shape, k, stride in _col2im_cases(rng):
        with scored(case):
            expected = _col2im(dcols, x_shape, k, stride)  # (N, C, H, W)
            got = call(col2im, dcols, x_shape, k, stride, case=case)
            _require_shape(got, x_shape, case, "dx")
            got_arr = np.asarray(got, dtype=float)
            tol = (
                {"rtol": 1e-5, "atol": 1e-6}
                if dcols.dtype == np.float32
                else {"rtol": 1e-9, "atol": 1e-12}
            )
            if not np.allclose(got_arr, expected, **tol):
                # Inline: where the answer is right (only at single-window pixels, everywhere but the
                # uncovered ones) says what went wrong, whatever its values elsewhere.
                cover = _coverage(x_shape, k, stride)
                overlap, uncovered = cover > 1, cover == 0
                right = np.isclose(got_arr, expected, **tol)
                if overlap.any() and right[~overlap].all() and not right[overlap].all():
                    fail(
                        case,
                        f"dx is right where one window covers a pixel but wrong where windows overlap "
                        f"(kernel {k} > stride {stride}: up to {int(cover.max())} windows cover a pixel); "
                        "only one window's gradient seems to arrive there",
                        ACCUMULATE,
                    )
                if uncovered.any() and right[~uncovered].all():
                    fail(
                        case,
                        "dx is wrong only at pixels that no window covers: they must be 0",
                        "start from np.zeros(x_shape, dtype=dcols.dtype), not np.empty (which holds whatever was in memory)",
                    )
                diagnose(
                    got_arr,
                    (dcols, x_shape, k, stride),
                    COL2IM_MISTAKES,
                    case,
                    lambda a, b, tol=tol: np.allclose(a, b, **tol),
                )
                expect_close(got_arr, expected, case=case, name="dx", hint=LAYOUT, **tol)
            if isinstance(got, np.ndarray) and got.dtype != dcols.dtype:
                fail(
                    case,
                    f"dx has dtype {got.dtype} but dcols is {dcols.dtype}",
                    "create dx with np.zeros(x_shape, dtype=dcols.dtype): a float64 gradient in a float32 "
                    "network doubles the memory traffic of every layer below it",
                )
            n_cases += 1
    return f"{n_cases} cases: overlapping windows (stride 1 and 2 with kernel 3), gaps, float32, kernel 1"


# ---------------------------------------------------------------------------------------------
# 8.2 convolution forward by im2col


def _conv_cases(rng: np.random.Generator):
    def make(n, c, h, w, f, k, dtype=np.float64):
        x = rng.standard_normal((n, c, h, w)).astype(dtype)  # (N, C, H, W)
        W = rng.standard_normal((f, c, k, k)).astype(dtype)  # (F, C, K, K)
        b = (rng.uniform(0.5, 2.0, f) * rng.choice([-1.0, 1.0], f)).astype(
            dtype
        )  # (F,), never near 0
        return x, W, b

    yield (
        "N=2, C=3, 6x6 images, F=4 filters 3x3, stride 1, padding 0",
        *make(2, 3, 6, 6, 4, 3),
        1,
        0,
    )
    yield (
        "the book's layer: N=3, C=1, 28x28 images, F=8 filters 3x3",
        *make(3, 1, 28, 28, 8, 3),
        1,
        0,
    )
    yield (
        "N=2, C=2, 7x7 images, F=3 filters 3x3, stride 2, padding 1",
        *make(2, 2, 7, 7, 3, 3),
        2,
        1,
    )
    yield (
        "N=2, C=2, 8x6 images (not square), F=2 filters 2x2, stride 2, padding 0",
        *make(2, 2, 8, 6, 2, 2),
        2,
        0,
    )
    yield (
        "N=2, C=1, 5x5 images, F=2 filters 5x5, stride 1, padding 2",
        *make(2, 1, 5, 5, 2, 5),
        1,
        2,
    )
    yield (
        "N=3, C=2, 9x9 images, F=2 filters 3x3, stride 3, padding 0",
        *make(3, 2, 9, 9, 2, 3),
        3,
        0,
    )
    yield (
        "float32: N=4, C=1, 28x28 images, F=8 filters 3x3",
        *make(4, 1, 28, 28, 8, 3, np.float32),
        1,
        0,
    )
    hidden = hidden_rng()
    rng = hidden  # make() draws from `rng`
    for i in range(HIDDEN):
        n, c, f, k = (int(v) for v in hidden.integers(1, 4, 4))
        h, w = int(hidden.integers(k, 10)), int(hidden.integers(k, 10))
        stride, padding = int(hidden.integers(1, 4)), int(hidden.integers(0, 3))
        dtype = np.float32 if hidden.random() < 0.3 else np.float64
        yield (
            (
                f"hidden random case {i + 1}: N={n}, C={c}, {h}x{w} images, F={f} filters {k}x{k}, stride {stride}, "
                f"padding {padding}, {np.dtype(dtype).name}"
            ),
            *make(n, c, h, w, f, k, dtype),
            stride,
            padding,
        )


def conv_forward_naive(x, W, b, stride: int = 1, padding: int = 0) -> np.ndarray:
    """The convolution from :func:`scratchcnn.naive.im2col_naive`'s windows and one product (float64).

    Agrees with :func:`scratchcnn.naive.conv_forward_naive` (tests/test_naive_references.py), whose
    four loops take a second on the book's layer.
    """
    n, _, h, w = x.shape
    f, _, k, _ = W.shape
    ho, wo = (h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1
    cols = im2col_naive(x, k, stride, padding)  # (C*K*K, N*H_out*W_out)
    out = W.reshape(f, -1) @ cols + b[:, None]  # (F, N*H_out*W_out)
    return out.reshape(f, n, ho, wo).transpose(1, 0, 2, 3)


def _images_filters_mixed(expected: np.ndarray) -> np.ndarray:
    """The classic mistake: the product's (F, N*H_out*W_out) memory reshaped straight to (N, F, ...)."""
    n, f, ho, wo = expected.shape
    return expected.transpose(1, 0, 2, 3).reshape(n, f, ho, wo)


CONV_IM2COL_MISTAKES = [
    Mistake(
        "the right numbers are there, but images and filters are mixed up: the result looks like the "
        "product's (F, N*H_out*W_out) memory reshaped directly to (N, F, H_out, W_out)",
        lambda x, W, b, s, p: _images_filters_mixed(conv_forward_naive(x, W, b, s, p)),
        "reshape only regroups the elements in their C order, it cannot swap axes: reshape to "
        "(F, N, H_out, W_out) first, then .transpose(1, 0, 2, 3)",
    ),
    Mistake(
        "the bias b seems not to be added",
        lambda x, W, b, s, p: conv_forward_naive(x, W, np.zeros_like(b), s, p),
        "add b[:, None] to the (F, N*H_out*W_out) product (one bias per filter, i.e. per row)",
    ),
    Mistake(
        "the values are those of every kernel rotated by 180 degrees",
        lambda x, W, b, s, p: conv_forward_naive(x, W[:, :, ::-1, ::-1], b, s, p),
        "the im2col rows and W.reshape(F, -1) must list (c, p, q) in the same order; convolution here is "
        "cross-correlation: no flip",
    ),
]


@exercise("8.2", "convolution forward by im2col and one matrix product", numpy_only=True)
def _check_conv_im2col(conv_forward_im2col) -> str:
    rng = np.random.default_rng(2029)
    n_cases = 0
    for case, x, W, b, stride, padding in _conv_cases(rng):
        with scored(case):
            x64, W64, b64 = (a.astype(np.float64) for a in (x, W, b))
            expected = conv_forward_naive(x64, W64, b64, stride, padding)  # (N, F, H_out, W_out)
            got = call(conv_forward_im2col, x, W, b, stride=stride, padding=padding, case=case)
            if got is not None and got is not Ellipsis and np.shape(got) != expected.shape:
                n, c, h, w = x.shape
                k = W.shape[2]
                hint = f"O = (W - K + 2P) // S + 1 along each axis; here the output is (N, F, H_out, W_out) = {expected.shape}"
                if np.shape(got)[2:] == ((h - k) // stride + 1, (w - k) // stride + 1) and padding:
                    hint = f"the padding {padding} seems to be ignored: pad x with np.pad before taking the windows"
                elif (
                    np.shape(got)[2:] == (h - k + 2 * padding + 1, w - k + 2 * padding + 1)
                    and stride > 1
                ):
                    hint = f"the stride {stride} seems to be ignored: keep every stride-th window, windows[:, :, ::S, ::S]"
                elif tuple(np.shape(got)) == (
                    expected.shape[1],
                    expected.shape[0],
                    *expected.shape[2:],
                ):
                    hint = "the product gives (F, N*H_out*W_out): reshape it to (F, N, H_out, W_out), then transpose to (N, F, H_out, W_out)"
                fail(
                    case,
                    f"the result should have shape {expected.shape}, got shape {np.shape(got)}",
                    hint,
                )
            tol = (
                {"rtol": 1e-4, "atol": 1e-4}
                if x.dtype == np.float32
                else {"rtol": 1e-9, "atol": 1e-10}
            )
            _require_shape(got, expected.shape, case, "the result")
            got_arr = np.asarray(got, dtype=np.float64)
            if not np.allclose(got_arr, expected, **tol):
                diagnose(
                    got_arr,
                    (x64, W64, b64, stride, padding),
                    CONV_IM2COL_MISTAKES,
                    case,
                    lambda a, b, tol=tol: bool(np.allclose(a, b, **tol)),
                )
                expect_close(
                    got_arr,
                    expected,
                    case=case,
                    hint="cols has one row per (c, p, q) and one column per (n, i, j); W.reshape(F, C*K*K) @ cols + b[:, None]",
                    **tol,
                )
            if isinstance(got, np.ndarray) and got.dtype != x.dtype:
                fail(
                    case,
                    f"the result has dtype {got.dtype} for {x.dtype} input",
                    "keep the input's dtype: a float64 array (np.zeros(...) without dtype=, np.ones for a "
                    "bias row) upcasts the whole product, which then takes twice the memory and moves twice the bytes",
                )
            n_cases += 1
    return f"{n_cases} cases: several channels and filters, strides 1-3, padding 0-2, non-square images, float32"
