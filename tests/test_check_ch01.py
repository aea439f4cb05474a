"""The chapter 1 checks accept a right answer and name each classic mistake."""

from __future__ import annotations

import numpy as np
import pytest
from checking import failure, passes, stub

from scratchcnn.check import ExerciseNotAttempted, check, exercises

# --- reference answers, written the way a reader would ------------------------------------------


def prepare_images(X):
    return (X[:, None] / 255).astype(np.float32)


def standardize(X_train, X_test):
    mean = X_train.mean(axis=0)
    std = X_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (X_train - mean) / std, (X_test - mean) / std


def stratified_split(y, val_fraction, rng):
    train, val = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_val = round(val_fraction * len(idx))
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return np.concatenate(train), np.concatenate(val)


def test_the_three_exercises_are_registered():
    assert {"1.1", "1.2", "1.3"} <= set(exercises())


def _sklearn_style_split(y, val_fraction, rng):
    """scikit-learn's stratified split: it rounds the validation size up, then shares it out.

    scikit-learn refuses a validation set smaller than the number of classes (some hidden cases
    ask for one); there this answer splits each class on its own, as the exercise's hint does.
    """
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    seed = int(rng.integers(2**31))
    try:
        train, val = train_test_split(idx, test_size=val_fraction, stratify=y, random_state=seed)
    except ValueError:  # "The test_size = 2 should be greater or equal to the number of classes"
        val = np.concatenate(
            [
                rng.permutation(np.flatnonzero(y == c))[: round(val_fraction * np.sum(y == c))]
                for c in np.unique(y)
            ]
        )
        train = np.setdiff1d(idx, val)
    return train, val


@pytest.mark.parametrize(
    "exercise_id, answer",
    [
        ("1.1", prepare_images),
        (
            "1.1",
            lambda X: X.reshape(X.shape[0], 1, *X.shape[1:]).astype(np.float32) / np.float32(255),
        ),
        ("1.2", standardize),
        ("1.2", lambda a, b: standardize(a, b)),
        (
            "1.2",  # the sample standard deviation is accepted too
            lambda a, b: (
                (a - a.mean(0)) / np.where(a.std(0, ddof=1) > 0, a.std(0, ddof=1), 1),
                (b - a.mean(0)) / np.where(a.std(0, ddof=1) > 0, a.std(0, ddof=1), 1),
            ),
        ),
        ("1.3", stratified_split),
        ("1.3", _sklearn_style_split),
    ],
)
def test_right_answers_pass(exercise_id, answer, capsys):
    passes(exercise_id, answer, capsys)


@pytest.mark.parametrize("exercise_id", ["1.1", "1.2", "1.3"])
@pytest.mark.parametrize("answer", [stub, ...])
def test_stubs_are_not_attempted(exercise_id, answer):
    with pytest.raises(ExerciseNotAttempted, match="not done yet"):
        check(exercise_id, answer)


