"""Checks for chapter 1 (the data).

- 1.1 ``prepare_images(X)``: uint8 ``(N, H, W)`` -> float32 ``(N, 1, H, W)`` in [0, 1].
- 1.2 ``standardize(X_train, X_test)``: per-pixel standardisation fitted on the training set
  only. Besides comparing values, the check changes the *other* test images and verifies that
  nothing about test image 0 or the training set changes: a transform fitted on the test set
  (the leak the chapter demonstrates) fails that, whatever way it was written.
- 1.3 ``stratified_split(y, val_fraction, rng)``: a random, reproducible, stratified split into
  training and validation indices.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from ..preprocess import Standardizer, add_channel_axis, scale01
from . import (
    HIDDEN,
    Mistake,
    call,
    diagnose,
    exercise,
    expect_close,
    fail,
    hidden_rng,
    same,
    scored,
    tolerance,
)

_close = partial(same, atol=1e-7)  # values in [0, 1] and standardised pixels

# ---------------------------------------------------------------------------------------------
# 1.1 prepare_images


def _prepare_cases(rng: np.random.Generator):
    x = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    x[0, 0, 0], x[0, 0, 1] = 0, 255
    yield "5 random 28x28 images with pixels 0..255", x
    yield "3 images of 7x9 pixels (not 28x28)", rng.integers(0, 256, (3, 7, 9), dtype=np.uint8)
    dim = rng.integers(0, 201, (4, 6, 6), dtype=np.uint8)
    dim[0, 0, 0] = 200
    yield "4 dim 6x6 images whose brightest pixel is 200", dim
    yield "a single 5x5 image (N = 1)", rng.integers(0, 256, (1, 5, 5), dtype=np.uint8)
    hidden = hidden_rng()
    for i in range(HIDDEN):
        n, h, w = (
            int(hidden.integers(1, 6)),
            int(hidden.integers(2, 12)),
            int(hidden.integers(2, 12)),
        )
        yield (
            f"hidden random case {i + 1}: {n} images of {h}x{w} pixels",
            hidden.integers(0, 256, (n, h, w), dtype=np.uint8),
        )


def _prepare_shape_hint(shape: tuple, x_shape: tuple) -> str:
    n, h, w = x_shape
    if shape == (n, h, w):
        return "the channel axis is missing: add it with X[:, None] or X.reshape(N, 1, H, W)"
    if shape == (n, h, w, 1):
        return "the channel axis is last (N, H, W, 1), TensorFlow's layout; this book's layers want (N, C, H, W): use X[:, None]"
    if shape == (1, n, h, w) and n != 1:
        return "the new axis is in front of the images: X[None] adds it before N; X[:, None] after"
    if n == 1 and int(np.prod(shape)) == h * w and len(shape) < 4 or shape == (h, w):
        return "np.squeeze (or a reshape that drops N) removed the image axis of a batch of one image: add the channel axis with X[:, None] instead"
    if n == 1 and int(np.prod(shape)) == h * w:
        return "for a single image the axes got mixed up (np.squeeze drops the image axis of N = 1): add the channel axis with X[:, None]"
    if shape == (n, 1, w, h):
        return "rows and columns are swapped: keep (H, W) in their order"
    return f"(N, H, W) = {x_shape} becomes (N, 1, H, W) = {(n, 1, h, w)}"


def _f64(x):
    return x.astype(np.float64)[:, None]  # (N, 1, H, W)


PREPARE_MISTAKES = [
    Mistake("the pixels are not scaled: they still run from 0 to 255", _f64, "divide by 255"),
    Mistake(
        "the pixels are shifted to [-0.5, 0.5]",
        lambda x: _f64(x) / 255 - 0.5,
        "that is the seed's x/255 - 0.5; this exercise asks for [0, 1]: x / 255",
    ),
    Mistake(
        "every pixel is 0 or 1: that is integer division",
        lambda x: x[:, None] // 255,
        "use true division, x / 255 (or x.astype(np.float32) / 255)",
    ),
    Mistake(
        "the pixels are divided by 256",
        lambda x: _f64(x) / 256,
        "the brightest uint8 value is 255: divide by 255 so that white is exactly 1",
    ),
    Mistake(
        "the pixels are divided by this batch's brightest pixel",
        lambda x: _f64(x) / _f64(x).max(),
        "divide by 255, the fixed maximum of uint8: a batch without pure white would otherwise be scaled "
        "differently from the others",
        when=lambda x: x.max() > 0,
    ),
    Mistake(
        "the pixels are min-max scaled with this batch's extremes",
        lambda x: (_f64(x) - x.min()) / (float(x.max()) - float(x.min())),
        "divide by 255: the scale must not depend on which images are in the batch",
        when=lambda x: x.max() > x.min(),
    ),
]


@exercise("1.1", "images as float32 (N, 1, H, W) in [0, 1]", numpy_only=True)
def _check_prepare(prepare_images) -> str:
    rng = np.random.default_rng(101)
    n_cases = 0
    for case, x in _prepare_cases(rng):
        with scored(case):
            n, h, w = x.shape
            expected = scale01(add_channel_axis(x))  # (N, 1, H, W) float64, the package's reference
            got = call(prepare_images, x, case=case)
            if got is None or got is Ellipsis:
                expect_close(got, expected, case=case)
            if not isinstance(got, np.ndarray):
                fail(
                    case,
                    f"expected a NumPy array, got {type(got).__name__}",
                    "build the result with NumPy operations on X",
                )
            if got.shape != expected.shape:
                fail(
                    case,
                    f"the result should have shape {expected.shape}, got {got.shape}",
                    _prepare_shape_hint(got.shape, x.shape),
                )
            if got.dtype.kind not in "fiub":
                fail(case, f"expected float32 numbers, got dtype {got.dtype}")
            if not _close(got, expected):
                diagnose(got, (x,), PREPARE_MISTAKES, case, _close)
                expect_close(
                    got, expected, case=case, hint="X / 255 with a channel axis: X[:, None] / 255"
                )
            if got.dtype != np.float32:
                fail(
                    case,
                    f"the values are right but the dtype is {got.dtype}, expected float32",
                    "convert with .astype(np.float32): the book's layers compute in float32 and refuse "
                    "float64 input mixed with float32 weights",
                )
            n_cases += 1
    return f"{n_cases} cases: 28x28 and other sizes, a single image, a dim batch"


# ---------------------------------------------------------------------------------------------
# 1.2 standardize (fitted on the training set only)


LEAK_HINT = (
    "fit on the training set only: compute mean and std from X_train and apply those same "
    "numbers to X_test. Statistics of the test set let information about the test images "
    "leak into the preprocessing, so the test score no longer measures unseen data."
)


def _stats(X: np.ndarray, ddof: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel mean and standard deviation (1 where the pixel never changes)."""
    mean = X.mean(axis=0)
    std = X.std(axis=0, ddof=ddof)
    return mean, np.where(std > 0, std, 1.0)


