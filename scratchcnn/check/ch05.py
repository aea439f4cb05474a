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

from ..layers import SoftmaxCrossEntropy, softmax
from ..naive import conv_backward_naive, maxpool_backward_naive
from . import call, exercise, expect_close, fail, result_array, same

_close = partial(same, atol=1e-9)  # this chapter's gradients are O(1e-2): a tighter atol




# ---------------------------------------------------------------------------------------------
# 5.1 softmax + cross-entropy backward

MEAN_GRADIENT = (
    "for the mean loss L = -(1/N) sum_n log p[n, y_n], dL/dlogits = (softmax(logits) - onehot(labels)) / N: "
    "the 1/N factor appears exactly once"
)


def _softmax_ce_cases(rng: np.random.Generator):
    # The first case has N > 1, so that a forgotten or doubled 1/N factor shows at once.
    yield "N = 4 images, K = 10 classes, random logits", rng.standard_normal((4, 10)) * 2, rng.integers(0, 10, 4)
    yield "N = 6, K = 3, two images of each class", rng.standard_normal((6, 3)), np.array([0, 1, 2, 2, 1, 0])
    yield "a batch of one (N = 1)", rng.standard_normal((1, 10)), np.array([7])
    yield (
        "N = 3, K = 4, logits near 1000 (exp overflows unless the maximum is subtracted)",
        1000 + rng.standard_normal((3, 4)) * 5,
        np.array([3, 0, 1]),
    )
    yield "N = 5, K = 2, all logits equal (p = 1/2 everywhere)", np.zeros((5, 2)), np.array([0, 1, 1, 0, 1])


def _softmax_ce_diagnosis(got: np.ndarray, logits: np.ndarray, labels: np.ndarray) -> tuple[str, str] | None:
    """Name the classic mistake ``got`` matches, as ``(problem, hint)``, or None."""
    n, k = logits.shape
    p = softmax(logits.astype(np.float64))
    onehot = np.eye(k)[labels]
    right = (p - onehot) / n
    if n > 1 and _close(got, right * n):
        return (
            f"the gradient is N = {n} times too large: the 1/N factor of the mean is missing",
            "divide (p - onehot) by N, the batch size: the loss is the mean over the batch, so each "
            "image's gradient carries a factor 1/N",
        )
    if n > 1 and _close(got, right / n):
        return (
            f"the gradient is N = {n} times too small: the 1/N factor was applied twice",
            "divide by N once: (p - onehot) / N, not (p - onehot) / N**2",
        )
    if k != n and _close(got, right * n / k):
        return (
            f"the gradient is divided by K = {k} (the number of classes) instead of N = {n}: "
            "the 1/N factor uses the wrong size",
            "the mean is over the N images of the batch, logits.shape[0]",
        )
    for scale, how in ((1 / n, "p / N"), (1.0, "p")):
        if _close(got, p * scale):
            return (
                f"the result equals {how}: the one-hot subtraction is missing",
                "subtract 1 at each row's true class: (p - onehot(labels)) / N, e.g. "
                "g = p.copy(); g[np.arange(N), labels] -= 1",
            )
    if _close(got, -right):
        return ("the gradient has the wrong sign", "it is p - onehot, not onehot - p: " + MEAN_GRADIENT)
    if _close(got, -onehot / n):
        return ("the softmax probabilities are missing: only -onehot / N is left", MEAN_GRADIENT)
    if n > 1 and _close(got, (softmax(logits.astype(np.float64), axis=0) - onehot) / n):
        return (
            "the softmax was taken over the batch axis (axis 0)",
            "normalise each image's logits over its K classes: softmax along axis 1 (keepdims=True)",
        )
    return None


