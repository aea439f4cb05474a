"""Checks for chapter 6 (training).

- 6.1 ``sgd_step(params, grads, lr)``: one plain SGD update, ``w -= lr * g`` for every parameter,
  in place, leaving the gradients alone.
- 6.2 ``momentum_step(params, grads, velocity, lr, momentum)``: SGD with momentum,
  ``v = momentum * v - lr * g; w += v``, with each parameter's velocity kept in the dict
  ``velocity`` that the caller passes in (empty at the start) between calls.
- 6.3 ``accuracy(logits, labels)``: the fraction of examples whose largest logit is the true class.
- 6.4 ``minibatches(X, y, batch_size, rng)``: the mini-batches ``(X_batch, y_batch)`` of one epoch,
  in a random order drawn from ``rng``, covering every example exactly once.

The optimizer checks pass dicts like ``model.params()`` and ``model.grads()`` and look at the very
arrays they hold, because the classic mistakes leave the printed values plausible: a step that
rebinds names or dict entries instead of updating in place (the model never changes), a step
that scales the gradients in place (mixing the gradient with the update, as the seed tutorials'
``backprop(..., lr)`` does), the wrong sign, a velocity that is not remembered. The iterator check
gives every example its own id, so it can tell a dropped last batch from sampling with
replacement, and ``X`` and ``y`` shuffled apart.
"""

from __future__ import annotations

import math

import numpy as np

from ..layers import Affine, Conv2D, Flatten, MaxPool2D, ReLU, Sequential
from . import (
    HIDDEN,
    ExerciseFailed,
    ExerciseNotAttempted,
    Mistake,
    _two_numbers,
    call,
    diagnose,
    exercise,
    expect_close,
    expected_got,
    fail,
    hidden_rng,
    rehint,
    same,
    scored,
)
from .kit import graded

SGD_RULE = (
    "for every name: params[name] -= lr * grads[name] (in place, so the layer's own array changes)"
)
MOMENTUM_RULE = (
    "for every name: v = momentum * v - lr * g, then w += v, where v starts at zeros and is stored in "
    "velocity[name] between calls"
)
IN_PLACE = (
    "Update the arrays in place: `w -= lr * g` (or params[name] -= lr * grads[name]) writes into the array "
    "the layer holds. `w = w - lr * g` makes a new array and only rebinds the name: model.params() builds a "
    "new dict on every call, so the layer never sees it"
)
GRADS_READ_ONLY = (
    "the optimizer must only read the gradients: a step that scales them in place (g *= lr, or "
    "grads[name] = lr * g) mixes the gradient with the update, and whatever reads the gradients "
    "afterwards (a gradient check, a plot of their size, momentum) gets lr * g instead"
)


def _close(a, b, rtol: float = 1e-6, atol: float = 1e-9) -> bool:
    """Same shape, close values, and finite (a diverged update must not pass by accident)."""
    return bool(np.all(np.isfinite(np.asarray(a, dtype=float)))) and same(
        a, b, rtol=rtol, atol=atol
    )


def _all_close(got: dict, expected: dict, **tol) -> bool:
    return all(_close(got[k], expected[k], **tol) for k in expected)


def _tol(params: dict) -> dict:
    f32 = any(v.dtype == np.float32 for v in params.values())
    return dict(rtol=1e-5, atol=1e-6) if f32 else dict(rtol=1e-9, atol=1e-12)