def _apply(X: np.ndarray, stats) -> np.ndarray:
    mean, std = stats
    return (X - mean) / std


def _standardize_cases(rng: np.random.Generator):
    def images(n, shape, brighter=0.0):
        x = np.clip(rng.uniform(0, 1, (n, *shape)) + brighter, 0, 1)
        x[:, ..., 0, :] = 0.0  # a border row that is always dark, as in MNIST
        return x

    train = images(40, (1, 5, 6))
    test = images(12, (1, 5, 6), brighter=0.3)
    test[:4, 0, 0, 2] = 0.8  # a pixel never lit in training lights up in a test image
    yield "40 training and 12 brighter test images of shape (1, 5, 6)", train, test
    train = images(30, (4, 4))
    test = images(8, (4, 4), brighter=-0.2)
    yield "30 training and 8 darker test images of shape (4, 4)", train, test
    yield (
        "25 training images, a single test image",
        images(25, (1, 3, 3)),
        images(1, (1, 3, 3), brighter=0.1),
    )
    yield (
        "float32: 30 training and 6 test images of shape (1, 4, 5)",
        images(30, (1, 4, 5)).astype(np.float32),
        images(6, (1, 4, 5), brighter=0.2).astype(np.float32),
    )
    hidden = hidden_rng()
    for i in range(HIDDEN):
        shape = (1, int(hidden.integers(2, 6)), int(hidden.integers(2, 6)))
        n_train, n_test = int(hidden.integers(8, 40)), int(hidden.integers(1, 9))
        brighter = float(hidden.uniform(-0.3, 0.3))
        train = np.clip(hidden.uniform(0, 1, (n_train, *shape)), 0, 1)
        test = np.clip(hidden.uniform(0, 1, (n_test, *shape)) + brighter, 0, 1)
        train[:, 0, 0, :] = 0.0  # a pixel row constant in training
        dtype = np.float32 if hidden.random() < 0.3 else np.float64
        yield (
            f"hidden random case {i + 1}: {n_train} training and {n_test} test images of shape {shape}",
            train.astype(dtype),
            test.astype(dtype),
        )


