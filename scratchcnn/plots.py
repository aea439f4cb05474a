"""Figures the chapters draw: every function returns its Figure (white facecolor, titled).

- ``plot_digits(images, labels=None, predictions=None, *, class_names=None, ncols=10,
  title=None, cmap="gray_r")``: a grid of images with their labels; with ``predictions``,
  each panel shows the true and the predicted label and wrong ones are framed and labelled
  in red, with the count in the title.
- ``plot_learning_curves(history, *, eval_label="validation", title=None, window=None)``: the
  loss of every step (and its moving average) and the accuracy per epoch of a ``fit`` History.
- ``plot_confusion_matrix(matrix, *, class_names=None, title=None)``: counts of (true,
  predicted) pairs, right answers in blue, mistakes in red on their own scale.
- ``plot_filters(weights, *, title=None, annotate=None, cmap="RdBu_r")``: a convolution's
  kernels ``(F, C, K, K)`` on one colour scale symmetric around 0.
- ``plot_feature_maps(maps, *, image=None, title=None, cmap="viridis")``: the maps ``(C, H, W)``
  of one input, or one row per stage from a dict ``{label: maps}``, after the input image.

Call ``plt.show()`` after a plotting function in a notebook, as the book's chapters do.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np

__all__ = [
    "plot_digits",
    "plot_learning_curves",
    "plot_confusion_matrix",
    "plot_filters",
    "plot_feature_maps",
    "WRONG_COLOR",
    "MAX_PANELS",
]

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


# ---------------------------------------------------------------------------------------------
# Training figures (chapter 6): learning curves, confusion matrix, filters, feature maps


def _moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of each run of ``window`` consecutive values (``len(values) - window + 1`` of them)."""
    kernel = np.ones(window) / window
    return np.convolve(values, kernel, mode="valid")


