"""Gradient checking: compare analytic gradients with centred finite differences.

For a scalar function ``f`` the centred difference

    df/dx_i  ~  (f(x + h e_i) - f(x - h e_i)) / (2h)

has an error of order ``h^2``; in float64 with ``h = 1e-5`` a correct backward pass agrees to
about ``1e-9`` or better, a wrong one rarely better than ``1e-3``. Check in float64 (float32's
rounding alone gives errors near ``1e-3``) and with continuous random inputs, so that max pooling
has no ties and ReLU no input exactly at its kink.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["numerical_gradient", "rel_error", "check_layer"]


def numerical_gradient(
    f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-5, df=None
) -> np.ndarray:
    """Centred-difference gradient of ``f`` at ``x`` (``x`` is perturbed in place and restored).

    ``f(x)`` returns a scalar, or an array when ``df`` (the upstream gradient, same shape as
    ``f(x)``) is given; then the gradient of ``sum(f(x) * df)`` is returned.
    """
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
        raise TypeError(
            f"numerical_gradient needs a floating NumPy array, got {getattr(x, 'dtype', type(x).__name__)}"
        )
    if x.dtype != np.float64:
        raise TypeError(
            f"numerical_gradient needs float64 input (float32 rounding swamps the difference), got {x.dtype}"
        )

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


def _mapping(layer, name: str) -> dict:
    value = getattr(layer, name, None)
    if value is None:
        return {}
    return value if isinstance(value, dict) else value()  # a dict, or a method returning one


def _params(layer) -> tuple[dict, Callable[[], dict]]:
    """The layer's parameters and a function returning its gradients (any layer, any nesting)."""
    return _mapping(layer, "params"), lambda: _mapping(layer, "grads")


def _generators(layer) -> list[np.random.Generator]:
    """The random generators of ``layer`` and of the layers inside it (Dropout's ``rng``)."""
    found = [layer.rng] if isinstance(getattr(layer, "rng", None), np.random.Generator) else []
    for inner in getattr(layer, "layers", None) or ():
        found += _generators(inner)
    return found


def _replaying(layer, forward: Callable[[], object]) -> Callable[[], object]:
    """``forward`` made repeatable: every call restarts the layers' generators where they were.

    A layer that draws random numbers (Dropout's mask) then sees the same draw in each of the
    finite-difference evaluations as in the analytic pass, so its gradient can be checked in
    training mode.
    """
    generators = _generators(layer)
    states = [g.bit_generator.state for g in generators]

    def replay():
        for g, state in zip(generators, states, strict=False):
            g.bit_generator.state = state
        return forward()

    return replay


def _sampled_error(
    f, value: np.ndarray, analytic: np.ndarray, h: float, dout, entries: int, rng
) -> float:
    """:func:`rel_error` on ``entries`` randomly chosen entries of ``value`` (all if it has fewer)."""
    if value.dtype != np.float64:
        raise TypeError(
            f"check_layer needs float64 arrays (float32 rounding swamps the difference), got {value.dtype}"
        )
    if value.size <= entries:
        return rel_error(analytic, numerical_gradient(lambda _: f(), value, h, dout))
    picked = rng.choice(value.size, size=entries, replace=False)
    numeric = np.empty(entries)
    scalar = (lambda out: float(np.sum(out * dout))) if dout is not None else float
    for n, flat in enumerate(picked):
        idx = np.unravel_index(flat, value.shape)
        old = value[idx]
        try:
            value[idx] = old + h
            plus = scalar(f())
            value[idx] = old - h
            minus = scalar(f())
        finally:  # never leave the array perturbed, even when f raises
            value[idx] = old
        numeric[n] = (plus - minus) / (2 * h)
    return rel_error(np.asarray(analytic).ravel()[picked], numeric)


def check_layer(
    layer, x: np.ndarray, labels=None, h: float = 1e-5, seed: int = 0, entries: int | None = None
) -> dict[str, float]:
    """Compare every analytic gradient of ``layer`` with the numerical one.

    For an ordinary layer the scalar checked is ``sum(forward(x) * dout)`` with a fixed random
    ``dout``; for a loss (``labels`` given) it is ``forward(x, labels)``. Returns the relative
    error per name: ``"x"`` for the input and each parameter's key (``"W"``, ``"0.W"``,
    ``"2.0.W"`` in a nested model, ...). Any :class:`~scratchcnn.layers.Layer` works, a whole
    model too, in the mode it is in: a layer with a random generator (``Dropout`` in training
    mode) has it restarted before every forward pass, so each pass draws the same mask.

    ``entries`` limits the check to that many randomly chosen entries of each array (drawn with
    ``seed``): two forward passes per entry make a full check of a large layer slow.
    """
    if labels is None:
        f = _replaying(layer, lambda: layer.forward(x))
        out = f()
        dout = np.random.default_rng(seed).standard_normal(out.shape)
        dx = layer.backward(dout)
    else:
        dout = None
        f = _replaying(layer, lambda: layer.forward(x, labels))
        f()
        dx = layer.backward()
    params, grads = _params(layer)
    analytic = {"x": dx, **{k: g.copy() for k, g in grads().items()}}
    if entries is not None:
        if isinstance(entries, bool) or not isinstance(entries, (int, np.integer)) or entries < 1:
            raise ValueError(
                f"check_layer: entries must be a positive integer or None, got {entries!r}"
            )
        pick = np.random.default_rng(seed + 1)
        errors = {"x": _sampled_error(f, x, analytic["x"], h, dout, int(entries), pick)}
        for name, value in params.items():
            errors[name] = _sampled_error(f, value, analytic[name], h, dout, int(entries), pick)
        return errors
    errors = {"x": rel_error(analytic["x"], numerical_gradient(lambda _: f(), x, h, dout))}
    for name, value in params.items():
        errors[name] = rel_error(analytic[name], numerical_gradient(lambda _: f(), value, h, dout))
    return errors
