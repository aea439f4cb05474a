"""The training figures of scratchcnn.plots (chapter 6), drawn with the Agg backend."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

from scratchcnn.plots import (
    plot_confusion_matrix,
    plot_feature_maps,
    plot_filters,
    plot_learning_curves,
)
from scratchcnn.train import History


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _history(epochs: int = 3, steps: int = 20, with_val: bool = True) -> History:
    rng = np.random.default_rng(0)
    h = History()
    h.step_loss = list(
        np.exp(-np.linspace(0, 3, epochs * steps)) * 2.3 + rng.random(epochs * steps) * 0.1
    )
    h.train_loss = [1.0, 0.5, 0.3][:epochs]
    h.train_acc = [0.8, 0.9, 0.95][:epochs]
    if with_val:
        h.val_loss = [0.6, 0.4, 0.35][:epochs]
        h.val_acc = [0.85, 0.91, 0.93][:epochs]
    h.epoch_seconds = [0.1] * epochs
    return h


def test_learning_curves_draw_every_step_and_epoch():
    fig = plot_learning_curves(_history(), eval_label="test")
    assert isinstance(fig, Figure) and mcolors.to_hex(fig.get_facecolor()) == "#ffffff"
    ax_loss, ax_acc = fig.axes
    raw = ax_loss.lines[0]
    assert len(raw.get_xdata()) == 60
    np.testing.assert_allclose(raw.get_ydata(), _history().step_loss)
    assert ax_loss.get_yscale() == "log" and ax_loss.get_xlabel() and ax_loss.get_title()
    labels = [line.get_label() for line in ax_acc.lines]
    assert any("training" in label for label in labels) and any("test" in label for label in labels)
    np.testing.assert_allclose(ax_acc.lines[1].get_ydata(), [0.85, 0.91, 0.93])
    # two dotted lines at the two epoch boundaries inside three epochs
    boundaries = [line for line in ax_loss.lines if line.get_linestyle() == ":"]
    assert [line.get_xdata()[0] for line in boundaries] == [20, 40]


def test_learning_curves_moving_average_and_no_validation():
    fig = plot_learning_curves(_history(with_val=False), window=5)
    ax_loss, ax_acc = fig.axes
    smooth = ax_loss.lines[1]
    values = np.asarray(_history().step_loss)
    assert len(smooth.get_ydata()) == 60 - 4
    assert smooth.get_ydata()[0] == pytest.approx(values[:5].mean())
    assert len(ax_acc.lines) == 1  # only the training accuracy


@pytest.mark.parametrize("bad", [None, History(), [1, 2, 3]])
def test_learning_curves_refuse_what_is_not_a_history(bad):
    with pytest.raises(ValueError, match="History"):
        plot_learning_curves(bad)


def test_learning_curves_refuse_a_bad_window():
    with pytest.raises(ValueError, match="window"):
        plot_learning_curves(_history(), window=0)


def test_confusion_matrix_counts_and_title():
    m = np.array([[5, 1, 0], [0, 7, 2], [0, 0, 9]])
    fig = plot_confusion_matrix(m, class_names=["a", "b", "c"])
    ax = fig.axes[0]
    texts = sorted(t.get_text() for t in ax.texts)
    assert texts == sorted(["5", "1", "7", "2", "9"])  # zeros are left blank
    assert ax.get_title() == "Confusion matrix: 3 of 24 wrong (off the diagonal)"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    assert ax.get_xlabel() == "predicted class" and ax.get_ylabel() == "true class"


def test_confusion_matrix_without_mistakes():
    fig = plot_confusion_matrix(np.diag([3, 4]))
    assert "0 of 7 wrong" in fig.axes[0].get_title()


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((2, 3), dtype=int), "square"),
        (np.ones((2, 2)), "integer"),
        (-np.eye(2, dtype=int), "non-negative"),
    ],
)
def test_confusion_matrix_refuses_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        plot_confusion_matrix(bad)


def test_filters_share_a_symmetric_scale():
    w = np.random.default_rng(1).standard_normal((8, 1, 3, 3))
    fig = plot_filters(w)
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 8
    limit = np.abs(w).max()
    for ax, f in zip(panels, w, strict=False):
        im = ax.images[0]
        assert im.get_clim() == pytest.approx((-limit, limit))
        np.testing.assert_allclose(im.get_array(), f[0])
    assert len(panels[0].texts) == 9  # 3x3 kernels have their weights written in
    assert panels[0].get_title() == "filter 0"


def test_filters_of_several_channels_and_large_kernels():
    fig = plot_filters(np.ones((2, 3, 7, 7)))
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 6 and not panels[0].texts


def test_filters_refuse_bad_shapes():
    with pytest.raises(ValueError, match=r"\(F, C, K, K\)"):
        plot_filters(np.ones((3, 3)))


def test_feature_maps_rows_and_input():
    rng = np.random.default_rng(2)
    a = rng.random((1, 4, 6, 6))
    a[0, 2] = 0  # a map that is zero everywhere is labelled so
    b = rng.random((4, 3, 3))
    fig = plot_feature_maps({"conv": a, "pool": b}, image=rng.random((1, 1, 8, 8)), title="maps")
    assert fig._suptitle.get_text() == "maps"
    drawn = [ax for ax in fig.axes if ax.images]
    assert len(drawn) == 1 + 4 + 4
    assert drawn[0].images[0].get_array().shape == (8, 8)
    np.testing.assert_allclose(drawn[1].images[0].get_array(), a[0, 0])
    assert any(t.get_text() == "all 0" for ax in drawn for t in ax.texts)
    labels = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    assert labels == ["conv", "pool"]


def test_feature_maps_refuse_a_batch():
    with pytest.raises(ValueError, match="ONE input"):
        plot_feature_maps(np.zeros((2, 4, 5, 5)))