def plot_learning_curves(
    history, *, eval_label: str = "validation", title: str | None = None, window: int | None = None
):
    """Loss per step and accuracy per epoch of a :class:`scratchcnn.train.History`; return the Figure.

    Left: the loss of every mini-batch (faint) and its moving average over ``window`` steps
    (default: a tenth of an epoch, at least 1), with dotted lines at the epoch boundaries.
    Right: the training accuracy of each epoch (averaged over the epoch's mini-batches, as
    ``fit`` measures it) and, when the history has them, the accuracy on the data passed to ``fit``
    as ``X_val``, called ``eval_label`` ("validation", or "test" when that is what was passed).
    """
    step_loss = np.asarray(
        getattr(history, "step_loss", None) if history is not None else None, dtype=float
    )
    train_acc = np.asarray(getattr(history, "train_acc", []), dtype=float)
    if step_loss.ndim != 1 or step_loss.size == 0 or train_acc.size == 0:
        raise ValueError(
            "plot_learning_curves expected the History returned by scratchcnn.train.fit, with at least one "
            f"epoch; got {type(history).__name__}"
        )
    val_acc = np.asarray(getattr(history, "val_acc", []), dtype=float)
    epochs = len(train_acc)
    steps_per_epoch = len(step_loss) / epochs
    if window is None:
        window = max(1, int(round(steps_per_epoch / 10)))
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise ValueError(f"plot_learning_curves: window must be a positive integer, got {window!r}")
    window = min(int(window), len(step_loss))

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4), facecolor="white")
    steps = np.arange(1, len(step_loss) + 1)
    ax_loss.plot(steps, step_loss, color="#9db4d0", linewidth=0.6, label="loss of each mini-batch")
    if window > 1:
        ax_loss.plot(steps[window - 1 :], _moving_average(step_loss, window), color="#1f4e8c", linewidth=1.8,
                     label=f"moving average over {window} steps")  # fmt: skip
    for e in range(1, epochs):
        ax_loss.axvline(e * steps_per_epoch, color="grey", linestyle=":", linewidth=0.8)
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("training step (one mini-batch each)")
    ax_loss.set_ylabel("cross-entropy loss (log scale)")
    ax_loss.set_title("Loss per step (dotted lines: epochs)")
    ax_loss.legend(loc="upper right", fontsize=9)

    epoch_axis = np.arange(1, epochs + 1)
    ax_acc.plot(
        epoch_axis, train_acc, "o-", color="#1f4e8c", label="training (average over the epoch)"
    )
    if val_acc.size:
        ax_acc.plot(
            np.arange(1, len(val_acc) + 1),
            val_acc,
            "s-",
            color="#d35400",
            label=f"{eval_label} (end of epoch)",
        )
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy")
    ax_acc.set_xticks(epoch_axis)
    ax_acc.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.0%}"))
    ax_acc.set_title("Accuracy per epoch")
    ax_acc.grid(True, alpha=0.3)
    ax_acc.legend(loc="lower right", fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_confusion_matrix(matrix, *, class_names=None, title: str | None = None):
    """Draw a confusion matrix (rows: true class, columns: predicted class); return the Figure.

    ``matrix`` is a square array of counts, ``matrix[i, j]`` = how many examples of class ``i``
    were predicted as ``j``. The diagonal (right answers) is shaded in blue, the mistakes in red
    on their own scale so that a handful of confusions stands out next to hundreds of right
    answers; every non-zero count is written in its cell.
    """
    m = np.asarray(matrix)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.size == 0:
        raise ValueError(
            f"plot_confusion_matrix expected a square matrix of counts (K, K), got shape {m.shape}"
        )
    if not np.issubdtype(m.dtype, np.integer) or m.min() < 0:
        raise ValueError(
            "plot_confusion_matrix expected non-negative integer counts, e.g. from np.bincount"
        )
    k = m.shape[0]
    names = [str(c) for c in (class_names if class_names is not None else range(k))]
    if len(names) != k:
        raise ValueError(f"plot_confusion_matrix: {len(names)} class names for a {k}x{k} matrix")
    diag = np.eye(k, dtype=bool)
    right = np.ma.masked_where(~diag, m)
    wrong = np.ma.masked_where(diag | (m == 0), m)
    size = max(4.5, 0.55 * k + 1.5)
    fig, ax = plt.subplots(figsize=(size, size), facecolor="white")
    ax.imshow(np.zeros_like(m, dtype=float), cmap="Greys", vmin=0, vmax=1)  # white background
    ax.imshow(right, cmap="Blues", vmin=0, vmax=max(1, m[diag].max()) * 1.3)
    if wrong.count():
        ax.imshow(wrong, cmap="Reds", vmin=0, vmax=max(1, wrong.max()) * 1.2)
    for i in range(k):
        for j in range(k):
            if m[i, j]:
                ax.text(j, i, str(int(m[i, j])), ha="center", va="center", fontsize=8 if k > 12 else 9,
                        color="black", fontweight="bold" if i != j else "normal")  # fmt: skip
    ax.set_xticks(range(k), names)
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_xticks(np.arange(-0.5, k), minor=True)
    ax.set_yticks(np.arange(-0.5, k), minor=True)
    ax.grid(which="minor", color="#dddddd", linewidth=0.5)
    ax.tick_params(which="minor", length=0)
    total, errors = int(m.sum()), int(m[~diag].sum())
    ax.set_title(title or f"Confusion matrix: {errors} of {total} wrong (off the diagonal)")
    fig.tight_layout()
    return fig


def plot_filters(
    weights, *, title: str | None = None, annotate: bool | None = None, cmap: str = "RdBu_r"
):
    """Draw the kernels of a convolution ``W`` of shape ``(F, C, K, K)`` (or ``(F, K, K)``); return the Figure.

    One panel per filter and input channel, all on one colour scale symmetric around 0 (red
    positive, blue negative, white 0), with a shared colour bar. Small kernels (K <= 5) have
    their weights written in the cells unless ``annotate=False``.
    """
    w = np.asarray(weights, dtype=float)
    if w.ndim == 3:
        w = w[:, None]  # (F, 1, K, K)
    if w.ndim != 4 or w.shape[2] < 1 or w.shape[3] < 1:
        raise ValueError(
            f"plot_filters expected weights (F, C, K, K) or (F, K, K), got shape {np.shape(weights)}"
        )
    n_filters, channels, kh, kw = w.shape
    if n_filters * channels > MAX_PANELS:
        raise ValueError(
            f"plot_filters draws at most {MAX_PANELS} kernels, got {n_filters} x {channels}"
        )
    if annotate is None:
        annotate = max(kh, kw) <= 5
    limit = float(np.abs(w).max()) or 1.0
    fig, axes = plt.subplots(channels, n_filters, figsize=(1.35 * n_filters + 1.0, 1.5 * channels + 0.7),
                             facecolor="white", squeeze=False)  # fmt: skip
    image = None
    for c in range(channels):
        for f in range(n_filters):
            ax = axes[c, f]
            image = ax.imshow(w[f, c], cmap=cmap, vmin=-limit, vmax=limit, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_title(f"filter {f}", fontsize=9)
            if f == 0 and channels > 1:
                ax.set_ylabel(f"channel {c}", fontsize=9)
            if annotate:
                for i in range(kh):
                    for j in range(kw):
                        ax.text(j, i, f"{w[f, c, i, j]:.1f}", ha="center", va="center", fontsize=7,
                                color="white" if abs(w[f, c, i, j]) > 0.6 * limit else "black")  # fmt: skip
    fig.suptitle(title or f"{n_filters} filters of {kh}x{kw} weights (red > 0, blue < 0)")
    fig.tight_layout()
    fig.colorbar(image, ax=list(axes.flat), shrink=0.8, pad=0.02, label="weight")
    return fig


def plot_feature_maps(maps, *, image=None, title: str | None = None, cmap: str = "viridis"):
    """Draw feature maps of one input; return the Figure.

    ``maps`` is one array ``(C, H, W)`` (or ``(1, C, H, W)``: a batch of one) or a dict
    ``{row label: array}`` with one row of panels per entry, e.g. the maps after the convolution
    and after pooling. ``image`` ``(H, W)`` (or ``(1, H, W)``, ``(1, 1, H, W)``), when given, is
    drawn first, in grey. Each map has its own colour range (what matters is where a filter
    responds, not how strongly compared with the others).
    """
    rows = dict(maps) if isinstance(maps, dict) else {"feature maps": maps}
    if not rows:
        raise ValueError("plot_feature_maps got an empty dict of feature maps")
    arrays = {}
    for label, value in rows.items():
        a = np.asarray(value, dtype=float)
        if a.ndim == 4 and a.shape[0] == 1:
            a = a[0]  # a batch of one: (1, C, H, W) -> (C, H, W)
        if a.ndim != 3:
            raise ValueError(
                f"plot_feature_maps expected the maps of ONE input, (C, H, W) or (1, C, H, W), got shape "
                f"{np.shape(value)} for {label!r}"
            )
        arrays[label] = a
    ncols = max(a.shape[0] for a in arrays.values())
    if ncols * len(arrays) > MAX_PANELS:
        raise ValueError(f"plot_feature_maps draws at most {MAX_PANELS} maps")
    if image is not None:
        image = np.asarray(image, dtype=float)
        while image.ndim > 2 and image.shape[0] == 1:
            image = image[0]
        if image.ndim != 2:
            raise ValueError(
                f"plot_feature_maps: image should be one (H, W) image, got shape {np.shape(image)}"
            )
    lead = 1 if image is not None else 0
    fig, axes = plt.subplots(len(arrays), ncols + lead, figsize=(1.3 * (ncols + lead) + 0.6, 1.55 * len(arrays) + 0.6),
                             facecolor="white", squeeze=False)  # fmt: skip
    for r, (label, a) in enumerate(arrays.items()):
        for col in range(ncols + lead):
            ax = axes[r, col]
            ax.set_xticks([])
            ax.set_yticks([])
            if lead and col == 0:
                if r == 0:
                    ax.imshow(image, cmap="gray_r", interpolation="nearest")
                    ax.set_title(f"input {image.shape[0]}x{image.shape[1]}", fontsize=8)
                else:
                    ax.set_axis_off()
                continue
            ch = col - lead
            if ch >= a.shape[0]:
                ax.set_axis_off()
                continue
            ax.imshow(a[ch], cmap=cmap, interpolation="nearest")
            if not np.any(a[ch]):  # a filter that does not respond anywhere (e.g. a "dead" ReLU)
                ax.text(
                    0.5,
                    0.5,
                    "all 0",
                    transform=ax.transAxes,
                    ha="center",
                    va="center",
                    color="white",
                    fontsize=9,
                )
            ax.set_title(
                f"map {ch}" + (f", {a.shape[1]}x{a.shape[2]}" if ch == 0 else ""), fontsize=8
            )
        first = axes[r, lead]
        first.set_ylabel(label, fontsize=9)
    fig.suptitle(title or "Feature maps")
    fig.tight_layout()
    return fig
