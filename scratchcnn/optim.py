"""Stochastic gradient descent, kept apart from the layers' gradients.

The layers compute gradients; the optimizer alone decides what to do with them. With momentum
``mu``, learning rate ``lr`` and weight decay ``lambda``::

    g = grad + lambda * w
    v = mu * v - lr * g
    w = w + v

(``mu = 0`` is plain SGD: ``w -= lr * g``.)
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["SGD"]


def _real(value, name: str, who: str) -> float:
    """``value`` as a finite Python float. Python and NumPy numbers pass (``np.float32(0.1)``);
    bools, strings, arrays, NaN and infinity are refused, naming the setting."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{who}: {name} must be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{who}: {name} must be a finite number, got {value!r}")
    return value


class SGD:
    """``SGD(lr, momentum=0.0, weight_decay=0.0)``; ``step(params, grads)`` updates in place.

    ``params`` and ``grads`` are dicts with the same keys: a layer's ``layer.params`` and
    ``layer.grads``, or a model's ``model.params()`` and ``model.grads()``.
    """

    def __init__(self, lr: float, momentum: float = 0.0, weight_decay: float = 0.0) -> None:
        lr = _real(lr, "lr", "SGD")
        if not lr > 0:
            raise ValueError(f"SGD: lr must be a positive number, got {lr!r}")
        momentum = _real(momentum, "momentum", "SGD")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"SGD: momentum must be in [0, 1), got {momentum!r}")
        weight_decay = _real(weight_decay, "weight_decay", "SGD")
        if weight_decay < 0:
            raise ValueError(f"SGD: weight_decay must be a finite number >= 0, got {weight_decay!r}")
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.velocity: dict[str, np.ndarray] = {}

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        if params.keys() != grads.keys():
            raise ValueError(f"SGD.step: params and grads have different keys: {sorted(params)} vs {sorted(grads)}")
        for name, w in params.items():
            g = grads[name]
            if g.shape != w.shape:
                raise ValueError(f"SGD.step: gradient {name} has shape {g.shape}, parameter {w.shape}")
            if self.weight_decay:
                g = g + self.weight_decay * w
            if self.momentum:
                v = self.velocity.get(name)
                if v is None:
                    v = self.velocity[name] = np.zeros_like(w)
                v *= self.momentum
                v -= self.lr * g
                w += v
            else:
                w -= self.lr * g

    def __repr__(self) -> str:
        return f"SGD(lr={self.lr}, momentum={self.momentum}, weight_decay={self.weight_decay})"