@exercise("5.1", "softmax + cross-entropy backward, for the mean loss")
def _check_softmax_ce(softmax_cross_entropy_backward) -> str:
    rng = np.random.default_rng(51)
    count = 0
    for case, logits, labels in _softmax_ce_cases(rng):
        loss = SoftmaxCrossEntropy()
        loss.forward(logits, labels)
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
            found = _softmax_ce_diagnosis(got, logits, labels)
            if found:
                fail(case, *found)
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
    yield "random (2, 3, 6, 6) input without ties, k = 2, stride = 2", rng.standard_normal((2, 3, 6, 6)), 2, 2

    # After a ReLU on a blank background: whole windows of zeros, and windows with 2 or 3 tied maxima.
    x = np.maximum(rng.standard_normal((2, 2, 6, 6)), 0)
    x[0, 0, 0:2, 0:2] = 0.0  # all four tied (at zero)
    x[0, 0, 2:4, 2:4] = [[0.0, 0.7], [0.7, 0.2]]  # first maximum is NOT the top-left entry
    x[0, 1, 0:2, 2:4] = [[0.5, 0.5], [0.1, 0.5]]  # three tied positive maxima
    x[1, 0, 4:6, 0:2] = [[0.0, 0.0], [0.0, 0.3]]  # unique maximum in the last position
    x[1, 1] = 0.0  # a whole channel of background
    yield "after ReLU: (2, 2, 6, 6) with all-zero windows and tied maxima, k = 2, stride = 2", x, 2, 2

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


