"""Counting arithmetic and measuring time: the tools of the speed chapter and the benchmark.

Two questions decide whether a layer is fast: how much arithmetic it has to do, and how fast
this machine can do arithmetic. This module answers both, and times code fairly.

FLOP convention
---------------
A floating-point operation (FLOP) is one addition, multiplication or comparison. A multiply-add
counts as **2 FLOPs**, the convention behind every published GEMM rate: the product of an
``(m, k)`` and a ``(k, n)`` matrix costs ``2*m*k*n`` FLOPs. A convolution output is a sum of
``C_in*K*K`` products plus the bias, exactly ``C_in*K*K`` multiplies and ``C_in*K*K`` adds, so
a convolution costs ``2 * C_in*K*K * C_out*H_out*W_out`` FLOPs per image, bias included.

Public API (all counts are per sample, all times in seconds)
------------------------------------------------------------
``conv_flops(in_channels, out_channels, kernel_size, out_h, out_w)``
    FLOPs of one convolution's forward pass for one image.
``affine_flops(in_features, out_features)``
    FLOPs of ``x @ W + b`` for one sample.
``model_flops(model, input_shape, input_grad=False) -> FlopCount``
    Walks a :class:`~scratchcnn.layers.Sequential` (or a list of layers; nested models are
    expanded) for one input of shape ``(C, H, W)`` and asks every layer for its forward and
    backward FLOPs (``layer.flops``); ``.forward``,
    ``.backward``, ``.step`` (forward + backward) are the totals, ``.table()`` prints them.
``measure_gemm_gflops(m=1024, k=None, n=None, *, dtype=np.float32, repeat=5, seed=0)``
    This machine's matrix-multiply rate in GFLOP/s (best of ``repeat`` products): for square
    matrices, the practical arithmetic limit of anything NumPy does.
``time_it(fn, repeat=5, number=1, warmup=1) -> Timing``
    Calls ``fn()`` and returns the best, median and all per-call times.
``time_interleaved(fns, repeat=5, number=1, warmup=1) -> dict[str, Timing]``
    Times several functions in turns (a, b, c, a, b, c, ...), so that a machine whose speed
    drifts from second to second slows all of them alike; compare figures taken in one call.
``profile_layers(model, x, labels, repeat=10) -> list[LayerTiming]``
    Where a training step's time goes: every layer's forward and backward pass (and the loss),
    each timed on the very arrays it sees in the step, best of ``repeat`` interleaved rounds.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from .layers import Sequential, Sigmoid, SoftmaxCrossEntropy

__all__ = [
    "conv_flops",
    "affine_flops",
    "model_flops",
    "FlopCount",
    "LayerFlops",
    "measure_gemm_gflops",
    "time_it",
    "time_interleaved",
    "Timing",
    "profile_layers",
    "LayerTiming",
]

# FLOPs per element of the sigmoid, forward and backward (each layer counts itself: see
# model_flops and the layers' ``flops`` methods).
SIGMOID_FORWARD_PER_ELEMENT = Sigmoid.forward_flops  # exp, add, divide, select
SIGMOID_BACKWARD_PER_ELEMENT = (
    Sigmoid.backward_flops
)  # s * (1 - s) * dout: one subtract, two multiplies


def _count(value, name: str, who: str, minimum: int = 1) -> int:
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, (int, np.integer))
        or value < minimum
    ):
        raise ValueError(f"{who}: {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def conv_flops(
    in_channels: int, out_channels: int, kernel_size: int, out_h: int, out_w: int
) -> int:
    """Forward FLOPs of one convolution for one image: ``2 * C_in*K*K * C_out*H_out*W_out``.

    Each of the ``C_out*H_out*W_out`` outputs is ``b + sum`` of ``C_in*K*K`` products: that is
    ``C_in*K*K`` multiplies and ``C_in*K*K`` adds (the last one adds the bias).
    """
    who = "conv_flops"
    c = _count(in_channels, "in_channels", who)
    f = _count(out_channels, "out_channels", who)
    k = _count(kernel_size, "kernel_size", who)
    ho, wo = _count(out_h, "out_h", who), _count(out_w, "out_w", who)
    return 2 * c * k * k * f * ho * wo


def affine_flops(in_features: int, out_features: int) -> int:
    """Forward FLOPs of ``x @ W + b`` for one sample: ``2 * in_features * out_features``."""
    d = _count(in_features, "in_features", "affine_flops")
    m = _count(out_features, "out_features", "affine_flops")
    return 2 * d * m


@dataclass(frozen=True)
class LayerFlops:
    """One layer's FLOPs per sample. ``output_shape`` is per sample, e.g. ``(8, 26, 26)``."""

    name: str
    output_shape: tuple
    forward: int
    backward: int


