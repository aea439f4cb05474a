"""From uint8 images to network inputs: scaling, standardisation, the channel axis, one-hot labels.

Public API (all functions return new arrays and leave their input alone, except
``add_channel_axis``, which returns a view):

- ``scale01(images, dtype=np.float64)``: ``x / 255``, values in [0, 1].
- ``scale_centered(images, dtype=np.float64)``: ``x / 255 - 0.5``, values in [-0.5, 0.5] (the
  seed tutorials' choice: zero-centred, same spread).
- ``Standardizer(dtype=np.float64)``: per-pixel standardisation. ``fit(X_train)`` learns each
  pixel's mean and standard deviation on the training set only; ``transform(X)`` applies
  ``(x - mean) / std`` with those numbers to any set (train, test, a new digit).
  Fitting on the test set would let the test data shape the model's inputs (a leak). Pixels
  that never change in the training set (MNIST's border is always 0) have no spread to divide
  by: they are centred but not scaled, as scikit-learn's ``StandardScaler`` does.
- ``add_channel_axis(images)``: ``(N, H, W) -> (N, 1, H, W)``, the layout of the book's layers.
- ``one_hot(labels, n_classes=10)``: ``(N,)`` integer labels ``-> (N, n_classes)`` rows of 0/1.

The two scaling functions expect raw pixel values: an integer array in 0..255 as
``scratchcnn.data.load_mnist`` returns. They refuse float input, which is the usual sign of
scaling twice.
"""

from __future__ import annotations

import numpy as np

__all__ = ["scale01", "scale_centered", "Standardizer", "add_channel_axis", "one_hot"]


def _float_dtype(dtype) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    return dt


def _pixels(images, who: str) -> np.ndarray:
    """Check that ``images`` holds raw pixel values: integers in 0..255."""
    images = np.asarray(images)
    if not np.issubdtype(images.dtype, np.integer):
        raise TypeError(
            f"{who} expected raw pixel values (uint8 0..255, as load_mnist returns), got dtype "
            f"{images.dtype}: are these images scaled already? Scale each array once, from uint8."
        )
    if images.size and (images.min() < 0 or images.max() > 255):
        raise ValueError(
            f"{who} expected pixel values in 0..255, got {images.min()}..{images.max()}"
        )
    return images


def scale01(images, dtype=np.float64) -> np.ndarray:
    """Pixels 0..255 -> [0, 1]: ``images / 255`` as ``dtype`` (float64 unless told)."""
    images = _pixels(images, "scale01")
    return images.astype(_float_dtype(dtype)) / 255


def scale_centered(images, dtype=np.float64) -> np.ndarray:
    """Pixels 0..255 -> [-0.5, 0.5]: ``images / 255 - 0.5``, the seed tutorials' scaling."""
    images = _pixels(images, "scale_centered")
    return images.astype(_float_dtype(dtype)) / 255 - 0.5


