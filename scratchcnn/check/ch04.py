"""Checks for chapter 4 (the affine layer, softmax and cross-entropy).

- 4.1 ``affine_forward(x, W, b)``: ``x @ W + b`` with ``W`` of shape ``(in_features, out_features)``.
- 4.2 ``stable_softmax(z)``: the softmax of every row of a 2-D batch of logits, without overflow.
- 4.3 ``cross_entropy(logits, labels)``: the mean cross-entropy loss, computed by log-sum-exp.
- 4.4 ``lecun_uniform(fan_in, fan_out, rng)``: a uniform initialisation with LeCun's variance.

Each check compares the reader's answer with a float64 reference on random and edge cases; when
it is wrong it tries the classic mistakes (a transposed weight matrix, a forgotten bias, the
naive ``exp`` that overflows, the wrong axis, a sum instead of a mean, ...) and names the one
that matches. NumPy's floating-point warnings raised by the reader's code inside a check are
silenced: the check's message explains what went wrong instead.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ..naive import log_softmax_naive
from . import (
    HIDDEN,
    ExerciseFailed,
    ExerciseNotAttempted,
    Mistake,
    call,
    diagnose,
    exercise,
    expect_close,
    expected_got,
    fail,
    hidden_rng,
    rehint,
    result_array,
    same,
    scored,
)
from .kit import far_apart_logit_cases

AFFINE = "out[n, m] = sum over d of x[n, d] * W[d, m] + b[m], i.e. x @ W + b"
TRANSPOSED = (
    "W looks transposed: the book's W is (in_features, out_features), so the layer computes x @ W + b, "
    "not x @ W.T (PyTorch's nn.Linear stores its weight as (out, in) and multiplies by its transpose; "
    "this book does not)"
)
MAX_TRICK = (
    "exp overflowed: np.exp(1000) is inf in float64 (and exp(89) already in float32), and inf / inf is NaN. "
    "Use the max trick: subtract each row's maximum first, z - z.max(axis=1, keepdims=True); "
    "softmax(z - c) = softmax(z) for any constant c, and the largest exponent becomes exp(0) = 1"
)
LOG_SUM_EXP = (
    "compute log p directly, by log-sum-exp: log p[n, k] = z[n, k] - m[n] - log(sum_j exp(z[n, j] - m[n])) "
    "with m[n] = max_j z[n, j]; never log(softmax(z)), whose tiny probabilities underflow to 0"
)


def _quiet(fn, *args, case: str, **kwargs):
    """``call`` with NumPy's overflow/invalid warnings silenced (the check explains them)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return call(fn, *args, case=case, **kwargs)


def _silently(fn, *args):
    """Run the reader's function on a variant input; None if it raises or gives no array."""
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return np.asarray(
                fn(*(a.copy() if isinstance(a, np.ndarray) else a for a in args)), dtype=float
            )
    except Exception:
        return None


def _log_softmax(z: np.ndarray) -> np.ndarray:
    """Row log-softmax in float64: :func:`scratchcnn.naive.log_softmax_naive`."""
    return log_softmax_naive(z)


def _softmax(z: np.ndarray) -> np.ndarray:
    return np.exp(_log_softmax(z))


# ---------------------------------------------------------------------------------------------
# 4.1 affine_forward


def _affine_cases(rng: np.random.Generator):
    x = np.array([[1.0, 2.0, 0.0], [0.0, -1.0, 3.0]])  # (2, 3)
    W = np.array([[1.0, 0.0, 2.0, -1.0], [0.0, 1.0, 1.0, 2.0], [3.0, -2.0, 0.0, 1.0]])  # (3, 4)
    yield (
        "x (2, 3), W (3, 4) of small integers, b = [1, 2, 3, 4]",
        x,
        W,
        np.array([1.0, 2.0, 3.0, 4.0]),
    )

    def make(n, d, m):
        b = rng.uniform(0.5, 2.0, m) * rng.choice([-1.0, 1.0], m)  # (M,), never near zero
        return rng.standard_normal((n, d)), rng.standard_normal((d, m)), b

    yield "random x (5, 7), W (7, 3): in_features 7, out_features 3", *make(5, 7, 3)
    yield "random x (4, 4), square W (4, 4): transposing W would still run", *make(4, 4, 4)
    yield "random x (6, 3), W (3, 6): as many examples as outputs", *make(6, 3, 6)
    yield "one example: x (1, 10), W (10, 2)", *make(1, 10, 2)
    yield "random x (3, 1352), W (1352, 10): the book's layer", *make(3, 1352, 10)
    hidden = hidden_rng()
    rng = hidden  # make() draws from `rng`
    for i in range(HIDDEN):
        n, d, m = (
            int(hidden.integers(1, 7)),
            int(hidden.integers(1, 30)),
            int(hidden.integers(1, 12)),
        )
        x, W, b = make(n, d, m)
        if hidden.random() < 0.3:
            x, W, b = x.astype(np.float32), W.astype(np.float32), b.astype(np.float32)
        yield f"hidden random case {i + 1}: x ({n}, {d}), W ({d}, {m}), {x.dtype}", x, W, b


