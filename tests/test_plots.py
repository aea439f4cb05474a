"""scratchcnn.plots.plot_digits, drawn with the Agg backend (no display needed)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

from scratchcnn.plots import MAX_PANELS, WRONG_COLOR, plot_digits


@pytest.fixture
def digits():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(12, 28, 28), dtype=np.uint8)  # (12, 28, 28)
    labels = np.arange(12) % 10
    yield images, labels
    plt.close("all")


def _panels(fig: Figure):
    return [ax for ax in fig.axes if ax.images]


def test_a_grid_of_labelled_digits(digits):
    images, labels = digits
    fig = plot_digits(images, labels, ncols=5)
    assert isinstance(fig, Figure)
    assert mcolors.to_hex(fig.get_facecolor()) == "#ffffff"
    assert fig._suptitle.get_text() == "Images and their labels"
    panels = _panels(fig)
    assert len(panels) == 12 and len(fig.axes) == 15  # 3 rows of 5, 3 left empty
    assert [ax.get_title() for ax in panels] == [str(v) for v in labels]
    np.testing.assert_array_equal(panels[3].images[0].get_array(), images[3])
    assert panels[0].images[0].get_clim() == (0, 255)  # uint8 drawn on the 0..255 scale


def test_wrong_predictions_are_red_and_counted(digits):
    images, labels = digits
    predictions = labels.copy()
    predictions[[1, 7]] = (labels[[1, 7]] + 1) % 10
    fig = plot_digits(images, labels, predictions, title="Test digits")
    assert fig._suptitle.get_text() == "Test digits: 2 of 12 wrong (in red)"
    for i, ax in enumerate(_panels(fig)):
        title = ax.title
        assert title.get_text() == f"true {labels[i]}\npred {predictions[i]}"
        wrong = i in (1, 7)
        assert mcolors.same_color(title.get_color(), WRONG_COLOR if wrong else "black")
        assert ax.spines["left"].get_visible() == wrong


def test_class_names_channel_axis_and_float_images(digits):
    images, labels = digits
    names = [f"class {k}" for k in range(10)]
    floats = images[:, None].astype(np.float64) / 255 - 0.5  # (12, 1, 28, 28)
    fig = plot_digits(floats, labels, labels, class_names=names)
    panels = _panels(fig)
    assert panels[2].get_title() == "true class 2\npred class 2"
    assert fig._suptitle.get_text() == "Predictions and true labels: 0 of 12 wrong"
    assert panels[0].images[0].get_array().shape == (28, 28)
    assert plot_digits(images[:3])._suptitle.get_text() == "3 images"  # no labels at all


def test_bad_input_is_refused_with_a_message(digits):
    images, labels = digits
    with pytest.raises(ValueError, match=r"labels of shape \(12,\), one per image, got \(11,\)"):
        plot_digits(images, labels[:11])
    with pytest.raises(ValueError, match=r"\(N, H, W\) or \(N, 1, H, W\), got shape \(28, 28\)"):
        plot_digits(images[0], labels[:1])
    with pytest.raises(ValueError, match="needs the true labels"):
        plot_digits(images, None, labels)
    with pytest.raises(ValueError, match=rf"1 to {MAX_PANELS} images, got {MAX_PANELS + 1}"):
        plot_digits(np.zeros((MAX_PANELS + 1, 28, 28), dtype=np.uint8))
    with pytest.raises(ValueError, match="ncols must be a positive integer"):
        plot_digits(images, labels, ncols=0)