def _book_params(rng: np.random.Generator, dtype=np.float32) -> tuple[dict, dict]:
    """Random parameters and gradients with the names and shapes of the book's model."""
    shapes = {"0.W": (8, 1, 3, 3), "0.b": (8,), "4.W": (1352, 10), "4.b": (10,)}
    params = {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
    grads = {k: (rng.standard_normal(s) * 0.1).astype(dtype) for k, s in shapes.items()}
    return params, grads


def _small_model(rng: np.random.Generator) -> Sequential:
    """A small float64 CNN whose gradients have been computed once (its grads are non-zero)."""
    model = Sequential([
        Conv2D(1, 2, 3, rng=rng, dtype=np.float64), ReLU(), MaxPool2D(2), Flatten(),
        Affine(2 * 3 * 3, 4, rng=rng, dtype=np.float64),
    ])  # fmt: skip
    x = rng.standard_normal((3, 1, 8, 8))  # (N, C, H, W)
    out = model.forward(x)  # (3, 4)
    model.backward(rng.standard_normal(out.shape))
    return model


def _params_of(case_params) -> dict:
    """The parameter dict to pass: ``model.params()`` for a model, the dict itself otherwise."""
    return case_params.params() if isinstance(case_params, Sequential) else case_params


def _check_dict(got_params: dict, keys, case: str) -> None:
    missing = [k for k in keys if k not in got_params]
    if missing:
        fail(
            case,
            f"after the step, params has no entry {missing[0]!r}: the step must keep every parameter",
            "update the arrays the dict holds; do not delete or rename its entries",
        )


# ---------------------------------------------------------------------------------------------
# 6.1 sgd_step


def _sgd_cases(rng: np.random.Generator):
    yield (
        "one parameter w = [1, -2, 3], gradient [0.5, 0.5, -1], lr = 0.1",
        {"w": np.array([1.0, -2.0, 3.0])}, {"w": np.array([0.5, 0.5, -1.0])}, 0.1,
    )  # fmt: skip
    yield (
        "two parameters W (3, 2) and b (2,), lr = 0.05",
        {"W": rng.standard_normal((3, 2)), "b": rng.standard_normal(2)},
        {"W": rng.standard_normal((3, 2)), "b": rng.standard_normal(2)}, 0.05,
    )  # fmt: skip
    yield "the book's model's four parameters (float32), lr = 0.01", *_book_params(rng), 0.01
    model = _small_model(rng)
    yield "sgd_step(model.params(), model.grads(), lr=0.1) on a small CNN", model, None, 0.1
    hidden = hidden_rng()
    for i in range(HIDDEN):
        dtype = np.float32 if hidden.random() < 0.4 else np.float64
        shapes = {
            f"p{j}": tuple(int(v) for v in hidden.integers(1, 6, int(hidden.integers(1, 4))))
            for j in range(int(hidden.integers(1, 4)))
        }
        params = {k: hidden.standard_normal(sh).astype(dtype) for k, sh in shapes.items()}
        grads = {k: hidden.standard_normal(sh).astype(dtype) for k, sh in shapes.items()}
        lr = float(hidden.choice([0.001, 0.01, 0.05, 0.3]))
        yield (
            f"hidden random case {i + 1}: {len(shapes)} {np.dtype(dtype).name} parameters, lr = {lr}",
            params,
            grads,
            lr,
        )


SGD_MISTAKES = [  # made from (params before the step, grads, lr); compared with what the layers now hold
    Mistake(
        "the parameters moved in the direction of the gradient (w + lr * g): uphill",
        lambda w, g, lr: {k: w[k] + lr * g[k] for k in w},
        "the gradient points to where the loss grows fastest; descend: w -= lr * g",
    ),
    Mistake(
        "the step ignores the learning rate: w - g",
        lambda w, g, lr: {k: w[k] - g[k] for k in w},
        "scale the gradient by lr: w -= lr * g",
        when=lambda w, g, lr: lr != 1,
    ),
]


@exercise("6.1", "one SGD step, in place")
def _check_sgd(sgd_step) -> str:
    rng = np.random.default_rng(601)
    n_cases = 0
    for case, params, grads, lr in _sgd_cases(rng):
        with scored(case):
            model = params if isinstance(params, Sequential) else None
            params = _params_of(
                params
            )  # a dict whose values are the layers' own arrays for a model
            grads = model.grads() if model is not None else grads
            objects = dict(params)  # the very arrays: they must be the ones that change
            before = {k: v.copy() for k, v in params.items()}
            grads_before = {k: g.copy() for k, g in grads.items()}
            expected = {k: before[k] - lr * grads_before[k] for k in before}
            tol = _tol(before)

            returned = call(sgd_step, params, grads, lr, case=case)
            if returned is Ellipsis:
                raise ExerciseNotAttempted()
            _check_dict(params, before, case)
            moved = {
                k: objects[k] for k in before
            }  # what the layer (or the caller's arrays) now hold
            if model is not None:
                moved = {k: v for k, v in model.params().items()}
            replaced = [k for k in before if params[k] is not objects[k]]

            if not _all_close(grads, grads_before, rtol=0, atol=0):
                changed = next(k for k in grads if not np.array_equal(grads[k], grads_before[k]))
                scaled = _close(grads[changed], lr * grads_before[changed], **tol)
                problem = f"the gradient {changed!r} was changed by the step" + (
                    ": it now holds lr * gradient" if scaled else ""
                )
                fail(case, problem, GRADS_READ_ONLY)
            if _all_close(moved, expected, **tol):
                n_cases += 1
                continue
            if replaced and _all_close({k: params[k] for k in before}, expected, **tol):
                where = (
                    " (so the model's layers kept their old weights)" if model is not None else ""
                )
                fail(
                    case,
                    f"the entries of params were replaced by new arrays (params[{replaced[0]!r}] = ...) "
                    f"instead of being updated in place{where}",
                    IN_PLACE,
                )
            # The replaced and unmoved parameters, and a returned dict, are read from the answer's effects
            # (which arrays changed, what it returned): inline, not Mistakes.
            if _all_close(moved, before, rtol=0, atol=0):
                if (
                    isinstance(returned, dict)
                    and set(returned) == set(before)
                    and _all_close(returned, expected, **tol)
                ):
                    fail(
                        case,
                        "the parameters did not change: the new values were returned instead",
                        "sgd_step returns nothing; it changes the parameters themselves. "
                        + IN_PLACE,
                    )
                fail(
                    case,
                    "the parameters did not change at all",
                    "a loop `for name, w in params.items(): w = w - lr * grads[name]` only rebinds the name w. "
                    + IN_PLACE,
                )
            diagnose(
                moved,
                (before, grads_before, lr),
                SGD_MISTAKES,
                case,
                lambda a, b, tol=tol: _all_close(a, b, **tol),
            )
            done = [k for k in before if _close(moved[k], expected[k], **tol)]
            stale = [k for k in before if np.array_equal(moved[k], before[k])]
            if done and stale:
                fail(
                    case,
                    f"only some parameters were updated: {', '.join(map(repr, stale))} did not change",
                    "loop over every name in params (W and b of every layer): " + SGD_RULE,
                )
            for k in before:
                expect_close(
                    moved[k],
                    expected[k],
                    case=case,
                    name=f"params[{k!r}] after the step",
                    hint=SGD_RULE,
                    rtol=tol["rtol"],
                    atol=tol["atol"],
                )
    return f"{n_cases} cases: a hand-made step, float64 and float32 parameters, a model's params() and grads()"


# ---------------------------------------------------------------------------------------------
# 6.2 momentum_step


def _momentum_reference(
    start: dict, grad_seq: list[dict], lr: float, mu: float, variant: str = "classic"
) -> list[dict]:
    """The parameters after each step of ``grad_seq``, for the right rule or a classic mistake."""
    w = {k: v.astype(np.float64) for k, v in start.items()}
    v = {k: np.zeros_like(x) for k, x in w.items()}
    out = []
    for grads in grad_seq:
        for k in w:
            g = grads[k].astype(np.float64)
            if variant == "classic":
                v[k] = mu * v[k] - lr * g
                w[k] = w[k] + v[k]
            elif variant == "forgetful":  # the velocity is never stored: plain SGD
                w[k] = w[k] - lr * g
            elif variant == "uphill":
                v[k] = mu * v[k] + lr * g
                w[k] = w[k] + v[k]
            elif variant == "dampened":  # an average of the gradients: (1 - mu) * g
                v[k] = mu * v[k] + (1 - mu) * g
                w[k] = w[k] - lr * v[k]
            elif variant == "late":  # the old velocity applied before the new one is computed
                w[k] = w[k] + v[k]
                v[k] = mu * v[k] - lr * g
            elif variant == "no_lr":
                v[k] = mu * v[k] - g
                w[k] = w[k] + v[k]
        out.append({k: x.copy() for k, x in w.items()})
    return out


def _momentum_cases(rng: np.random.Generator):
    w = {"w": np.array([1.0, -1.0])}
    gs = [{"w": np.array([1.0, 0.5])} for _ in range(4)]
    yield (
        "w = [1, -1], the same gradient [1, 0.5] four times, lr = 0.1, momentum = 0.9",
        w,
        gs,
        0.1,
        0.9,
    )
    params, _ = _book_params(rng, np.float64)
    gs = [_book_params(rng, np.float64)[1] for _ in range(3)]
    yield (
        "the book's model's parameters, three steps with different gradients, lr = 0.05, momentum = 0.8",
        params,
        gs,
        0.05,
        0.8,
    )
    params, _ = _book_params(rng, np.float32)
    gs = [_book_params(rng, np.float32)[1] for _ in range(3)]
    yield "the same in float32, lr = 0.01, momentum = 0.9", params, gs, 0.01, 0.9
    params = {"W": rng.standard_normal((4, 3)), "b": rng.standard_normal(3)}
    gs = [{"W": rng.standard_normal((4, 3)), "b": rng.standard_normal(3)} for _ in range(3)]
    yield (
        "a second optimizer with its own, new velocity dict: W (4, 3) and b (3,), lr = 0.2, momentum = 0.5",
        params,
        gs,
        0.2,
        0.5,
    )
    hidden = hidden_rng()
    for i in range(HIDDEN // 2):
        dtype = np.float32 if hidden.random() < 0.4 else np.float64
        shapes = {
            "W": (int(hidden.integers(1, 5)), int(hidden.integers(1, 5))),
            "b": (int(hidden.integers(1, 5)),),
        }
        params = {k: hidden.standard_normal(sh).astype(dtype) for k, sh in shapes.items()}
        gs = [
            {k: hidden.standard_normal(sh).astype(dtype) for k, sh in shapes.items()}
            for _ in range(3)
        ]
        lr, mu = float(hidden.choice([0.01, 0.1, 0.3])), float(hidden.choice([0.5, 0.8, 0.9, 0.99]))
        yield (
            (
                f"hidden random case {i + 1}: a new optimizer, {np.dtype(dtype).name} W {shapes['W']} and b {shapes['b']}, "
                f"lr = {lr}, momentum = {mu}"
            ),
            params,
            gs,
            lr,
            mu,
        )


_MOMENTUM_MISTAKES = {
    "forgetful": (
        "from the second step on, each update is plain SGD (w - lr * g): the velocity is not remembered "
        "between calls",
        "store each parameter's velocity in the dict the caller passes, velocity[name], and read it back on "
        "the next call (create zeros with np.zeros_like(w) the first time)",
    ),
    "uphill": (
        "the velocity points uphill (v = momentum * v + lr * g, then w += v)",
        "descend: v = momentum * v - lr * g, then w += v",
    ),
    "dampened": (
        "the velocity is an average of the gradients, momentum * v + (1 - momentum) * g",
        "that dampened form (used by some libraries) takes steps (1 - momentum) times smaller; the classic rule "
        "adds the whole gradient: v = momentum * v - lr * g, then w += v",
    ),
    "late": (
        "each step applies the previous velocity (nothing moves on the first step)",
        "compute the new velocity first, then add it: v = momentum * v - lr * g; w += v",
    ),
    "no_lr": (
        "the step ignores the learning rate",
        "v = momentum * v - lr * g: the gradient is scaled by lr",
    ),
}


def _momentum_mistake(variant: str, problem: str, hint: str, **kw) -> Mistake:
    """The mistaken rule ``variant`` of :func:`_momentum_reference`: the parameters after step t."""
    return Mistake(
        problem,
        lambda start, grad_seq, lr, mu, t: _momentum_reference(start, grad_seq, lr, mu, variant)[t],
        hint,
        **kw,
    )


MOMENTUM_MISTAKES = [
    Mistake(
        "the parameters did not change on the first step",
        lambda start, grad_seq, lr, mu, t: start,
        "compute the new velocity first (it starts at zero), then add it: v = momentum * v - lr * g; w += v",
        when=lambda start, grad_seq, lr, mu, t: t == 0,
        same=lambda got, start: all(np.array_equal(got[k], start[k]) for k in start),
    ),
    _momentum_mistake(
        "forgetful", *_MOMENTUM_MISTAKES["forgetful"], when=lambda start, grad_seq, lr, mu, t: t > 0
    ),  # on step 1 plain SGD is right
    *(
        _momentum_mistake(variant, problem, hint)
        for variant, (problem, hint) in _MOMENTUM_MISTAKES.items()
        if variant != "forgetful"
    ),
]


@exercise("6.2", "SGD with momentum, velocity kept between steps")
def _check_momentum(momentum_step) -> str:
    rng = np.random.default_rng(602)
    n_cases = 0
    for case, start, grad_seq, lr, mu in _momentum_cases(rng):
        with scored(case):
            params = {k: v.copy() for k, v in start.items()}
            objects = dict(params)
            velocity: dict = {}
            tol = _tol(start)
            reference = _momentum_reference(start, grad_seq, lr, mu)
            for t, grads in enumerate(grad_seq):
                step_case = f"{case}; step {t + 1}"
                grads = {k: g.copy() for k, g in grads.items()}
                returned = call(momentum_step, params, grads, velocity, lr, mu, case=step_case)
                if returned is Ellipsis:
                    raise ExerciseNotAttempted()
                _check_dict(params, start, step_case)
                if not all(np.array_equal(grads[k], grad_seq[t][k]) for k in grads):
                    fail(step_case, "the gradients were changed by the step", GRADS_READ_ONLY)
                replaced = [k for k in start if params[k] is not objects[k]]
                if replaced:
                    fail(
                        step_case,
                        f"params[{replaced[0]!r}] was replaced by a new array instead of updated in place",
                        "write `w += v` (or params[name] += v). " + IN_PLACE,
                    )
                if _all_close(params, reference[t], **tol):
                    continue
                diagnose(
                    params,
                    (start, grad_seq, lr, mu, t),
                    MOMENTUM_MISTAKES,
                    step_case,
                    lambda a, b, tol=tol: _all_close(a, b, **tol),
                )
                if n_cases and t == 0:
                    fail(
                        step_case,
                        "the first step of a new optimizer (a new, empty velocity dict) is wrong, although "
                        "the earlier cases passed: the velocity seems to be kept somewhere else (a global "
                        "variable, a default argument) and carried over from the earlier cases",
                        "keep each parameter's velocity only in the dict passed as `velocity`",
                    )
                for k in start:
                    expect_close(
                        params[k],
                        reference[t][k],
                        case=step_case,
                        name=f"params[{k!r}]",
                        hint=MOMENTUM_RULE,
                        rtol=tol["rtol"],
                        atol=tol["atol"],
                    )
            n_cases += 1
    return (
        f"{n_cases} cases of 3-4 steps each: a constant gradient, float64 and float32, "
        "a second optimizer with a fresh velocity"
    )


# ---------------------------------------------------------------------------------------------
# 6.3 accuracy


def _accuracy_cases(rng: np.random.Generator):
    logits = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 4.0], [5.0, 6.0, 0.0]])
    yield (
        "4 examples, 3 classes (predictions 0, 1, 2, 1 against labels 0, 1, 1, 1)",
        logits,
        np.array([0, 1, 1, 1]),
    )
    labels = rng.integers(0, 10, 50)
    logits = rng.standard_normal((50, 10))
    right = rng.permutation(50)[:37]
    logits[right, labels[right]] = 5.0  # 37 of 50 right, at least
    yield "50 examples, 10 classes", logits, labels
    square = rng.standard_normal((10, 10))
    yield (
        "10 examples, 10 classes (argmax over the wrong axis still runs)",
        square,
        np.argmax(square, axis=1)[::-1].copy(),
    )
    yield (
        "all logits negative, 6 examples, 4 classes",
        -np.abs(rng.standard_normal((6, 4))) - 1,
        rng.integers(0, 4, 6),
    )
    yield (
        "float32 logits, 20 examples, int32 labels",
        rng.standard_normal((20, 10)).astype(np.float32),
        rng.integers(0, 10, 20).astype(np.int32),
    )
    yield "one example, predicted right", np.array([[0.1, 0.9]]), np.array([1])
    yield "one example, predicted wrong", np.array([[0.1, 0.9]]), np.array([0])
    yield (
        "all logits 0 (every class tied), labels 0, 1, 2, 3: argmax picks class 0, so 1 of 4 is right",
        np.zeros((4, 4)),
        np.array([0, 1, 2, 3]),
    )
    yield (
        "ties between the top two classes: argmax takes the first of them",
        np.array([[2.0, 2.0, 0.0], [0.0, 3.0, 3.0], [1.0, 0.0, 1.0]]),
        np.array([1, 2, 0]),
    )
    hidden = hidden_rng()
    for i in range(HIDDEN):
        n, k = int(hidden.integers(1, 40)), int(hidden.integers(2, 11))
        logits = (
            hidden.integers(-2, 3, (n, k)).astype(float)
            if hidden.random() < 0.5
            else hidden.standard_normal((n, k))
        )
        if hidden.random() < 0.3:
            logits = logits.astype(np.float32)
        yield (
            f"hidden random case {i + 1}: {n} examples, {k} classes",
            logits,
            hidden.integers(0, k, n),
        )