def _square(x, W, b) -> bool:
    return W.shape[0] == W.shape[1]


AFFINE_MISTAKES = [
    Mistake(
        "the values are those of x @ W.T + b", lambda x, W, b: x @ W.T + b, TRANSPOSED, when=_square
    ),
    Mistake(
        "the bias b seems not to be added: the result equals x @ W",
        lambda x, W, b: x @ W,
        f"add b (shape (out_features,)) to every row; {AFFINE}",
    ),
    Mistake(
        "the values are those of x @ W.T, without the bias",
        lambda x, W, b: x @ W.T,
        f"{TRANSPOSED}; then add b",
        when=_square,
    ),
    Mistake(
        "the bias was reduced to one number (its sum)",
        lambda x, W, b: x @ W + b.sum(),
        "add b[m] to column m: x @ W + b broadcasts b over the rows",
        when=lambda x, W, b: b.size > 1,
    ),
    Mistake(
        "the bias was reduced to one number (its mean)",
        lambda x, W, b: x @ W + b.mean(),
        "add b[m] to column m: x @ W + b broadcasts b over the rows",
        when=lambda x, W, b: b.size > 1,
    ),
]


@exercise("4.1", "the affine layer's forward pass")
def _check_affine(affine_forward) -> str:
    rng = np.random.default_rng(2041)
    n_cases = 0
    for case, x, W, b in _affine_cases(rng):
        with scored(case):
            expected = x @ W + b  # (N, M)
            try:
                raw = call(affine_forward, x, W, b, case=case)
            except ExerciseNotAttempted:
                raise
            except ExerciseFailed as err:
                flipped = _silently(affine_forward, x, W.T.copy(), b)
                if flipped is not None and same(flipped, expected):
                    rehint(err, f"{TRANSPOSED}")
                bias = (
                    f"; b is (out_features,) = {b.shape}, added to every row as it is"
                    if "broadcast" in str(err)
                    else ""
                )
                rehint(
                    err,
                    f"x is (N, in_features) = {x.shape}, W is (in_features, out_features) = {W.shape}{bias}; {AFFINE}",
                )
            got = result_array(raw, expected.shape, case)
            if got.shape != expected.shape:
                if got.shape == expected.shape[::-1]:
                    hint = "the result is transposed: one row per example, (N, out_features); compute x @ W + b, not W.T @ x.T"
                else:
                    hint = f"(N, in_features) @ (in_features, out_features) gives (N, out_features) = {expected.shape}"
                fail(
                    case,
                    f"the result should have shape {expected.shape} for x {x.shape} and W {W.shape}, got shape {got.shape}",
                    hint,
                )
            if not same(got, expected):
                diagnose(got, (x, W, b), AFFINE_MISTAKES, case, same)
                expect_close(got, expected, case=case, hint=AFFINE)
            n_cases += 1
    return f"{n_cases} cases: in_features != out_features, a square W, a single example, the book's 1352 -> 10 layer"


# ---------------------------------------------------------------------------------------------
# 4.2 stable_softmax


