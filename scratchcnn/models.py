"""The book's models.

- ``book_model``: Conv2D(1 -> 8, 3x3) -> ReLU -> MaxPool(2) -> Flatten -> Affine(1352 -> 10)
  (chapters 4-8).
- ``lenet``: two padded 5x5 convolutions, each followed by ReLU and max pooling, then a hidden
  affine layer with ReLU and dropout, then the logits (chapter 9).
"""

from __future__ import annotations

import numpy as np

from .layers import Affine, Conv2D, Dropout, Flatten, MaxPool2D, ReLU, Sequential, Sigmoid

__all__ = ["book_model", "lenet"]


def book_model(
    rng=0, activation: str | None = "relu", filters: int = 8, dtype=np.float32
) -> Sequential:
    """The CNN the book trains on 28x28 digits, with ``activation`` "relu", "sigmoid" or None.

    The convolution uses He initialisation before a ReLU and LeCun's otherwise; the affine layer
    producing the logits uses LeCun's. ``rng`` is a Generator or a seed.
    """
    rng = np.random.default_rng(rng)  # a Generator passes through unchanged
    act = {"relu": ReLU, "sigmoid": Sigmoid, None: None}
    if activation not in act:
        raise ValueError(
            f"book_model: activation must be 'relu', 'sigmoid' or None, got {activation!r}"
        )
    conv = Conv2D(
        1, filters, 3, rng=rng, init="he" if activation == "relu" else "lecun", dtype=dtype
    )
    layers = (
        [conv]
        + ([act[activation]()] if activation else [])
        + [
            MaxPool2D(2),
            Flatten(),
            Affine(filters * 13 * 13, 10, rng=rng, dtype=dtype),
        ]
    )
    return Sequential(layers)


def lenet(
    rng=0,
    channels: tuple[int, int] = (16, 32),
    hidden: int = 128,
    dropout: float = 0.5,
    dtype=np.float32,
) -> Sequential:
    """A LeNet-style CNN for 28x28 digits (chapter 9), built from the package's layers only::

        Conv2D(1 -> 16, 5x5, padding 2) -> ReLU -> MaxPool(2)     (16, 14, 14)
        Conv2D(16 -> 32, 5x5, padding 2) -> ReLU -> MaxPool(2)    (32, 7, 7)
        Flatten -> Affine(1568 -> 128) -> ReLU -> Dropout(0.5)    (128,)
        Affine(128 -> 10)                                         the logits

    The padding of 2 keeps each convolution's output as large as its input, so only pooling
    halves the size. He initialisation before each ReLU, LeCun's for the logits. ``rng`` is a
    Generator or a seed; it draws the initial weights and then Dropout's masks.
    """
    rng = np.random.default_rng(rng)  # a Generator passes through unchanged
    c1, c2 = channels
    return Sequential(
        [
            Conv2D(1, c1, 5, padding=2, rng=rng, init="he", dtype=dtype),  # (N, c1, 28, 28)
            ReLU(),
            MaxPool2D(2),  # (N, c1, 14, 14)
            Conv2D(c1, c2, 5, padding=2, rng=rng, init="he", dtype=dtype),  # (N, c2, 14, 14)
            ReLU(),
            MaxPool2D(2),  # (N, c2, 7, 7)
            Flatten(),  # (N, c2*7*7)
            Affine(c2 * 7 * 7, hidden, rng=rng, init="he", dtype=dtype),  # (N, hidden)
            ReLU(),
            Dropout(dropout, rng=rng),
            Affine(hidden, 10, rng=rng, init="lecun", dtype=dtype),  # (N, 10): the logits
        ]
    )