def _integer_division(accuracy) -> bool:
    """Does ``accuracy`` give 1 when all 4 are right and 0 when 2 of 4 are (``correct // n``)?"""
    logits = np.eye(4) * 5  # (4, 4): example i predicts class i
    try:
        all_right = float(np.asarray(accuracy(logits, np.arange(4))))
        half_right = float(np.asarray(accuracy(logits, np.array([0, 1, 0, 1]))))
    except Exception:
        return False
    return all_right == 1 and half_right == 0


def _near(rel: float, abs_: float):
    return lambda a, b: math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


def _correct(logits: np.ndarray, labels: np.ndarray) -> int:
    return int((logits.argmax(axis=1) == labels).sum())


def _accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return _correct(logits, labels) / len(labels)


def _ties_counted(logits: np.ndarray, labels: np.ndarray) -> float | None:
    """The mistake of counting a label whose logit only ties for the maximum as right (None if no such tie)."""
    ties = float(np.mean(logits[np.arange(len(labels)), labels] == logits.max(axis=1)))
    return None if ties == _accuracy(logits, labels) else ties


ACCURACY_MISTAKES = [
    Mistake(
        "an example whose true class only ties for the largest logit was counted as right",
        _ties_counted,
        "the prediction is ONE class, logits.argmax(axis=1) (the first of tied maxima): compare it with the "
        "label, rather than asking whether the label's logit equals the maximum",
        same=_near(1e-6, 1e-9),
    ),
    Mistake(
        lambda value, logits, labels: (
            f"{value:g} is the number of correct predictions, not the fraction"
        ),
        lambda logits, labels: _correct(logits, labels),
        lambda value, logits, labels: (
            f"divide by the number of examples, {len(labels)}: the accuracy lies between 0 and 1"
        ),
        when=lambda logits, labels: _correct(logits, labels) not in (0, len(labels)),
        quotes_answer=True,
        same=lambda a, b: a == b,
    ),
    Mistake(
        lambda value, logits, labels: (
            f"{value:g} is a percentage; expected the fraction {_accuracy(logits, labels):g}"
        ),
        lambda logits, labels: 100 * _accuracy(logits, labels),
        'return a fraction between 0 and 1 (print it as a percentage with f"{acc:.1%}")',
        when=lambda logits, labels: _accuracy(logits, labels) not in (0.0, 0.01),
        quotes_answer=True,
    ),
    Mistake(
        lambda value, logits, labels: (
            f"{value:g} is the error rate (the fraction wrong); expected the accuracy "
            f"{_accuracy(logits, labels):g}"
        ),
        lambda logits, labels: 1 - _accuracy(logits, labels),
        "count the examples whose prediction equals the label",
        when=lambda logits, labels: _accuracy(logits, labels) != 0.5,
        quotes_answer=True,
        same=_near(1e-9, 1e-12),
    ),
]
AXIS_MISTAKES = [  # tried after the integer-division probe, which calls the answer
    Mistake(
        "the predictions were taken over axis 0 (one per class, across examples)",
        lambda logits, labels: float(np.mean(logits.argmax(axis=0) == labels)),
        "each row holds one example's logits: predictions = logits.argmax(axis=1)",
        when=lambda logits, labels: logits.shape[0] == logits.shape[1],
    ),
]


