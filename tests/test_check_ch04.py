"""The checks of chapter 4's exercises: right answers pass, stubs say "not done", mistakes are named."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from checking import failure, passes

from scratchcnn.check import ExerciseNotAttempted, check, exercises
from scratchcnn.layers import SoftmaxCrossEntropy, softmax


def test_chapter_4_exercises_are_registered():
    assert {"4.1", "4.2", "4.3", "4.4"} <= set(exercises())


# --------------------------------------------------------------------------- 4.1 affine_forward


def affine_right(x, W, b):
    return x @ W + b


def affine_loops(x, W, b):
    out = np.zeros((x.shape[0], W.shape[1]))
    for n in range(x.shape[0]):
        for m in range(W.shape[1]):
            out[n, m] = b[m] + sum(x[n, d] * W[d, m] for d in range(x.shape[1]))
    return out


def affine_transposed(x, W, b):
    return x @ W.T + b


def affine_transposed_if_square(x, W, b):  # the silent case: only square W runs transposed
    return x @ W.T + b if W.shape[0] == W.shape[1] else x @ W + b


def affine_no_bias(x, W, b):
    return x @ W


def affine_result_transposed(x, W, b):
    return (W.T @ x.T) + b[:, None]


@pytest.mark.parametrize("answer", [affine_right, affine_loops])
def test_affine_right_answers_pass(answer, capsys):
    passes("4.1", answer, capsys)


def test_affine_stub_is_not_attempted():
    def stub(x, W, b):
        raise NotImplementedError("Exercise 4.1")

    with pytest.raises(ExerciseNotAttempted):
        check("4.1", stub)


def test_affine_transposed_weights_with_in_not_equal_out():
    message = failure("4.1", affine_transposed)
    assert "W looks transposed" in message
    assert "(in_features, out_features)" in message


def test_affine_transposed_square_weights_give_silently_wrong_values():
    message = failure("4.1", affine_transposed_if_square)
    assert "square W" in message  # the case that catches it
    assert "W looks transposed" in message
    assert "(in_features, out_features)" in message


def test_affine_missing_bias():
    message = failure("4.1", affine_no_bias)
    assert "bias" in message and "x @ W" in message


def test_affine_transposed_result():
    message = failure("4.1", affine_result_transposed)
    assert "result is transposed" in message


# --------------------------------------------------------------------------- 4.2 stable_softmax


def softmax_right(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def softmax_naive(z):
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def softmax_axis0(z):
    e = np.exp(z - z.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def softmax_whole_batch(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def softmax_batch_max(z):
    e = np.exp(z - z.max())
    return e / e.sum(axis=1, keepdims=True)


def softmax_no_keepdims(z):
    e = np.exp(z - z.max(axis=1))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("answer", [softmax_right, lambda z: softmax(z, axis=1)])
def test_softmax_right_answers_pass(answer, capsys):
    passes("4.2", answer, capsys)


def test_softmax_stub_is_not_attempted():
    with pytest.raises(ExerciseNotAttempted):
        check("4.2", ...)


def test_softmax_without_max_subtraction_names_overflow_and_the_max_trick():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the check must not let the reader's overflow warnings out
        message = failure("4.2", softmax_naive)
    assert "1000" in message  # the case with large logits
    assert "NaN" in message
    assert "overflow" in message
    assert "max trick" in message


@pytest.mark.parametrize(
    "answer, words",
    [
        (softmax_axis0, ["columns sum to 1", "wrong axis", "axis=1"]),
        (softmax_whole_batch, ["whole batch sums to 1", "axis=1"]),
        (softmax_batch_max, ["each row's own maximum"]),
        (softmax_no_keepdims, ["keepdims=True"]),
    ],
    ids=["axis-0", "whole-batch", "batch-max", "no-keepdims"],
)
def test_softmax_mistakes_are_named(answer, words):
    message = failure("4.2", answer)
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


# --------------------------------------------------------------------------- 4.3 cross_entropy


def ce_right(logits, labels):
    m = logits.max(axis=1, keepdims=True)
    logp = logits - m - np.log(np.exp(logits - m).sum(axis=1, keepdims=True))
    return -logp[np.arange(len(labels)), labels].mean()


def ce_sum(logits, labels):
    return ce_right(logits, labels) * len(labels)


def ce_naive(logits, labels):
    e = np.exp(logits)
    p = e / e.sum(axis=1, keepdims=True)
    return -np.log(p[np.arange(len(labels)), labels]).mean()


def ce_log_of_stable_softmax(logits, labels):
    return -np.log(softmax_right(logits)[np.arange(len(labels)), labels]).mean()


def ce_epsilon(logits, labels):
    return -np.log(softmax_right(logits)[np.arange(len(labels)), labels] + 1e-12).mean()


def ce_per_example(logits, labels):
    m = logits.max(axis=1, keepdims=True)
    logp = logits - m - np.log(np.exp(logits - m).sum(axis=1, keepdims=True))
    return -logp[np.arange(len(labels)), labels]


def ce_wrong_sign(logits, labels):
    return -ce_right(logits, labels)


def ce_package(logits, labels):
    return SoftmaxCrossEntropy().forward(np.asarray(logits, dtype=np.float64), labels)


@pytest.mark.parametrize("answer", [ce_right, ce_package])
def test_cross_entropy_right_answers_pass(answer, capsys):
    passes("4.3", answer, capsys)


def test_cross_entropy_stub_is_not_attempted():
    def stub(logits, labels):
        raise NotImplementedError

    with pytest.raises(ExerciseNotAttempted):
        check("4.3", stub)


@pytest.mark.parametrize(
    "answer, words",
    [
        (ce_sum, ["summed, not averaged", "1/N"]),
        (ce_naive, ["NaN", "overflow", "log-sum-exp"]),
        (ce_log_of_stable_softmax, ["underflowed to 0", "log-sum-exp"]),
        (ce_epsilon, ["epsilon", "log-sum-exp"]),
        (ce_per_example, ["one loss per example", "mean"]),
        (ce_wrong_sign, ["wrong sign"]),
    ],
    ids=["sum", "naive-overflow", "log-of-softmax", "epsilon", "per-example", "sign"],
)
def test_cross_entropy_mistakes_are_named(answer, words):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        message = failure("4.3", answer)
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


# --------------------------------------------------------------------------- 4.4 lecun_uniform


def lecun_right(fan_in, fan_out, rng):
    a = math.sqrt(3 / fan_in)
    return rng.uniform(-a, a, size=(fan_in, fan_out))


def lecun_seed_tutorial(fan_in, fan_out, rng):  # plain Uniform(-1, 1), called "LeCun"
    return rng.uniform(-1, 1, size=(fan_in, fan_out))


def lecun_a_is_std(fan_in, fan_out, rng):
    a = 1 / math.sqrt(fan_in)
    return rng.uniform(-a, a, size=(fan_in, fan_out))


def lecun_normal(fan_in, fan_out, rng):
    return rng.normal(0, 1 / math.sqrt(fan_in), size=(fan_in, fan_out))


def lecun_fan_out(fan_in, fan_out, rng):
    a = math.sqrt(3 / fan_out)
    return rng.uniform(-a, a, size=(fan_in, fan_out))


def lecun_transposed(fan_in, fan_out, rng):
    a = math.sqrt(3 / fan_in)
    return rng.uniform(-a, a, size=(fan_out, fan_in))


def lecun_global_rng(fan_in, fan_out, rng):
    a = math.sqrt(3 / fan_in)
    return np.random.uniform(-a, a, size=(fan_in, fan_out))


def test_lecun_uniform_right_answer_passes(capsys):
    passes("4.4", lecun_right, capsys)


def test_lecun_uniform_stub_is_not_attempted():
    def stub(fan_in, fan_out, rng):
        raise NotImplementedError

    with pytest.raises(ExerciseNotAttempted):
        check("4.4", stub)


@pytest.mark.parametrize(
    "answer, words",
    [
        (lecun_seed_tutorial, ["Uniform(-1, 1)", "1/fan_in"]),
        (lecun_a_is_std, ["a^2 / 3"]),
        (lecun_normal, ["not uniform", "rng.uniform"]),
        (lecun_fan_out, ["fan_out", "fan_in"]),
        (lecun_transposed, ["(in_features, out_features)"]),
        (lecun_global_rng, ["rng argument"]),
    ],
    ids=["uniform-1", "a-is-std", "normal", "fan-out", "transposed", "global-rng"],
)
def test_lecun_uniform_mistakes_are_named(answer, words):
    message = failure("4.4", answer)
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
