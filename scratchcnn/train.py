"""Training and evaluation: mini-batch SGD over shuffled data.

One training step is forward, loss, backward, update; :func:`fit` repeats it over seeded
shuffles of the data. ``batch_size=1`` is the per-sample SGD of the classic tutorials.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from ._validate import NonFiniteError
from .layers import SoftmaxCrossEntropy

__all__ = ["fit", "evaluate", "History"]


@dataclass
class History:
    """What :func:`fit` measured.

    ``step_loss`` has one entry per mini-batch. The per-epoch training loss and accuracy are
    averages over that epoch's mini-batches (the weights changed along the way), so they cost
    nothing extra; the validation figures are measured at the end of each epoch.
    """

    step_loss: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)

    @property
    def epochs(self) -> int:
        return len(self.train_loss)


def _check_data(X, y, who: str, model) -> None:
    if not isinstance(X, np.ndarray) or X.ndim < 2:
        raise ValueError(f"{who}: X must be an array (N, ...), got {getattr(X, 'shape', type(X).__name__)}")
    if X.dtype.kind != "f":
        raise TypeError(f"{who}: X must be floating point, got {X.dtype}; scale the images first (scratchcnn.preprocess)")
    dtype = getattr(model, "dtype", None)
    if dtype is not None and X.dtype != dtype:
        raise TypeError(f"{who}: the model is {dtype} but X is {X.dtype}; use X.astype(np.{dtype}) or model.astype(np.{X.dtype})")
    y = np.asarray(y)
    if y.shape != (len(X),):
        raise ValueError(f"{who}: y must have shape ({len(X)},) to match X {X.shape}, got {y.shape}")
    if y.dtype.kind not in "iu":
        raise TypeError(f"{who}: y must hold integer class labels, got {y.dtype}")


def _diverged(loss: float, params: dict[str, np.ndarray]) -> str | None:
    """Why training cannot go on (a NaN/infinite loss or parameter), or None."""
    if not math.isfinite(loss):
        return f"the loss became {loss}"
    for name, value in params.items():
        if not np.isfinite(np.sum(value, dtype=np.float64)):
            return f"parameter {name} became NaN or infinite"
    return None


def evaluate(model, X: np.ndarray, y: np.ndarray, batch_size: int = 1000) -> tuple[float, float]:
    """Mean cross-entropy loss and accuracy of ``model`` on ``(X, y)``."""
    _check_data(X, y, "evaluate", model)
    loss_fn = SoftmaxCrossEntropy()
    total_loss, correct = 0.0, 0
    for i in range(0, len(X), batch_size):
        logits = model.forward(X[i : i + batch_size])
        labels = y[i : i + batch_size]
        total_loss += loss_fn.forward(logits, labels) * len(labels)
        correct += int((logits.argmax(axis=1) == labels).sum())
    return total_loss / len(X), correct / len(X)


def fit(
    model,
    X: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    optimizer,
    rng,
    X_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    progress: bool = True,
) -> History:
    """Train ``model`` with ``optimizer`` on ``(X, y)``; returns a :class:`History`.

    Each epoch visits the examples in a new order drawn from ``rng`` (a Generator or a seed), so
    a run is reproducible. With ``progress`` one line per epoch sums it up, and a plain-text bar
    (tqdm) shows progress within epochs that last longer than 2 seconds. A loss, parameter or
    activation that becomes NaN or infinite stops training with an error.
    """
    _check_data(X, y, "fit", model)
    if (X_val is None) != (y_val is None):
        raise ValueError("fit: give both X_val and y_val, or neither")
    if X_val is not None:
        _check_data(X_val, y_val, "fit (validation data)", model)
    if not (isinstance(epochs, int) and epochs >= 1 and isinstance(batch_size, int) and batch_size >= 1):
        raise ValueError(f"fit: epochs and batch_size must be positive integers, got {epochs!r} and {batch_size!r}")
    rng = np.random.default_rng(rng)  # a Generator passes through unchanged
    loss_fn = SoftmaxCrossEntropy()
    history = History()
    n = len(X)
    steps = math.ceil(n / batch_size)
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        order = rng.permutation(n)
        seen_loss, correct = 0.0, 0
        # A plain-text bar (it reads the same on a built page), shown only when an epoch takes
        # longer than 2 s: short epochs print just their summary line.
        bar = tqdm(total=steps, desc=f"epoch {epoch}/{epochs}", file=sys.stdout, ascii=True,
                   delay=2.0, mininterval=2.0, leave=False, ncols=80, disable=not progress)
        for step in range(steps):
            idx = order[step * batch_size : (step + 1) * batch_size]
            xb, yb = X[idx], y[idx]
            try:
                logits = model.forward(xb)
                loss = loss_fn.forward(logits, yb)
            except NonFiniteError as err:  # weights so large that activations overflowed
                loss, broken = math.nan, f"activations became NaN or infinite ({err})"
            else:
                model.backward(loss_fn.backward(), input_grad=False)
                params = model.params()
                optimizer.step(params, model.grads())
                broken = _diverged(loss, params)
            if broken:
                bar.close()
                raise FloatingPointError(
                    f"{broken} at epoch {epoch}, step {step + 1}: training diverged. "
                    f"Lower the learning rate (now {getattr(optimizer, 'lr', '?')}), e.g. by a factor of 10."
                )
            history.step_loss.append(loss)
            seen_loss += loss * len(yb)
            correct += int((logits.argmax(axis=1) == yb).sum())
            bar.update(1)
        bar.close()
        history.epoch_seconds.append(time.perf_counter() - start)  # training only, not validation
        history.train_loss.append(seen_loss / n)
        history.train_acc.append(correct / n)
        line = f"epoch {epoch}/{epochs}: train loss {seen_loss / n:.4f}, train accuracy {correct / n:.2%}"
        if X_val is not None:
            val_loss, val_acc = evaluate(model, X_val, y_val)
            history.val_loss.append(val_loss)
            history.val_acc.append(val_acc)
            line += f", validation loss {val_loss:.4f}, validation accuracy {val_acc:.2%}"
        if progress:
            print(f"{line} ({history.epoch_seconds[-1]:.1f} s)")
    return history
