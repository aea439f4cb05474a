"""Checks for chapter 5 (backpropagation).

- 5.1 ``softmax_cross_entropy_backward(logits, labels)``: dL/dlogits of the *mean* loss.
- 5.2 ``maxpool_backward(dout, x, k, stride)``: max pooling's gradient, first-maximum rule.
- 5.3 ``affine_backward(dout, x, W)``: ``(dx, dW, db)`` of ``x @ W + b``.
- 5.4 ``conv_backward_dW(dout, x)``: the convolution's weight gradient (stride 1, no padding).

Each check compares the answer with the package's reference on random cases and hand-made edge
cases (tied maxima, a batch of one, a square matrix where a transpose keeps its shape, logits of
a thousand). When the values are wrong it tries the classic mistakes (the 1/N factor forgotten
or applied twice, the gradient sent to every tied maximum, a transposed dW, a missing sum over
the batch, a flipped kernel, ...) and names the one that matches.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..layers import SoftmaxCrossEntropy, softmax
from ..naive import col2im_naive, maxpool_backward_naive
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
from .kit import far_apart_logit_cases

_close = partial(same, atol=1e-9)  # this chapter's gradients are O(1e-2): a tighter atol


# ---------------------------------------------------------------------------------------------
# 5.1 softmax + cross-entropy backward

MEAN_GRADIENT = (
    "for the mean loss L = -(1/N) sum_n log p[n, y_n], dL/dlogits = (softmax(logits) - onehot(labels)) / N: "
    "the 1/N factor appears exactly once"
)


def _softmax_ce_cases(rng: np.random.Generator):
    # The first case has N > 1, so that a forgotten or doubled 1/N factor shows at once.
    yield (
        "N = 4 images, K = 10 classes, random logits",
        rng.standard_normal((4, 10)) * 2,
        rng.integers(0, 10, 4),
    )
    yield (
        "N = 6, K = 3, two images of each class",
        rng.standard_normal((6, 3)),
        np.array([0, 1, 2, 2, 1, 0]),
    )
    yield "a batch of one (N = 1)", rng.standard_normal((1, 10)), np.array([7])
    yield (
        "N = 3, K = 4, logits near 1000 (exp overflows unless the maximum is subtracted)",
        1000 + rng.standard_normal((3, 4)) * 5,
        np.array([3, 0, 1]),
    )
    yield (
        "N = 5, K = 2, all logits equal (p = 1/2 everywhere)",
        np.zeros((5, 2)),
        np.array([0, 1, 1, 0, 1]),
    )
    yield from far_apart_logit_cases()


def _p(logits: np.ndarray) -> np.ndarray:
    return softmax(logits.astype(np.float64))


def _onehot(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return np.eye(logits.shape[1])[labels]


def _right_ce(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return (_p(logits) - _onehot(logits, labels)) / logits.shape[0]


def _every_label(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The classic p[:, labels] -= 1: every row loses 1 at every label present."""
    every_label = _p(logits).copy()
    every_label[:, labels] -= 1
    return every_label / logits.shape[0]


_batch = lambda logits, labels: logits.shape[0] > 1  # noqa: E731
_ONEHOT_MISSING = "subtract 1 at each row's true class: (p - onehot(labels)) / N, e.g. g = p.copy(); g[np.arange(N), labels] -= 1"
SOFTMAX_CE_MISTAKES = [
    Mistake(
        "1 was subtracted at every label of the batch in every row: p[:, labels] -= 1 picks whole columns",
        _every_label,
        "subtract 1 only at each row's own label: g[np.arange(N), labels] -= 1 (one entry per row)",
        when=lambda logits, labels: len(set(labels.tolist())) > 1,
    ),
    Mistake(
        lambda logits, labels: (
            f"the gradient is N = {logits.shape[0]} times too large: the 1/N factor of the "
            "mean is missing"
        ),
        lambda logits, labels: _right_ce(logits, labels) * logits.shape[0],
        "divide (p - onehot) by N, the batch size: the loss is the mean over the batch, so each image's "
        "gradient carries a factor 1/N",
        when=_batch,
    ),
    Mistake(
        lambda logits, labels: (
            f"the gradient is N = {logits.shape[0]} times too small: the 1/N factor was "
            "applied twice"
        ),
        lambda logits, labels: _right_ce(logits, labels) / logits.shape[0],
        "divide by N once: (p - onehot) / N, not (p - onehot) / N**2",
        when=_batch,
    ),
    Mistake(
        lambda logits, labels: (
            f"the gradient is divided by K = {logits.shape[1]} (the number of classes) "
            f"instead of N = {logits.shape[0]}: the 1/N factor uses the wrong size"
        ),
        lambda logits, labels: _right_ce(logits, labels) * logits.shape[0] / logits.shape[1],
        "the mean is over the N images of the batch, logits.shape[0]",
        when=lambda logits, labels: logits.shape[1] != logits.shape[0],
    ),
    Mistake(
        "the result equals p / N: the one-hot subtraction is missing",
        lambda logits, labels: _p(logits) * (1 / logits.shape[0]),
        _ONEHOT_MISSING,
    ),
    Mistake(
        "the result equals p: the one-hot subtraction is missing",
        lambda logits, labels: _p(logits),
        _ONEHOT_MISSING,
    ),
    Mistake(
        "the gradient has the wrong sign",
        lambda logits, labels: -_right_ce(logits, labels),
        "it is p - onehot, not onehot - p: " + MEAN_GRADIENT,
    ),
    Mistake(
        "the softmax probabilities are missing: only -onehot / N is left",
        lambda logits, labels: -_onehot(logits, labels) / logits.shape[0],
        MEAN_GRADIENT,
    ),
    Mistake(
        "the softmax was taken over the batch axis (axis 0)",
        lambda logits, labels: (
            (softmax(logits.astype(np.float64), axis=0) - _onehot(logits, labels)) / logits.shape[0]
        ),
        "normalise each image's logits over its K classes: softmax along axis 1 (keepdims=True)",
        when=_batch,
    ),
]


