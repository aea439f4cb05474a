"""The book's model: Conv2D(1 -> 8, 3x3) -> ReLU -> MaxPool(2) -> Flatten -> Affine(1352 -> 10)."""

from __future__ import annotations

import numpy as np

from .layers import Affine, Conv2D, Flatten, MaxPool2D, ReLU, Sequential, Sigmoid

__all__ = ["book_model"]


def book_model(rng=0, activation: str | None = "relu", filters: int = 8, dtype=np.float32) -> Sequential:
    """The CNN the book trains on 28x28 digits, with ``activation`` "relu", "sigmoid" or None.

    The convolution uses He initialisation before a ReLU and LeCun's otherwise; the affine layer
    producing the logits uses LeCun's. ``rng`` is a Generator or a seed.
    """
    rng = np.random.default_rng(rng)  # a Generator passes through unchanged
    act = {"relu": ReLU, "sigmoid": Sigmoid, None: None}
    if activation not in act:
        raise ValueError(f"book_model: activation must be 'relu', 'sigmoid' or None, got {activation!r}")
    conv = Conv2D(1, filters, 3, rng=rng, init="he" if activation == "relu" else "lecun", dtype=dtype)
    layers = [conv] + ([act[activation]()] if activation else []) + [
        MaxPool2D(2),
        Flatten(),
        Affine(filters * 13 * 13, 10, rng=rng, dtype=dtype),
    ]
    return Sequential(layers)