# --- 1.1 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mistake, words",
    [
        (lambda X: (X / 255).astype(np.float32), "channel axis is missing"),
        (lambda X: (X[..., None] / 255).astype(np.float32), "channel axis is last"),
        (lambda X: (X[None] / 255).astype(np.float32), "in front of the images"),
        (
            lambda X: (
                (np.squeeze(X)[:, None] / 255).astype(np.float32)
                if len(X) == 1
                else prepare_images(X)
            ),
            "np.squeeze",
        ),
        (lambda X: X[:, None].astype(np.float32), "not scaled"),
        (lambda X: (X[:, None] / 255 - 0.5).astype(np.float32), "x/255 - 0.5"),
        (lambda X: (X[:, None] // 255).astype(np.float32), "integer division"),
        (lambda X: (X[:, None] / 256).astype(np.float32), "divide by 255"),
        (lambda X: (X[:, None] / X.max()).astype(np.float32), "brightest pixel"),
        (lambda X: X[:, None] / 255, "expected float32"),
        (lambda X: list(prepare_images(X)), "expected a NumPy array"),
    ],
)
def test_prepare_images_mistakes_are_named(mistake, words):
    assert words in failure("1.1", mistake)


# --- 1.2 ---------------------------------------------------------------------------------------


def _fit_on(X):
    mean, std = X.mean(axis=0), X.std(axis=0)
    return mean, np.where(std > 0, std, 1.0)


def own_statistics(X_train, X_test):
    """The leak: each set standardised with its own statistics."""
    (m1, s1), (m2, s2) = _fit_on(X_train), _fit_on(X_test)
    return (X_train - m1) / s1, (X_test - m2) / s2


def fitted_on_everything(X_train, X_test):
    mean, std = _fit_on(np.concatenate([X_train, X_test]))
    return (X_train - mean) / std, (X_test - mean) / std


def std_from_both(X_train, X_test):
    """A leak that matches none of the named variants: only the independence probe sees it."""
    mean = X_train.mean(axis=0)
    std = np.concatenate([X_train, X_test]).std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (X_train - mean) / std, (X_test - mean) / std


@pytest.mark.parametrize(
    "leak, words",
    [
        (own_statistics, "test set's own mean and standard deviation"),
        (fitted_on_everything, "training and test images together"),
        (std_from_both, "replacing the other test images changed the result"),
    ],
)
def test_fitting_on_the_test_set_is_caught_as_a_leak(leak, words):
    message = failure("1.2", leak)
    assert words in message
    assert "leak" in message
    assert "fit on the training set only" in message


def test_division_by_a_zero_std_is_named():
    def eps(X_train, X_test):
        mean, std = X_train.mean(axis=0), X_train.std(axis=0)
        return (X_train - mean) / (std + 1e-8), (X_test - mean) / (std + 1e-8)

    def raw(X_train, X_test):
        mean, std = X_train.mean(axis=0), X_train.std(axis=0)
        with np.errstate(all="ignore"):
            return (X_train - mean) / std, (X_test - mean) / std

    for answer in (eps, raw):
        message = failure("1.2", answer)
        assert "standard deviation is 0" in message
        assert "np.where(std > 0, std, 1)" in message


@pytest.mark.parametrize(
    "mistake, words",
    [
        (
            lambda a, b: ((a - a.mean()) / a.std(), (b - a.mean()) / a.std()),
            "one mean and one standard deviation for all pixels",
        ),
        (
            lambda a, b: tuple(
                (z - z.mean(axis=tuple(range(1, z.ndim)), keepdims=True))
                / z.std(axis=tuple(range(1, z.ndim)), keepdims=True)
                for z in (a, b)
            ),
            "each image was standardised with its own",
        ),
        (lambda a, b: standardize(a, b)[0], "expected a pair"),
        (lambda a, b: (standardize(a, b)[0], None), "Z_test is None"),
        (
            lambda a, b: (standardize(a, b)[0], standardize(a, b)[1][:-1]),
            "Z_test should have shape",
        ),
    ],
)
def test_standardize_other_mistakes_are_named(mistake, words):
    assert words in failure("1.2", mistake)


# --- 1.3 ---------------------------------------------------------------------------------------


def overlapping(y, val_fraction, rng):
    train, val = stratified_split(y, val_fraction, rng)
    return np.concatenate([train, val[:1]]), val


def not_stratified(y, val_fraction, rng):
    idx = np.arange(len(y))  # the last val_fraction of the data, whatever the classes
    n_val = round(val_fraction * len(y))
    return idx[:-n_val], idx[-n_val:]


def global_random(y, val_fraction, rng):
    return stratified_split(y, val_fraction, np.random.default_rng())


def first_of_each_class(y, val_fraction, rng):
    train, val = [], []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        n_val = round(val_fraction * len(idx))
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return np.concatenate(train), np.concatenate(val)


def masks(y, val_fraction, rng):
    train, val = stratified_split(y, val_fraction, rng)
    mask = np.zeros(len(y), dtype=bool)
    mask[val] = True
    return ~mask, mask


def drops_some(y, val_fraction, rng):
    train, val = stratified_split(y, val_fraction, rng)
    return train[:-1], val


@pytest.mark.parametrize(
    "mistake, words",
    [
        (overlapping, "in both train_idx and val_idx"),
        (not_stratified, "stratified split"),
        (global_random, "not reproducible"),
        (first_of_each_class, "not random"),
        (masks, "boolean mask"),
        (drops_some, "exactly once"),
        (lambda y, f, rng: (y, y), "in both"),
    ],
)
def test_split_mistakes_are_named(mistake, words):
    assert words in failure("1.3", mistake)
