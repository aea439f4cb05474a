"""scratchcnn.preprocess: scaling, per-pixel standardisation, the channel axis, one-hot labels."""

from __future__ import annotations

import numpy as np
import pytest

from scratchcnn.preprocess import (
    Standardizer,
    add_channel_axis,
    one_hot,
    scale01,
    scale_centered,
)


@pytest.fixture
def images() -> np.ndarray:
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(50, 6, 5), dtype=np.uint8)  # (50, 6, 5)
    X[:, 0, :] = 0  # a blank border row, as in MNIST
    X[:, 5, 4] = 7  # a pixel that is the same non-zero value everywhere
    X[0, 2, 2], X[1, 2, 2] = 0, 255  # the extremes occur
    return X


def test_scale01_maps_0_255_to_the_unit_interval(images):
    before = images.copy()
    x = scale01(images)
    assert x.dtype == np.float64 and x.shape == images.shape
    assert x.min() == 0.0 and x.max() == 1.0
    np.testing.assert_allclose(x * 255, images)
    np.testing.assert_array_equal(images, before)  # the input is left alone
    assert scale01(images, dtype=np.float32).dtype == np.float32


def test_scale_centered_is_the_seeds_x_over_255_minus_half(images):
    x = scale_centered(images)
    assert x.min() == -0.5 and x.max() == 0.5
    np.testing.assert_allclose(x, images / 255 - 0.5, rtol=0, atol=1e-15)


def test_scaling_refuses_floats_and_out_of_range_values(images):
    with pytest.raises(TypeError, match="scaled already"):
        scale01(scale01(images))  # the classic: scaling twice
    with pytest.raises(ValueError, match=r"0\.\.255, got -1\.\.3"):
        scale_centered(np.array([[-1, 3]]))
    with pytest.raises(TypeError, match="float32 or float64"):
        scale01(images, dtype=np.int32)
    assert scale01(np.array([[0, 255]], dtype=np.int64)).max() == 1.0  # any integer dtype


def test_standardizer_gives_each_training_pixel_mean_0_and_std_1(images):
    std = Standardizer().fit(images)
    assert std.mean_.shape == std.std_.shape == (6, 5)
    np.testing.assert_allclose(std.mean_, images.mean(axis=0))
    np.testing.assert_allclose(std.std_, images.std(axis=0), rtol=1e-12, atol=1e-12)
    z = std.transform(images)
    assert z.dtype == np.float64 and z.shape == images.shape
    varying = ~std.constant_
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=0)[varying], 1, rtol=1e-12)
    np.testing.assert_allclose(std.inverse_transform(z), images, atol=1e-9)
    np.testing.assert_allclose(Standardizer().fit_transform(images), z)


def test_constant_pixels_are_centred_not_divided_by_zero(images):
    std = Standardizer().fit(images)
    expected = np.zeros((6, 5), dtype=bool)
    expected[0, :] = expected[5, 4] = True
    np.testing.assert_array_equal(std.constant_, expected)
    np.testing.assert_array_equal(std.scale_[expected], 1.0)
    new = images[:3].copy()
    new[:, 0, 0] = 10  # ink where training never had any
    z = std.transform(new)
    assert np.isfinite(z).all()
    np.testing.assert_array_equal(z[:, 0, 0], 10.0)  # centred (mean 0), not scaled


def test_the_test_set_is_transformed_with_training_statistics_only(images):
    train, test = images[:40], images[40:] // 2  # a test set that looks different
    std = Standardizer().fit(train)
    z = std.transform(test)
    np.testing.assert_allclose(z, (test - train.mean(axis=0)) / std.scale_)
    assert abs(z.mean()) > 0.1  # not re-centred on the test set: nothing leaked
    assert not np.allclose(Standardizer().fit(test).mean_, std.mean_)


def test_standardizer_works_with_channels_float32_and_scaled_input(images):
    x = add_channel_axis(scale01(images))  # (50, 1, 6, 5)
    std = Standardizer(dtype=np.float32).fit(x)
    assert std.mean_.shape == (1, 6, 5)
    z = std.transform(x)
    assert z.dtype == np.float32
    np.testing.assert_allclose(z[:, 0], Standardizer().fit_transform(images), atol=1e-5)


def test_standardizer_refuses_misuse(images):
    with pytest.raises(RuntimeError, match="before fit"):
        Standardizer().transform(images)
    std = Standardizer().fit(images)
    with pytest.raises(
        ValueError, match=r"fitted on examples of shape \(6, 5\), got examples of shape \(5, 6\)"
    ):
        std.transform(images.transpose(0, 2, 1))
    with pytest.raises(ValueError, match="at least 2 examples"):
        Standardizer().fit(images[:1])
    with pytest.raises(ValueError, match="NaN"):
        Standardizer().fit(np.array([[0.0, np.nan], [1.0, 2.0]]))
    with pytest.raises(TypeError, match="float32 or float64"):
        Standardizer(dtype=np.uint8)
    assert repr(Standardizer()) == "Standardizer(dtype=float64, not fitted)"


def test_add_channel_axis_returns_a_view_of_shape_n_1_h_w(images):
    x = add_channel_axis(images)
    assert x.shape == (50, 1, 6, 5)
    assert np.shares_memory(x, images)
    np.testing.assert_array_equal(x[:, 0], images)
    with pytest.raises(ValueError, match=r"\(N, H, W\), got shape \(6, 5\).*image\[None, None\]"):
        add_channel_axis(images[0])
    with pytest.raises(ValueError, match=r"got shape \(50, 1, 6, 5\)"):
        add_channel_axis(x)


def test_one_hot_puts_a_single_one_per_row():
    y = np.array([3, 0, 9, 3])
    Y = one_hot(y)
    assert Y.shape == (4, 10) and Y.dtype == np.float64
    np.testing.assert_array_equal(Y.sum(axis=1), 1)
    np.testing.assert_array_equal(Y.argmax(axis=1), y)
    assert one_hot(np.array([], dtype=np.int64)).shape == (0, 10)
    with pytest.raises(ValueError, match=r"0\.\.9, got 0\.\.10"):
        one_hot(np.array([0, 10]))
    with pytest.raises(ValueError, match="integer labels of shape"):
        one_hot(np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="positive integer"):
        one_hot(y, n_classes=0)