def _standardize_result(got, X_train: np.ndarray, X_test: np.ndarray, case: str):
    if got is Ellipsis:
        expect_close(got, 0, case=case)
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        fail(
            case,
            f"expected a pair (Z_train, Z_test), got {type(got).__name__}",
            "end with `return Z_train, Z_test`",
        )
    out = []
    for name, z, x in (("Z_train", got[0], X_train), ("Z_test", got[1], X_test)):
        if z is None:
            fail(case, f"{name} is None")
        try:
            z = np.asarray(z, dtype=float)
        except (TypeError, ValueError):
            fail(case, f"{name} should be an array of shape {x.shape}, got {type(z).__name__}")
        if z.shape != x.shape:
            fail(
                case, f"{name} should have shape {x.shape} (the shape of its input), got {z.shape}"
            )
        out.append(z)
    low = [np.asarray(z).dtype for z in got if isinstance(z, np.ndarray)] + [X_train.dtype]
    out.append(
        partial(same, **tolerance(*low))
        if any(d.itemsize < 8 for d in low if d.kind == "f")
        else _close
    )
    return out


def _leak(problem: str, make) -> Mistake:
    """A Z_test made with statistics that saw the test set."""
    return Mistake(
        f"{problem}: that fits the preprocessing on the test set (a leak)", make, LEAK_HINT
    )


LEAK_MISTAKES = [  # compared with Z_test
    _leak(
        "Z_test was standardised with the test set's own mean and standard deviation",
        lambda X_train, X_test: _apply(X_test, _stats(X_test)),
    ),
    _leak(
        "Z_test was divided by the test set's own standard deviation",
        lambda X_train, X_test: _apply(X_test, (_stats(X_train)[0], _stats(X_test)[1])),
    ),
    _leak(
        "Z_test was centred with the test set's own mean",
        lambda X_train, X_test: _apply(X_test, (_stats(X_test)[0], _stats(X_train)[1])),
    ),
    _leak(
        "the mean and standard deviation were computed on the training and test images together",
        lambda X_train, X_test: _apply(X_test, _stats(np.concatenate([X_train, X_test]))),
    ),
]


def _per_image(X_train: np.ndarray, X_test: np.ndarray) -> np.ndarray:
    axes = tuple(range(1, X_train.ndim))
    return (X_train - X_train.mean(axis=axes, keepdims=True)) / X_train.std(
        axis=axes, keepdims=True
    )


TRAIN_STATS_MISTAKES = [  # compared with Z_train
    Mistake(
        "Z_train was standardised with one mean and one standard deviation for all pixels",
        lambda X_train, X_test: (X_train - X_train.mean()) / X_train.std(),
        "per-pixel statistics: X_train.mean(axis=0) and X_train.std(axis=0), one per pixel position",
    ),
    Mistake(
        "each image was standardised with its own mean and standard deviation",
        _per_image,
        "per pixel means over the images: axis=0 (one mean per pixel position), not over each image's pixels",
    ),
]


