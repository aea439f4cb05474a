"""Gradient checking: compare analytic gradients with centred finite differences.

For a scalar function ``f`` the centred difference

    df/dx_i  ~  (f(x + h e_i) - f(x - h e_i)) / (2h)

has an error of order ``h^2``; in float64 with ``h = 1e-5`` a correct backward pass agrees to
about ``1e-9`` or better, a wrong one rarely better than ``1e-3``. Check in float64 (float32's
rounding alone gives errors near ``1e-3``) and with continuous random inputs, so that max pooling
has no ties and ReLU no input exactly at its kink.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["numerical_gradient", "rel_error", "check_layer"]


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-5, df=None) -> np.ndarray:
    """Centred-difference gradient of ``f`` at ``x`` (``x`` is perturbed in place and restored).

    ``f(x)`` returns a scalar, or an array when ``df`` (the upstream gradient, same shape as
    ``f(x)``) is given; then the gradient of ``sum(f(x) * df)`` is returned.
    """
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
        raise TypeError(f"numerical_gradient needs a floating NumPy array, got {getattr(x, 'dtype', type(x).__name__)}")
    if x.dtype != np.float64:
        raise TypeError(f"numerical_gradient needs float64 input (float32 rounding swamps the difference), got {x.dtype}")

    def scalar(value) -> float:
        return float(np.sum(value * df)) if df is not None else float(value)

    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        try:
            x[idx] = old + h
            plus = scalar(f(x))
            x[idx] = old - h
            minus = scalar(f(x))
        finally:  # restored even when f raises: the caller's array is left as it was given
            x[idx] = old
        grad[idx] = (plus - minus) / (2 * h)
    return grad


def rel_error(a, b) -> float:
    """``max |a - b| / max(1e-8, max(|a| + |b|))``: the largest error relative to the gradient's scale.

    Scaling by the largest magnitude (not element by element) keeps entries whose true gradient
    is zero, where finite differences leave noise of ~1e-11, from dominating the figure.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error: shapes differ, {a.shape} vs {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b)) / max(1e-8, float(np.max(np.abs(a) + np.abs(b)))))


def _params(layer) -> tuple[dict, Callable[[], dict]]:
    if callable(getattr(layer, "params", None)):  # a Sequential
        return layer.params(), layer.grads
    return getattr(layer, "params", {}), lambda: getattr(layer, "grads", {})


def check_layer(layer, x: np.ndarray, labels=None, h: float = 1e-5, seed: int = 0) -> dict[str, float]:
    """Compare every analytic gradient of ``layer`` with the numerical one.

    For an ordinary layer the scalar checked is ``sum(forward(x) * dout)`` with a fixed random
    ``dout``; for a loss (``labels`` given) it is ``forward(x, labels)``. Returns the relative
    error per name: ``"x"`` for the input and each parameter's key (``"W"``, ``"0.W"``, ...).
    """
    if labels is None:
        out = layer.forward(x)
        dout = np.random.default_rng(seed).standard_normal(out.shape)
        dx = layer.backward(dout)
        f = lambda: layer.forward(x)  # noqa: E731
    else:
        dout = None
        layer.forward(x, labels)
        dx = layer.backward()
        f = lambda: layer.forward(x, labels)  # noqa: E731
    params, grads = _params(layer)
    analytic = {"x": dx, **{k: g.copy() for k, g in grads().items()}}
    errors = {"x": rel_error(analytic["x"], numerical_gradient(lambda _: f(), x, h, dout))}
    for name, value in params.items():
        errors[name] = rel_error(analytic[name], numerical_gradient(lambda _: f(), value, h, dout))
    return errors