@dataclass(frozen=True)
class FlopCount:
    """The FLOPs per sample of every layer of a model, and their totals."""

    layers: tuple[LayerFlops, ...]

    @property
    def forward(self) -> int:
        return sum(layer.forward for layer in self.layers)

    @property
    def backward(self) -> int:
        return sum(layer.backward for layer in self.layers)

    @property
    def step(self) -> int:
        """Forward plus backward: the arithmetic of one training sample (the update aside)."""
        return self.forward + self.backward

    def table(self) -> str:
        """The counts as a plain-text table, one row per layer and a total."""
        width = max([len("layer")] + [len(layer.name) for layer in self.layers]) + 2
        rows = [f"{'layer':<{width}}{'output':<14}{'forward':>12}{'backward':>12}"]
        for layer in self.layers:
            rows.append(
                f"{layer.name:<{width}}{str(layer.output_shape):<14}{layer.forward:>12,}{layer.backward:>12,}"
            )
        rows.append(f"{'total':<{width + 14}}{self.forward:>12,}{self.backward:>12,}")
        return "\n".join(rows)


def _layer_rows(layers, shape: tuple, input_grad: bool, prefix: str | None = None):
    """``LayerFlops`` rows of ``layers`` for one input of per-sample ``shape``, and the output shape.

    Each layer counts itself (its ``flops`` and ``output_shape`` methods, on a batch of one); a
    nested :class:`~scratchcnn.layers.Sequential` is expanded into its layers' rows, and then
    every row's name starts with its path of indices (``"1.0 Conv2D(...)"``).
    """
    if prefix is None:  # the top level: paths only when something is nested
        prefix = "" if any(isinstance(layer, Sequential) for layer in layers) else None
    rows = []
    for i, layer in enumerate(layers):
        grad = input_grad or i > 0
        if isinstance(layer, Sequential):
            inner, shape = _layer_rows(layer.layers, shape, grad, prefix=f"{prefix or ''}{i}.")
            rows += inner
            continue
        counter = getattr(layer, "flops", None)
        if not callable(counter):
            raise TypeError(
                f"model_flops does not know how to count {type(layer).__name__}: give it a method "
                "flops(input_shape, input_grad=True) (scratchcnn.layers.Layer declares it)"
            )
        batch = (1,) + shape
        fwd, bwd = counter(batch, input_grad=grad)
        shape = tuple(int(d) for d in layer.output_shape(batch)[1:])
        name = repr(layer) if prefix is None else f"{prefix}{i} {layer!r}"  # "1.0 Conv2D(...)"
        rows.append(LayerFlops(name, shape, int(fwd), int(bwd)))
    return rows, shape


def model_flops(model, input_shape: tuple, input_grad: bool = False) -> FlopCount:
    """Count the FLOPs per sample of every layer of ``model`` for one input of ``input_shape``.

    ``model`` is a :class:`~scratchcnn.layers.Sequential` or a list of layers; ``input_shape``
    is the shape of ONE sample, ``(C, H, W)`` (no batch axis). Nothing is computed: the counts
    follow from the shapes, and each layer gives its own through its ``flops`` method (a new
    layer counts itself; a nested ``Sequential`` is expanded into its layers, each named by its
    path of indices, ``"0.1 ReLU()"``).

    Forward: convolution and affine layers as in :func:`conv_flops` and :func:`affine_flops`;
    ReLU one FLOP per element, Sigmoid four; max pooling ``K*K - 1`` comparisons per window;
    Flatten none. Backward: a convolution's or affine layer's weight gradient costs as much as its
    forward pass, its bias gradient one add per output value, and its input gradient as much as
    the forward pass again (plus, for the convolution, one add per im2col entry: col2im).
    Elementwise layers cost one FLOP per element (Sigmoid three), max pooling one per window
    position.

    ``input_grad=False`` (the default) skips the first layer's input gradient, as
    ``Sequential.backward(..., input_grad=False)`` does in training: nobody needs the gradient
    of the images.
    """
    layers = model.layers if isinstance(model, Sequential) else model
    if not isinstance(layers, (list, tuple)):
        raise TypeError(
            f"model_flops expected a Sequential or a list of layers, got {type(model).__name__}"
        )
    if not isinstance(input_shape, tuple) or not all(
        isinstance(d, (int, np.integer)) and d > 0 for d in input_shape
    ):
        raise ValueError(
            f"model_flops expected the shape of one sample as a tuple of positive ints, got {input_shape!r}"
        )
    if len(input_shape) == 4:
        raise ValueError(
            f"model_flops counts per sample: give the shape of one input, (C, H, W), without the batch "
            f"axis; got the 4-axis shape {input_shape} (use {input_shape[1:]})"
        )
    rows, _ = _layer_rows(layers, tuple(int(d) for d in input_shape), input_grad)
    return FlopCount(tuple(rows))