@exercise("5.1", "softmax + cross-entropy backward, for the mean loss")
def _check_softmax_ce(softmax_cross_entropy_backward) -> str:
    rng = np.random.default_rng(51)
    count = 0
    for case, logits, labels in _softmax_ce_cases(rng):
        with scored(case):
            loss = SoftmaxCrossEntropy()
            loss.forward(logits.astype(np.float64), labels)
            expected = loss.backward()
            raw = call(softmax_cross_entropy_backward, logits, labels, case=case)
            if isinstance(raw, tuple):
                fail(
                    case,
                    f"the function returned a tuple of {len(raw)} items; it should return only the gradient, "
                    f"an array of shape {expected.shape}",
                    "return dlogits alone, not (loss, dlogits)",
                )
            got = result_array(raw, expected.shape, case, "dL/dlogits")
            if got.shape != expected.shape:
                fail(
                    case,
                    f"dL/dlogits should have the shape of the logits, {expected.shape}, got {got.shape}",
                    "one gradient entry per logit: (N, K)",
                )
            if not np.all(np.isfinite(got)):
                fail(
                    case,
                    "dL/dlogits contains NaN or infinity",
                    "np.exp overflows for large logits: subtract each row's maximum first "
                    "(softmax is unchanged by a shift), e.g. z - z.max(axis=1, keepdims=True)",
                )
            if not _close(got, expected):
                diagnose(got, (logits, labels), SOFTMAX_CE_MISTAKES, case, _close)
                expect_close(got, expected, case=case, name="dL/dlogits", hint=MEAN_GRADIENT)
            count += 1
    return f"{count} cases, a batch of one and logits near 1000 included"


# ---------------------------------------------------------------------------------------------
# 5.2 max pooling backward

FIRST_MAX_RULE = (
    "the first-maximum rule: all of a window's gradient goes to ONE position, its first maximum in "
    "row-major order (what np.argmax returns on the window), even when several entries tie"
)


def _windows(x: np.ndarray, k: int, s: int):
    """Yield ``(n, c, i, j, rows, cols)`` for every pooling window of ``x``."""
    n_img, ch, h, w = x.shape
    ho, wo = (h - k) // s + 1, (w - k) // s + 1
    for n in range(n_img):
        for c in range(ch):
            for i in range(ho):
                for j in range(wo):
                    yield n, c, i, j, slice(i * s, i * s + k), slice(j * s, j * s + k)