@exercise("6.3", "accuracy from logits")
def _check_accuracy(accuracy) -> str:
    rng = np.random.default_rng(603)
    n_cases = 0
    for case, logits, labels in _accuracy_cases(rng):
        with scored(case):
            n = len(labels)
            correct = int((logits.argmax(axis=1) == labels).sum())
            expected = correct / n
            try:
                got = call(accuracy, logits, labels, case=case)
            except ExerciseNotAttempted:
                raise
            except ExerciseFailed as err:
                if "broadcast" in str(err) or "shape" in str(err):
                    rehint(
                        err,
                        f"logits are (N, K) = {logits.shape} and labels (N,) = {labels.shape}: take the "
                        "prediction of each example over the classes, logits.argmax(axis=1), shape (N,); "
                        "argmax over axis 0 gives one value per class, shape (K,)",
                    )
                raise
            if got is None or got is Ellipsis:
                expect_close(got, expected, case=case, name="the accuracy")
            arr = np.asarray(got)
            if arr.dtype.kind not in "fiub":
                fail(case, f"expected a number, got {type(got).__name__}")
            if arr.shape == (n,) and n > 1:
                fail(
                    case,
                    f"expected one number, got an array of shape {arr.shape}: one value per example",
                    "that is the per-example comparison; the accuracy is its mean: np.mean(predictions == labels)",
                )
            if arr.size != 1:
                fail(
                    case,
                    f"expected one number, got an array of shape {arr.shape}",
                    "predictions = logits.argmax(axis=1) has one class per example (N,); compare with labels, then average",
                )
            value = float(arr.reshape(()))
            if math.isclose(
                value, expected, rel_tol=1e-6, abs_tol=1e-9
            ):  # float32's mean is right too
                n_cases += 1
                continue
            diagnose(value, (logits, labels), ACCURACY_MISTAKES, case, _near(1e-9, 0.0))
            if (
                value == 0 and correct not in (0, n) and _integer_division(accuracy)
            ):  # a probe of the answer
                fail(
                    case,
                    f"got {value:g}: integer division",
                    "use true division, correct / n (or np.mean)",
                )
            diagnose(value, (logits, labels), AXIS_MISTAKES, case, _near(1e-9, 1e-12))
            fail(
                case,
                f"the accuracy should be {_two_numbers(expected, value)[0]} ({correct} of {n} right), got "
                f"{_two_numbers(expected, value)[1]}"
                if not graded()
                else f"the accuracy is wrong: {expected_got(expected, value)}",
                "predictions = logits.argmax(axis=1); accuracy = np.mean(predictions == labels)",
            )
    return f"{n_cases} cases, including as many examples as classes, all-negative logits and a single example"


