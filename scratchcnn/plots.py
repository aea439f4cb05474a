"""Figures the chapters draw: every function returns its Figure (white facecolor, titled).

- ``plot_digits(images, labels=None, predictions=None, *, class_names=None, ncols=10,
  title=None, cmap="gray_r")``: a grid of images with their labels; with ``predictions``,
  each panel shows the true and the predicted label and wrong ones are framed and labelled
  in red, with the count in the title.

Call ``plt.show()`` after a plotting function in a notebook, as the book's chapters do.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["plot_digits", "WRONG_COLOR", "MAX_PANELS"]

WRONG_COLOR = "#c0392b"  # red for wrong predictions, readable on white
MAX_PANELS = 200  # more panels would take long to draw and be too small to read


def _as_images(images) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]  # (N, 1, H, W) -> (N, H, W)
    if images.ndim != 3:
        raise ValueError(
            f"plot_digits expected images (N, H, W) or (N, 1, H, W), got shape {images.shape}"
        )
    if not (np.issubdtype(images.dtype, np.integer) or np.issubdtype(images.dtype, np.floating)):
        raise TypeError(f"plot_digits expected numeric images, got dtype {images.dtype}")
    return images


def _as_labels(values, n: int, what: str) -> np.ndarray | None:
    if values is None:
        return None
    values = np.asarray(values)
    if values.shape != (n,):
        raise ValueError(
            f"plot_digits expected {what} of shape ({n},), one per image, got {values.shape}"
        )
    return values


def plot_digits(
    images,
    labels=None,
    predictions=None,
    *,
    class_names=None,
    ncols: int = 10,
    title: str | None = None,
    cmap: str = "gray_r",
):
    """Draw ``images`` in a grid, each titled with its label (and prediction); return the Figure.

    ``images`` is ``(N, H, W)`` or ``(N, 1, H, W)``, raw uint8 (drawn on the 0..255 scale) or
    floats (each image on its own range). ``labels`` and ``predictions`` are ``(N,)`` class
    indices; ``class_names`` maps them to text (e.g. ``data.class_names``). Wrong predictions
    are titled and framed in red and counted in the figure title. At most ``MAX_PANELS``
    images: pass a slice such as ``X[:40]``.
    """
    images = _as_images(images)  # (N, H, W)
    n = len(images)
    if n == 0 or n > MAX_PANELS:
        raise ValueError(
            f"plot_digits draws 1 to {MAX_PANELS} images, got {n}; pass a slice such as images[:40]"
        )
    labels = _as_labels(labels, n, "labels")
    predictions = _as_labels(predictions, n, "predictions")
    if predictions is not None and labels is None:
        raise ValueError("plot_digits needs the true labels to show predictions against them")
    if isinstance(ncols, bool) or not isinstance(ncols, (int, np.integer)) or ncols < 1:
        raise ValueError(f"plot_digits: ncols must be a positive integer, got {ncols!r}")

    def name(value) -> str:
        return str(class_names[int(value)]) if class_names is not None else str(value)

    ncols = min(int(ncols), n)
    nrows = math.ceil(n / ncols)
    panel_height = 1.45 if predictions is not None else 1.2
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(1.15 * ncols, panel_height * nrows + 0.5),
        facecolor="white", squeeze=False,
    )  # fmt: skip
    scale = {"vmin": 0, "vmax": 255} if np.issubdtype(images.dtype, np.integer) else {}
    wrong = 0
    for i, ax in enumerate(axes.flat):
        ax.set_facecolor("white")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        if i >= n:
            ax.set_axis_off()
            continue
        ax.imshow(images[i], cmap=cmap, interpolation="nearest", **scale)
        if labels is None:
            continue
        if predictions is None:
            ax.set_title(name(labels[i]), fontsize=10)
            continue
        is_wrong = labels[i] != predictions[i]
        wrong += int(is_wrong)
        color = WRONG_COLOR if is_wrong else "black"
        ax.set_title(
            f"true {name(labels[i])}\npred {name(predictions[i])}",
            fontsize=8, color=color, fontweight="bold" if is_wrong else "normal",
        )  # fmt: skip
        if is_wrong:
            for spine in ax.spines.values():
                spine.set_visible(True)
                spine.set_color(WRONG_COLOR)
                spine.set_linewidth(2)
    if title is None:
        title = (
            "Predictions and true labels" if predictions is not None else "Images and their labels"
        )
        if labels is None:
            title = f"{n} images"
    if predictions is not None:
        title = f"{title}: {wrong} of {n} wrong" + (" (in red)" if wrong else "")
    fig.suptitle(title)
    fig.tight_layout()
    return fig