def _pool_cases(rng: np.random.Generator):
    """``(case, x, k, stride)``; the inputs with ties are the ones ReLU leaves on MNIST's background."""
    yield (
        "random (2, 3, 6, 6) input without ties, k = 2, stride = 2",
        rng.standard_normal((2, 3, 6, 6)),
        2,
        2,
    )

    # After a ReLU on a blank background: whole windows of zeros, and windows with 2 or 3 tied maxima.
    x = np.maximum(rng.standard_normal((2, 2, 6, 6)), 0)
    x[0, 0, 0:2, 0:2] = 0.0  # all four tied (at zero)
    x[0, 0, 2:4, 2:4] = [[0.0, 0.7], [0.7, 0.2]]  # first maximum is NOT the top-left entry
    x[0, 1, 0:2, 2:4] = [[0.5, 0.5], [0.1, 0.5]]  # three tied positive maxima
    x[1, 0, 4:6, 0:2] = [[0.0, 0.0], [0.0, 0.3]]  # unique maximum in the last position
    x[1, 1] = 0.0  # a whole channel of background
    yield (
        "after ReLU: (2, 2, 6, 6) with all-zero windows and tied maxima, k = 2, stride = 2",
        x,
        2,
        2,
    )

    x = np.zeros((1, 1, 6, 6))
    x[0, 0, 3:6, 0:3] = [[0.2, 0.9, 0.9], [0.9, 0.1, 0.0], [0.0, 0.9, 0.3]]
    yield "ties in 3 x 3 windows, k = 3, stride = 3", x, 3, 3

    x = rng.standard_normal((1, 2, 7, 7))
    x[0, :, 2, 2] = 10.0  # shared by four overlapping windows, the maximum of each
    yield "overlapping windows, k = 3, stride = 2, one entry the maximum of four windows", x, 3, 2

    yield (
        "(1, 1, 5, 5) input, k = 2: the last row and column belong to no window",
        rng.standard_normal((1, 1, 5, 5)),
        2,
        2,
    )
    yield (
        "non-square (2, 2, 4, 8) input, k = 2, stride = 2",
        rng.standard_normal((2, 2, 4, 8)),
        2,
        2,
    )
    yield (
        "non-square (1, 3, 7, 5) input, k = 3, stride = 2 (overlapping windows)",
        rng.standard_normal((1, 3, 7, 5)),
        3,
        2,
    )
    yield (
        "non-square (1, 1, 5, 9) input, k = 2, stride = 3 (gaps between windows)",
        rng.standard_normal((1, 1, 5, 9)),
        2,
        3,
    )
    hidden = hidden_rng()
    for i in range(HIDDEN):
        n, c = int(hidden.integers(1, 4)), int(hidden.integers(1, 4))
        k, st = (
            int(hidden.integers(2, 4)),
            int(hidden.integers(1, 4)),
        )  # k = 1 would let dout itself pass
        h, w = int(hidden.integers(k, 10)), int(hidden.integers(k, 10))
        x = hidden.standard_normal((n, c, h, w))
        if hidden.random() < 0.3:
            x = np.maximum(x, 0)  # ReLU'd: ties at zero
        yield (
            f"hidden random case {i + 1}: ({n}, {c}, {h}, {w}) input, k = {k}, stride = {st}",
            x,
            k,
            st,
        )


def _windows_every_k(dout: np.ndarray, x: np.ndarray, k: int, s: int) -> np.ndarray | None:
    """The mistake of placing window (i, j) at (i*K, j*K) instead of (i*S, j*S); None if they leave x."""
    n_img, ch, ho, wo = dout.shape
    dx = np.zeros_like(x)
    for n in range(n_img):
        for c in range(ch):
            for i in range(ho):
                for j in range(wo):
                    window = x[
                        n, c, i * k : i * k + k, j * k : j * k + k
                    ]  # cut short past the edge, as NumPy does
                    if window.size == 0:
                        return None
                    p, q = np.unravel_index(np.argmax(window), window.shape)
                    dx[n, c, i * k + p, j * k + q] += dout[n, c, i, j]
    return dx