@dataclass(frozen=True)
class Timing:
    """Seconds per call of a timed function: the ``best`` and ``median`` of ``times``.

    The best is the least disturbed run (what the code can do); the median is the typical run
    on a busy machine. Quote the one you mean, and compare figures taken side by side.
    """

    best: float
    median: float
    times: tuple[float, ...]


def _timed_calls(
    fn: Callable[[], object], number: int, clock: Callable[[], float] = time.perf_counter
) -> float:
    start = clock()
    for _ in range(number):
        fn()
    return (clock() - start) / number


def _timing_args(repeat, number, warmup, who: str) -> tuple[int, int, int]:
    return (
        _count(repeat, "repeat", who),
        _count(number, "number", who),
        _count(warmup, "warmup", who, minimum=0),
    )


def time_it(fn: Callable[[], object], repeat: int = 5, number: int = 1, warmup: int = 1) -> Timing:
    """Time ``fn()``: ``warmup`` untimed calls, then ``repeat`` runs of ``number`` calls each.

    Returns the seconds per call of every run (``times``), their minimum (``best``) and their
    median. The garbage collector is paused while timing, as :mod:`timeit` does.
    """
    if not callable(fn):
        raise TypeError(f"time_it expected a function of no arguments, got {type(fn).__name__}")
    _timing_args(repeat, number, warmup, "time_it")
    return time_interleaved({"fn": fn}, repeat, number, warmup)["fn"]


def time_interleaved(
    fns: Mapping[str, Callable[[], object]],
    repeat: int = 5,
    number: int = 1,
    warmup: int = 1,
    clock: Callable[[], float] | None = None,
) -> dict[str, Timing]:
    """Time several functions in turns; returns ``{name: Timing}`` (seconds per call).

    Every round runs each function ``number`` times, in the order given; ``repeat`` rounds
    follow each other. Interleaving spreads a slow patch of a busy machine over all the
    functions instead of penalising whichever happened to run during it.

    ``clock`` is the wall clock (``time.perf_counter``) by default; ``time.thread_time`` counts
    only this thread's CPU time, which on a busy machine leaves out the time the thread waited
    for a core (right for single-threaded code, such as the layers under ``fit``'s one BLAS thread).
    """
    clock = time.perf_counter if clock is None else clock
    if not isinstance(fns, Mapping) or not fns:
        raise TypeError(
            "time_interleaved expected a non-empty dict {name: function of no arguments}"
        )
    for name, fn in fns.items():
        if not callable(fn):
            raise TypeError(f"time_interleaved: {name!r} is a {type(fn).__name__}, not a function")
    repeat, number, warmup = _timing_args(repeat, number, warmup, "time_interleaved")
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeat):
            for name, fn in fns.items():
                times[name].append(_timed_calls(fn, number, clock))
    finally:
        if gc_was_enabled:
            gc.enable()
    return {
        name: Timing(best=min(ts), median=statistics.median(ts), times=tuple(ts))
        for name, ts in times.items()
    }


