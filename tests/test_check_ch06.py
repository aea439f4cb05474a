"""The checks of chapter 6's exercises: right answers pass, stubs say "not done", mistakes are named."""

from __future__ import annotations

import numpy as np
import pytest
from checking import failure, passes

from scratchcnn.check import ExerciseNotAttempted, check, exercises
from scratchcnn.optim import SGD


def test_chapter_6_exercises_are_registered():
    assert {"6.1", "6.2", "6.3", "6.4"} <= set(exercises())


@pytest.mark.parametrize("exercise_id", ["6.1", "6.2", "6.3", "6.4"])
def test_stubs_are_not_attempted(exercise_id):
    def stub(*args):
        raise NotImplementedError(f"Exercise {exercise_id}")

    with pytest.raises(ExerciseNotAttempted):
        check(exercise_id, stub)
    with pytest.raises(ExerciseNotAttempted):
        check(exercise_id, ...)


def test_a_function_returning_ellipsis_is_not_attempted():
    with pytest.raises(ExerciseNotAttempted):
        check("6.1", lambda params, grads, lr: ...)


# --------------------------------------------------------------------------- 6.1 sgd_step


def sgd_right(params, grads, lr):
    for name, w in params.items():
        w -= lr * grads[name]


def sgd_dict_items(params, grads, lr):
    for name in params:
        params[name] -= lr * grads[name]


def sgd_package(params, grads, lr):
    SGD(lr).step(params, grads)


def sgd_rebinds_name(params, grads, lr):
    for name, w in params.items():
        w = w - lr * grads[name]


def sgd_replaces_entries(params, grads, lr):
    for name in params:
        params[name] = params[name] - lr * grads[name]


def sgd_returns_new(params, grads, lr):
    return {name: w - lr * grads[name] for name, w in params.items()}


def sgd_uphill(params, grads, lr):
    for name, w in params.items():
        w += lr * grads[name]


def sgd_no_lr(params, grads, lr):
    for name, w in params.items():
        w -= grads[name]


def sgd_scales_gradient(params, grads, lr):  # right parameters, but the gradients now hold lr * g
    for name, w in params.items():
        g = grads[name]
        g *= lr
        w -= g


def sgd_stores_update_in_grads(params, grads, lr):
    for name in params:
        grads[name] = lr * grads[name]
        params[name] -= grads[name]


def sgd_weights_only(params, grads, lr):
    for name, w in params.items():
        if name.endswith("W") or name == "w":
            w -= lr * grads[name]


@pytest.mark.parametrize("answer", [sgd_right, sgd_dict_items, sgd_package])
def test_sgd_right_answers_pass(answer, capsys):
    passes("6.1", answer, capsys)


@pytest.mark.parametrize(
    "answer, words",
    [
        (sgd_rebinds_name, ["did not change at all", "only rebinds the name w", "in place"]),
        (sgd_replaces_entries, ["replaced by new arrays", "in place"]),
        (sgd_returns_new, ["did not change", "returned instead", "in place"]),
        (sgd_uphill, ["direction of the gradient", "uphill", "w -= lr * g"]),
        (sgd_no_lr, ["ignores the learning rate"]),
        (
            sgd_scales_gradient,
            [
                "gradient",
                "changed by the step",
                "lr * gradient",
                "mixes the gradient with the update",
            ],
        ),
        (sgd_stores_update_in_grads, ["changed by the step", "mixes the gradient with the update"]),
        (sgd_weights_only, ["only some parameters were updated", "'b'"]),
    ],
)
def test_sgd_mistakes_are_named(answer, words):
    message = failure("6.1", answer)
    for word in words:
        assert word in message, (word, message)


def test_sgd_replaced_entries_are_caught_on_a_model():
    """Replacing entries of model.params() leaves the layers unchanged: the model case says so."""

    def replaces_float64_model_entries(
        params, grads, lr
    ):  # in place everywhere but in the model case
        for name in params:
            if "." in name and params[name].dtype == np.float64:
                params[name] = params[name] - lr * grads[name]
            else:
                params[name] -= lr * grads[name]

    message = failure("6.1", replaces_float64_model_entries)
    assert "small CNN" in message and "kept their old weights" in message


# --------------------------------------------------------------------------- 6.2 momentum_step


def momentum_right(params, grads, velocity, lr, momentum):
    for name, w in params.items():
        if name not in velocity:
            velocity[name] = np.zeros_like(w)
        v = velocity[name]
        v *= momentum
        v -= lr * grads[name]
        w += v


def momentum_pytorch_form(
    params, grads, velocity, lr, momentum
):  # v = mu v + g; w -= lr v: same steps
    for name, w in params.items():
        v = velocity.get(name, np.zeros_like(w))
        velocity[name] = momentum * v + grads[name]
        w -= lr * velocity[name]


