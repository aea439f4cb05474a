"""The ``"openml"`` source: scikit-learn's ``fetch_openml(name, as_frame=False)``, verified.

OpenML serves each data set as one table of ``split_sizes[0] + split_sizes[1]`` rows, the
training set first. The rows are checked for shape and whole pixel values in 0..255, split, and,
when the registry records ``content_sha256``, compared with the official files' content: the
four arrays written as idx data must have the same SHA-256 as the decompressed official files.
scikit-learn keeps its download under ``data_home/openml``.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from .dataset import Dataset, Unavailable, make_dataset, validate
from .net import resolve, socket_timeout
from .registry import DatasetSpec, idx_digest

__all__ = ["OPENML_HOST", "from_openml"]

OPENML_HOST = "www.openml.org"  # the host fetch_openml talks to ("auto" checks its DNS first)


def from_openml(spec: DatasetSpec, home: Path, seconds: float, auto: bool) -> Dataset:
    if spec.openml is None:
        raise Unavailable(
            [("OpenML", f"{spec.name} is not on OpenML (no openml entry in its DatasetSpec)")]
        )
    name, version = spec.openml
    what = f"OpenML {name}"
    problem = resolve(OPENML_HOST, seconds) if auto else None  # explicit: sklearn's own way
    if problem:
        raise Unavailable([(what, problem)])
    from sklearn.datasets import fetch_openml  # imported late: it takes a second

    kwargs = dict(version=version, as_frame=False, data_home=str(home / "openml"))
    try:
        with socket_timeout(seconds if auto else None), warnings.catch_warnings():
            if auto:  # one warning in the end, not scikit-learn's "Retrying..." on the way
                warnings.simplefilter("ignore")
                kwargs["n_retries"] = 0
            try:
                bunch = fetch_openml(name, parser="auto", **kwargs)
            except ImportError:  # the "pandas" parser without pandas installed
                bunch = fetch_openml(name, parser="liac-arff", **kwargs)
    except Exception as err:
        text = str(err)
        raise Unavailable([(what, f"{type(err).__name__}: {text[:200]}")]) from None
    X, y = np.asarray(bunch["data"]), np.asarray(bunch["target"])
    n_train, n_test = spec.split_sizes
    pixels_per_image = math.prod(spec.image_shape)
    if X.shape != (n_train + n_test, pixels_per_image) or y.shape != (n_train + n_test,):
        raise Unavailable([(what, f"unexpected shapes X {X.shape}, y {y.shape}; expected "
                                  f"({n_train + n_test}, {pixels_per_image}) and ({n_train + n_test},)")])  # fmt: skip
    pixels = X.astype(np.uint8)  # checked against X just below
    if not (X.min() >= 0 and X.max() <= 255 and np.array_equal(pixels, X)):  # NaN fails too
        raise Unavailable([(what, "pixel values are not whole numbers in 0..255")])
    images = pixels.reshape(-1, *spec.image_shape)  # (N, 28, 28)
    try:
        labels = y.astype(np.int64)  # the targets arrive as strings "0".."9"
    except ValueError:
        raise Unavailable([(what, f"the targets are not class numbers (e.g. {y[0]!r})")]) from None
    arrays = images[:n_train], labels[:n_train], images[n_train:], labels[n_train:]
    try:
        arrays = validate(spec, arrays, [f"{what} ({part})" for part in ("train images", "train labels",
                                                                       "test images", "test labels")])  # fmt: skip
    except ValueError as err:
        raise Unavailable([(what, str(err))]) from None
    note = ""
    if spec.content_sha256:
        for file, array in zip(spec.files, arrays, strict=True):
            actual, expected = idx_digest(array), spec.content_sha256[file]
            if actual != expected:
                raise Unavailable([(what, f"the data differs from the official {file} (SHA-256 "
                                          f"{actual[:16]}..., expected {expected[:16]}...); not used")])  # fmt: skip
    else:
        note = f"content not verified: no SHA-256 of {spec.name}'s files is recorded yet"
    return make_dataset(
        spec, arrays, "openml", f"from OpenML ({name}, version {version})", note=note
    )
