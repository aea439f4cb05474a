"""Training and evaluation: mini-batch SGD over shuffled data.

One training step is forward, loss, backward, update; :func:`fit` repeats it over seeded
shuffles of the data. ``batch_size=1`` is the per-sample SGD of the classic tutorials.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from ._validate import NonFiniteError, positive_int
from .layers import SoftmaxCrossEntropy

__all__ = ["fit", "evaluate", "History", "resolve_blas_threads"]

# BLAS threads during fit. OpenBLAS's worker threads spin while they wait, so on a machine with
# more runnable threads than cores (a classroom server, two notebooks at once) a multi-threaded
# small matrix product can get many times slower than a single-threaded one; measured here with
# two trainings at once on 2 cores (see book/setup.md, "Speed on a busy machine"), 2 threads
# collapsed and 1 did not. The book's models multiply small matrices, so one thread costs little
# even on a quiet machine. fit therefore limits BLAS to BLAS_THREADS unless told otherwise:
# fit(..., blas_threads=2), or the environment variable SCRATCHCNN_BLAS_THREADS=2; 0 (or "auto")
# leaves BLAS's own setting alone.
BLAS_THREADS = 1
BLAS_THREADS_ENV = "SCRATCHCNN_BLAS_THREADS"


def resolve_blas_threads(requested: int | str | None = None) -> int | None:
    """The BLAS thread limit ``fit`` uses: ``requested``, else ``$SCRATCHCNN_BLAS_THREADS``, else 1.

    Returns a positive count, or None for "leave BLAS alone" (``0`` or ``"auto"``).
    """
    source = "blas_threads"
    if requested is None:
        requested = os.environ.get(BLAS_THREADS_ENV, "").strip() or BLAS_THREADS
        source = BLAS_THREADS_ENV
    if isinstance(requested, str):
        text = requested.strip().lower()
        if text == "auto":
            return None
        if not text.isdigit():
            raise ValueError(
                f"fit: {source} must be a count of threads >= 0 or 'auto', got {requested!r}"
            )
        requested = int(text)
    if (
        isinstance(requested, (bool, np.bool_))
        or not isinstance(requested, (int, np.integer))
        or requested < 0
    ):
        raise ValueError(
            f"fit: {source} must be a count of threads >= 0 or 'auto', got {requested!r}"
        )
    return int(requested) or None


def _blas_limit(requested):
    """A context in which BLAS uses :func:`resolve_blas_threads` threads (nothing for None)."""
    threads = resolve_blas_threads(requested)
    return (
        contextlib.nullcontext() if threads is None else threadpool_limits(threads, user_api="blas")
    )


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


def _check_data(X, y, who: str, model, what: str = "X") -> np.ndarray:
    """Validate ``(X, y)`` once, before any update; return ``y`` as an integer array.

    Refuses an empty data set, non-float or non-finite images (saying where the first NaN or
    infinity is), labels that are not integers, do not match ``X`` in length or do not lie in
    ``0..classes-1`` (``classes`` is the model's number of outputs when it can say).
    """
    if not isinstance(X, np.ndarray) or X.ndim < 2:
        raise ValueError(
            f"{who}: {what} must be a NumPy array (N, ...), got {getattr(X, 'shape', type(X).__name__)}"
        )
    if len(X) == 0:
        raise ValueError(
            f"{who}: {what} holds no examples (shape {X.shape}); pass at least one image"
        )
    if X.dtype.kind != "f":
        raise TypeError(
            f"{who}: {what} must be floating point, got {X.dtype}; scale the images first (scratchcnn.preprocess)"
        )
    dtype = getattr(model, "dtype", None)
    if dtype is not None and X.dtype != dtype:
        raise TypeError(
            f"{who}: the model is {dtype} but {what} is {X.dtype}; use {what}.astype(np.{dtype}) or model.astype(np.{X.dtype})"
        )
    if not np.isfinite(np.sum(X, dtype=np.float64)):
        finite = np.isfinite(X)
        if not finite.all():
            first = tuple(int(i) for i in np.argwhere(~finite)[0])
            nan, bad = int(np.isnan(X).sum()), int(X.size - np.count_nonzero(finite))
            kinds = "NaN" if nan == bad else ("infinite" if nan == 0 else "NaN or infinite")
            examples = int(np.count_nonzero(~finite.reshape(len(X), -1).all(axis=1)))
            raise ValueError(
                f"{who}: the data {what} contains {bad} {kinds} values in {examples} of its {len(X)} examples, "
                f"the first at {what}[{', '.join(map(str, first))}]. This is not the learning rate: fix or drop "
                f"those examples (np.isfinite({what}).all(axis=tuple(range(1, {what}.ndim))) marks the good ones)"
            )
    label = "y" if what == "X" else "y" + what[1:]
    y = np.asarray(y)
    if y.shape != (len(X),):
        raise ValueError(
            f"{who}: {label} must have shape ({len(X)},) to match {what} {X.shape}, got {y.shape}"
        )
    if y.dtype.kind not in "iu":
        raise TypeError(f"{who}: {label} must hold integer class labels, got {y.dtype}")
    classes = _classes(model, X.shape)
    low, high = int(y.min()), int(y.max())
    if low < 0 or (classes is not None and high >= classes):
        top = (
            f"{classes - 1} (the model has {classes} outputs)"
            if classes is not None
            else "the last class"
        )
        wrong = np.flatnonzero((y < 0) | (y >= (classes if classes is not None else np.inf)))
        raise ValueError(
            f"{who}: labels in {label} must lie in 0..{top}; {len(wrong)} do not, the first "
            f"{label}[{wrong[0]}] = {y[wrong[0]]}. Nothing was trained: fix the labels or the model's output size"
        )
    return y


def _classes(model, input_shape: tuple) -> int | None:
    """The model's number of outputs (classes) for inputs of ``input_shape``, or None if it cannot say."""
    try:
        shape = model.output_shape((1, *input_shape[1:]))
        return int(shape[-1]) if len(shape) == 2 else None
    except Exception:
        return None


# Divergence. A NaN or infinity ends training at once. Weights can also grow without bound and
# never overflow (a dead ReLU network under a huge learning rate sits at a loss near ln(classes)
# with weights hundreds of times their initial size), so two more signs are watched:
# - the loss, averaged over the last LOSS_WINDOW steps, above LOSS_FACTOR times where it started
#   (an untrained classifier starts near ln(classes));
# - a parameter whose root-mean-square grew past WEIGHT_FACTOR times its initial one (or past
#   WEIGHT_FACTOR * WEIGHT_FLOOR for a small initialisation; biases that start at zero are not compared).
# Healthy runs of the book's model (lr up to 0.2, momentum 0.9, either input scaling) stay below a
# growth of 13 and a windowed loss of 5: the thresholds leave a wide margin.
LOSS_WINDOW = 10
LOSS_FACTOR = 10.0
WEIGHT_FACTOR = 100.0
WEIGHT_FLOOR = 0.1


def _rms(value: np.ndarray) -> float:
    """Root-mean-square of ``value`` in one pass with no temporary (a BLAS dot product): inf if the
    squares overflow or a value is not finite, NaN for NaN."""
    if not value.size:
        return 0.0
    flat = value.reshape(-1)
    with np.errstate(over="ignore", invalid="ignore"):
        return math.sqrt(float(np.dot(flat, flat)) / flat.size)


class _Watch:
    """Decides after each step whether training diverged; see the thresholds above."""

    def __init__(self, params: dict[str, np.ndarray], classes: int | None) -> None:
        self.start = {name: _rms(v) for name, v in params.items()}
        self.classes = classes
        self.first_loss: float | None = None
        self.recent: list[float] = []

    def __call__(self, loss: float, params: dict[str, np.ndarray]) -> str | None:
        if not math.isfinite(loss):
            return f"the loss became {loss}"
        if self.first_loss is None:
            self.first_loss = loss
        self.recent = (self.recent + [loss])[-LOSS_WINDOW:]
        base = max(
            self.first_loss,
            math.log(self.classes) if self.classes and self.classes > 1 else 0.0,
            1e-3,
        )
        mean = sum(self.recent) / len(self.recent)
        if len(self.recent) == LOSS_WINDOW and mean > LOSS_FACTOR * base:
            return (
                f"the loss averaged {mean:.4g} over the last {LOSS_WINDOW} steps, more than "
                f"{LOSS_FACTOR:g} times its value at the start ({base:.3g})"
            )
        for name, value in params.items():
            now = _rms(value)  # one pass over the parameter: finite, and how large
            if not math.isfinite(now) and not np.isfinite(value).all():
                return f"parameter {name} became NaN or infinite"
            start = self.start.get(name, 0.0)
            if start > 0:
                if now > WEIGHT_FACTOR * max(start, WEIGHT_FLOOR):
                    return (
                        f"parameter {name} grew to {now / start:.3g} times its initial size "
                        f"(root-mean-square {start:.3g} -> {now:.3g})"
                    )
        return None


def _train_mode(model, training: bool) -> bool | None:
    """Switch ``model`` to training or evaluation mode (Dropout reads it); return the old mode."""
    was = getattr(model, "training", None)
    switch = getattr(model, "train", None)
    if callable(switch):
        switch(training)
    return was


def evaluate(model, X: np.ndarray, y: np.ndarray, batch_size: int = 1000) -> tuple[float, float]:
    """Mean cross-entropy loss and accuracy of ``model`` on ``(X, y)``, in evaluation mode."""
    y = _check_data(X, y, "evaluate", model)
    batch_size = positive_int(batch_size, "batch_size", "evaluate")
    loss_fn = SoftmaxCrossEntropy()
    total_loss, correct = 0.0, 0
    was = _train_mode(model, False)
    try:
        for i in range(0, len(X), batch_size):
            logits = model.forward(X[i : i + batch_size])
            labels = y[i : i + batch_size]
            total_loss += loss_fn.forward(logits, labels) * len(labels)
            correct += int((logits.argmax(axis=1) == labels).sum())
    finally:
        if was is not None:
            _train_mode(model, was)
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
    blas_threads: int | str | None = None,
) -> History:
    """Train ``model`` with ``optimizer`` on ``(X, y)``; returns a :class:`History`.

    Each epoch visits the examples in a new order drawn from ``rng`` (a Generator or a seed), so
    a run is reproducible. With ``progress`` one line per epoch sums it up, and a plain-text bar
    (tqdm) shows progress within epochs that last longer than 2 seconds. The model trains in
    training mode (``model.train()``) and is evaluated in evaluation mode (``model.eval()``).

    Everything is checked before the first update: ``X`` (and ``X_val``) non-empty, floating and
    finite (NaN in the data is reported as such, with where), ``y`` integer labels of the right
    length in ``0..classes-1``. Training stops with a ``FloatingPointError`` that says "training
    diverged" and suggests a lower learning rate when a loss, parameter or activation becomes NaN
    or infinite, when the loss stays far above where it started, or when a parameter grows past a
    hundred times its initial size (``LOSS_FACTOR``, ``WEIGHT_FACTOR``).

    ``blas_threads`` limits the threads of BLAS (the matrix products) while ``fit`` runs: by
    default 1, or ``$SCRATCHCNN_BLAS_THREADS``; ``0`` or ``"auto"`` leaves BLAS's own setting.
    One thread never collapses on a busy machine, where several spinning BLAS threads per
    training can make each step many times slower (book/setup.md, "Speed on a busy machine").
    """
    epochs = positive_int(epochs, "epochs", "fit")  # NumPy integers too: np.int64(2)
    batch_size = positive_int(batch_size, "batch_size", "fit")
    y = _check_data(X, y, "fit", model)  # once, up front: nothing is updated before it passes
    if (X_val is None) != (y_val is None):
        raise ValueError("fit: give both X_val and y_val, or neither")
    if X_val is not None:
        y_val = _check_data(X_val, y_val, "fit (validation data)", model, what="X_val")
    limit = _blas_limit(blas_threads)  # refuses a bad setting before anything runs
    with limit:
        return _fit(model, X, y, epochs, batch_size, optimizer, rng, X_val, y_val, progress)