@exercise("1.2", "per-pixel standardisation fitted on the training set only", numpy_only=True)
def _check_standardize(standardize) -> str:
    rng = np.random.default_rng(102)
    n_cases = 0
    for case, X_train, X_test in _standardize_cases(rng):
        with scored(case):
            z_train, z_test, _close = _standardize_result(
                call(standardize, X_train, X_test, case=case), X_train, X_test, case
            )
            dead = X_train.std(axis=0) == 0  # pixels constant in training
            if (
                not (np.all(np.isfinite(z_train)) and np.all(np.isfinite(z_test)))
                or np.abs(z_test).max() > 1e6
            ):
                fail(
                    case,
                    "the result holds NaN, infinity or huge values: a pixel whose training standard "
                    f"deviation is 0 ({int(dead.sum())} such pixels here) was divided by (almost) 0",
                    "where the training std is 0, divide by 1 instead: std = np.where(std > 0, std, 1). "
                    "(MNIST's border pixels are 0 in every training image, and adding a tiny epsilon "
                    "to the std turns a test image's stray border pixel into a value near 1e8.)",
                )
            # The package's Standardizer (np.std's ddof=0) is the reference; ddof=1 is fine too.
            ref = Standardizer().fit(X_train)
            if (
                _close(z_train, ref.transform(X_train)) and _close(z_test, ref.transform(X_test))
            ) or (
                _close(z_train, _apply(X_train, _stats(X_train, ddof=1)))
                and _close(z_test, _apply(X_test, _stats(X_train, ddof=1)))
            ):
                n_cases += 1
                continue
            diagnose(z_test, (X_train, X_test), LEAK_MISTAKES, case, _close)
            diagnose(z_train, (X_train, X_test), TRAIN_STATS_MISTAKES, case, _close)
            _probe_independence(standardize, X_train, X_test, z_train, z_test, case, LEAK_HINT)
            expect_close(
                z_train,
                ref.transform(X_train),
                case=case,
                name="Z_train",
                hint="(X_train - mean) / std with mean = X_train.mean(axis=0), std = X_train.std(axis=0) (1 where it is 0)",
                **_close.keywords,
            )
            expect_close(
                z_test,
                ref.transform(X_test),
                case=case,
                name="Z_test",
                hint="apply the training mean and std to X_test: (X_test - mean) / std",
                **_close.keywords,
            )
    # Right values on every case; make sure no test image influences anything but itself.
    case, X_train, X_test = next(_standardize_cases(np.random.default_rng(102)))
    with scored("no test image influences the fit"):
        z_train, z_test, _ = _standardize_result(
            call(standardize, X_train, X_test, case=case), X_train, X_test, case
        )
        _probe_independence(standardize, X_train, X_test, z_train, z_test, case, LEAK_HINT)
    return f"{n_cases} cases, including pixels that are constant in training; no test image influences the fit"


def _probe_independence(standardize, X_train, X_test, z_train, z_test, case, hint) -> None:
    """Fail if changing test images 1.. changes Z_train or Z_test[0]: a fit that saw the test set."""
    if len(X_test) < 2:
        return
    other = X_test.copy()
    other[1:] = np.clip(other[1:][::-1] * 0.5 + 0.4, 0, 1)
    probe = f"{case}, then the same with test images 1, 2, ... replaced"
    z_train2, z_test2, close = _standardize_result(
        call(standardize, X_train, other, case=probe), X_train, other, probe
    )
    if not (close(z_train, z_train2) and close(z_test[0], z_test2[0])):
        fail(
            probe,
            "replacing the other test images changed the result for the training images or for "
            "test image 0: the transform depends on the test set, so it was fitted on it (a leak)",
            hint,
        )


# ---------------------------------------------------------------------------------------------
# 1.3 stratified_split


def _split_cases(rng: np.random.Generator):
    yield (
        "200 labels sorted by class (20 of each of 10 digits), val_fraction 0.2",
        np.repeat(np.arange(10), 20),
        0.2,
    )
    sizes = [5, 50, 12, 30]
    y = np.repeat(np.arange(4), sizes)
    yield (
        "97 shuffled labels of 4 unbalanced classes (5, 50, 12, 30), val_fraction 0.25",
        rng.permutation(y),
        0.25,
    )
    yield (
        "60 shuffled labels 0, 3 and 7 (20 each), val_fraction 0.5",
        rng.permutation(np.repeat([0, 3, 7], 20)),
        0.5,
    )
    hidden = hidden_rng()
    for i in range(HIDDEN):
        k = int(hidden.integers(2, 6))
        sizes = hidden.integers(4, 30, k)
        y = hidden.permutation(np.repeat(hidden.choice(10, k, replace=False), sizes))
        fraction = float(hidden.choice([0.1, 0.2, 0.25, 0.3, 0.5]))
        yield (
            f"hidden random case {i + 1}: {len(y)} labels of {k} classes, val_fraction {fraction}",
            y,
            fraction,
        )


def _indices(value, name: str, n: int, case: str) -> np.ndarray:
    if value is None:
        fail(case, f"{name} is None")
    arr = np.asarray(value)
    if arr.dtype == bool:
        fail(case, f"{name} is a boolean mask", "return integer indices, e.g. np.flatnonzero(mask)")
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        fail(
            case,
            f"{name} should be a 1-D array of integer indices, got dtype {arr.dtype} and shape {arr.shape}",
        )
    if arr.size and (arr.min() < 0 or arr.max() >= n):
        fail(case, f"{name} holds indices outside 0..{n - 1}", "return positions in y, not labels")
    return arr.astype(np.int64)