# ---------------------------------------------------------------------------------------------
# 6.4 minibatches


def _id_data(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``X[i]`` is a tiny image filled with ``i``; ``y[i] = i``: every example carries its id."""
    X = np.broadcast_to(
        np.arange(n, dtype=np.float64)[:, None, None, None], (n, 1, 2, 2)
    ).copy()  # (n, 1, 2, 2)
    return X, np.arange(n, dtype=np.int64)


def _run_batches(
    minibatches, X, y, batch_size, rng, case: str
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Call the reader's function and read the whole epoch; the batches as arrays."""
    if not callable(minibatches):
        fail(case, f"expected a function, got {type(minibatches).__name__}")
    try:
        result = minibatches(X, y, batch_size, rng)
        if result is None:
            fail(
                case,
                "the function returned None",
                "yield the batches one by one (`yield X[idx], y[idx]`) or return a list of (X_batch, y_batch) pairs",
            )
        if result is Ellipsis:
            raise ExerciseNotAttempted()
        items = list(result)
    except (ExerciseFailed, ExerciseNotAttempted):
        raise
    except NotImplementedError:
        raise ExerciseNotAttempted() from None
    except Exception as err:
        fail(case, f"your code raised {type(err).__name__}: {err}")
    batches = []
    for i, item in enumerate(items):
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            fail(
                case,
                f"batch {i} is a {type(item).__name__}, not a pair (X_batch, y_batch)",
                "yield X[idx], y[idx] for each batch of indices idx",
            )
        xb, yb = (np.asarray(a) for a in item)
        if xb.shape[1:] != X.shape[1:] or yb.ndim != 1 or len(xb) != len(yb):
            fail(
                case,
                f"batch {i} has X_batch of shape {xb.shape} and y_batch of shape {yb.shape}; expected "
                f"(B, {', '.join(map(str, X.shape[1:]))}) and (B,)",
                "index both arrays with the same integer array of B indices: X[idx], y[idx]",
            )
        batches.append((xb, yb))
    return batches


def _epoch(minibatches, n: int, batch_size: int, rng, case: str) -> np.ndarray:
    """Run one epoch on id-carrying data, check everything about it, return the ids in visit order.

    No Mistake table: the order is the answer's own random draw, so no wrong epoch made from the inputs
    can match it; the diagnoses read the ids the batches carry (repeats, gaps, sizes) instead.
    """
    X, y = _id_data(n)
    X_given, y_given = X.copy(), y.copy()
    batches = _run_batches(minibatches, X_given, y_given, batch_size, rng, case)
    if not np.array_equal(X_given, X) or not np.array_equal(y_given, y):
        fail(
            case,
            "the function changed the caller's X or y (shuffled them in place)",
            "leave the data alone and index it: idx = rng.permutation(n), then X[idx], y[idx] "
            "(rng.shuffle(X) reorders the caller's training set)",
        )
    sizes = [len(yb) for _, yb in batches]
    if 0 in sizes:
        fail(
            case,
            f"batch {sizes.index(0)} is empty (batch sizes {sizes})",
            "step through the indices with range(0, n, batch_size): it stops before an empty batch",
        )
    for i, (xb, yb) in enumerate(batches):
        if not np.array_equal(xb[:, 0, 0, 0], yb.astype(np.float64)):
            fail(
                case,
                f"in batch {i} the images and the labels no longer belong together",
                "X and y were shuffled with different orders: draw ONE permutation, idx = rng.permutation(n), "
                "and index both with it: X[idx], y[idx]",
            )
    ids = np.concatenate([yb for _, yb in batches]) if batches else np.zeros(0, dtype=np.int64)
    counts = (
        np.bincount(ids.astype(np.int64), minlength=n) if len(ids) else np.zeros(n, dtype=np.int64)
    )
    expected_sizes = f"{n // batch_size} of {batch_size}" + (
        f" and one of {n % batch_size}" if n % batch_size else ""
    )
    full = -(-n // batch_size) * batch_size
    if (
        n % batch_size
        and len(ids) == full
        and all(s == batch_size for s in sizes)
        and n
        and counts.min() >= 1
    ):
        fail(
            case,
            f"the last batch was padded to {batch_size} examples with ones already seen this epoch "
            f"({full - n} examples came twice)",
            "keep the last batch smaller: slice idx[start:start + batch_size] for start in range(0, n, batch_size); "
            "padding repeats examples and weighs them twice in that step",
        )
    if counts.max(initial=0) > 1:
        twice = int((counts > 1).sum())
        never = int((counts == 0).sum())
        fail(
            case,
            f"{twice} examples came more than once in the epoch and {never} never",
            "that is sampling with replacement (rng.integers or rng.choice without replace=False): an epoch "
            "visits every example exactly once, in the order of one permutation, rng.permutation(n)",
        )
    missing = int((counts == 0).sum())
    if missing:
        if missing == n % batch_size and all(s == batch_size for s in sizes):
            fail(
                case,
                f"the last {missing} example{'s' if missing > 1 else ''} of the order {'were' if missing > 1 else 'was'} dropped: {n} examples in batches of {batch_size} "
                f"are {expected_sizes}, got {len(sizes)} batches of {batch_size}",
                "keep the last, smaller batch: loop `for start in range(0, n, batch_size)` and slice "
                "idx[start:start + batch_size]; n // batch_size batches drop the remainder",
            )
        fail(
            case,
            f"{missing} of the {n} examples never came in the epoch (batch sizes {sizes})",
            "every example must come exactly once: slice one permutation into consecutive pieces",
        )
    big = [s for s in sizes if s > batch_size]
    small = [s for s in sizes if s < batch_size]
    if big or len(small) > 1:
        fail(
            case,
            f"the batch sizes are {sizes}; {n} examples in batches of {batch_size} are {expected_sizes}",
            "slice consecutive pieces idx[start:start + batch_size] for start in range(0, n, batch_size)",
        )
    return ids


@exercise("6.4", "shuffled mini-batches covering every example once per epoch")
def _check_minibatches(minibatches) -> str:
    cases = [
        (10, 3, "10 examples in batches of 3 (the last batch has 1)"),
        (12, 4, "12 examples in batches of 4 (no remainder)"),
        (100, 32, "100 examples in batches of 32"),
        (5, 8, "5 examples, batch size 8 (one batch of 5)"),
        (7, 1, "7 examples, batch size 1 (per-sample SGD)"),
    ]
    hidden = hidden_rng()
    for i in range(HIDDEN):
        n, bs = int(hidden.integers(1, 120)), int(hidden.integers(1, 40))
        cases.append((n, bs, f"hidden random case {i + 1}: {n} examples in batches of {bs}"))
    for n, bs, case in cases:
        with scored(case):
            _epoch(minibatches, n, bs, np.random.default_rng(604), case)
    with scored("shuffled, reproducible from the seed, a new order every epoch"):
        _order_checks(minibatches)
    return (
        f"{len(cases)} epochs of different sizes (a last partial batch, no remainder, a batch larger than the "
        "data, batch size 1); shuffled, reproducible from the seed, a new order every epoch"
    )


def _order_checks(minibatches) -> None:

    case = "100 examples in batches of 32, rng = np.random.default_rng(7)"
    first = _epoch(minibatches, 100, 32, np.random.default_rng(7), case)
    if np.array_equal(first, np.arange(100)):
        fail(
            case,
            "the batches come in the stored order: examples 0..31, then 32..63, ...",
            "shuffle every epoch: idx = rng.permutation(n). MNIST files are often sorted or grouped, and "
            "unshuffled batches make the gradient steps pull one way, then another",
        )
    again = _epoch(minibatches, 100, 32, np.random.default_rng(7), case + ", a second time")
    if not np.array_equal(first, again):
        fail(
            case,
            "two runs with generators of the same seed visit the examples in different orders",
            "draw the order from the rng argument (rng.permutation(n)), not from np.random's global state: "
            "a run must be reproducible from its seed",
        )
    other = _epoch(
        minibatches,
        100,
        32,
        np.random.default_rng(8),
        "the same with rng = np.random.default_rng(8)",
    )
    if np.array_equal(first, other):
        fail(
            case,
            "generators with seeds 7 and 8 give the same order: the rng argument is not used",
            "draw the order from the rng passed in, rng.permutation(n); do not create a new generator with a fixed seed",
        )
    gen = np.random.default_rng(9)
    epoch1 = _epoch(minibatches, 100, 32, gen, "two epochs from one generator, epoch 1")
    epoch2 = _epoch(minibatches, 100, 32, gen, "two epochs from one generator, epoch 2")
    if np.array_equal(epoch1, epoch2):
        fail(
            "two epochs from one generator",
            "both epochs visit the examples in the same order",
            "draw a new permutation from rng on every call: each epoch should see a new order",
        )