def _fit(model, X, y, epochs, batch_size, optimizer, rng, X_val, y_val, progress) -> History:
    """The training loop of :func:`fit`, on data that it has checked."""
    rng = np.random.default_rng(rng)  # a Generator passes through unchanged
    loss_fn = SoftmaxCrossEntropy()
    history = History()
    classes = _classes(model, X.shape)
    diverged = _Watch(model.params(), classes)
    # The labels were checked once against the model's outputs, when it can say how many: then
    # the loss skips checking them again on every batch.
    loss_of = loss_fn.forward if classes is None else loss_fn._forward
    _train_mode(model, True)
    n = len(X)
    steps = math.ceil(n / batch_size)
    # The data were checked once above (dtype, finite values, labels) and every batch is a slice of
    # them, so after the first step, which the model's own forward checks, the forward pass skips
    # the input checks that walk whole arrays (model._forward, where the model has one).
    forward = model.forward
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        order = rng.permutation(n)
        seen_loss, correct = 0.0, 0
        # A plain-text bar (it reads the same on a built page), shown only when an epoch takes
        # longer than 2 s: short epochs print just their summary line.
        bar = tqdm(
            total=steps,
            desc=f"epoch {epoch}/{epochs}",
            file=sys.stdout,
            ascii=True,
            delay=2.0,
            mininterval=2.0,
            leave=False,
            ncols=80,
            disable=not progress,
        )
        for step in range(steps):
            idx = order[step * batch_size : (step + 1) * batch_size]
            xb, yb = X[idx], y[idx]
            try:
                logits = forward(xb)
                forward = getattr(model, "_forward", model.forward)
                loss = loss_of(logits, yb)
            except NonFiniteError as err:  # weights so large that activations overflowed
                loss, broken = math.nan, f"activations became NaN or infinite ({err})"
            else:
                model.backward(loss_fn.backward(), input_grad=False)
                params = model.params()
                optimizer.step(params, model.grads())
                broken = diverged(loss, params)
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
            val_loss, val_acc = evaluate(model, X_val, y_val)  # back in training mode after
            history.val_loss.append(val_loss)
            history.val_acc.append(val_acc)
            line += f", validation loss {val_loss:.4f}, validation accuracy {val_acc:.2%}"
        if progress:
            print(f"{line} ({history.epoch_seconds[-1]:.1f} s)")
    return history