def measure_gemm_gflops(
    m: int = 1024,
    k: int | None = None,
    n: int | None = None,
    *,
    dtype=np.float32,
    repeat: int = 5,
    seed: int = 0,
) -> float:
    """This machine's matrix-multiply rate, in GFLOP/s, for an ``(m, k) @ (k, n)`` product.

    ``k`` and ``n`` default to ``m`` (a square product, which BLAS runs near the processor's
    peak: the practical limit for arithmetic from NumPy). Returns ``2*m*k*n / best time / 1e9``
    over ``repeat`` products, after one untimed product that lets BLAS start its threads.
    Thin shapes such as a convolution's ``(8, 9) @ (9, 43264)`` run far below the square rate:
    they move more memory per FLOP.
    """
    m = _count(m, "m", "measure_gemm_gflops")
    k = m if k is None else _count(k, "k", "measure_gemm_gflops")
    n = m if n is None else _count(n, "n", "measure_gemm_gflops")
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise TypeError(f"measure_gemm_gflops: dtype must be float32 or float64, got {dt}")
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, k)).astype(dt)
    b = rng.standard_normal((k, n)).astype(dt)
    out = np.empty((m, n), dtype=dt)
    timing = time_it(lambda: np.matmul(a, b, out=out), repeat=repeat, number=1, warmup=1)
    return 2.0 * m * k * n / timing.best / 1e9


@dataclass(frozen=True)
class LayerTiming:
    """Seconds per batch of one layer's ``forward`` and ``backward`` (best of the rounds)."""

    name: str
    forward: float
    backward: float

    @property
    def total(self) -> float:
        return self.forward + self.backward


def profile_layers(
    model: Sequential,
    x: np.ndarray,
    labels: np.ndarray,
    repeat: int = 10,
    clock: Callable[[], float] | None = None,
    fuse: bool = True,
) -> list[LayerTiming]:
    """Time each layer of ``model`` (and the loss) in a training step on the batch ``(x, labels)``.

    One forward and backward pass records what every layer receives (its input, and the
    gradient that reaches it); then each layer's ``forward`` and ``backward`` are timed on
    exactly those arrays, all of them in ``repeat`` interleaved rounds (see
    :func:`time_interleaved`), and the best round is kept. As in training, the first layer skips
    the gradient of its input (``input_grad=False``). The last row, ``SoftmaxCrossEntropy``,
    is the loss. The parameters are not changed (no optimizer step is taken). ``clock`` as in
    :func:`time_interleaved` (``time.thread_time`` on a busy machine, with one BLAS thread).

    The rows add up to slightly less than a timed step: a whole step also pays for Python's
    calls between layers and for caches that one layer's output evicts before the next reads it.

    The layers run as the model runs them in training (``Sequential._steps``): after the first
    layer, without the input checks (their ``_forward``), and fused steps as one row: a ReLU
    followed by a max pooling (``"ReLU() + MaxPool2D(...)"``), with the convolution before them
    where it fuses too (see :class:`~scratchcnn.layers.Sequential`). ``fuse=False`` times every
    layer on its own instead, one row each, as a model without fused steps would run.
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"profile_layers expected a Sequential model, got {type(model).__name__}")
    if not isinstance(x, np.ndarray) or x.ndim < 2:
        raise ValueError(
            f"profile_layers expected a batch x of shape (N, ...), got {getattr(x, 'shape', type(x).__name__)}"
        )
    loss_fn = SoftmaxCrossEntropy()
    # The steps as Sequential runs them (fused ones included): (name, forward(a), backward(g, ...)).
    steps = [(name, fwd, bwd) for _, _, name, fwd, bwd in model._steps(False, fuse=fuse)]
    inputs = []
    out = x
    for _, fwd, _ in steps:
        inputs.append(out)
        out = fwd(out)
    loss_fn.forward(out, labels)
    upstream = [None] * len(steps)
    grad = loss_fn.backward()
    for i in range(len(steps) - 1, -1, -1):
        upstream[i] = grad
        grad = steps[i][2](grad, input_grad=i > 0)

    fns: dict[str, Callable[[], object]] = {}
    for i, (_, fwd, bwd) in enumerate(steps):
        fns[f"{i} forward"] = lambda fwd=fwd, a=inputs[i]: fwd(a)
        fns[f"{i} backward"] = lambda bwd=bwd, g=upstream[i], i=i: bwd(g, input_grad=i > 0)
    fns["loss forward"] = lambda: loss_fn.forward(out, labels)
    fns["loss backward"] = loss_fn.backward
    timings = time_interleaved(
        fns, repeat=_count(repeat, "repeat", "profile_layers"), number=1, warmup=1, clock=clock
    )
    rows = [
        LayerTiming(name, timings[f"{i} forward"].best, timings[f"{i} backward"].best)
        for i, (name, _, _) in enumerate(steps)
    ]
    rows.append(
        LayerTiming(repr(loss_fn), timings["loss forward"].best, timings["loss backward"].best)
    )
    return rows