def _softmax_cases(rng: np.random.Generator):
    yield "z = [[1, 2, 3], [0, 0, 0]]", np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]), False
    yield "random logits (5, 10)", rng.standard_normal((5, 10)) * 3, False
    yield (
        "random logits (4, 4): as many examples as classes",
        rng.standard_normal((4, 4)) * 2,
        False,
    )
    yield (
        "large logits [[1000, 1001, 1002], [1, 2, 3]]",
        np.array([[1000.0, 1001.0, 1002.0], [1.0, 2.0, 3.0]]),
        True,
    )
    yield (
        "very negative logits [[-1000, -1001, -1002], [-5, 0, 5]]",
        np.array([[-1000.0, -1001.0, -1002.0], [-5.0, 0.0, 5.0]]),
        True,
    )
    yield (
        "rows far apart [[1000, 999], [0, -1], [2, 3]]: each row needs its own maximum",
        np.array([[1000.0, 999.0], [0.0, -1.0], [2.0, 3.0]]),
        True,
    )
    yield (
        "float32 logits [[100, 0, -100], [50, 60, 70]] (float32's exp overflows above 88.7)",
        np.array([[100.0, 0.0, -100.0], [50.0, 60.0, 70.0]], dtype=np.float32),
        True,
    )
    yield "one class (every probability is 1)", rng.standard_normal((3, 1)), False
    for dtype in (np.float64, np.float32):
        name = np.dtype(dtype).name
        yield (
            f"{name} rows far apart [[1000, -1000]]",
            np.array([[1000.0, -1000.0]], dtype=dtype),
            True,
        )
        yield (
            f"{name} rows far apart [[1000, 0], [0, -1000]]: each row needs its own maximum",
            np.array([[1000.0, 0.0], [0.0, -1000.0]], dtype=dtype),
            True,
        )
    hidden = hidden_rng()
    for i in range(HIDDEN):
        n, k = int(hidden.integers(1, 7)), int(hidden.integers(2, 11))
        z = hidden.standard_normal((n, k)) * 3 + hidden.choice([0.0, 0.0, 500.0, -800.0], (n, 1))
        dtype = np.float32 if hidden.random() < 0.4 else np.float64
        yield (
            f"hidden random case {i + 1}: {dtype.__name__} logits ({n}, {k}), rows far apart",
            z.astype(dtype),
            True,
        )


@exercise("4.2", "a numerically stable softmax over rows")
def _check_softmax(stable_softmax) -> str:
    rng = np.random.default_rng(2042)
    n_cases = 0
    for case, z, extreme in _softmax_cases(rng):
        with scored(case):
            expected = _softmax(z)  # (N, K), float64
            tol = (
                dict(rtol=1e-5, atol=1e-7) if z.dtype == np.float32 else dict(rtol=1e-6, atol=1e-10)
            )
            try:
                raw = _quiet(stable_softmax, z, case=case)
            except ExerciseNotAttempted:
                raise
            except ExerciseFailed as err:
                if "broadcast" in str(err):
                    rehint(
                        err,
                        "z.max(axis=1) has shape (N,), which does not line up with (N, K): keep the "
                        "reduced axis with z.max(axis=1, keepdims=True), shape (N, 1), and the same for the sum",
                    )
                raise
            got = result_array(raw, expected.shape, case)
            if got.shape != expected.shape:
                hint = "softmax keeps the shape of its input: one probability per logit, (N, K)"
                if got.ndim == 1:
                    hint += "; did a sum lose keepdims=True?"
                fail(
                    case,
                    f"the result should have shape {expected.shape}, got shape {got.shape}",
                    hint,
                )
            if not np.all(np.isfinite(got)):
                by_row = [_silently(stable_softmax, z[i : i + 1]) for i in range(len(z))]
                if all(
                    r is not None and same(r, expected[i : i + 1], **tol)
                    for i, r in enumerate(by_row)
                ):
                    fail(
                        case,
                        "the probabilities contain NaN or infinity, yet every row alone comes out right: "
                        "the maximum subtracted seems to be the whole batch's",
                        "subtract each row's own maximum, z.max(axis=1, keepdims=True): a row far below the "
                        "batch's maximum underflows to exp(-1000) = 0 everywhere, and 0 / 0 is NaN",
                    )
                fail(case, "the probabilities contain NaN or infinity", MAX_TRICK)
            if same(got, expected, **tol):
                n_cases += 1
                continue
            # No Mistake table: these diagnoses test properties of the answer (which sums are 1, exact 0s
            # and 1s), which any answer normalised over the wrong axis has, not one wrong answer.
            rows = got.sum(axis=1)
            if not np.allclose(rows, 1.0, atol=1e-5):
                cols = got.sum(axis=0)
                if np.allclose(cols, 1.0, atol=1e-5):
                    fail(
                        case,
                        "the columns sum to 1, not the rows: the softmax was normalised over the wrong axis (axis 0, the examples)",
                        "each row holds one example's K logits: normalise over axis=1 (or -1), with keepdims=True",
                    )
                if np.isclose(got.sum(), 1.0, atol=1e-5):
                    fail(
                        case,
                        "the whole batch sums to 1, not each row: the softmax was normalised over all examples at once",
                        "sum over axis=1 with keepdims=True, so that every example gets its own distribution",
                    )
                fail(
                    case,
                    f"each row should sum to 1; the row sums are {np.round(rows, 6).tolist()}",
                    "divide exp(z) by its row's sum: e / e.sum(axis=1, keepdims=True)",
                )
            if (
                extreme
                and (np.any(got == 0) or np.any(got == 1))
                and not same(got, expected, **tol)
            ):
                fail(
                    case,
                    "some probabilities collapsed to exactly 0 or 1 where they should not",
                    "subtract each row's own maximum (z.max(axis=1, keepdims=True)), not the maximum of the "
                    "whole batch: a row far below the batch maximum underflows to 0 / 0",
                )
            expect_close(
                got,
                expected,
                case=case,
                hint="p[n, k] = exp(z[n, k] - m[n]) / sum_j exp(z[n, j] - m[n]), m[n] = max_j z[n, j]",
                **tol,
            )
            n_cases += 1
    return f"{n_cases} cases: logits of +-1000, rows far apart, float32 logits above 88.7, a single class"


