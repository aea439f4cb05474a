"""The :class:`Dataset` every source returns, the errors, and the one check every array passes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .registry import DatasetSpec

__all__ = [
    "Dataset",
    "DataUnavailableError",
    "DataFallbackWarning",
    "Unavailable",
    "validate",
    "make_dataset",
]


class DataUnavailableError(OSError):
    """The requested data could not be obtained; the message lists what was tried."""


class DataFallbackWarning(UserWarning):
    """``"auto"`` could not get the full data set and used a smaller or other source."""


class Unavailable(Exception):
    """Internal: one source could not deliver; ``attempts`` says what was tried and why."""

    def __init__(self, attempts: list[tuple[str, str]]):
        super().__init__("; ".join(f"{what}: {why}" for what, why in attempts))
        self.attempts = attempts


@dataclass(frozen=True, repr=False, eq=False)
class Dataset:
    """An image classification data set with its official train/test split.

    ``source`` is one line for humans ("MNIST, 60,000 + 10,000 digits, downloaded from
    ..."); ``origin`` is the same for code: ``"cache"``, ``"download"``, ``"openml"``,
    ``"sample"`` or ``"folder"``.
    """

    X_train: np.ndarray  # (N_train, 28, 28) uint8
    y_train: np.ndarray  # (N_train,) int64
    X_test: np.ndarray  # (N_test, 28, 28) uint8
    y_test: np.ndarray  # (N_test,) int64
    name: str
    source: str
    origin: str
    class_names: tuple[str, ...]
    note: str = ""

    @property
    def is_sample(self) -> bool:
        """True for a small bundled sample, False for a full data set."""
        return self.origin == "sample"

    def summary(self) -> str:
        """``source``, plus the reason for a fallback in brackets when there was one."""
        return f"{self.source} ({self.note})" if self.note else self.source

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        arrays = ", ".join(
            f"{k}={getattr(self, k).dtype}{getattr(self, k).shape}"
            for k in ("X_train", "y_train", "X_test", "y_test")
        )
        return f"Dataset(name={self.name!r}, origin={self.origin!r}, {arrays})"


def validate(
    spec: DatasetSpec, arrays, where: list[str], exact: bool = False
) -> tuple[np.ndarray, ...]:
    """Refuse anything but ``spec``'s data; return ``(X_train, y_train, X_test, y_test)`` as uint8
    images and int64 labels.

    Images: uint8, ``(N, *spec.image_shape)``, at least one, at most the split size (exactly it
    with ``exact``). Labels: integers, one per image, in ``0..classes-1``. ``where`` names each
    of the four arrays (a file) for the message.
    """
    out = []
    for index in (0, 2):
        images, labels = np.asarray(arrays[index]), np.asarray(arrays[index + 1])
        img_where, lab_where = where[index], where[index + 1]
        full = spec.full_shape(index)
        if images.dtype != np.uint8 or images.ndim != 1 + len(spec.image_shape):
            raise ValueError(
                f"{img_where}: expected uint8 images of shape (N, {', '.join(map(str, spec.image_shape))}) "
                f"for {spec.name}, got {images.dtype} {images.shape}"
            )
        if images.shape[1:] != tuple(spec.image_shape):
            raise ValueError(
                f"{img_where}: {spec.name} images are {' x '.join(map(str, spec.image_shape))} pixels, these are "
                f"{' x '.join(map(str, images.shape[1:]))} (shape {images.shape}): not {spec.name}'s files"
            )
        if len(images) == 0:
            raise ValueError(
                f"{img_where}: holds 0 images; expected up to {full[0]:,} {spec.name} {spec.noun}"
            )
        if len(images) > full[0] or (exact and len(images) != full[0]):
            expected = f"exactly {full[0]:,}" if exact else f"at most {full[0]:,}"
            raise ValueError(
                f"{img_where}: holds {len(images):,} images, expected {expected} for {spec.name}"
            )
        if labels.dtype.kind not in "iu":
            raise ValueError(
                f"{lab_where}: class labels must be whole numbers 0..{spec.n_classes - 1}, got {labels.dtype} "
                "(a float labels file can hold NaN or fractions such as 1.5, which are no class): "
                "not a valid labels file"
            )
        if labels.shape != (len(images),):
            raise ValueError(
                f"{img_where} with {lab_where}: expected one label per image, shape ({len(images)},), "
                f"got {labels.shape}"
            )
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= spec.n_classes:
            raise ValueError(
                f"{lab_where}: labels must lie in 0..{spec.n_classes - 1} ({spec.n_classes} classes), got "
                f"{low}..{high}"
            )
        out += [images, labels.astype(np.int64)]
    return tuple(out)


def counts(X_train: np.ndarray, X_test: np.ndarray) -> str:
    return f"{len(X_train):,} + {len(X_test):,}"


def make_dataset(spec: DatasetSpec, arrays, origin: str, how: str, note: str = "") -> Dataset:
    X_train, y_train, X_test, y_test = arrays
    source = f"{spec.name}, {counts(X_train, X_test)} {spec.noun}, {how}"
    return Dataset(
        X_train, y_train, X_test, y_test, spec.name, source, origin, spec.class_names, note
    )
