"""Stochastic gradient descent, kept apart from the layers' gradients.

The layers compute gradients; the optimizer alone decides what to do with them. With momentum
``mu``, learning rate ``lr`` and weight decay ``lambda``::

    g = grad + lambda * w
    v = mu * v - lr * g
    w = w + v

(``mu = 0`` is plain SGD: ``w -= lr * g``.)
"""

from __future__ import annotations

import numpy as np

__all__ = ["SGD"]


class SGD:
    """``SGD(lr, momentum=0.0, weight_decay=0.0)``; ``step(params, grads)`` updates in place.

    ``params`` and ``grads`` are dicts with the same keys: a layer's ``layer.params`` and
    ``layer.grads``, or a model's ``model.params()`` and ``model.grads()``.
    """

    def __init__(self, lr: float, momentum: float = 0.0, weight_decay: float = 0.0) -> None:
        if not (isinstance(lr, (int, float)) and lr > 0 and np.isfinite(lr)):
            raise ValueError(f"SGD: lr must be a positive number, got {lr!r}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"SGD: momentum must be in [0, 1), got {momentum!r}")
        if weight_decay < 0:
            raise ValueError(f"SGD: weight_decay must be >= 0, got {weight_decay!r}")
        self.lr, self.momentum, self.weight_decay = float(lr), float(momentum), float(weight_decay)
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