# ---------------------------------------------------------------------------------------------
# 4.3 cross_entropy


def _ce_cases(rng: np.random.Generator):
    yield "logits [[2, 1, 0]], label [0]", np.array([[2.0, 1.0, 0.0]]), np.array([0])
    yield (
        "random logits (6, 10), random labels",
        rng.standard_normal((6, 10)) * 2,
        rng.integers(0, 10, 6),
    )
    yield "uniform logits (4, 10): the loss is log(10)", np.zeros((4, 10)), np.array([0, 3, 7, 9])
    yield (
        "random logits (5, 5), labels 0..4: as many examples as classes",
        rng.standard_normal((5, 5)),
        np.arange(5),
    )
    yield (
        "huge logits [[1000, 0], [0, 1000]], labels [0, 1]: a confident, right answer (loss 0)",
        np.array([[1000.0, 0.0], [0.0, 1000.0]]),
        np.array([0, 1]),
    )
    yield (
        "huge logits [[1000, 0, -1000], [0, 1000, 0]], labels [2, 0]: confidently wrong",
        np.array([[1000.0, 0.0, -1000.0], [0.0, 1000.0, 0.0]]),
        np.array([2, 0]),
    )
    yield (
        "float32 logits [[120, 0, -5]], label [1]",
        np.array([[120.0, 0.0, -5.0]], dtype=np.float32),
        np.array([1]),
    )
    yield from far_apart_logit_cases()


def _ce(logits: np.ndarray, labels: np.ndarray) -> float:
    """The mean cross-entropy, in float64."""
    return float(-_log_softmax(logits)[np.arange(len(labels)), labels].mean())


CE_MISTAKES = [
    Mistake(
        lambda got, logits, labels: (
            f"the loss is {len(labels)} times too large ({got:.6g} instead of "
            f"{_ce(logits, labels):.6g}): the per-example losses were summed, not averaged"
        ),
        lambda logits, labels: len(labels) * _ce(logits, labels),
        "the loss is the mean, -(1/N) sum_n log p[n, y_n]: divide by N (the missing 1/N keeps the loss, and "
        "the learning rate that suits it, tied to the batch size)",
        when=lambda logits, labels: len(labels) > 1,
        quotes_answer=True,
    ),
    Mistake(
        lambda got, logits, labels: (
            f"the loss has the wrong sign ({got:.6g} instead of {_ce(logits, labels):.6g})"
        ),
        lambda logits, labels: -_ce(logits, labels),
        "cross-entropy is -log p of the right class: it is >= 0",
        quotes_answer=True,
    ),
    Mistake(
        "the loss averages log p over every label for every example",
        lambda logits, labels: float(-_log_softmax(logits)[:, labels].mean()),
        "pick one entry per row: logp[np.arange(N), labels]",
        when=lambda logits, labels: len(labels) > 1,
    ),
]


