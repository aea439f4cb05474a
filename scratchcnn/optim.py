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

__all__ = ["SGD", "Adam"]


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
            raise ValueError(
                f"SGD: weight_decay must be a finite number >= 0, got {weight_decay!r}"
            )
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.velocity: dict[str, np.ndarray] = {}

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        if params.keys() != grads.keys():
            raise ValueError(
                f"SGD.step: params and grads have different keys: {sorted(params)} vs {sorted(grads)}"
            )
        for name, w in params.items():
            g = grads[name]
            if g.shape != w.shape:
                raise ValueError(
                    f"SGD.step: gradient {name} has shape {g.shape}, parameter {w.shape}"
                )
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


class Adam:
    """``Adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)`` (Kingma & Ba 2015).

    The same ``step(params, grads)`` as :class:`SGD`, in place. For each parameter ``w`` with
    gradient ``g``, at step ``t = 1, 2, ...`` (derived in chapter 9)::

        g = grad + weight_decay * w          (L2 weight decay, as torch.optim.Adam does)
        m = beta1 * m + (1 - beta1) * g      (running mean of the gradient)
        v = beta2 * v + (1 - beta2) * g**2   (running mean of its square)
        m_hat = m / (1 - beta1**t)           (bias correction: m and v start at 0)
        v_hat = v / (1 - beta2**t)
        w = w - lr * m_hat / (sqrt(v_hat) + eps)

    ``m``, ``v`` and ``t`` are kept per parameter name in ``state``.
    """

    def __init__(
        self,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        if not (isinstance(lr, (int, float)) and lr > 0 and np.isfinite(lr)):
            raise ValueError(f"Adam: lr must be a positive number, got {lr!r}")
        try:
            beta1, beta2 = (float(b) for b in betas)
        except (TypeError, ValueError):
            raise ValueError(f"Adam: betas must be a pair of numbers, got {betas!r}") from None
        if not (0.0 <= beta1 < 1.0 and 0.0 <= beta2 < 1.0):
            raise ValueError(f"Adam: betas must both be in [0, 1), got {betas!r}")
        if not (isinstance(eps, (int, float)) and eps >= 0):
            raise ValueError(f"Adam: eps must be >= 0, got {eps!r}")
        if not (isinstance(weight_decay, (int, float)) and weight_decay >= 0):
            raise ValueError(f"Adam: weight_decay must be >= 0, got {weight_decay!r}")
        self.lr, self.betas, self.eps = float(lr), (beta1, beta2), float(eps)
        self.weight_decay = float(weight_decay)
        self.state: dict[str, dict] = {}

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        if params.keys() != grads.keys():
            raise ValueError(
                f"Adam.step: params and grads have different keys: {sorted(params)} vs {sorted(grads)}"
            )
        beta1, beta2 = self.betas
        for name, w in params.items():
            g = grads[name]
            if g.shape != w.shape:
                raise ValueError(
                    f"Adam.step: gradient {name} has shape {g.shape}, parameter {w.shape}"
                )
            if self.weight_decay:
                g = g + self.weight_decay * w
            state = self.state.get(name)
            if state is None:
                state = self.state[name] = {"t": 0, "m": np.zeros_like(w), "v": np.zeros_like(w)}
            state["t"] += 1
            t, m, v = state["t"], state["m"], state["v"]
            m *= beta1
            m += (1 - beta1) * g
            v *= beta2
            v += (1 - beta2) * (g * g)
            # w -= lr * m_hat / (sqrt(v_hat) + eps), with m_hat = m / (1 - beta1^t) and
            # v_hat = v / (1 - beta2^t); the order of operations is torch.optim.Adam's.
            denom = np.sqrt(v) / math.sqrt(1 - beta2**t) + self.eps  # (python floats keep float32)
            w -= (self.lr / (1 - beta1**t)) * (m / denom)

    def __repr__(self) -> str:
        return f"Adam(lr={self.lr}, betas={self.betas}, eps={self.eps}, weight_decay={self.weight_decay})"
