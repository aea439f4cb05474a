"""Vectorized CNN layers in NumPy.

Every layer has ``forward(x)`` and ``backward(dout)``; ``backward`` returns the gradient of the
loss with respect to the layer's input and, for trainable layers, fills ``grads`` with the same
keys as ``params``. Images are ``(N, C, H, W)``.

Conventions, stated once:

- **Convolution is cross-correlation**, as in every framework (PyTorch, TensorFlow, JAX):
  ``out[n, f, i, j] = b[f] + sum_{c, p, q} W[f, c, p, q] * x[n, c, S*i + p, S*j + q]``.
  The kernel is not flipped.
- Output size along one axis: ``O = (W - K + 2P) // S + 1``.
- **Max pooling's gradient** goes to exactly one position of each window: the *first* maximum in
  row-major order (what ``np.argmax`` returns). Handing it to every tied maximum, as some
  tutorials do, multiplies the gradient of a window with ``t`` ties by ``t`` and is wrong.
- float32 by default; every layer also works in float64 (gradient checks use it). A layer refuses
  input of the other float type rather than silently upcasting.
- ``backward(dout, input_grad=False)`` skips computing the input gradient; ``Sequential`` uses it
  for its first layer during training, where nobody needs the gradient of the images.
- **Checks once, not on every array.** A layer's ``forward`` refuses bad input (wrong shape,
  dtype, NaN) with a message. Inside a :class:`Sequential` only the first layer checks: the others
  receive arrays the model produced itself, through their ``_forward`` (the same computation
  without the checks that walk whole arrays). A ReLU followed by a max pooling runs as one
  step there: pooling first, then the ReLU on the four times smaller result (max commutes with
  ReLU, and the gradient is routed the same way).

The protocol, one for every layer (:class:`Layer` declares it; :class:`Sequential` is a layer too):

- ``forward(x)`` and ``backward(dout, input_grad=True)``;
- ``params`` and ``grads``: dicts with the same keys (``layer.params["W"]``); calling them,
  ``model.params()``, returns the same dict. A ``Sequential``'s are built from its layers',
  named ``"<index>.<key>"`` and recursively so for nested models (``"2.0.W"``);
- ``output_shape(input_shape)`` and ``flops(input_shape, input_grad=True)``, both for a batch
  shape ``(N, ...)``, so that :func:`scratchcnn.perf.model_flops` counts any layer;
- ``train()`` and ``eval()`` set ``training``, which only :class:`Dropout` reads;
  :func:`scratchcnn.train.fit` and :func:`~scratchcnn.train.evaluate` switch it.

A new activation such as ``tanh`` subclasses :class:`Elementwise` and works in ``fit``,
``model_flops`` and ``check_layer`` without touching any other module. Losses have their own
small base, :class:`Loss`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from functools import partial

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._validate import as_float_dtype, check_array, check_finite, check_grad, positive_int

__all__ = [
    "Layer",
    "Elementwise",
    "Loss",
    "Conv2D",
    "MaxPool2D",
    "ReLU",
    "Sigmoid",
    "Flatten",
    "Affine",
    "SoftmaxCrossEntropy",
    "Sequential",
    "Dropout",
    "im2col",
    "col2im",
    "softmax",
    "log_softmax",
    "conv_output_size",
]


def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0) -> int:
    """``O = (W - K + 2P) // S + 1``, refusing a kernel larger than the padded input."""
    span = size + 2 * padding - kernel_size
    if span < 0:
        raise ValueError(
            f"kernel of size {kernel_size} does not fit an input of size {size} with padding "
            f"{padding} (it is larger than the padded input, {size} + 2*{padding}): "
            f"O = (W - K + 2P) / S + 1 = ({size} - {kernel_size} + 2*{padding}) / {stride} + 1 "
            "needs W + 2P >= K; pad the input or use a smaller kernel"
        )
    return span // stride + 1


def _rng(rng) -> np.random.Generator:
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)):
        return np.random.default_rng(int(rng))
    raise TypeError(
        f"rng must be a numpy Generator, an integer seed or None, got {type(rng).__name__}"
    )


def _mapping(layer, name: str) -> dict:
    """``layer.params`` or ``layer.grads`` as a dict (``{}`` for an object without parameters)."""
    value = getattr(layer, name, None)
    if value is None:
        return {}
    return value if isinstance(value, dict) else value()


class ParamDict(dict):
    """A dict of named arrays that can also be called: ``model.params()`` is ``model.params``."""

    def __call__(self) -> ParamDict:
        return self


class Layer:
    """Base class and protocol of every layer (see the module docstring).

    A layer has no parameters unless it sets ``params`` and ``grads`` (dicts with the same keys).
    Subclasses implement ``forward`` and ``backward``, and ``output_shape`` and ``flops`` when
    the layer changes the shape or is not elementwise.
    """

    training: bool = True

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.training = True

    @property
    def params(self) -> ParamDict:
        """Parameter arrays by name (the layer's own arrays: an optimizer updates them in place)."""
        return self.__dict__.setdefault("_params", ParamDict())

    @params.setter
    def params(self, value) -> None:
        self.__dict__["_params"] = ParamDict(value)

    @property
    def grads(self) -> ParamDict:
        """Gradient arrays with the keys of ``params``, filled by ``backward``."""
        return self.__dict__.setdefault("_grads", ParamDict())

    @grads.setter
    def grads(self, value) -> None:
        self.__dict__["_grads"] = ParamDict(value)

    def train(self, mode: bool = True) -> Layer:
        """Training mode (the default): layers such as Dropout behave as in training. Returns self."""
        self.training = bool(mode)
        return self

    def eval(self) -> Layer:
        """Evaluation mode: Dropout becomes the identity. Returns self."""
        return self.train(False)

    def output_shape(self, input_shape: tuple) -> tuple:
        """The output's shape for an input of ``input_shape`` ``(N, ...)``: the same by default."""
        return tuple(input_shape)

    def flops(self, input_shape: tuple, input_grad: bool = True) -> tuple[int, int]:
        """``(forward, backward)`` FLOPs for an input of ``input_shape`` (see :mod:`scratchcnn.perf`)."""
        raise TypeError(
            f"model_flops does not know how to count {type(self).__name__}: give the layer a method "
            "flops(input_shape, input_grad=True) returning (forward FLOPs, backward FLOPs), "
            "or subclass Elementwise for an activation"
        )

    def forward(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(
        self, dout: np.ndarray, input_grad: bool = True
    ) -> np.ndarray | None:  # pragma: no cover
        raise NotImplementedError

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def astype(self, dtype) -> Layer:
        """Convert the parameters to ``dtype`` (float32 or float64) in place; returns ``self``."""
        dt = as_float_dtype(dtype)
        for name, value in self.params.items():
            self.params[name] = value.astype(dt)
        self.grads = {name: np.zeros_like(value) for name, value in self.params.items()}
        return self

    @property
    def dtype(self) -> np.dtype | None:
        """The parameters' dtype, or None for a layer without parameters."""
        return next(iter(self.params.values())).dtype if self.params else None

    def _require_forward(self, attr: str) -> None:
        if getattr(self, attr, None) is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


# Conv2D.backward widens the output gradient to the padded width when its rows are at most this
# long (stride 1): measured here, 14-pixel rows got 1.36 times faster, 26- and 28-pixel rows no
# faster (28 even slower: the product grows with the padded width). Chapter 8 times both.
SHORT_ROWS = 16


def _buffer(cache: dict | None, name: str, shape: tuple, dtype) -> np.ndarray:
    """A zero-filled work array kept in ``cache`` and reused by later calls with the same shape.

    Without a cache (None) a new array is made each time. Only internal arrays live here, never a
    result handed to the caller; a few shapes are kept (training and evaluation batches).
    """
    if cache is None:
        return np.zeros(shape, dtype=dtype)
    key = (name, shape, np.dtype(dtype))
    buf = cache.get(key)
    if buf is None:
        if len(cache) >= 8:
            cache.clear()
        buf = cache[key] = np.zeros(shape, dtype=dtype)
    return buf


def _im2col(x: np.ndarray, k: int, s: int, p: int, ones_row: bool, cache: dict | None = None):
    """im2col with an optional last row of ones (the bias row); returns the matrix, H_out, W_out.

    With a ``cache`` (a layer's dict of buffers) the padded copy of ``x`` and the matrix reuse the
    arrays of the previous call of the same shape: the padding's border is zero once and stays
    so, and every other entry is overwritten.
    """
    n, c, h, w = x.shape
    ho, wo = conv_output_size(h, k, s, p), conv_output_size(w, k, s, p)
    if p:
        xp = _buffer(
            cache, "padded", (n, c, h + 2 * p, w + 2 * p), x.dtype
        )  # (N, C, H + 2P, W + 2P)
        xp[:, :, p : p + h, p : p + w] = x
        x = xp
    # Every K x K window, as a read-only view (no copy): (N, C, H_out, W_out, K, K).
    windows = sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::s, ::s]
    # im2col, transposed: row (c, i, j) holds pixel (i, j) of every window of channel c, over
    # all images. K*K strided copies fill it; no loop over pixels, images or channels.
    rows = c * k * k + int(ones_row)
    cols = _buffer(cache, "cols", (rows, n, ho, wo), x.dtype)  # (C*K*K [+ 1], N, H_out, W_out)
    body = cols[: c * k * k].reshape(c, k, k, n, ho, wo)
    for i in range(k):
        for j in range(k):
            body[:, i, j] = windows[..., i, j].transpose(1, 0, 2, 3)
    if ones_row:
        cols[-1] = 1.0  # the bias row
    return cols.reshape(rows, n * ho * wo), ho, wo


