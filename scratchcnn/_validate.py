"""Input checks shared by the layers: every message names what was expected and what arrived."""

from __future__ import annotations

import numpy as np

FLOAT_DTYPES = (np.float32, np.float64)


class NonFiniteError(ValueError):
    """An array that must be finite holds NaN or infinity."""


def as_float_dtype(dtype) -> np.dtype:
    """``dtype`` as a NumPy dtype, refusing anything but float32 and float64."""
    dt = np.dtype(dtype)
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    return dt


def check_array(
    x, who: str, layout: str, ndim: int | None, dtype=None, finite: bool = True
) -> None:
    """Check that ``x`` is a (by default finite) floating array with ``ndim`` axes (any if None).

    ``layout`` names the axes for the message, e.g. ``"(N, C, H, W)"``. When ``dtype`` is given
    (the layer's parameter dtype), ``x`` must have it: mixing float32 and float64 silently
    upcasts and slows everything down.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{who} expected a NumPy array {layout}, got {type(x).__name__}")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{who} expected input {layout}, got shape {x.shape}")
    if x.dtype not in FLOAT_DTYPES:
        hint = (
            " (scale the images first: scratchcnn.preprocess.scale01)"
            if x.dtype == np.uint8
            else ""
        )
        raise TypeError(f"{who} expected a float32 or float64 array, got dtype {x.dtype}{hint}")
    if dtype is not None and x.dtype != dtype:
        raise TypeError(
            f"{who} has {dtype} parameters but got {x.dtype} input: convert the input with "
            f"x.astype(np.{dtype}) or the layer with .astype(np.{x.dtype})"
        )
    if finite:
        check_finite(x, who)


def check_finite(x: np.ndarray, who: str) -> None:
    """Refuse NaN and infinity (one cheap sum first, the full scan only when it is not finite)."""
    if not np.isfinite(np.sum(x, dtype=np.float64)) and not np.isfinite(x).all():
        bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
        raise NonFiniteError(
            f"{who} got {bad} NaN or infinite values in its input of shape {x.shape}"
        )


def check_grad(dout, who: str, shape: tuple, dtype=None) -> None:
    """Check the upstream gradient of ``backward`` against the forward output's shape.

    With ``dtype`` (the layer's parameter dtype) ``dout`` must also be a real floating array:
    integer and bool gradients cannot be accumulated into float parameters in place, and a
    complex one would silently lose its imaginary part.
    """
    if not isinstance(dout, np.ndarray):
        raise TypeError(
            f"{who}.backward expected a NumPy array of shape {shape}, got {type(dout).__name__}"
        )
    if dout.shape != shape:
        raise ValueError(
            f"{who}.backward expected dout of shape {shape} (the forward output), got {dout.shape}"
        )
    if dtype is not None and dout.dtype.kind != "f":
        raise TypeError(
            f"{who}.backward expected a real floating gradient dout ({np.dtype(dtype)}, like the forward "
            f"output), got dtype {dout.dtype}; convert it with dout.astype(np.{np.dtype(dtype)})"
        )


def positive_int(value, name: str, who: str, minimum: int = 1) -> int:
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, (int, np.integer))
        or value < minimum
    ):
        raise ValueError(f"{who}: {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)