def _dout_for(x: np.ndarray, k: int, s: int, rng: np.random.Generator) -> np.ndarray:
    n, c, h, w = x.shape
    shape = (n, c, (h - k) // s + 1, (w - k) // s + 1)
    # Never zero, never +-1 (so a gradient of 1 or a missing factor dout cannot pass by luck).
    return rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


def _pool_diagnosis(got: np.ndarray, x: np.ndarray, dout: np.ndarray, k: int, s: int) -> tuple[str, str] | None:
    """Find the first window whose gradient went to the wrong place; ``(problem, hint)`` or None."""
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
                    FIRST_MAX_RULE + "; handing it to every tie multiplies the gradient by the number of ties",
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
        return None
    # Overlapping windows: the classic mistake is assigning instead of adding.
    assigned = np.zeros_like(x)
    for n, c, i, j, rows, cols in _windows(x, k, s):
        p, q = np.unravel_index(np.argmax(x[n, c, rows, cols]), (k, k))
        assigned[n, c, rows.start + p, cols.start + q] = dout[n, c, i, j]
    if _close(got, assigned):
        return (
            "where overlapping windows share their maximum, only the last window's gradient survived",
            "a position that is the maximum of several windows receives the SUM of their gradients: "
            "dx[...] += dout[n, c, i, j], not dx[...] = dout[n, c, i, j]",
        )
    return None


@exercise("5.2", "max pooling backward, first-maximum rule")
def _check_maxpool(maxpool_backward) -> str:
    rng = np.random.default_rng(52)
    count = 0
    for case, x, k, s in _pool_cases(rng):
        dout = _dout_for(x, k, s, rng)
        expected = maxpool_backward_naive(dout, x, k, s)
        got = result_array(call(maxpool_backward, dout, x, k, s, case=case), x.shape, case, "dx")
        if got.shape != x.shape:
            fail(
                case,
                f"dx should have the shape of the input x, {x.shape}, got {got.shape}",
                "the gradient of the loss with respect to x has one entry per entry of x; "
                "dout has the (smaller) shape of the pooled output",
            )
        if not _close(got, expected):
            found = _pool_diagnosis(got, x, dout, k, s)
            if found:
                fail(case, *found)
            expect_close(got, expected, case=case, name="dx", hint=FIRST_MAX_RULE)
        count += 1
    return f"{count} cases: ties at zero and above, 3 x 3 windows, overlapping windows, uncovered edges"


# ---------------------------------------------------------------------------------------------
# 5.3 affine backward

AFFINE_RULES = (
    "for out = x @ W + b: dx = dout @ W.T (N, D), dW = x.T @ dout (D, M), db = dout.sum(axis=0) (M,)"
)
ALREADY_IN_DOUT = "the 1/N of the mean loss is already inside dout: sum over the batch, do not average"


def _affine_cases(rng: np.random.Generator):
    normal = rng.standard_normal
    yield "N = 4 images, D = 5 inputs, M = 3 outputs", normal((4, 5)), normal((5, 3))
    yield "a batch of one (N = 1), D = 6, M = 4", normal((1, 6)), normal((6, 4))
    yield "square: N = D = M = 4 (a transpose keeps the shape)", normal((4, 4)), normal((4, 4))
    yield "N = 3, D = 1352, M = 10 (the book model's affine layer)", normal((3, 1352)), normal((1352, 10)) * 0.03


Mistake = tuple  # (a wrong result, or the wrong shape as a tuple of ints; problem; hint)


def _check_part(got, expected: np.ndarray, case: str, name: str, mistakes: list[Mistake]) -> None:
    """Compare one of dx, dW, db with ``expected``, naming the first of ``mistakes`` it matches."""
    got = result_array(got, expected.shape, case, name)
    for mistake, problem, hint in mistakes:
        if isinstance(mistake, tuple):  # a wrong shape
            if got.shape == mistake and got.shape != expected.shape:
                fail(case, f"{name} has shape {got.shape}, it should be {expected.shape}: {problem}", hint)
        elif not _close(got, expected) and _close(got, mistake):
            fail(case, f"{name} is wrong: {problem}", hint)
    if got.shape != expected.shape:
        fail(case, f"{name} should have shape {expected.shape}, got {got.shape}", AFFINE_RULES)
    expect_close(got, expected, case=case, name=name, hint=AFFINE_RULES)


def _dx_mistakes(dout, x, W, dx) -> list[Mistake]:
    (n, d), m = x.shape, W.shape[1]
    rule = "dx = dout @ W.T has the shape of x, (N, D)"
    found = [((d, n), "dx is transposed", rule), (dx.T, "dx is transposed", rule)]
    if d == m:  # only then does dout @ W (W not transposed) have a shape at all
        found.append((dout @ W, "W is used without transposing", "dx = dout @ W.T: input d collects W[d, m] * dout[n, m]"))
    return found


def _dW_mistakes(dout, x, W, dW) -> list[Mistake]:
    (n, d), m = x.shape, W.shape[1]
    problem = "dW is transposed (dout.T @ x instead of x.T @ dout)"
    hint = "dW = x.T @ dout has the shape of W, (D, M): each weight gets one gradient entry"
    return [((m, d), problem, hint), (dW.T, problem, hint), (dW / n, f"dW is divided by N = {n}", ALREADY_IN_DOUT)]


def _db_mistakes(dout, x, W, db) -> list[Mistake]:
    n, m = dout.shape
    rule = "db = dout.sum(axis=0), shape (M,): b was added to every image, so every image adds to db"
    if n == 1:
        return [((n, m), "the sum over the batch is missing (the batch axis is still there)", rule)]
    return [
        ((n, m), "the sum over the batch is missing", rule),
        ((1, m), "db kept the batch axis (keepdims=True?)", rule),
        ((n,), "the sum runs over the wrong axis (the outputs, axis 1)", "sum over the batch, axis 0: " + rule),
        (dout.mean(axis=0), f"db is the mean over the batch, N = {n} times too small", ALREADY_IN_DOUT),
        (dout[0], "db holds only the first image's gradient: the sum over the batch is missing", rule),
    ]


@exercise("5.3", "affine backward: dx, dW, db")
def _check_affine(affine_backward) -> str:
    rng = np.random.default_rng(53)
    count = 0
    for case, x, W in _affine_cases(rng):
        dout = rng.standard_normal((x.shape[0], W.shape[1]))
        expected = {"dx": dout @ W.T, "dW": x.T @ dout, "db": dout.sum(axis=0)}
        raw = call(affine_backward, dout, x, W, case=case)
        if not isinstance(raw, (tuple, list)) or len(raw) != 3:
            what = type(raw).__name__ + (f" of {len(raw)} items" if isinstance(raw, (tuple, list)) else "")
            fail(case, f"the function should return three arrays (dx, dW, db), got a {what}", "return dx, dW, db")
        for (name, want), got, mistakes in zip(expected.items(), raw, (_dx_mistakes, _dW_mistakes, _db_mistakes)):
            _check_part(got, want, case, name, mistakes(dout, x, W, want))
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
    yield "N = 3, C = F = 2 (swapped axes keep the shape), K = 3 on a 5 x 7 image", normal((3, 2, 5, 7)), 2, 3
    yield "the book's layer: N = 2, C = 1, F = 8, K = 3 on 28 x 28", normal((2, 1, 28, 28)), 8, 3


def _conv_dW(dout: np.ndarray, x: np.ndarray, k: int) -> np.ndarray:
    """The reference: the loop version's dW (it does not depend on the weights)."""
    return conv_backward_naive(dout, x, np.zeros((dout.shape[1], x.shape[1], k, k)))[1]


def _conv_dW_shape(got: tuple, expected: tuple, n: int, case: str) -> None:
    f, c, k, _ = expected
    problem = f"dW should have shape (F, C, K, K) = {expected}, got {got}"
    if got == (c, f, k, k):
        fail(case, problem + ": the filter and channel axes are swapped", CONV_DW)
    if got == (n, f, c, k, k):
        fail(case, problem + ": the sum over the batch is missing", "add up the images' contributions: " + CONV_DW)
    fail(case, problem, "K = H - H_out + 1 (stride 1, no padding); " + CONV_DW)


def _conv_dW_mistake(got: np.ndarray, expected: np.ndarray, dout: np.ndarray, x: np.ndarray) -> tuple[str, str] | None:
    n, c = x.shape[:2]
    f, k = dout.shape[1], expected.shape[-1]
    if _close(got, expected[..., ::-1, ::-1]):
        return "dW looks flipped (rotated by 180 degrees): the kernel gradient was flipped", NO_FLIP
    if _close(got, _conv_dW(dout[..., ::-1, ::-1].copy(), x, k)):
        return (
            "dW looks like a true convolution of x with dout (scipy.signal.convolve2d), which flips "
            "dout: the upstream gradient was flipped",
            NO_FLIP,
        )
    if c == f and _close(got, expected.transpose(1, 0, 2, 3)):
        return "dW[f, c] and dW[c, f] are swapped", "dW has shape (F, C, K, K): filter first, then channel; " + CONV_DW
    if n > 1 and _close(got, expected / n):
        return f"dW is the mean over the batch, N = {n} times too small", ALREADY_IN_DOUT
    if n > 1 and _close(got, _conv_dW(dout[:1], x[:1], k)):
        return "dW holds only the first image's contribution: the sum over the batch is missing", CONV_DW
    return None


@exercise("5.4", "convolution backward: the weight gradient dW")
def _check_conv_dw(conv_backward_dW) -> str:
    rng = np.random.default_rng(54)
    count = 0
    for case, x, f, k in _conv_cases(rng):
        n, c, h, w = x.shape
        dout = rng.standard_normal((n, f, h - k + 1, w - k + 1))
        expected = _conv_dW(dout, x, k)
        got = result_array(call(conv_backward_dW, dout, x, case=case), expected.shape, case, "dW")
        if got.shape != expected.shape:
            _conv_dW_shape(got.shape, expected.shape, n, case)
        if not _close(got, expected):
            found = _conv_dW_mistake(got, expected, dout, x)
            if found:
                fail(case, *found)
            expect_close(got, expected, case=case, name="dW", hint=CONV_DW)
        count += 1
    return f"{count} cases, the book's 8 filters on 28 x 28 images included"