class Standardizer:
    """Per-pixel standardisation with statistics from the training set only.

    ::

        std = Standardizer().fit(data.X_train)      # learns mean_ and std_, shape (28, 28)
        X_train = std.transform(data.X_train)       # (N, 28, 28) float64, mean 0, std 1
        X_test = std.transform(data.X_test)         # the same numbers: no peeking at test

    Works on any array whose first axis counts the examples: ``(N, H, W)`` or
    ``(N, C, H, W)``, raw uint8 or already scaled.

    Attributes after ``fit``: ``mean_`` and ``std_`` (the per-pixel statistics, shape
    ``X.shape[1:]``), ``constant_`` (pixels with the same value in every training image) and
    ``scale_`` (what ``transform`` divides by: ``std_``, or 1 where the pixel is constant).
    """

    def __init__(self, dtype=np.float64):
        self.dtype = _float_dtype(dtype)
        self.mean_: np.ndarray | None = None
        self.std_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None
        self.constant_: np.ndarray | None = None

    def fit(self, X_train) -> Standardizer:
        """Learn each pixel's mean and standard deviation from ``X_train``; return ``self``."""
        X = np.asarray(X_train)
        if X.ndim < 2 or len(X) < 2:
            raise ValueError(
                f"Standardizer.fit expected at least 2 examples stacked on the first axis, e.g. "
                f"(N, 28, 28), got shape {X.shape}"
            )
        if not (np.issubdtype(X.dtype, np.integer) or np.issubdtype(X.dtype, np.floating)):
            raise TypeError(f"Standardizer.fit expected a numeric array, got dtype {X.dtype}")
        if np.issubdtype(X.dtype, np.floating) and not np.isfinite(X).all():
            raise ValueError("Standardizer.fit got NaN or infinite values")
        mean = X.mean(axis=0, dtype=np.float64)  # (H, W): accumulated in float64
        # Two-pass variance in blocks: exact, without a float64 copy of the whole set.
        sq = np.zeros_like(mean)
        for start in range(0, len(X), 4096):
            block = X[start : start + 4096].astype(np.float64) - mean  # (<=4096, H, W)
            sq += (block**2).sum(axis=0)
        std = np.sqrt(sq / len(X))
        constant = X.min(axis=0) == X.max(axis=0)  # exact: no threshold to tune
        self.mean_, self.std_, self.constant_ = mean, std, constant
        self.scale_ = np.where(constant, 1.0, std)
        return self

    def transform(self, X) -> np.ndarray:
        """``(X - mean_) / scale_`` as ``dtype``, with the statistics learned by ``fit``."""
        if self.mean_ is None:
            raise RuntimeError("Standardizer.transform called before fit: call fit(X_train) first")
        X = np.asarray(X)
        if X.shape[1:] != self.mean_.shape:
            raise ValueError(
                f"Standardizer was fitted on examples of shape {self.mean_.shape}, got examples "
                f"of shape {X.shape[1:]} (array shape {X.shape})"
            )
        return ((X - self.mean_) / self.scale_).astype(self.dtype, copy=False)

    def fit_transform(self, X_train) -> np.ndarray:
        """``fit(X_train)`` then ``transform(X_train)``."""
        return self.fit(X_train).transform(X_train)

    def inverse_transform(self, Z) -> np.ndarray:
        """Undo ``transform`` (float64), e.g. to show a standardised image as pixels again."""
        if self.mean_ is None:
            raise RuntimeError("Standardizer.inverse_transform called before fit")
        return np.asarray(Z, dtype=np.float64) * self.scale_ + self.mean_

    def __repr__(self) -> str:
        fitted = (
            f"fitted on examples of shape {self.mean_.shape}"
            if self.mean_ is not None
            else "not fitted"
        )
        return f"Standardizer(dtype={self.dtype}, {fitted})"


def add_channel_axis(images) -> np.ndarray:
    """``(N, H, W) -> (N, 1, H, W)``: one grey channel, the layout the layers expect.

    Returns a view (no copy). For a single image ``(H, W)`` use ``image[None, None]``.
    """
    images = np.asarray(images)
    if images.ndim != 3:
        hint = " (for one image of shape (H, W) use image[None, None])" if images.ndim == 2 else ""
        raise ValueError(
            f"add_channel_axis expected images (N, H, W), got shape {images.shape}{hint}"
        )
    return images[:, np.newaxis, :, :]  # (N, 1, H, W)


def one_hot(labels, n_classes: int = 10, dtype=np.float64) -> np.ndarray:
    """Integer labels ``(N,)`` -> ``(N, n_classes)``: row ``i`` is 1 at ``labels[i]``, else 0."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"one_hot expected integer labels of shape (N,), got {labels.dtype} {labels.shape}"
        )
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
        raise ValueError(f"one_hot: n_classes must be a positive integer, got {n_classes!r}")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(
            f"one_hot: labels must lie in 0..{n_classes - 1}, got {labels.min()}..{labels.max()}"
        )
    out = np.zeros((len(labels), n_classes), dtype=_float_dtype(dtype))  # (N, n_classes)
    out[np.arange(len(labels)), labels] = 1
    return out