def _split(stratified_split, y, fraction, seed: int, case: str) -> tuple[np.ndarray, np.ndarray]:
    got = call(stratified_split, y, fraction, np.random.default_rng(seed), case=case)
    if got is Ellipsis:
        expect_close(got, 0, case=case)
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        fail(
            case,
            f"expected a pair (train_idx, val_idx), got {type(got).__name__}",
            "end with `return train_idx, val_idx`",
        )
    return _indices(got[0], "train_idx", len(y), case), _indices(got[1], "val_idx", len(y), case)


@exercise("1.3", "a stratified, reproducible train/validation split")
def _check_split(stratified_split) -> str:
    rng = np.random.default_rng(103)
    n_cases = 0
    for case, y, fraction in _split_cases(rng):
        with scored(case):
            train, val = _split(stratified_split, y, fraction, 0, case)
            # No Mistake table: a split is random, drawn by the answer's own use of rng, so no wrong answer
            # made from the inputs can match it; the diagnoses test properties of the split instead.
            everything = np.concatenate([train, val])
            if (
                everything.size == len(y)
                and np.array_equal(np.sort(everything), np.sort(y))
                and not np.array_equal(np.sort(everything), np.arange(len(y)))
            ):
                fail(
                    case,
                    "train_idx and val_idx hold the labels of the examples (the values y[idx]), not their positions",
                    "return the indices themselves: idx, not y[idx]; the caller selects X[train_idx] and y[train_idx]",
                )
            both = np.intersect1d(train, val)
            if both.size:
                fail(
                    case,
                    f"{both.size} indices are in both train_idx and val_idx (e.g. {int(both[0])})",
                    "a validation image the model also trains on measures nothing: each index goes to exactly one side",
                )
            everything = np.concatenate([train, val])
            if everything.size != len(y) or np.unique(everything).size != len(y):
                missing = np.setdiff1d(np.arange(len(y)), everything)
                fail(
                    case,
                    f"the two index arrays should hold each of the {len(y)} indices exactly once; "
                    f"got {everything.size} indices, {np.unique(everything).size} distinct, {missing.size} missing",
                    "every example goes to train or validation, none twice",
                )
            # Rounding each class's share moves each class by at most 1/2; rounding the whole
            # validation size first, as scikit-learn does, moves it by up to 1 from the share of
            # that size: both are stratified.
            share = len(val) / len(y) if abs(len(val) - fraction * len(y)) <= 1 else fraction
            for c in np.unique(y):
                n_c = int(np.sum(y == c))
                in_val = int(np.sum(y[val] == c))
                want = fraction * n_c
                if abs(in_val - want) > 1 and abs(in_val - share * n_c) > 1:
                    fail(
                        case,
                        f"class {int(c)} has {in_val} of its {n_c} examples in validation; a stratified split "
                        f"puts val_fraction * {n_c} = {want:g} there (give or take one for rounding)",
                        "split each class on its own: for every class c, shuffle np.flatnonzero(y == c) "
                        "with rng and send the first round(val_fraction * n_c) to validation",
                    )
            again = _split(
                stratified_split, y, fraction, 0, f"{case}, called again with the same seed"
            )
            if not (np.array_equal(np.sort(val), np.sort(again[1]))):
                fail(
                    f"{case}, called twice with np.random.default_rng(0)",
                    "the two calls gave different splits: the split is not reproducible",
                    "draw every random number from the rng argument (rng.permutation, rng.choice), "
                    "never from np.random.* or a generator you create inside the function",
                )
            others = [
                _split(stratified_split, y, fraction, seed, f"{case}, seed {seed}")[1]
                for seed in (1, 2, 3)
            ]
            # Only a class split between the two sides leaves the seed a choice: a case whose
            # rounded shares are all 0 (or all of a class) has one stratified split, not several.
            chosen = any(0 < np.sum(y[val] == c) < np.sum(y == c) for c in np.unique(y))
            if chosen and all(np.array_equal(np.sort(val), np.sort(o)) for o in others):
                fail(
                    f"{case}, with seeds 0, 1, 2 and 3",
                    "every seed gives the same validation set: the split is not random",
                    "shuffle each class's indices with rng.permutation before cutting; taking the first or "
                    "last examples of each class keeps whatever order the data came in",
                )
            n_cases += 1
    return f"{n_cases} cases: sorted and shuffled labels, unbalanced classes, labels that are not 0..K-1"