@exercise("4.3", "the mean cross-entropy loss, by log-sum-exp")
def _check_cross_entropy(cross_entropy) -> str:
    rng = np.random.default_rng(2043)
    n_cases = 0
    for case, logits, labels in _ce_cases(rng):
        with scored(case):
            n = len(labels)
            logp = _log_softmax(logits)  # (N, K)
            expected = float(-logp[np.arange(n), labels].mean())
            # A loss computed in float32 (from any input) is right: float32's rounding of z - max at this
            # magnitude is allowed; every named mistake is off by far more.
            eps = float(np.finfo(np.float32).eps)
            rtol = 1e-5
            atol = 1e-6 + 8 * eps * float(np.abs(logits).max(initial=1.0))
            raw = _quiet(cross_entropy, logits, labels, case=case)
            got_arr = result_array(raw, (), case)
            if got_arr.shape != ():
                if got_arr.shape == (n,):
                    hint = "that is one loss per example: return their mean, a single number"
                elif got_arr.shape == (n, n):
                    hint = "logp[:, labels] picks every label for every row; pick one entry per row: logp[np.arange(N), labels]"
                else:
                    hint = "the loss is a single number: -(1/N) sum_n log p[n, y_n]"
                fail(
                    case,
                    f"the loss should be a single number (shape ()), got an array of shape {got_arr.shape}",
                    hint,
                )
            got = float(got_arr)
            if math.isnan(got) or math.isinf(got):
                if math.isinf(got):
                    fail(
                        case,
                        f"the loss is {got}: a probability underflowed to 0 (or exp overflowed) and log(0) = -inf",
                        LOG_SUM_EXP,
                    )
                fail(
                    case,
                    "the loss is NaN: exp overflowed (exp(1000) = inf, inf / inf = NaN)",
                    f"{LOG_SUM_EXP}; subtracting the maximum (the max trick) keeps exp finite",
                )
            if math.isclose(got, expected, rel_tol=rtol, abs_tol=atol):
                n_cases += 1
                continue
            diagnose(
                got,
                (logits, labels),
                CE_MISTAKES,
                case,
                lambda a, b, rtol=rtol, atol=atol: math.isclose(a, b, rel_tol=rtol, abs_tol=atol),
            )
            if expected > 50 and got < expected:
                fail(
                    case,
                    f"the loss is {got:.6g}, far below the true {expected:.6g}: a clipped probability or an "
                    "added epsilon (log(p + 1e-12)) hides the underflow but caps the loss",
                    LOG_SUM_EXP,
                )
            fail(
                case,
                f"the loss is wrong: {expected_got(expected, got)}",
                "L = -(1/N) sum_n log p[n, y_n]; " + LOG_SUM_EXP,
            )
    return f"{n_cases} cases: the mean over examples, logits of +-1000 (right and wrong answers), float32 logits"


# ---------------------------------------------------------------------------------------------
# 4.4 lecun_uniform