def _dout_for(x: np.ndarray, k: int, s: int, rng: np.random.Generator) -> np.ndarray:
    n, c, h, w = x.shape
    shape = (n, c, (h - k) // s + 1, (w - k) // s + 1)
    # Never zero, never +-1 (so a gradient of 1 or a missing factor dout cannot pass by luck).
    return rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


def _assigned(dout: np.ndarray, x: np.ndarray, k: int, s: int) -> np.ndarray:
    """The mistake of assigning each window's gradient instead of adding it (overlapping windows)."""
    assigned = np.zeros_like(x)
    for n, c, i, j, rows, cols in _windows(x, k, s):
        p, q = np.unravel_index(np.argmax(x[n, c, rows, cols]), (k, k))
        assigned[n, c, rows.start + p, cols.start + q] = dout[n, c, i, j]
    return assigned


MAXPOOL_BACKWARD_MISTAKES = [
    Mistake(
        lambda dout, x, k, s: (
            f"the windows seem to start every K = {k} positions instead of every stride S = {s}"
        ),
        _windows_every_k,
        "window (i, j) starts at row i*stride and column j*stride; the window size K and the "
        "stride are different numbers here",
        when=lambda dout, x, k, s: s != k,
    ),
    Mistake(
        "where overlapping windows share their maximum, only the last window's gradient survived",
        _assigned,
        "a position that is the maximum of several windows receives the SUM of their gradients: "
        "dx[...] += dout[n, c, i, j], not dx[...] = dout[n, c, i, j]",
        when=lambda dout, x, k, s: s < k,
    ),
]


def _pool_diagnosis(
    got: np.ndarray, x: np.ndarray, dout: np.ndarray, k: int, s: int
) -> tuple[str, str] | None:
    """Find the first window whose gradient went to the wrong place; ``(problem, hint)`` or None.

    Not a Mistake table: it reads the reader's ``got`` window by window (which tied maximum got the
    gradient, how many positions did, how much), which no wrong answer made from the inputs can name.
    """
    tol = 1e-9
    if s >= k:  # non-overlapping windows: each position belongs to at most one window
        covered = np.zeros(x.shape, dtype=bool)
        for n, c, i, j, rows, cols in _windows(x, k, s):
            covered[n, c, rows, cols] = True
            window, g = x[n, c, rows, cols], got[n, c, rows, cols]
            where = (
                f"window ({n}, {c}, {i}, {j}) (image {n}, channel {c}, "
                f"rows {rows.start}-{rows.stop - 1}, columns {cols.start}-{cols.stop - 1})"
            )
            maxima = np.argwhere(window == window.max())
            first = tuple(int(v) for v in np.unravel_index(np.argmax(window), window.shape))
            hit = [tuple(int(v) for v in p) for p in np.argwhere(np.abs(g) > tol)]
            is_max = {tuple(int(v) for v in p) for p in maxima}
            if len(hit) > 1 and len(maxima) > 1 and set(hit) <= is_max:
                total = float(g.sum())
                split = np.isclose(total, dout[n, c, i, j])
                return (
                    f"the gradient went to more than one position in a tied window: {where} has "
                    f"{len(maxima)} tied maxima (all equal to {float(window.max()):g}) and {len(hit)} of them received "
                    "gradient"
                    + (
                        " (split evenly: a valid subgradient, but not the rule this book and its package use)"
                        if split
                        else f", {total / dout[n, c, i, j]:.0f} times the window's upstream gradient in total"
                    ),
                    FIRST_MAX_RULE
                    + "; handing it to every tie multiplies the gradient by the number of ties",
                )
            if len(hit) > 1:
                return (
                    f"the gradient of {where} is spread over {len(hit)} positions, {hit}",
                    "max pooling passes a window's gradient to its maximum only; the other entries "
                    "did not affect the output, so their gradient is 0",
                )
            if len(hit) == 0:
                return (
                    f"{where} received no gradient at all (its upstream gradient is {dout[n, c, i, j]:.4g})",
                    "every window passes dout[n, c, i, j] to its maximum: " + FIRST_MAX_RULE,
                )
            if hit[0] != first:
                if hit[0] in is_max:
                    problem = (
                        f"in {where}, which has {len(maxima)} tied maxima, the gradient went to the tied "
                        f"maximum at window position {hit[0]}, not to the first one at {first}"
                    )
                    hint = FIRST_MAX_RULE + " (np.argmax, not the last index found by >= in a loop)"
                else:
                    problem = (
                        f"in {where}, the gradient went to window position {hit[0]}, which is not the "
                        f"maximum: the maximum {float(window.max()):.4g} is at {first}"
                    )
                    hint = (
                        "turn the window's flat argmax into (row, column) with np.unravel_index(idx, (k, k)) "
                        "and add the window's corner (i * stride, j * stride)"
                    )
                return problem, hint
            value = float(g[hit[0]])
            if not np.isclose(value, dout[n, c, i, j]):
                return (
                    f"in {where}, the maximum received {value:.4g}, but the window's upstream gradient is "
                    f"{dout[n, c, i, j]:.4g}",
                    "the maximum receives dout[n, c, i, j] itself: d(max)/d(maximum) = 1",
                )
        stray = np.argwhere((np.abs(got) > tol) & ~covered)
        if len(stray):
            return (
                f"position {tuple(int(v) for v in stray[0])} lies in no pooling window but received gradient",
                "rows and columns that no window covers did not affect the output: their gradient is 0",
            )
    return None  # overlapping windows (s < k): MAXPOOL_BACKWARD_MISTAKES names their mistake


@exercise("5.2", "max pooling backward, first-maximum rule")
def _check_maxpool(maxpool_backward) -> str:
    rng = np.random.default_rng(52)
    count = 0
    for case, x, k, s in _pool_cases(rng):
        with scored(case):
            dout = _dout_for(x, k, s, rng)
            expected = maxpool_backward_naive(dout, x, k, s)
            got = result_array(
                call(maxpool_backward, dout, x, k, s, case=case), x.shape, case, "dx"
            )
            if got.shape != x.shape:
                fail(
                    case,
                    f"dx should have the shape of the input x, {x.shape}, got {got.shape}",
                    "the gradient of the loss with respect to x has one entry per entry of x; "
                    "dout has the (smaller) shape of the pooled output",
                )
            if not _close(got, expected):
                diagnose(got, (dout, x, k, s), MAXPOOL_BACKWARD_MISTAKES, case, _close)
                found = _pool_diagnosis(got, x, dout, k, s)
                if found:
                    fail(case, *found)
                expect_close(got, expected, case=case, name="dx", hint=FIRST_MAX_RULE)
            count += 1
    return f"{count} cases: ties at zero and above, 3 x 3 windows, overlapping windows, uncovered edges"


# ---------------------------------------------------------------------------------------------
# 5.3 affine backward

AFFINE_RULES = "for out = x @ W + b: dx = dout @ W.T (N, D), dW = x.T @ dout (D, M), db = dout.sum(axis=0) (M,)"
ALREADY_IN_DOUT = (
    "the 1/N of the mean loss is already inside dout: sum over the batch, do not average"
)


def _affine_cases(rng: np.random.Generator):
    normal = rng.standard_normal
    yield "N = 4 images, D = 5 inputs, M = 3 outputs", normal((4, 5)), normal((5, 3))
    yield "a batch of one (N = 1), D = 6, M = 4", normal((1, 6)), normal((6, 4))
    yield "square: N = D = M = 4 (a transpose keeps the shape)", normal((4, 4)), normal((4, 4))
    yield (
        "N = 3, D = 1352, M = 10 (the book model's affine layer)",
        normal((3, 1352)),
        normal((1352, 10)) * 0.03,
    )
    yield "N = 2, D = 3, M = 7: more outputs than inputs", normal((2, 3)), normal((3, 7))
    hidden = hidden_rng()
    for i in range(HIDDEN):
        n, d, m = (int(v) for v in hidden.integers(1, 9, 3))
        yield (
            f"hidden random case {i + 1}: N = {n}, D = {d}, M = {m}",
            hidden.standard_normal((n, d)),
            hidden.standard_normal((d, m)),
        )


def _check_part(
    got, expected: np.ndarray, case: str, name: str, inputs: tuple, shapes: list, mistakes: list
) -> None:
    """Compare one of dx, dW, db with ``expected``: a wrong shape named from ``shapes``
    (``(shape, problem, hint)``), wrong values from the Mistake table ``mistakes``."""
    got = result_array(got, expected.shape, case, name)
    for shape, problem, hint in shapes:
        if got.shape == shape and got.shape != expected.shape:
            fail(
                case,
                f"{name} has shape {got.shape}, it should be {expected.shape}: {problem}",
                hint,
            )
    if got.shape != expected.shape:
        fail(case, f"{name} should have shape {expected.shape}, got {got.shape}", AFFINE_RULES)
    if not _close(got, expected):
        diagnose(got, inputs, mistakes, case, _close)
    expect_close(got, expected, case=case, name=name, hint=AFFINE_RULES)


_DX_RULE = "dx = dout @ W.T has the shape of x, (N, D)"
_DW_TRANSPOSED = "dW is transposed (dout.T @ x instead of x.T @ dout)"
_DW_RULE = "dW = x.T @ dout has the shape of W, (D, M): each weight gets one gradient entry"
_DB_RULE = (
    "db = dout.sum(axis=0), shape (M,): b was added to every image, so every image adds to db"
)


def _dx_shapes(dout, x, W) -> list:
    (n, d) = x.shape
    return [((d, n), "dx is transposed", _DX_RULE)]


def _dW_shapes(dout, x, W) -> list:
    d, m = W.shape
    return [((m, d), _DW_TRANSPOSED, _DW_RULE)]


def _db_shapes(dout, x, W) -> list:
    n, m = dout.shape
    if n == 1:
        return [
            ((n, m), "the sum over the batch is missing (the batch axis is still there)", _DB_RULE)
        ]
    return [
        ((n, m), "the sum over the batch is missing", _DB_RULE),
        ((1, m), "db kept the batch axis (keepdims=True?)", _DB_RULE),
        (
            (n,),
            "the sum runs over the wrong axis (the outputs, axis 1)",
            "sum over the batch, axis 0: " + _DB_RULE,
        ),
    ]


_many = lambda dout, x, W: x.shape[0] > 1  # noqa: E731
DX_MISTAKES = [
    Mistake("dx is wrong: dx is transposed", lambda dout, x, W: (dout @ W.T).T, _DX_RULE),
    Mistake(
        "dx is wrong: W is used without transposing",
        lambda dout, x, W: dout @ W,
        "dx = dout @ W.T: input d collects W[d, m] * dout[n, m]",
        when=lambda dout, x, W: W.shape[0] == W.shape[1],
    ),
]
DW_MISTAKES = [
    Mistake(f"dW is wrong: {_DW_TRANSPOSED}", lambda dout, x, W: (x.T @ dout).T, _DW_RULE),
    Mistake(
        lambda dout, x, W: f"dW is wrong: dW is divided by N = {x.shape[0]}",
        lambda dout, x, W: x.T @ dout / x.shape[0],
        ALREADY_IN_DOUT,
    ),
]
DB_MISTAKES = [
    Mistake(
        lambda dout, x, W: (
            f"db is wrong: db is the mean over the batch, N = {x.shape[0]} times too small"
        ),
        lambda dout, x, W: dout.mean(axis=0),
        ALREADY_IN_DOUT,
        when=_many,
    ),
    Mistake(
        "db is wrong: db holds only the first image's gradient: the sum over the batch is missing",
        lambda dout, x, W: dout[0],
        _DB_RULE,
        when=_many,
    ),
]
AFFINE_PARTS = ((_dx_shapes, DX_MISTAKES), (_dW_shapes, DW_MISTAKES), (_db_shapes, DB_MISTAKES))


@exercise("5.3", "affine backward: dx, dW, db")
def _check_affine(affine_backward) -> str:
    rng = np.random.default_rng(53)
    count = 0
    for case, x, W in _affine_cases(rng):
        with scored(case):
            dout = rng.standard_normal((x.shape[0], W.shape[1]))
            expected = {"dx": dout @ W.T, "dW": x.T @ dout, "db": dout.sum(axis=0)}
            raw = call(affine_backward, dout, x, W, case=case)
            if not isinstance(raw, (tuple, list)) or len(raw) != 3:
                what = type(raw).__name__ + (
                    f" of {len(raw)} items" if isinstance(raw, (tuple, list)) else ""
                )
                fail(
                    case,
                    f"the function should return three arrays (dx, dW, db), got a {what}",
                    "return dx, dW, db",
                )
            for (name, want), got, (shapes, mistakes) in zip(
                expected.items(), raw, AFFINE_PARTS, strict=True
            ):
                _check_part(got, want, case, name, (dout, x, W), shapes(dout, x, W), mistakes)
            count += 1
    return f"{count} cases, a batch of one and a square layer included"


# ---------------------------------------------------------------------------------------------
# 5.4 convolution backward, dW

CONV_DW = (
    "dW[f, c, p, q] = sum over n, i, j of dout[n, f, i, j] * x[n, c, i + p, j + q]: for each (f, c), "
    "the valid cross-correlation of x[n, c] with dout[n, f], summed over the batch "
    "(scipy.signal.correlate2d(x[n, c], dout[n, f], mode='valid'))"
)
NO_FLIP = "the forward pass is a cross-correlation, so dW is one too, with no flip: " + CONV_DW


def _conv_cases(rng: np.random.Generator):
    normal = rng.standard_normal
    yield "N = 2 images, C = 3 channels, F = 4 filters, K = 3 on 6 x 6", normal((2, 3, 6, 6)), 4, 3
    yield "N = 1, C = 1, F = 1, K = 2 on 5 x 5", normal((1, 1, 5, 5)), 1, 2
    yield (
        "N = 3, C = F = 2 (swapped axes keep the shape), K = 3 on a 5 x 7 image",
        normal((3, 2, 5, 7)),
        2,
        3,
    )
    yield "the book's layer: N = 2, C = 1, F = 8, K = 3 on 28 x 28", normal((2, 1, 28, 28)), 8, 3
    hidden = hidden_rng()
    for i in range(HIDDEN):
        n, c, f, k = (
            int(hidden.integers(1, 4)),
            int(hidden.integers(1, 4)),
            int(hidden.integers(1, 5)),
            int(hidden.integers(1, 4)),
        )
        h, w = int(hidden.integers(k, 9)), int(hidden.integers(k, 9))
        yield (
            f"hidden random case {i + 1}: N = {n}, C = {c}, F = {f}, K = {k} on {h} x {w}",
            hidden.standard_normal((n, c, h, w)),
            f,
            k,
        )


def _conv_dW(dout: np.ndarray, x: np.ndarray, k: int) -> np.ndarray:
    """dW of a stride-1, unpadded convolution, vectorized (stride 1, no padding).

    ``dW[f, c, p, q] = sum_{n,i,j} dout[n, f, i, j] * x[n, c, i + p, j + q]``; agrees with
    :func:`scratchcnn.naive.conv_backward_naive` (tests/test_naive_references.py), whose loops would
    take a second on the book's layer.
    """
    ho, wo = dout.shape[2:]
    windows = sliding_window_view(
        np.asarray(x, dtype=np.float64), (ho, wo), axis=(2, 3)
    )  # (N, C, K, K, Ho, Wo)
    return np.einsum(
        "nfij,ncpqij->fcpq", np.asarray(dout, dtype=np.float64), windows, optimize=True
    )


def _conv_dW_shape(got: tuple, expected: tuple, n: int, case: str) -> None:
    f, c, k, _ = expected
    problem = f"dW should have shape (F, C, K, K) = {expected}, got {got}"
    if got == (c, f, k, k):
        fail(case, problem + ": the filter and channel axes are swapped", CONV_DW)
    if got == (n, f, c, k, k):
        fail(
            case,
            problem + ": the sum over the batch is missing",
            "add up the images' contributions: " + CONV_DW,
        )
    fail(case, problem, "K = H - H_out + 1 (stride 1, no padding); " + CONV_DW)


CONV_DW_MISTAKES = [
    Mistake(
        "dW looks flipped (rotated by 180 degrees): the kernel gradient was flipped",
        lambda dout, x, k: _conv_dW(dout, x, k)[..., ::-1, ::-1],
        NO_FLIP,
    ),
    Mistake(
        "dW looks like a true convolution of x with dout (scipy.signal.convolve2d), which flips dout: the "
        "upstream gradient was flipped",
        lambda dout, x, k: _conv_dW(dout[..., ::-1, ::-1].copy(), x, k),
        NO_FLIP,
    ),
    Mistake(
        "dW[f, c] and dW[c, f] are swapped",
        lambda dout, x, k: _conv_dW(dout, x, k).transpose(1, 0, 2, 3),
        "dW has shape (F, C, K, K): filter first, then channel; " + CONV_DW,
        when=lambda dout, x, k: dout.shape[1] == x.shape[1],
    ),
    Mistake(
        lambda dout, x, k: f"dW is the mean over the batch, N = {x.shape[0]} times too small",
        lambda dout, x, k: _conv_dW(dout, x, k) / x.shape[0],
        ALREADY_IN_DOUT,
        when=lambda dout, x, k: x.shape[0] > 1,
    ),
    Mistake(
        "dW holds only the first image's contribution: the sum over the batch is missing",
        lambda dout, x, k: _conv_dW(dout[:1], x[:1], k),
        CONV_DW,
        when=lambda dout, x, k: x.shape[0] > 1,
    ),
]


@exercise("5.4", "convolution backward: the weight gradient dW")
def _check_conv_dw(conv_backward_dW) -> str:
    rng = np.random.default_rng(54)
    count = 0
    for case, x, f, k in _conv_cases(rng):
        with scored(case):
            n, c, h, w = x.shape
            dout = rng.standard_normal((n, f, h - k + 1, w - k + 1))
            expected = _conv_dW(dout, x, k)
            got = result_array(
                call(conv_backward_dW, dout, x, case=case), expected.shape, case, "dW"
            )
            if got.shape != expected.shape:
                _conv_dW_shape(got.shape, expected.shape, n, case)
            if not _close(got, expected):
                diagnose(got, (dout, x, k), CONV_DW_MISTAKES, case, _close)
                expect_close(got, expected, case=case, name="dW", hint=CONV_DW)
            count += 1
    return f"{count} cases, the book's 8 filters on 28 x 28 images included"


# ---------------------------------------------------------------------------------------------
# 5.5 convolution backward, dx (stride 1, no padding)

CONV_DX = (
    "every output pixel out[n, f, i, j] used the window x[n, :, i:i+K, j:j+K] with weights W[f], so its "
    "gradient dout[n, f, i, j] adds dout[n, f, i, j] * W[f] onto that window of dx: loop over n, f, i, j and "
    "write dx[n, :, i:i+K, j:j+K] += dout[n, f, i, j] * W[f]"
)


def _conv_dx(dout: np.ndarray, W: np.ndarray) -> np.ndarray:
    """dx of a stride-1, unpadded convolution: the window gradients W^T dout added back by col2im.

    Agrees with :func:`scratchcnn.naive.conv_backward_naive`'s dx (tests/test_naive_references.py)
    with one loop over the windows instead of four.
    """
    n, f, ho, wo = dout.shape
    _, c, k, _ = W.shape
    W64, dout64 = np.asarray(W, dtype=np.float64), np.asarray(dout, dtype=np.float64)
    cols = W64.reshape(f, -1).T @ dout64.transpose(1, 0, 2, 3).reshape(
        f, -1
    )  # (C*K*K, N*H_out*W_out)
    return col2im_naive(cols, (n, c, ho + k - 1, wo + k - 1), k)


def _conv_dx_assigned(dout: np.ndarray, W: np.ndarray) -> np.ndarray:
    """The mistake of assigning each window's contribution instead of adding it."""
    n_img, n_filt, ho, wo = dout.shape
    _, c, k, _ = W.shape
    dx = np.zeros((n_img, c, ho + k - 1, wo + k - 1))
    for n in range(n_img):
        for i in range(ho):
            for j in range(wo):
                dx[n, :, i : i + k, j : j + k] = sum(dout[n, f, i, j] * W[f] for f in range(n_filt))
    return dx


def _dx_cases(rng: np.random.Generator):
    normal = rng.standard_normal
    yield (
        "N = 1, F = 1, C = 1, K = 2, dout 3 x 3 (windows overlap)",
        normal((1, 1, 3, 3)),
        normal((1, 1, 2, 2)),
    )
    yield "N = 2, F = 4, C = 3, K = 3, dout 4 x 4", normal((2, 4, 4, 4)), normal((4, 3, 3, 3))
    yield (
        "N = 3, F = C = 2 (swapped axes keep the shape), K = 3, dout 3 x 5",
        normal((3, 2, 3, 5)),
        normal((2, 2, 3, 3)),
    )
    yield (
        "8 filters as in the book's layer: N = 1, F = 8, C = 1, K = 3, dout 12 x 12",
        normal((1, 8, 12, 12)),
        normal((8, 1, 3, 3)),
    )
    hidden = hidden_rng()
    for i in range(HIDDEN):
        n, f, c, k = (
            int(hidden.integers(1, 4)),
            int(hidden.integers(1, 5)),
            int(hidden.integers(1, 4)),
            int(hidden.integers(1, 4)),
        )
        ho, wo = int(hidden.integers(1, 7)), int(hidden.integers(1, 7))
        yield (
            f"hidden random case {i + 1}: N = {n}, F = {f}, C = {c}, K = {k}, dout {ho} x {wo}",
            hidden.standard_normal((n, f, ho, wo)),
            hidden.standard_normal((f, c, k, k)),
        )


CONV_DX_MISTAKES = [
    Mistake(
        "dx looks like it used every kernel rotated by 180 degrees",
        lambda dout, W: _conv_dx(dout, W[:, :, ::-1, ::-1]),
        "no flip in the loop form: each window of dx receives dout[n, f, i, j] * W[f] as it is. "
        + CONV_DX,
        when=lambda dout, W: W.shape[2] > 1,
    ),
    Mistake(
        "the filter and channel axes of W are swapped",
        lambda dout, W: _conv_dx(dout, W.transpose(1, 0, 2, 3)),
        "W is (F, C, K, K): W[f] is (C, K, K). " + CONV_DX,
        when=lambda dout, W: W.shape[0] == W.shape[1] > 1,
    ),
    Mistake(
        "dx holds only the first filter's contribution: the sum over the filters is missing",
        lambda dout, W: _conv_dx(dout[:, :1], W[:1]),
        CONV_DX,
        when=lambda dout, W: W.shape[0] > 1,
    ),
    Mistake(
        "where windows overlap, only the last window's gradient survived: it was assigned, not added",
        _conv_dx_assigned,
        "a pixel inside several windows receives the SUM of their gradients: dx[...] += ..., not =",
        when=lambda dout, W: W.shape[2] > 1,
    ),
]


@exercise("5.5", "convolution backward: the input gradient dx, with loops")
def _check_conv_dx(conv_backward_dx) -> str:
    rng = np.random.default_rng(55)
    count = 0
    for case, dout, W in _dx_cases(rng):
        with scored(case):
            n, _, ho, wo = dout.shape
            _, c, k, _ = W.shape
            expected = _conv_dx(dout, W)  # (N, C, H, W) with H = H_out + K - 1
            got = result_array(
                call(conv_backward_dx, dout, W, case=case), expected.shape, case, "dx"
            )
            if got.shape != expected.shape:
                hint = f"dx has the shape of x, (N, C, H_out + K - 1, W_out + K - 1) = {expected.shape}"
                if got.shape == (n, c, ho, wo):
                    hint = "dx has the shape of x, not of dout: each side is H_out + K - 1 (stride 1, no padding)"
                fail(case, f"dx should have shape {expected.shape}, got {got.shape}", hint)
            if not _close(got, expected):
                diagnose(got, (dout, W), CONV_DX_MISTAKES, case, _close)
                expect_close(got, expected, case=case, name="dx", hint=CONV_DX)
            count += 1
    return f"{count} cases: overlapping windows, several filters and channels, 8 filters as in the book's layer"
