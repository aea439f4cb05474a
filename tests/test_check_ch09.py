"""The checks of chapter 9's exercises: right answers pass, the classic mistakes are named."""

from __future__ import annotations

import numpy as np
import pytest
from checking import failure, passes, stub

from scratchcnn.check import ExerciseNotAttempted, check, exercises
from scratchcnn.layers import Elementwise, Layer

# --- 9.1 receptive field ----------------------------------------------------------------------


def receptive_field(layers):
    r, j = 1, 1
    for k, s in layers:
        r += (k - 1) * j
        j *= s
    return r


def receptive_field_no_stride(layers):
    return 1 + sum(k - 1 for k, _ in layers)


def receptive_field_stride_first(layers):
    r, j = 1, 1
    for k, s in layers:
        j *= s
        r += (k - 1) * j
    return r


def test_9_1_passes(capsys):
    passes("9.1", receptive_field, capsys)


@pytest.mark.parametrize(
    "answer, words",
    [
        (receptive_field_no_stride, "strides seem to be ignored"),
        (receptive_field_stride_first, "own stride seems to be applied before"),
        (lambda layers: 16, "expected"),
    ],
)
def test_9_1_names_the_mistake(answer, words):
    assert words in failure("9.1", answer)


# --- 9.2 Adam ---------------------------------------------------------------------------------


def adam_step(params, grads, state, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    state["t"] = state.get("t", 0) + 1
    t = state["t"]
    for name, w in params.items():
        g = grads[name]
        m = state.setdefault(("m", name), np.zeros_like(w))
        v = state.setdefault(("v", name), np.zeros_like(w))
        m[...] = beta1 * m + (1 - beta1) * g
        v[...] = beta2 * v + (1 - beta2) * g * g
        w -= lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)


def adam_uncorrected(params, grads, state, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    for name, w in params.items():
        g = grads[name]
        m = state.setdefault(("m", name), np.zeros_like(w))
        v = state.setdefault(("v", name), np.zeros_like(w))
        m[...] = beta1 * m + (1 - beta1) * g
        v[...] = beta2 * v + (1 - beta2) * g * g
        w -= lr * m / (np.sqrt(v) + eps)


def adam_eps_inside(params, grads, state, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    state["t"] = state.get("t", 0) + 1
    t = state["t"]
    for name, w in params.items():
        g = grads[name]
        m = state.setdefault(("m", name), np.zeros_like(w))
        v = state.setdefault(("v", name), np.zeros_like(w))
        m[...] = beta1 * m + (1 - beta1) * g
        v[...] = beta2 * v + (1 - beta2) * g * g
        w -= lr * (m / (1 - beta1**t)) / np.sqrt(v / (1 - beta2**t) + eps)


def adam_forgets_t(params, grads, state, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    state["t"] = 0  # reset at every call: t is 1 in every step
    adam_step(params, grads, state, lr, beta1, beta2, eps)


def adam_rebinds(params, grads, state, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    copies = {k: v.copy() for k, v in params.items()}
    adam_step(copies, grads, state, lr, beta1, beta2, eps)
    for k in params:
        params[k] = copies[k]


def test_9_2_passes(capsys):
    passes("9.2", adam_step, capsys)


@pytest.mark.parametrize(
    "answer, words",
    [
        (adam_uncorrected, "no bias correction"),
        (adam_eps_inside, "inside the square root"),
        (adam_forgets_t, "step count t seems to stay at 1"),
        (adam_rebinds, "replaced by a new array"),
    ],
)
def test_9_2_names_the_mistake(answer, words):
    assert words in failure("9.2", answer)


# --- 9.3 dropout ------------------------------------------------------------------------------


def dropout(x, p, rng, training=True):
    if not training:
        return x
    return x * (rng.random(x.shape) >= p) / (1 - p)


def test_9_3_passes(capsys):
    passes("9.3", dropout, capsys)


@pytest.mark.parametrize(
    "answer, words",
    [
        (
            lambda x, p, rng, training=True: x * (rng.random(x.shape) >= p) if training else x,
            "unchanged",
        ),
        (
            lambda x, p, rng, training=True: x * (rng.random(x.shape) < p) / p if training else x,
            "probability of keeping",
        ),
        (
            lambda x, p, rng, training=True: (
                x * (np.random.default_rng(0).random(x.shape) >= p) / (1 - p) if training else x
            ),
            "same entries",
        ),
        (
            lambda x, p, rng, training=True: (
                x * (rng.random(x.shape) >= p) / (1 - p) if training else x * (1 - p)
            ),
            "non-inverted",
        ),
    ],
)
def test_9_3_names_the_mistake(answer, words):
    assert words in failure("9.3", answer)


# --- 9.4 Tanh ---------------------------------------------------------------------------------


class Tanh(Elementwise):
    forward_flops = 5
    backward_flops = 3

    def forward(self, x):
        self._t = np.tanh(x)
        return self._t

    def backward(self, dout, input_grad=True):
        return dout * (1 - self._t**2) if input_grad else None


class TanhWrongGrad(Tanh):
    def backward(self, dout, input_grad=True):
        return dout * (1 - self._t) if input_grad else None


class TanhNotALayer:
    def forward(self, x):
        return np.tanh(x)


class TanhNoFlops(Layer):
    def forward(self, x):
        self._t = np.tanh(x)
        return self._t

    def backward(self, dout, input_grad=True):
        return dout * (1 - self._t**2) if input_grad else None


def test_9_4_passes(capsys):
    passes("9.4", Tanh, capsys)


@pytest.mark.parametrize(
    "answer, words",
    [
        (TanhWrongGrad, "backward(dout) is wrong"),
        (TanhNotALayer, "not a scratchcnn.layers.Layer"),
        (TanhNoFlops, "model_flops could not count"),
        (Tanh(), "pass the class itself"),
    ],
)
def test_9_4_names_the_mistake(answer, words):
    assert words in failure("9.4", answer)


# --- all ----------------------------------------------------------------------------------------


def test_chapter_9_exercises_are_registered():
    assert {"9.1", "9.2", "9.3", "9.4"} <= set(exercises())


@pytest.mark.parametrize("exercise_id", ["9.1", "9.2", "9.3"])
def test_stubs_are_not_attempted(exercise_id):
    with pytest.raises(ExerciseNotAttempted):
        check(exercise_id, stub)