def _lecun_cases():
    yield "fan_in = 1352, fan_out = 200 (the book's layer)", 1352, 200
    yield "fan_in = 9, fan_out = 4000 (a 3x3 kernel of one channel)", 9, 4000
    yield "fan_in = 200, fan_out = 150", 200, 150
    hidden = hidden_rng()
    for i in range(HIDDEN // 2):
        fan_in = int(hidden.integers(2, 3000))
        fan_out = max(int(np.ceil(20000 / fan_in)), int(hidden.integers(2, 50)))
        yield f"hidden random case {i + 1}: fan_in = {fan_in}, fan_out = {fan_out}", fan_in, fan_out


LECUN_RULE = (
    "LeCun: Var(W) = 1 / fan_in; Uniform(-a, a) has variance a^2 / 3, so a = sqrt(3 / fan_in), computed from the "
    "fan_in argument (a number written into the code fits one layer only)"
)
FAN_OUT = (
    "the scale depends on fan_out; LeCun's depends on fan_in, the number of inputs each output sums"
)


def _lecun_std_problem(std: float, fan_in: int, fan_out: int) -> str:
    return f"the weights' standard deviation is {std:.4g}; LeCun's is 1 / sqrt(fan_in) = {1 / math.sqrt(fan_in):.4g}"


def _within(tolerance: float):
    """Standard deviations within ``tolerance`` of each other (absolute)."""
    return lambda std, wrong: abs(std - wrong) < tolerance


LECUN_STD_MISTAKES = [  # the standard deviation of the weights each mistake draws, compared with the answer's
    Mistake(
        _lecun_std_problem,
        lambda fan_in, fan_out: 1 / math.sqrt(3),
        "that is Uniform(-1, 1), whose variance 1/3 ignores fan_in: a plain uniform initialisation is not "
        "LeCun's, whatever a tutorial calls it. LeCun's rule is Var(W) = 1/fan_in",
        quotes_answer=True,
        same=_within(0.02),
    ),
    Mistake(
        _lecun_std_problem,
        lambda fan_in, fan_out: 1 / math.sqrt(fan_in) / math.sqrt(3),  # a = sqrt(1 / fan_in)
        "Uniform(-a, a) has variance a^2 / 3, not a^2: for Var = 1/fan_in take a = sqrt(3 / fan_in)",
        quotes_answer=True,
        same=lambda std, wrong: abs(std - wrong) < 0.03 * wrong * math.sqrt(3),
    ),
    Mistake(
        _lecun_std_problem,
        lambda fan_in, fan_out: math.sqrt(1 / fan_out),
        FAN_OUT,
        quotes_answer=True,
        same=lambda std, wrong: abs(std - wrong) < 0.03 * wrong,
    ),
    Mistake(
        _lecun_std_problem,
        lambda fan_in, fan_out: 1 / math.sqrt(3 * fan_out),
        FAN_OUT,
        quotes_answer=True,
        same=lambda std, wrong: abs(std - wrong) < 0.03 * wrong,
    ),
]


def _lecun_one(lecun_uniform, fan_in: int, fan_out: int, case: str) -> float:
    """Check the weights of one (fan_in, fan_out); their standard deviation."""
    limit = math.sqrt(3 / fan_in)
    got = result_array(
        call(lecun_uniform, fan_in, fan_out, np.random.default_rng(0), case=case),
        (fan_in, fan_out),
        case,
    )
    if got.shape != (fan_in, fan_out):
        hint = (
            "W is (in_features, out_features), like the affine layer's"
            if got.shape == (fan_out, fan_in)
            else None
        )
        fail(case, f"the weights should have shape ({fan_in}, {fan_out}), got {got.shape}", hint)
    if not np.all(np.isfinite(got)):
        fail(case, "the weights contain NaN or infinity")
    std, top = float(got.std()), float(np.abs(got).max())
    target = 1 / math.sqrt(fan_in)
    if abs(float(got.mean())) > 0.05 * target:
        fail(
            case,
            f"the weights' mean is {got.mean():.4g}; it should be 0",
            "draw from Uniform(-a, a), symmetric around 0",
        )
    if abs(std / target - 1) > 0.03:
        diagnose(
            std, (fan_in, fan_out), LECUN_STD_MISTAKES, case, _within(0.0)
        )  # each mistake has its own tolerance
        fail(case, _lecun_std_problem(std, fan_in, fan_out), LECUN_RULE)
    if top > limit * (1 + 1e-9):
        fail(
            case,
            f"some weights reach {top:.4g}, beyond the limit a = sqrt(3 / fan_in) = {limit:.4g}",
            "the standard deviation is right but the values are not uniform on [-a, a]: draw with rng.uniform(-a, a, size), "
            "not rng.normal",
        )
    if top < 0.98 * limit:
        fail(
            case,
            f"the weights stay within +-{top:.4g}; uniform on [-a, a] with a = {limit:.4g} comes close to both ends",
            "draw with rng.uniform(-a, a, size)",
        )
    return std


@exercise("4.4", "a uniform initialisation with LeCun's variance")
def _check_lecun_uniform(lecun_uniform) -> str:
    n_cases = 0
    for case, fan_in, fan_out in _lecun_cases():
        with scored(case):
            _lecun_one(lecun_uniform, fan_in, fan_out, case)
            n_cases += 1
    fan_in, fan_out = 1352, 200
    case = "two calls with np.random.default_rng(0) and one with default_rng(1)"
    with scored(case):
        shape = (fan_in, fan_out)
        got = result_array(
            call(lecun_uniform, fan_in, fan_out, np.random.default_rng(0), case=case), shape, case
        )
        again = result_array(
            call(lecun_uniform, fan_in, fan_out, np.random.default_rng(0), case=case), shape, case
        )
        other = result_array(
            call(lecun_uniform, fan_in, fan_out, np.random.default_rng(1), case=case), shape, case
        )
        if not np.array_equal(got, again) or np.array_equal(got, other):
            fail(
                case,
                "the weights do not follow the rng argument: the same seed should give the same weights, another seed others",
                "draw every random number from the rng you are given (rng.uniform(...)), never from np.random.* directly",
            )
    small = "fan_in = 4, fan_out = 3"
    with scored(small):
        got = result_array(
            call(lecun_uniform, 4, 3, np.random.default_rng(5), case=small), (4, 3), small
        )
        if got.shape != (4, 3) or np.abs(got).max() > math.sqrt(3 / 4) * (1 + 1e-9):
            fail(
                small,
                f"expected a (4, 3) array within +-{math.sqrt(3 / 4):.4g}, got shape {got.shape} reaching {np.abs(got).max():.4g}",
            )
    return (
        f"Uniform(-a, a) with a = sqrt(3 / fan_in) at {n_cases} fan-ins, reproducible from the rng"
    )