def _im2col_pooled(x: np.ndarray, k: int, p: int, cache: dict | None = None):
    """:func:`_im2col` (with the bias row) for a stride-1 convolution that a 2 x 2 pooling reads.

    The columns come in the order ``(t, n, i, j)`` with ``t = 2a + b``: the output pixel
    ``(2i + a, 2j + b)`` of image ``n``, so that the product's output holds the four positions
    of every pooling window in four contiguous blocks. Two more changes make every copy a long
    contiguous run instead of one short row at a time:

    - the padded input is split into its four *phases*, ``x_padded[r::2, s::2]``: the window
      offset ``(p, q)`` of the output pixels ``(2i + a, 2j + b)`` reads phase
      ``((a + p) % 2, (b + q) % 2)`` at ``(i + (a + p) // 2, j + (b + q) // 2)``, a shifted
      copy of the phase image;
    - the output rows are as wide as a phase image (``Wh = ceil((W + 2P) / 2)`` columns, of
      which the first ``W2 = W_out // 2`` are real), so the shifted copy is one run per image
      and channel. The extra columns hold pixels of the next row: finite numbers that the
      pooling and its gradient ignore.

    Returns the matrix ``(C*K*K + 1, 4*N*H2*Wh)``, ``H2 = H_out // 2``, ``W2`` and ``Wh`` (an
    odd last row or column of the output, which the pooling ignores, is not computed).
    """
    n, c, h, w = x.shape
    hp, wp = h + 2 * p, w + 2 * p
    h2, w2 = (hp - k + 1) // 2, (wp - k + 1) // 2
    hh, wh = (hp + 1) // 2, (wp + 1) // 2  # a phase image's rows and columns
    run = h2 * wh  # one output block of one image and channel
    reach = (k // 2) * (wh + 1) + run  # the furthest entry a window offset reads
    # The four phases, flattened, (4, C, N, Hh*Wh + slack): their padding stays zero.
    phases = _buffer(cache, "phases", (4, c, n, max(hh * wh, reach)), x.dtype)
    for r in range(2):
        for s in range(2):
            i0, j0 = (r - p) % 2, (s - p) % 2  # the first row and column of x in this phase
            u0, v0 = (i0 + p - r) // 2, (j0 + p - s) // 2  # where they land in it
            part = x[:, :, i0::2, j0::2].transpose(1, 0, 2, 3)  # (C, N, rows, columns)
            image = phases[2 * r + s, :, :, : hh * wh].reshape(c, n, hh, wh)
            image[:, :, u0 : u0 + part.shape[2], v0 : v0 + part.shape[3]] = part
    rows = c * k * k + 1
    cols = _buffer(cache, "cols pooled", (rows, 4, n, run), x.dtype)
    body = cols[:-1].reshape(c, k, k, 4, n, run)
    for a in range(2):
        for b in range(2):
            for i in range(k):
                for j in range(k):
                    phase = 2 * ((a + i) % 2) + (b + j) % 2
                    start = ((a + i) // 2) * wh + (b + j) // 2
                    body[:, i, j, 2 * a + b] = phases[phase, :, :, start : start + run]
    cols[-1] = 1.0  # the bias row
    return cols.reshape(rows, 4 * n * run), h2, w2, wh


# The products of a convolution with a small [W | b] (C_out * (C*K*K + 1) at most
# SMALL_WEIGHTS) run over many columns of im2col, where OpenBLAS is far below its speed. Cut
# into blocks of columns whose share of both operands fits BLOCK_BYTES (well inside a 1 MB L2
# cache), the same sums are a stack of small products (np.matmul over a batch axis).
SMALL_WEIGHTS = 512
BLOCK_BYTES = 384 * 1024


def _column_block(rows: int, other: int, length: int, itemsize: int) -> int | None:
    """The columns of a block for a product of ``rows`` and ``other`` rows over ``length``
    columns (a power of two), or None when it should run as one product."""
    if rows * other > SMALL_WEIGHTS:
        return None
    block = 1 << (BLOCK_BYTES // ((rows + other) * itemsize)).bit_length() - 1
    return block if length >= 2 * block else None


def _wide_product(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``a @ b`` into ``out``: the forward product ``[W | b] @ cols``, ``(m, k) @ (k, L)``.

    Measured here (one BLAS thread): 1.9 times as fast in blocks for the book's convolution,
    2.3 times for lenet's first. Each entry is the same dot product as in one product (bit for
    bit with this machine's OpenBLAS).
    """
    m, k = a.shape
    length = b.shape[1]
    block = _column_block(m, k, length, a.itemsize)
    if block is None:
        return np.matmul(a, b, out=out)
    blocks = length // block
    head = blocks * block
    b3 = b[:, :head].reshape(k, blocks, block).transpose(1, 0, 2)  # (blocks, k, block), a view
    np.matmul(a, b3, out=out[:, :head].reshape(m, blocks, block).transpose(1, 0, 2))
    if head < length:
        np.matmul(a, b[:, head:], out=out[:, head:])
    return out


def _long_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b.T`` for ``a`` of shape ``(m, L)`` and ``b`` of ``(n, L)``: the weight gradient.

    The weight gradient of a convolution sums over every output pixel of the batch: the book's
    is ``8 x 10`` over 46,592 columns. In blocks of columns (see ``SMALL_WEIGHTS``) the block
    products are added up at the end: measured here 4.2 times as fast for the book's
    convolution, 1.9 times for lenet's first. Larger results (lenet's second convolution,
    ``32 x 401``) run as one product, where splitting them only costs time. The blocks and the
    order of the sums depend only on the shapes, so a run is reproducible.
    """
    m, length = a.shape
    n = b.shape[0]
    block = _column_block(m, n, length, a.itemsize)
    if block is None:
        # One product, this way round: measured here 0.73 times the time of a @ b.T for
        # lenet's second convolution (32 x 401 over 12,544 columns).
        return (b @ a.T).T
    blocks = length // block
    head = blocks * block
    a3 = a[:, :head].reshape(m, blocks, block).transpose(1, 0, 2)  # (blocks, m, block), a view
    b3 = b[:, :head].reshape(n, blocks, block).transpose(1, 2, 0)  # (blocks, block, n), a view
    out = np.matmul(a3, b3).sum(axis=0)  # (m, n)
    if head < length:
        out += a[:, head:] @ b[:, head:].T
    return out


def _pool_order_pays(conv: Conv2D, pool: MaxPool2D) -> bool:
    """Whether ``conv``, ReLU, ``pool`` should run fused (:meth:`Sequential._steps`).

    The fused step needs a stride-1 convolution and a 2 x 2 pooling with stride 2. It copies the
    im2col matrix in shorter runs (twice as many rows of half the length) and saves the strided
    passes of the pooling over the convolution's output, so it pays when the im2col matrix has
    few rows per output channel:
    ``C_in * K * K <= 4 * C_out``. Measured here (batch 64, float32, one BLAS thread, forward and
    backward without the input gradient): the book's convolution (9 rows for 8 channels) 1.39
    times as fast fused, lenet's first (25 for 16) 1.24 times, 72 rows for 16 channels even,
    lenet's second (400 for 32) 1.12 times slower.
    """
    k = conv.kernel_size
    return (
        pool.kernel_size == pool.stride == 2
        and conv.stride == 1
        and conv.in_channels * k * k <= 4 * conv.out_channels
    )


def _conv_relu_pool(conv: Conv2D, relu: ReLU, pool: MaxPool2D, check: bool):
    """The forward and backward of the fused step ``conv``, ``relu``, ``pool`` (one Sequential step)."""

    def forward(x: np.ndarray) -> np.ndarray:
        if check:  # the model's first layer checks what it is given
            conv._check_input(x)
        width = conv.output_shape(x.shape)[3] // 2
        return pool._forward_pooled(conv._forward_pooled(x), relu, width)

    def backward(dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        return conv._backward_pooled(pool._backward_pooled(dout), input_grad=input_grad)

    return forward, backward


def _window_args(x_shape, kernel_size, stride, padding, who: str) -> tuple[int, int, int]:
    if len(x_shape) != 4:
        raise ValueError(f"{who} expected images (N, C, H, W), got shape {tuple(x_shape)}")
    return (
        positive_int(kernel_size, "kernel_size", who),
        positive_int(stride, "stride", who),
        positive_int(padding, "padding", who, minimum=0),
    )


def im2col(x: np.ndarray, kernel_size: int, stride: int = 1, padding: int = 0) -> np.ndarray:
    """Every ``K x K`` window of a batch of images as a column of one matrix (derived in chapter 8).

    Inputs: ``x`` of shape ``(N, C, H, W)``. Returns ``cols`` of shape
    ``(C*K*K, N*H_out*W_out)``: row ``(c, p, q)`` (channel, row and column inside the window),
    column ``(n, i, j)`` (image, output row, output column), so that
    ``cols[(c, p, q), (n, i, j)] = x_padded[n, c, i*S + p, j*S + q]``. A convolution is then one
    product, ``W.reshape(C_out, -1) @ cols``. The dtype of ``x`` is kept.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"im2col expected a NumPy array (N, C, H, W), got {type(x).__name__}")
    k, s, p = _window_args(x.shape, kernel_size, stride, padding, "im2col")
    return _im2col(x, k, s, p, ones_row=False)[0]


def col2im(
    cols: np.ndarray, x_shape: tuple, kernel_size: int, stride: int = 1, padding: int = 0
) -> np.ndarray:
    """The adjoint of :func:`im2col`: add each column's entries back onto the image they came from.

    Inputs: ``cols`` of shape ``(C*K*K, N*H_out*W_out)`` in :func:`im2col`'s layout and the
    shape ``(N, C, H, W)`` of the (unpadded) images. Returns ``dx`` of shape ``(N, C, H, W)``,
    in which a pixel covered by several windows (stride < kernel) receives the sum of their
    entries, and the padding's entries are dropped. This is the convolution's input gradient
    once ``cols`` is ``W.reshape(C_out, -1).T @ dout``.
    """
    n, c, h, w = x_shape if len(x_shape) == 4 else (None,) * 4
    k, s, p = _window_args(tuple(x_shape), kernel_size, stride, padding, "col2im")
    ho, wo = conv_output_size(h, k, s, p), conv_output_size(w, k, s, p)
    if not isinstance(cols, np.ndarray) or cols.shape != (c * k * k, n * ho * wo):
        got = cols.shape if isinstance(cols, np.ndarray) else type(cols).__name__
        raise ValueError(
            f"col2im expected cols of shape (C*K*K, N*H_out*W_out) = {(c * k * k, n * ho * wo)}, got {got}"
        )
    blocks = cols.reshape(c, k, k, n, ho, wo)
    # Add each window offset's block back where it was read from. One offset's positions never
    # repeat, so `+=` on the strided view is exact; overlapping windows (stride < kernel)
    # accumulate across offsets.
    dxp = np.zeros((n, c, h + 2 * p, w + 2 * p), dtype=cols.dtype)  # (N, C, H + 2P, W + 2P)
    for i in range(k):
        for j in range(k):
            dxp[:, :, i : i + s * (ho - 1) + 1 : s, j : j + s * (wo - 1) + 1 : s] += blocks[
                :, i, j
            ].transpose(1, 0, 2, 3)
    return dxp[:, :, p : p + h, p : p + w] if p else dxp


def _expect_images(
    layer, input_shape: tuple, channels: int | None = None
) -> tuple[int, int, int, int]:
    if len(input_shape) != 4:
        raise ValueError(
            f"model_flops: {layer!r} needs one input of shape (C, H, W), got {tuple(input_shape[1:])}"
        )
    if channels is not None and input_shape[1] != channels:
        raise ValueError(
            f"model_flops: {layer!r} needs {channels} input channels, got shape {tuple(input_shape[1:])}"
        )
    return tuple(input_shape)


class Conv2D(Layer):
    """2-D convolution (cross-correlation) over ``(N, C_in, H, W)`` images.

    Parameters ``W`` of shape ``(C_out, C_in, K, K)`` and ``b`` of shape ``(C_out,)``.

    Initialisation: ``W ~ Normal(0, std^2)`` with ``std = sqrt(2 / fan_in)`` (He et al. 2015,
    ``init="he"``, the right scale when a ReLU follows) or ``std = sqrt(1 / fan_in)`` (LeCun,
    ``init="lecun"``, for sigmoid/tanh or no nonlinearity), where ``fan_in = C_in * K * K``;
    ``b = 0``.

    How it is fast (the book's chapter 8 derives it): the ``K*K*C_in`` shifted views of the input
    (strided windows, no loops over pixels) are copied into one im2col matrix of shape
    ``(C_in*K*K + 1, N*H_out*W_out)`` whose last row is ones, so that a single matrix product with
    ``[W | b]`` computes every output pixel of every image and adds the bias. The backward pass is
    two more matrix products and a col2im that adds overlapping windows' gradients back in place
    (on short rows at stride 1, over rows widened to the padded width: one contiguous add per
    window offset, image and channel).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        rng=None,
        init: str = "he",
        dtype=np.float32,
    ) -> None:
        super().__init__()
        who = "Conv2D"
        self.in_channels = positive_int(in_channels, "in_channels", who)
        self.out_channels = positive_int(out_channels, "out_channels", who)
        self.kernel_size = positive_int(kernel_size, "kernel_size", who)
        self.stride = positive_int(stride, "stride", who)
        self.padding = positive_int(padding, "padding", who, minimum=0)
        if init not in ("he", "lecun"):
            raise ValueError(f"Conv2D: init must be 'he' or 'lecun', got {init!r}")
        dt = as_float_dtype(dtype)
        k = self.kernel_size
        fan_in = self.in_channels * k * k
        std = math.sqrt((2.0 if init == "he" else 1.0) / fan_in)
        w = _rng(rng).standard_normal((self.out_channels, self.in_channels, k, k)) * std
        self.params = {"W": w.astype(dt), "b": np.zeros(self.out_channels, dtype=dt)}
        self.grads = {name: np.zeros_like(v) for name, v in self.params.items()}
        self._cols: np.ndarray | None = None
        self._pooled = False  # the last forward was _forward_pooled (fused inside a Sequential)
        self._buffers: dict = {}  # the padded input and the im2col matrix, reused across steps

    def __repr__(self) -> str:
        return (
            f"Conv2D({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding})"
        )

    def output_shape(self, input_shape: tuple) -> tuple:
        n, c, h, w = input_shape
        k, s, p = self.kernel_size, self.stride, self.padding
        return (n, self.out_channels, conv_output_size(h, k, s, p), conv_output_size(w, k, s, p))

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check_input(x)
        return self._forward(x)

    def _check_input(self, x: np.ndarray) -> None:
        check_array(x, "Conv2D", f"(N, {self.in_channels}, H, W)", 4, self.dtype)
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"Conv2D expected input (N, {self.in_channels}, H, W), got shape {x.shape}"
            )

    def _forward(self, x: np.ndarray) -> np.ndarray:
        """``forward`` without the input checks (for arrays a model produced itself)."""
        n, c, h, w = x.shape
        f = self.out_channels
        # im2col with a last row of ones: (C*K*K + 1, N*H_out*W_out), in a buffer reused next step
        cols, ho, wo = _im2col(
            x, self.kernel_size, self.stride, self.padding, ones_row=True, cache=self._buffers
        )
        wb = self._weights_and_bias()  # (C_out, C*K*K + 1)
        out = _wide_product(
            wb, cols, np.empty((f, cols.shape[1]), cols.dtype)
        )  # (C_out, N*H_out*W_out)
        self._cols, self._x_shape, self._pooled = cols, (n, c, h, w), False
        return out.reshape(f, n, ho, wo).transpose(1, 0, 2, 3)  # (N, C_out, H_out, W_out), a view

    def _weights_and_bias(self) -> np.ndarray:
        """``[W | b]``: the weights as rows of ``C*K*K`` and the bias as one more column."""
        f = self.out_channels
        return np.concatenate([self.params["W"].reshape(f, -1), self.params["b"][:, None]], axis=1)

    def _forward_pooled(self, x: np.ndarray) -> np.ndarray:
        """``_forward`` for a ReLU and a 2 x 2 max pooling after it (:class:`Sequential` fuses them).

        The same product over :func:`_im2col_pooled`'s columns: the output ``(C_out, 4, N, H2, Wh)``
        holds the four positions of each pooling window in four contiguous blocks, which
        :meth:`MaxPool2D._forward_pooled` compares with long runs instead of strided views (its
        first ``W2 = W_out // 2`` columns are the real ones).
        """
        n, c, h, w = x.shape
        f = self.out_channels
        cols, h2, w2, wh = _im2col_pooled(x, self.kernel_size, self.padding, cache=self._buffers)
        wb = self._weights_and_bias()  # (C_out, C*K*K + 1)
        self._cols, self._x_shape, self._pooled = cols, (n, c, h, w), True
        # Only the pooling after it reads this output, within the same step: a reused buffer.
        out = _buffer(self._buffers, "out pooled", (f, cols.shape[1]), cols.dtype)
        _wide_product(wb, cols, out)
        return out.reshape(f, 4, n, h2, wh)  # (C_out, 4, N, H2, Wh); columns w2.. are not real

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        self._require_forward("_cols")
        if self._pooled:
            raise RuntimeError(
                "Conv2D.backward: its last forward ran fused with the ReLU and MaxPool2D after it "
                "inside a Sequential; call the Sequential's backward (or this layer's forward first)"
            )
        n, c, h, w = self._x_shape
        out_shape = self.output_shape(self._x_shape)  # (N, C_out, H_out, W_out)
        _, f, ho, wo = out_shape
        check_grad(dout, "Conv2D", out_shape, dtype=self.dtype)
        d2 = np.ascontiguousarray(dout.transpose(1, 0, 2, 3)).reshape(
            f, n * ho * wo
        )  # (C_out, N*H_out*W_out)
        self._weight_grads(d2)
        return self._input_grad(d2) if input_grad else None

    def _backward_pooled(self, d4: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """``backward`` after :meth:`_forward_pooled`: ``d4`` is ``(C_out, 4, N, H2, Wh)``, zero in
        the columns that are not real."""
        f, _, n, h2, _ = d4.shape
        self._weight_grads(d4.reshape(f, -1))  # the columns are in the same order as d4
        if not input_grad:
            return None
        _, _, ho, wo = self.output_shape(self._x_shape)
        w2 = wo // 2
        d = np.zeros((f, n, ho, wo), dtype=d4.dtype)  # an odd last row or column gets nothing
        for a in range(2):
            for b in range(2):
                d[:, :, a : a + 2 * h2 : 2, b : b + 2 * w2 : 2] = d4[:, 2 * a + b, :, :, :w2]
        return self._input_grad(d.reshape(f, -1))

    def _weight_grads(self, d2: np.ndarray) -> None:
        """``grads`` from the output gradient ``d2``, its columns in the order of ``self._cols``."""
        dwb = _long_product(d2, self._cols)  # (C_out, C*K*K + 1): [dW | db] in one product
        self.grads["W"][...] = dwb[:, :-1].reshape(self.params["W"].shape)
        self.grads["b"][...] = dwb[:, -1]

    def _input_grad(self, d2: np.ndarray) -> np.ndarray:
        """The gradient of the input from ``d2``: ``(C_out, N*H_out*W_out)``, the usual order."""
        k, s, p = self.kernel_size, self.stride, self.padding
        wo = self.output_shape(self._x_shape)[3]
        if s == 1 and wo <= SHORT_ROWS:
            return self._input_grad_stride_1(d2)
        dcols = self.params["W"].reshape(self.out_channels, -1).T @ d2  # (C*K*K, N*H_out*W_out)
        return col2im(dcols, self._x_shape, k, s, p)  # (N, C, H, W)

    def _input_grad_stride_1(self, d2: np.ndarray) -> np.ndarray:
        """The input gradient of a stride-1 convolution: :func:`col2im` with long contiguous adds.

        ``col2im`` adds each window offset's block back one image row at a time: ``W_out``
        numbers per call, so on short rows (``SHORT_ROWS``) the time goes to NumPy's per-row
        overhead, not to the adds. Here the output gradient is first widened to the padded
        width ``W + 2P`` (the extra columns are zero), so each output row starts where an input
        row starts. Then the block of offset ``(i, j)`` is one contiguous run per image and
        channel, added to the flattened padded image shifted by ``i * (W + 2P) + j``. The zero
        columns add zeros onto the pixels after a row's end; the sum is ``col2im``'s, in the
        same order.
        """
        n, c, h, w = self._x_shape
        k, p = self.kernel_size, self.padding
        f = self.out_channels
        hp, wp = h + 2 * p, w + 2 * p
        ho, wo = hp - k + 1, wp - k + 1
        wide = _buffer(self._buffers, "dout wide", (f, n, ho, wp), d2.dtype)
        wide[..., :wo] = d2.reshape(f, n, ho, wo)  # columns wo.. stay zero
        dcols = self.params["W"].reshape(f, -1).T @ wide.reshape(f, -1)  # (C*K*K, N*H_out*Wp)
        blocks = dcols.reshape(c, k * k, n, ho * wp)
        run = ho * wp
        dxp = np.zeros((c, n, hp * wp + k - 1), dtype=d2.dtype)  # flattened padded images
        for i in range(k):
            for j in range(k):
                start = i * wp + j
                dxp[:, :, start : start + run] += blocks[:, i * k + j]
        dxp = dxp[:, :, : hp * wp].reshape(c, n, hp, wp)  # (C, N, H + 2P, W + 2P)
        return dxp[:, :, p : p + h, p : p + w].transpose(1, 0, 2, 3)  # (N, C, H, W), a view

    def flops(self, input_shape: tuple, input_grad: bool = True) -> tuple[int, int]:
        n, c, _, _ = _expect_images(self, input_shape, self.in_channels)
        _, f, ho, wo = self.output_shape(input_shape)
        k = self.kernel_size
        gemm = n * 2 * c * k * k * f * ho * wo  # one multiply-add per weight and output pixel
        # dW is one product as large as the forward, db one add per output; dx is another
        # product, plus one add per im2col entry to put each window back (col2im).
        backward = gemm + n * f * ho * wo + ((gemm + n * c * k * k * ho * wo) if input_grad else 0)
        return gemm, backward


class MaxPool2D(Layer):
    """Max pooling over ``K x K`` windows with stride ``S`` (``S = K`` by default).

    Overlapping windows (``S < K``) work too. The backward pass sends each window's gradient to
    its first maximum in row-major order (see the module docstring) and accumulates where
    overlapping windows share a position.
    """

    def __init__(self, kernel_size: int, stride: int | None = None) -> None:
        super().__init__()
        self.kernel_size = positive_int(kernel_size, "kernel_size", "MaxPool2D")
        self.stride = (
            self.kernel_size if stride is None else positive_int(stride, "stride", "MaxPool2D")
        )
        self._x: np.ndarray | None = None
        self._buffers: dict = {}  # the fused step's gradient for the convolution, reused
        self._after_relu = False  # the last forward ran fused with the ReLU before it (Sequential)

    def __repr__(self) -> str:
        return f"MaxPool2D(kernel_size={self.kernel_size}, stride={self.stride})"

    def output_shape(self, input_shape: tuple) -> tuple:
        n, c, h, w = input_shape
        k, s = self.kernel_size, self.stride
        return (n, c, conv_output_size(h, k, s), conv_output_size(w, k, s))

    def flops(self, input_shape: tuple, input_grad: bool = True) -> tuple[int, int]:
        _expect_images(self, input_shape)
        windows = math.prod(self.output_shape(input_shape))
        k = self.kernel_size
        # K*K - 1 comparisons find a window's maximum; backward compares each of the K*K
        # positions with it and routes the gradient (one FLOP per position).
        return windows * (k * k - 1), windows * k * k if input_grad else 0

    def _views(self, a: np.ndarray, ho: int, wo: int) -> Iterator[np.ndarray]:
        """The K*K strided views of ``a``, one per window offset, in row-major order."""
        k, s = self.kernel_size, self.stride
        for i in range(k):
            for j in range(k):
                yield a[:, :, i : i + s * (ho - 1) + 1 : s, j : j + s * (wo - 1) + 1 : s]

    def _pool(self, x: np.ndarray) -> np.ndarray:
        _, _, ho, wo = self.output_shape(x.shape)
        views = self._views(x, ho, wo)
        out = next(views).copy()  # (N, C, H_out, W_out)
        for view in views:
            np.maximum(out, view, out=out)
        return out

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_array(x, "MaxPool2D", "(N, C, H, W)", 4, finite=False)
        out = self._pool(x)
        self._x, self._out, self._after_relu = x, out, False
        return out

    def _forward_after_relu(self, x: np.ndarray, relu: ReLU) -> np.ndarray:
        """``self.forward(relu.forward(x))`` in one step: pool ``x``, then clip the pooled maxima.

        Max pooling commutes with ReLU (``max(relu(a), relu(b)) = relu(max(a, b))``), so the ReLU
        runs on the ``K*K`` times smaller output. :class:`Sequential` calls it, and then
        :meth:`_backward_through_relu`; ``relu`` keeps its input, so its own backward still works.
        """
        m = self._pool(x)  # the maxima of x itself: (N, C, H_out, W_out)
        relu._x, relu._fused = x, False
        self._x, self._out, self._after_relu = x, m, True
        return np.maximum(m, 0)

    def _forward_pooled(self, y: np.ndarray, relu: ReLU, width: int) -> np.ndarray:
        """ReLU then this 2 x 2 pooling on :meth:`Conv2D._forward_pooled`'s ``(C, 4, N, H2, Wh)``.

        The four positions of every window are four contiguous blocks ``y[:, t]`` (``t = 2a + b``,
        row-major order in the window), so the maxima take three long ``np.maximum`` passes over
        whole rows; the first ``width`` columns are the real ones. As in
        :meth:`_forward_after_relu`, the ReLU runs on the maxima. Returns ``(N, C, H2, width)``.
        """
        m = np.maximum(y[:, 0], y[:, 1])  # (C, N, H2, Wh)
        np.maximum(m, y[:, 2], out=m)
        np.maximum(m, y[:, 3], out=m)
        relu._x = None  # its input never existed as an (N, C, H, W) array: see ReLU.backward
        relu._fused = True
        self._x, self._out, self._width, self._after_relu = y, m, width, True
        out = np.ascontiguousarray(m[..., :width].transpose(1, 0, 2, 3))  # (N, C, H2, W2)
        return np.maximum(out, 0, out=out)

    def _backward_pooled(self, dout: np.ndarray) -> np.ndarray:
        """The gradient of :meth:`_forward_pooled` as ``(C, 4, N, H2, Wh)``, for the convolution.

        Each window's gradient goes to its first maximum (the first block ``t`` that holds it),
        if that maximum is positive, exactly as :meth:`_route` does on strided views. The columns
        that are not real get zero.
        """
        self._require_forward("_x")
        y, m, width = self._x, self._out, self._width
        c, n, h2, wh = m.shape
        check_grad(dout, "MaxPool2D", (n, c, h2, width))
        d = _buffer(self._buffers, "d", m.shape, dout.dtype)  # (C, N, H2, Wh); the rest stays 0
        d[..., :width] = dout.transpose(1, 0, 2, 3)
        d4 = _buffer(self._buffers, "d4", y.shape, d.dtype)  # read only by the convolution
        # Windows whose gradient is routed already; at first those whose maximum is not positive
        # (or NaN): the ReLU passes nothing there.
        taken = ~(m > 0)
        for t in range(4):
            if t < 3:
                hit = y[:, t] == m
                np.greater(hit, taken, out=hit)  # hit and not taken: the first maximum only
                taken |= hit
            else:
                hit = ~taken
            np.multiply(d, hit, out=d4[:, t])
        return d4

    def _backward_through_relu(
        self, dout: np.ndarray, input_grad: bool = True
    ) -> np.ndarray | None:
        """The gradient of ReLU then pooling: each window's gradient goes to its first maximum,
        if that maximum is positive (else the ReLU stopped it), exactly as the two backward passes."""
        self._require_forward("_x")
        check_grad(dout, "MaxPool2D", self._out.shape)
        if not input_grad:
            return None
        return self._route(dout * (self._out > 0))

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        self._require_forward("_x")
        if self._after_relu:
            raise RuntimeError(
                "MaxPool2D.backward: its last forward ran fused with the ReLU before it inside a "
                "Sequential; call the Sequential's backward (or this layer's forward first)"
            )
        check_grad(dout, "MaxPool2D", self._out.shape)
        if not input_grad:
            return None
        return self._route(dout)

    def _route(self, dout: np.ndarray) -> np.ndarray:
        """Send each window's ``dout`` to the window's first maximum in ``self._x``."""
        x, out = self._x, self._out
        n, c, h, w = x.shape
        k, s = self.kernel_size, self.stride
        _, _, ho, wo = out.shape
        # Windows that tile the input exactly (S = K, no leftover rows or columns) write every
        # position once, so the result needs no zero-fill and no accumulation.
        tiles = s == k and h == k * ho and w == k * wo
        dx = np.empty_like(x, dtype=dout.dtype) if tiles else np.zeros_like(x, dtype=dout.dtype)
        taken = np.zeros(out.shape, dtype=bool)  # windows whose maximum is already routed
        last = k * k - 1
        for t, (xv, dxv) in enumerate(
            zip(self._views(x, ho, wo), self._views(dx, ho, wo), strict=False)
        ):
            if t < last:
                hit = xv == out
                np.greater(hit, taken, out=hit)  # hit and not taken: the first maximum only
                taken |= hit
            else:
                hit = ~taken  # every window has a maximum; the rest of them is here
            if tiles:
                np.multiply(dout, hit, out=dxv)
            else:
                dxv += dout * hit
        return dx


class Elementwise(Layer):
    """A layer applied to each element on its own (an activation): the shape is kept.

    ``flops`` counts ``forward_flops`` and ``backward_flops`` per element; a subclass sets the
    two class attributes and writes ``forward`` and ``backward``.
    """

    forward_flops: int = 1
    backward_flops: int = 1

    def flops(self, input_shape: tuple, input_grad: bool = True) -> tuple[int, int]:
        size = math.prod(input_shape)
        return self.forward_flops * size, self.backward_flops * size if input_grad else 0


class ReLU(Elementwise):
    """``max(x, 0)``; its gradient is 1 where ``x > 0`` and 0 elsewhere (0 at ``x = 0``)."""

    _fused = False  # the last forward ran inside a Conv2D + ReLU + MaxPool2D step (Sequential)

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_array(x, "ReLU", "of any shape", None, finite=False)
        self._x, self._fused = x, False
        return np.maximum(x, 0)

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        if self._fused:
            raise RuntimeError(
                "ReLU.backward: its last forward ran fused with the Conv2D before it and the "
                "MaxPool2D after it inside a Sequential; call the Sequential's backward (or this "
                "layer's forward first)"
            )
        self._require_forward("_x")
        check_grad(dout, "ReLU", self._x.shape)
        return dout * (self._x > 0) if input_grad else None


class Sigmoid(Elementwise):
    """``1 / (1 + exp(-x))``, computed without overflow; its gradient is ``s * (1 - s)``."""

    forward_flops = 4  # exp, add, divide, select
    backward_flops = 3  # s * (1 - s) * dout: one subtract, two multiplies

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_array(x, "Sigmoid", "of any shape", None, finite=False)
        e = np.exp(-np.abs(x))  # never overflows
        self._s = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
        return self._s

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        self._require_forward("_s")
        check_grad(dout, "Sigmoid", self._s.shape)
        return dout * self._s * (1 - self._s) if input_grad else None


class Flatten(Layer):
    """``(N, C, H, W) -> (N, C*H*W)`` in C order (a view when the input is contiguous)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not isinstance(x, np.ndarray) or x.ndim < 2:
            got = x.shape if isinstance(x, np.ndarray) else type(x).__name__
            raise ValueError(f"Flatten expected an array (N, ...) with at least 2 axes, got {got}")
        if x.shape[0] == 0:
            raise ValueError(
                f"Flatten expected a batch of at least one example (N >= 1), got shape {x.shape}: "
                "an empty slice of the data (check the batch indices)"
            )
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        self._require_forward("_shape")
        check_grad(dout, "Flatten", (self._shape[0], math.prod(self._shape[1:])))
        return dout.reshape(self._shape) if input_grad else None

    def output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0], math.prod(input_shape[1:]))

    def flops(self, input_shape: tuple, input_grad: bool = True) -> tuple[int, int]:
        return 0, 0


class Affine(Layer):
    """Fully connected layer ``x @ W + b`` with ``W`` of shape ``(in_features, out_features)``.

    LeCun initialisation: ``W ~ Normal(0, 1 / in_features)`` (``init="lecun"``, right for the
    logits that feed a softmax), or He's ``2 / in_features`` when a ReLU follows (``init="he"``).
    """

    def __init__(
        self, in_features: int, out_features: int, rng=None, init: str = "lecun", dtype=np.float32
    ):
        super().__init__()
        self.in_features = positive_int(in_features, "in_features", "Affine")
        self.out_features = positive_int(out_features, "out_features", "Affine")
        if init not in ("he", "lecun"):
            raise ValueError(f"Affine: init must be 'he' or 'lecun', got {init!r}")
        dt = as_float_dtype(dtype)
        std = math.sqrt((2.0 if init == "he" else 1.0) / self.in_features)
        w = _rng(rng).standard_normal((self.in_features, self.out_features)) * std
        self.params = {"W": w.astype(dt), "b": np.zeros(self.out_features, dtype=dt)}
        self.grads = {name: np.zeros_like(v) for name, v in self.params.items()}
        self._x: np.ndarray | None = None

    def __repr__(self) -> str:
        return f"Affine({self.in_features}, {self.out_features})"

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_array(x, "Affine", f"(N, {self.in_features})", 2, self.dtype)
        if x.shape[1] != self.in_features:
            raise ValueError(
                f"Affine expected input (N, {self.in_features}), got shape {x.shape}"
                + (" (add a Flatten layer first?)" if x.ndim != 2 else "")
            )
        return self._forward(x)

    def _forward(self, x: np.ndarray) -> np.ndarray:
        """``forward`` without the input checks (for arrays a model produced itself)."""
        self._x = x
        out = x @ self.params["W"]  # (N, out_features)
        out += self.params["b"]
        return out

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        self._require_forward("_x")
        check_grad(dout, "Affine", (self._x.shape[0], self.out_features))
        np.matmul(self._x.T, dout, out=self.grads["W"])  # (in, out)
        np.sum(dout, axis=0, out=self.grads["b"])
        return dout @ self.params["W"].T if input_grad else None

    def output_shape(self, input_shape: tuple) -> tuple:
        if tuple(input_shape[1:]) != (self.in_features,):
            raise ValueError(
                f"model_flops: {self!r} expects one input of shape ({self.in_features},), "
                f"but the layer before it gives {tuple(input_shape[1:])} (add a Flatten layer first?)"
            )
        return (input_shape[0], self.out_features)

    def flops(self, input_shape: tuple, input_grad: bool = True) -> tuple[int, int]:
        n = self.output_shape(input_shape)[0]
        gemm = n * 2 * self.in_features * self.out_features
        # dW is a product as large as the forward, db one add per output; dx another product.
        return gemm, gemm + n * self.out_features + (gemm if input_grad else 0)


class Dropout(Elementwise):
    """Inverted dropout (Srivastava et al. 2014): in training, zero each input with probability ``p``.

    The survivors are multiplied by ``1 / (1 - p)``, so the expected output equals the input and
    nothing needs rescaling at test time: in evaluation mode (``eval()``) the layer is the
    identity. ``p`` is the probability of *dropping* (PyTorch's convention); ``rng`` is a
    Generator or a seed and draws a new mask on every training forward pass.
    """

    forward_flops = 2  # compare a uniform draw with p, multiply
    backward_flops = 1  # multiply by the same mask

    def __init__(self, p: float = 0.5, rng=None) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
            raise ValueError(
                f"Dropout: p (the probability of dropping) must be in [0, 1), got {p!r}"
            )
        self.p = float(p)
        self.rng = _rng(rng)
        self._mask: np.ndarray | None = None

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_array(x, "Dropout", "of any shape", None, finite=False)
        self._shape = x.shape
        if not self.training or self.p == 0.0:
            self._mask = None
            return x
        keep = self.rng.random(x.shape) >= self.p  # each input survives with probability 1 - p
        self._mask = keep.astype(x.dtype) / x.dtype.type(1.0 - self.p)  # 0 or 1 / (1 - p)
        return x * self._mask

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        self._require_forward("_shape")
        check_grad(dout, "Dropout", self._shape)
        if not input_grad:
            return None
        return dout if self._mask is None else dout * self._mask


def log_softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """``log softmax`` by log-sum-exp: subtracting the maximum first keeps ``exp`` finite."""
    shifted = logits - logits.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Probabilities ``exp(z_k) / sum_j exp(z_j)``, finite even for logits of 1e4."""
    logits = np.asarray(logits)
    if logits.dtype.kind not in "fiu":
        raise TypeError(f"softmax expected a numeric array, got dtype {logits.dtype}")
    logits = logits.astype(np.result_type(logits.dtype, np.float32), copy=False)
    check_finite(logits, "softmax")
    shifted = logits - logits.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)


class Loss:
    """Base of the losses: ``forward(logits, labels)`` returns a float, ``backward()`` dL/dlogits.

    A loss is not a layer (it takes labels and ends the chain), so it has no parameters and no
    mode; ``loss(logits, labels)`` is ``loss.forward(logits, labels)``.
    """

    def forward(
        self, logits: np.ndarray, labels: np.ndarray
    ) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, dout: float = 1.0) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, logits: np.ndarray, labels: np.ndarray) -> float:
        return self.forward(logits, labels)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class SoftmaxCrossEntropy(Loss):
    """Softmax followed by the mean cross-entropy: ``L = -(1/N) sum_n log p[n, y_n]``.

    ``forward(logits, labels)`` returns the loss as a Python float; ``backward()`` returns
    ``dL/dlogits = (p - onehot(y)) / N``.
    """

    def forward(self, logits: np.ndarray, labels: np.ndarray) -> float:
        check_array(logits, "SoftmaxCrossEntropy", "logits (N, K)", 2, finite=False)
        labels = self._check_labels(logits, labels)
        return self._forward(logits, labels)  # it checks that the logits are finite

    def _forward(self, logits: np.ndarray, labels: np.ndarray) -> float:
        """``forward`` for labels that were checked already (``fit`` checks them once)."""
        check_finite(logits, "SoftmaxCrossEntropy")  # overflowing activations stop training
        logp = log_softmax(logits)  # (N, K)
        self._p, self._labels = np.exp(logp), labels
        return float(-logp[np.arange(len(labels)), labels].mean())

    @staticmethod
    def _check_labels(logits: np.ndarray, labels) -> np.ndarray:
        labels = np.asarray(labels)
        n, k = logits.shape
        if labels.shape != (n,):
            raise ValueError(
                f"SoftmaxCrossEntropy expected labels of shape ({n},) for logits {logits.shape}, got {labels.shape}"
            )
        if labels.dtype.kind not in "iu":
            raise TypeError(
                f"SoftmaxCrossEntropy expected integer class labels, got dtype {labels.dtype}"
            )
        if n and (labels.min() < 0 or labels.max() >= k):
            raise ValueError(
                f"SoftmaxCrossEntropy: labels must lie in [0, {k}), got values from {labels.min()} to {labels.max()}"
            )
        return labels

    def backward(self, dout: float = 1.0) -> np.ndarray:
        if getattr(self, "_p", None) is None:
            raise RuntimeError("SoftmaxCrossEntropy.backward called before forward")
        n = self._p.shape[0]
        dlogits = self._p.copy()
        dlogits[np.arange(n), self._labels] -= 1
        dlogits *= dout / n
        return dlogits

    __call__ = forward

    def __repr__(self) -> str:
        return "SoftmaxCrossEntropy()"


class Sequential(Layer):
    """Layers applied in order; itself a :class:`Layer`, so models nest.

    ``params``/``grads`` (or ``params()``/``grads()``) name each array ``"<index>.<key>"``,
    recursively: the ``W`` of layer 0 of a model at index 2 is ``"2.0.W"``. They are built anew
    on each access, but the values are the layers' own arrays.
    """

    def __init__(self, layers: Iterable[Layer]) -> None:
        self.layers = list(layers)
        self.training = True
        for i, layer in enumerate(self.layers):
            if not (hasattr(layer, "forward") and hasattr(layer, "backward")):
                raise TypeError(
                    f"Sequential: item {i} ({type(layer).__name__}) has no forward/backward"
                )

    @property
    def params(self) -> ParamDict:
        return ParamDict(
            (f"{i}.{k}", v)
            for i, layer in enumerate(self.layers)
            for k, v in _mapping(layer, "params").items()
        )

    @params.setter
    def params(self, value) -> None:
        raise AttributeError(
            "Sequential.params is built from its layers: set the layers' params instead"
        )

    @property
    def grads(self) -> ParamDict:
        return ParamDict(
            (f"{i}.{k}", v)
            for i, layer in enumerate(self.layers)
            for k, v in _mapping(layer, "grads").items()
        )

    @grads.setter
    def grads(self, value) -> None:
        raise AttributeError(
            "Sequential.grads is built from its layers: set the layers' grads instead"
        )

    def train(self, mode: bool = True) -> Sequential:
        """Put this model and every layer in it (nested ones too) in training mode; returns self."""
        self.training = bool(mode)
        for layer in self.layers:
            if hasattr(layer, "train"):
                layer.train(mode)
        return self

    def output_shape(self, input_shape: tuple) -> tuple:
        for layer in self.layers:
            input_shape = layer.output_shape(input_shape)
        return tuple(input_shape)

    def flops(self, input_shape: tuple, input_grad: bool = True) -> tuple[int, int]:
        """The layers' FLOPs added up; only the first layer skips its input gradient when asked."""
        fwd = bwd = 0
        for i, layer in enumerate(self.layers):
            f, b = layer.flops(input_shape, input_grad=input_grad or i > 0)
            input_shape = layer.output_shape(input_shape)
            fwd, bwd = fwd + f, bwd + b
        return fwd, bwd

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Apply the layers in order. The first layer checks ``x``; the others skip the checks that
        walk whole arrays (their input is an array this model made), and a ReLU followed by a max
        pooling runs fused (see the module docstring)."""
        return self._run(x, checked=False)

    def _forward(self, x: np.ndarray) -> np.ndarray:
        """``forward`` without checking ``x`` either (data that ``fit`` has checked, or a parent model's array)."""
        return self._run(x, checked=True)

    def _steps(
        self, checked: bool, fuse: bool = True
    ) -> list[tuple[int, int, str, Callable, Callable]]:
        """How the layers run: ``(first, stop, name, forward, backward)`` per step, in order.

        A step is one layer, or layers ``first..stop-1`` fused: a ReLU and the max pooling after
        it, and before them a convolution when the pooling is 2 x 2 with stride 2 and the
        convolution's im2col is small (:func:`_pool_order_pays`). Only the first layer checks its
        input, unless ``checked`` (the caller checked it). :func:`scratchcnn.perf.profile_layers`
        times these same steps; ``fuse=False`` gives one step per layer.
        """
        layers, steps, i = self.layers, [], 0
        while i < len(layers):
            layer, trusted = layers[i], checked or i > 0
            kinds = [type(x) for x in layers[i : i + 3]] if fuse else []
            if kinds == [Conv2D, ReLU, MaxPool2D] and _pool_order_pays(layers[i], layers[i + 2]):
                conv, relu, pool = layers[i : i + 3]
                name = f"{conv!r} + {relu!r} + {pool!r}"
                steps.append((i, i + 3, name, *_conv_relu_pool(conv, relu, pool, not trusted)))
                i += 3
            elif trusted and kinds[:2] == [ReLU, MaxPool2D]:
                relu, pool = layers[i : i + 2]
                forward = partial(pool._forward_after_relu, relu=relu)
                steps.append(
                    (i, i + 2, f"{relu!r} + {pool!r}", forward, pool._backward_through_relu)
                )
                i += 2
            else:
                forward = getattr(layer, "_forward", layer.forward) if trusted else layer.forward
                steps.append((i, i + 1, repr(layer), forward, layer.backward))
                i += 1
        return steps

    def _run(self, x: np.ndarray, checked: bool) -> np.ndarray:
        steps = self._steps(checked)
        for _, _, _, forward, _ in steps:
            x = forward(x)
        self._last_steps = steps  # what backward runs, in reverse
        return x

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """Backpropagate ``dout``; ``input_grad=False`` skips the (unused) gradient of the input."""
        steps = getattr(self, "_last_steps", None)
        if steps is None:
            steps = self._steps(checked=False)  # backward before forward: the layers say so
        for first, _, _, _, backward in reversed(steps):
            dout = backward(dout, input_grad=input_grad or first > 0)
        return dout

    @property
    def _fused(self) -> list[int]:
        """Indices of the ReLUs that ran fused with the layers around them in the last forward."""
        return [
            i
            for first, stop, _, _, _ in getattr(self, "_last_steps", ())
            for i in range(first, stop)
            if stop - first > 1 and type(self.layers[i]) is ReLU
        ]

    def astype(self, dtype) -> Sequential:
        for layer in self.layers:
            layer.astype(dtype)
        return self

    @property
    def dtype(self) -> np.dtype | None:
        return next((layer.dtype for layer in self.layers if layer.dtype is not None), None)

    def predict(self, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """Predicted class of every input: the argmax of the logits, in batches, in eval mode.

        The model is put back in the mode it was in (training or evaluation) afterwards.
        """
        was_training = self.training
        self.eval()
        try:
            return (
                np.concatenate(
                    [
                        self.forward(x[i : i + batch_size]).argmax(axis=1)
                        for i in range(0, len(x), batch_size)
                    ]
                )
                if len(x)
                else np.zeros(0, dtype=np.int64)
            )
        finally:
            self.train(was_training)

    def summary(self, input_shape: tuple) -> str:
        """A table of each layer's output shape and parameter count for ``input_shape``."""
        x = np.zeros(input_shape, dtype=self.dtype or np.float32)
        rows, total = [], 0
        for layer in self.layers:
            x = layer.forward(x)
            count = sum(v.size for v in _mapping(layer, "params").values())
            total += count
            rows.append((repr(layer), str(x.shape), f"{count:,}"))
        rows.append(("total", "", f"{total:,}"))
        w_name = max(len(r[0]) for r in rows) + 2
        w_shape = max(len("output shape"), *(len(r[1]) for r in rows)) + 2
        w_count = max(len("parameters"), *(len(r[2]) for r in rows))
        lines = [f"{'layer':<{w_name}}{'output shape':<{w_shape}}{'parameters':>{w_count}}"]
        lines += [
            f"{name:<{w_name}}{shape:<{w_shape}}{count:>{w_count}}" for name, shape, count in rows
        ]
        return "\n".join(lines)

    def __repr__(self) -> str:
        inner = ",\n".join(f"    {layer!r}" for layer in self.layers)
        return f"Sequential([\n{inner},\n])"