def momentum_forgetful(params, grads, velocity, lr, momentum):
    for name, w in params.items():
        v = np.zeros_like(w)
        v = momentum * v - lr * grads[name]
        w += v


def momentum_uphill(params, grads, velocity, lr, momentum):
    for name, w in params.items():
        velocity[name] = momentum * velocity.get(name, 0.0) + lr * grads[name]
        w += velocity[name]


def momentum_dampened(params, grads, velocity, lr, momentum):
    for name, w in params.items():
        velocity[name] = momentum * velocity.get(name, 0.0) + (1 - momentum) * grads[name]
        w -= lr * velocity[name]


def momentum_late(params, grads, velocity, lr, momentum):
    for name, w in params.items():
        v = velocity.get(name, np.zeros_like(w))
        w += v
        velocity[name] = momentum * v - lr * grads[name]


def momentum_not_in_place(params, grads, velocity, lr, momentum):
    for name in params:
        velocity[name] = momentum * velocity.get(name, 0.0) - lr * grads[name]
        params[name] = params[name] + velocity[name]


def momentum_velocity_in_grads(
    params, grads, velocity, lr, momentum
):  # keeps v in the gradient arrays
    for name, w in params.items():
        g = grads[name]
        g *= lr
        if name in velocity:
            g -= momentum * velocity[name]
        velocity[name] = -g
        w -= g


_GLOBAL_VELOCITY: dict = {}


def momentum_global_state(params, grads, velocity, lr, momentum):
    for name, w in params.items():
        key = (name, w.shape)
        _GLOBAL_VELOCITY[key] = momentum * _GLOBAL_VELOCITY.get(key, 0.0) - lr * grads[name]
        w += _GLOBAL_VELOCITY[key]


@pytest.mark.parametrize("answer", [momentum_right, momentum_pytorch_form])
def test_momentum_right_answers_pass(answer, capsys):
    passes("6.2", answer, capsys)


def test_momentum_matches_the_package_optimizer(capsys):
    def with_package(params, grads, velocity, lr, momentum):
        opt = velocity.setdefault("optimizer", SGD(lr, momentum))
        opt.step(params, grads)

    passes("6.2", with_package, capsys)


@pytest.mark.parametrize(
    "answer, words",
    [
        (momentum_forgetful, ["step 2", "plain SGD", "not remembered", "velocity[name]"]),
        (momentum_uphill, ["uphill"]),
        (momentum_dampened, ["average of the gradients", "(1 - momentum)"]),
        (momentum_late, ["did not change on the first step", "velocity first"]),
        (momentum_not_in_place, ["replaced by a new array", "in place"]),
        (
            momentum_velocity_in_grads,
            ["gradients were changed", "mixes the gradient with the update"],
        ),
    ],
)
def test_momentum_mistakes_are_named(answer, words):
    message = failure("6.2", answer)
    for word in words:
        assert word in message, (word, message)


def test_momentum_kept_outside_the_velocity_dict_is_caught():
    _GLOBAL_VELOCITY.clear()
    message = failure("6.2", momentum_global_state)
    assert "kept somewhere else" in message and "velocity" in message


# --------------------------------------------------------------------------- 6.3 accuracy


def accuracy_right(logits, labels):
    return float(np.mean(logits.argmax(axis=1) == labels))


def accuracy_loops(logits, labels):
    right = 0
    for row, label in zip(logits, labels, strict=False):
        right += int(max(range(len(row)), key=lambda k: row[k]) == label)
    return right / len(labels)


@pytest.mark.parametrize(
    "answer",
    [
        accuracy_right,
        accuracy_loops,
        lambda z, y: np.mean(np.argmax(z, -1) == y),
        lambda z, y: (z.argmax(1) == y).sum() / len(y),
    ],
)
def test_accuracy_right_answers_pass(answer, capsys):
    passes("6.3", answer, capsys)


@pytest.mark.parametrize(
    "answer, words",
    [
        (
            lambda z, y: int((z.argmax(1) == y).sum()),
            ["number of correct predictions", "divide by the number of examples"],
        ),
        (lambda z, y: 100 * np.mean(z.argmax(1) == y), ["percentage", "fraction"]),
        (lambda z, y: np.mean(z.argmax(1) != y), ["error rate"]),
        (lambda z, y: (z.argmax(1) == y).sum() // len(y), ["integer division"]),
        (lambda z, y: np.mean(z.argmax(0) == y), ["axis 0", "argmax(axis=1)"]),
        (lambda z, y: z.argmax(1) == y, ["one value per example", "mean"]),
        (lambda z, y: np.mean(z.max(1) == y), ["should be", "argmax(axis=1)"]),
    ],
)
def test_accuracy_mistakes_are_named(answer, words):
    message = failure("6.3", answer)
    for word in words:
        assert word in message, (word, message)


def test_accuracy_forgetting_return_is_reported():
    message = failure("6.3", lambda z, y: None)
    assert "None" in message and "return" in message


# --------------------------------------------------------------------------- 6.4 minibatches


def batches_right(X, y, batch_size, rng):
    idx = rng.permutation(len(X))
    for start in range(0, len(X), batch_size):
        part = idx[start : start + batch_size]
        yield X[part], y[part]


def batches_list(X, y, batch_size, rng):
    idx = rng.permutation(len(X))
    return [
        (X[idx[s : s + batch_size]], y[idx[s : s + batch_size]])
        for s in range(0, len(X), batch_size)
    ]


def batches_array_split(X, y, batch_size, rng):
    idx = rng.permutation(len(X))
    for part in np.array_split(idx, range(batch_size, len(X), batch_size)):
        yield X[part], y[part]


def batches_drop_last(X, y, batch_size, rng):
    idx = rng.permutation(len(X))
    for b in range(len(X) // batch_size):
        part = idx[b * batch_size : (b + 1) * batch_size]
        yield X[part], y[part]


def batches_with_replacement(X, y, batch_size, rng):
    for start in range(0, len(X), batch_size):
        part = rng.integers(0, len(X), size=min(batch_size, len(X) - start))
        yield X[part], y[part]


def batches_separate_shuffles(X, y, batch_size, rng):
    ix, iy = rng.permutation(len(X)), rng.permutation(len(X))
    for start in range(0, len(X), batch_size):
        yield X[ix[start : start + batch_size]], y[iy[start : start + batch_size]]


def batches_unshuffled(X, y, batch_size, rng):
    for start in range(0, len(X), batch_size):
        yield X[start : start + batch_size], y[start : start + batch_size]


def batches_global_rng(X, y, batch_size, rng):
    idx = np.random.permutation(len(X))
    for start in range(0, len(X), batch_size):
        yield X[idx[start : start + batch_size]], y[idx[start : start + batch_size]]


def batches_fixed_seed(X, y, batch_size, rng):
    idx = np.random.default_rng(0).permutation(len(X))
    for start in range(0, len(X), batch_size):
        yield X[idx[start : start + batch_size]], y[idx[start : start + batch_size]]


def batches_empty_tail(X, y, batch_size, rng):
    idx = rng.permutation(len(X))
    for b in range(len(X) // batch_size + 1):
        part = idx[b * batch_size : (b + 1) * batch_size]
        yield X[part], y[part]


def batches_shuffle_in_place(X, y, batch_size, rng):
    state = rng.bit_generator.state
    rng.shuffle(X)
    rng.bit_generator.state = state
    rng.shuffle(y)  # the same order for both: aligned, but the caller's arrays are reordered
    for start in range(0, len(X), batch_size):
        yield X[start : start + batch_size], y[start : start + batch_size]


def batches_returns_nothing(X, y, batch_size, rng):
    idx = rng.permutation(len(X))  # noqa: F841 - forgot to yield or return


@pytest.mark.parametrize("answer", [batches_right, batches_list, batches_array_split])
def test_minibatches_right_answers_pass(answer, capsys):
    passes("6.4", answer, capsys)


@pytest.mark.parametrize(
    "answer, words",
    [
        (batches_drop_last, ["the last 1 example of the order was dropped", "smaller batch"]),
        (batches_with_replacement, ["more than once", "with replacement", "rng.permutation"]),
        (batches_separate_shuffles, ["no longer belong together", "ONE permutation"]),
        (batches_unshuffled, ["stored order", "rng.permutation"]),
        (batches_global_rng, ["different orders", "global state"]),
        (batches_fixed_seed, ["seeds 7 and 8 give the same order", "not used"]),
        (batches_empty_tail, ["empty", "range(0, n, batch_size)"]),
        (batches_shuffle_in_place, ["changed the caller's X or y", "in place"]),
        (batches_returns_nothing, ["returned None", "yield"]),
    ],
)
def test_minibatches_mistakes_are_named(answer, words):
    message = failure("6.4", answer)
    for word in words:
        assert word in message, (word, message)


def test_minibatches_same_order_every_epoch_is_caught():
    cache: dict = {}

    def one_order_per_generator(
        X, y, batch_size, rng
    ):  # draws once from each generator, then repeats it
        key = (id(rng), len(X))
        if key not in cache:
            cache[key] = (rng, rng.permutation(len(X)))  # keeps rng alive: its id is never reused
        idx = cache[key][1]
        for start in range(0, len(X), batch_size):
            yield X[idx[start : start + batch_size]], y[idx[start : start + batch_size]]

    message = failure("6.4", one_order_per_generator)
    assert "two epochs from one generator" in message and "same order" in message
