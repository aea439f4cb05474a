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
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._validate import as_float_dtype, check_array, check_finite, check_grad, positive_int

__all__ = [
    "Layer",
    "Conv2D",
    "MaxPool2D",
    "ReLU",
    "Sigmoid",
    "Flatten",
    "Affine",
    "SoftmaxCrossEntropy",
    "Sequential",
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
            f"{padding}: O = (W - K + 2P) / S + 1 = ({size} - {kernel_size} + 2*{padding}) / {stride} + 1 "
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
    raise TypeError(f"rng must be a numpy Generator, an integer seed or None, got {type(rng).__name__}")


class Layer:
    """Base class: a layer with no parameters unless it sets ``params`` and ``grads``."""

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}

    def forward(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:  # pragma: no cover
        raise NotImplementedError

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def astype(self, dtype) -> "Layer":
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
    two more matrix products and a col2im that adds overlapping windows' gradients back in place.
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
        check_array(x, "Conv2D", f"(N, {self.in_channels}, H, W)", 4, self.dtype)
        n, c, h, w = x.shape
        if c != self.in_channels:
            raise ValueError(f"Conv2D expected input (N, {self.in_channels}, H, W), got shape {x.shape}")
        k, s, p = self.kernel_size, self.stride, self.padding
        _, f, ho, wo = self.output_shape(x.shape)
        if p:
            x = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        # Every K x K window, as a read-only view (no copy): (N, C, H_out, W_out, K, K).
        windows = sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::s, ::s]
        # im2col, transposed: row (c, i, j) holds pixel (i, j) of every window of channel c, over
        # all images. K*K strided copies fill it; no loop over pixels, images or channels.
        cols = np.empty((c * k * k + 1, n, ho, wo), dtype=x.dtype)  # (C*K*K + 1, N, H_out, W_out)
        body = cols[:-1].reshape(c, k, k, n, ho, wo)
        for i in range(k):
            for j in range(k):
                body[:, i, j] = windows[..., i, j].transpose(1, 0, 2, 3)
        cols[-1] = 1.0  # the bias row
        cols = cols.reshape(c * k * k + 1, n * ho * wo)
        wb = np.concatenate([self.params["W"].reshape(f, -1), self.params["b"][:, None]], axis=1)
        out = wb @ cols  # (C_out, N*H_out*W_out)
        self._cols, self._x_shape = cols, (n, c, h, w)
        return out.reshape(f, n, ho, wo).transpose(1, 0, 2, 3)  # (N, C_out, H_out, W_out), a view

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        self._require_forward("_cols")
        n, c, h, w = self._x_shape
        k, s, p = self.kernel_size, self.stride, self.padding
        out_shape = self.output_shape(self._x_shape)  # (N, C_out, H_out, W_out)
        _, f, ho, wo = out_shape
        check_grad(dout, "Conv2D", out_shape, dtype=self.dtype)
        d2 = np.ascontiguousarray(dout.transpose(1, 0, 2, 3)).reshape(f, n * ho * wo)  # (C_out, N*H_out*W_out)
        dwb = d2 @ self._cols.T  # (C_out, C*K*K + 1): [dW | db] in one product
        self.grads["W"][...] = dwb[:, :-1].reshape(self.params["W"].shape)
        self.grads["b"][...] = dwb[:, -1]
        if not input_grad:
            return None
        dcols = self.params["W"].reshape(f, -1).T @ d2  # (C*K*K, N*H_out*W_out)
        dcols = dcols.reshape(c, k, k, n, ho, wo)
        # col2im: add each window offset's gradient back where it was read from. One offset's
        # positions never repeat, so `+=` on the strided view is exact; overlapping windows
        # (stride < kernel) accumulate across offsets.
        dxp = np.zeros((n, c, h + 2 * p, w + 2 * p), dtype=dout.dtype)
        for i in range(k):
            for j in range(k):
                dxp[:, :, i : i + s * (ho - 1) + 1 : s, j : j + s * (wo - 1) + 1 : s] += (
                    dcols[:, i, j].transpose(1, 0, 2, 3)
                )
        return dxp[:, :, p : p + h, p : p + w] if p else dxp


class MaxPool2D(Layer):
    """Max pooling over ``K x K`` windows with stride ``S`` (``S = K`` by default).

    Overlapping windows (``S < K``) work too. The backward pass sends each window's gradient to
    its first maximum in row-major order (see the module docstring) and accumulates where
    overlapping windows share a position.
    """

    def __init__(self, kernel_size: int, stride: int | None = None) -> None:
        super().__init__()
        self.kernel_size = positive_int(kernel_size, "kernel_size", "MaxPool2D")
        self.stride = self.kernel_size if stride is None else positive_int(stride, "stride", "MaxPool2D")
        self._x: np.ndarray | None = None

    def __repr__(self) -> str:
        return f"MaxPool2D(kernel_size={self.kernel_size}, stride={self.stride})"

    def output_shape(self, input_shape: tuple) -> tuple:
        n, c, h, w = input_shape
        k, s = self.kernel_size, self.stride
        return (n, c, conv_output_size(h, k, s), conv_output_size(w, k, s))

    def _views(self, a: np.ndarray, ho: int, wo: int) -> Iterator[np.ndarray]:
        """The K*K strided views of ``a``, one per window offset, in row-major order."""
        k, s = self.kernel_size, self.stride
        for i in range(k):
            for j in range(k):
                yield a[:, :, i : i + s * (ho - 1) + 1 : s, j : j + s * (wo - 1) + 1 : s]

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_array(x, "MaxPool2D", "(N, C, H, W)", 4, finite=False)
        _, _, ho, wo = self.output_shape(x.shape)
        views = self._views(x, ho, wo)
        out = next(views).copy()  # (N, C, H_out, W_out)
        for view in views:
            np.maximum(out, view, out=out)
        self._x, self._out = x, out
        return out

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        self._require_forward("_x")
        x, out = self._x, self._out
        check_grad(dout, "MaxPool2D", out.shape)
        if not input_grad:
            return None
        n, c, h, w = x.shape
        k, s = self.kernel_size, self.stride
        _, _, ho, wo = out.shape
        # Windows that tile the input exactly (S = K, no leftover rows or columns) write every
        # position once, so the result needs no zero-fill and no accumulation.
        tiles = s == k and h == k * ho and w == k * wo
        dx = np.empty_like(x, dtype=dout.dtype) if tiles else np.zeros_like(x, dtype=dout.dtype)
        taken = np.zeros(out.shape, dtype=bool)  # windows whose maximum is already routed
        last = k * k - 1
        for t, (xv, dxv) in enumerate(zip(self._views(x, ho, wo), self._views(dx, ho, wo))):
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


class ReLU(Layer):
    """``max(x, 0)``; its gradient is 1 where ``x > 0`` and 0 elsewhere (0 at ``x = 0``)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_array(x, "ReLU", "of any shape", None, finite=False)
        self._x = x
        return np.maximum(x, 0)

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        self._require_forward("_x")
        check_grad(dout, "ReLU", self._x.shape)
        return dout * (self._x > 0) if input_grad else None


class Sigmoid(Layer):
    """``1 / (1 + exp(-x))``, computed without overflow; its gradient is ``s * (1 - s)``."""

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


class Affine(Layer):
    """Fully connected layer ``x @ W + b`` with ``W`` of shape ``(in_features, out_features)``.

    LeCun initialisation: ``W ~ Normal(0, 1 / in_features)`` (``init="lecun"``, right for the
    logits that feed a softmax), or He's ``2 / in_features`` when a ReLU follows (``init="he"``).
    """

    def __init__(self, in_features: int, out_features: int, rng=None, init: str = "lecun", dtype=np.float32):
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
        self._x = x
        return x @ self.params["W"] + self.params["b"]  # (N, out_features)

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        self._require_forward("_x")
        check_grad(dout, "Affine", (self._x.shape[0], self.out_features))
        np.matmul(self._x.T, dout, out=self.grads["W"])  # (in, out)
        np.sum(dout, axis=0, out=self.grads["b"])
        return dout @ self.params["W"].T if input_grad else None


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


class SoftmaxCrossEntropy:
    """Softmax followed by the mean cross-entropy: ``L = -(1/N) sum_n log p[n, y_n]``.

    ``forward(logits, labels)`` returns the loss as a Python float; ``backward()`` returns
    ``dL/dlogits = (p - onehot(y)) / N``.
    """

    def forward(self, logits: np.ndarray, labels: np.ndarray) -> float:
        check_array(logits, "SoftmaxCrossEntropy", "logits (N, K)", 2)
        labels = np.asarray(labels)
        n, k = logits.shape
        if labels.shape != (n,):
            raise ValueError(f"SoftmaxCrossEntropy expected labels of shape ({n},) for logits {logits.shape}, got {labels.shape}")
        if labels.dtype.kind not in "iu":
            raise TypeError(f"SoftmaxCrossEntropy expected integer class labels, got dtype {labels.dtype}")
        if n and (labels.min() < 0 or labels.max() >= k):
            raise ValueError(f"SoftmaxCrossEntropy: labels must lie in [0, {k}), got values from {labels.min()} to {labels.max()}")
        logp = log_softmax(logits)  # (N, K)
        self._p, self._labels = np.exp(logp), labels
        return float(-logp[np.arange(n), labels].mean())

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


class Sequential:
    """Layers applied in order. ``params()``/``grads()`` name each array ``"<index>.<key>"``."""

    def __init__(self, layers: Iterable[Layer]) -> None:
        self.layers = list(layers)
        for i, layer in enumerate(self.layers):
            if not (hasattr(layer, "forward") and hasattr(layer, "backward")):
                raise TypeError(f"Sequential: item {i} ({type(layer).__name__}) has no forward/backward")

    def forward(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x)
        return x

    __call__ = forward

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """Backpropagate ``dout``; ``input_grad=False`` skips the (unused) gradient of the input."""
        for i in range(len(self.layers) - 1, -1, -1):
            dout = self.layers[i].backward(dout, input_grad=input_grad or i > 0)
        return dout

    def params(self) -> dict[str, np.ndarray]:
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in layer.params.items()}

    def grads(self) -> dict[str, np.ndarray]:
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in layer.grads.items()}

    def astype(self, dtype) -> "Sequential":
        for layer in self.layers:
            layer.astype(dtype)
        return self

    @property
    def dtype(self) -> np.dtype | None:
        return next((layer.dtype for layer in self.layers if layer.dtype is not None), None)

    def predict(self, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """Predicted class of every input: the argmax of the logits, computed in batches."""
        return np.concatenate(
            [self.forward(x[i : i + batch_size]).argmax(axis=1) for i in range(0, len(x), batch_size)]
        ) if len(x) else np.zeros(0, dtype=np.int64)

    def summary(self, input_shape: tuple) -> str:
        """A table of each layer's output shape and parameter count for ``input_shape``."""
        x = np.zeros(input_shape, dtype=self.dtype or np.float32)
        rows, total = [], 0
        for layer in self.layers:
            x = layer.forward(x)
            count = sum(v.size for v in layer.params.values())
            total += count
            rows.append((repr(layer), str(x.shape), f"{count:,}"))
        rows.append(("total", "", f"{total:,}"))
        w_name = max(len(r[0]) for r in rows) + 2
        w_shape = max(len("output shape"), *(len(r[1]) for r in rows)) + 2
        w_count = max(len("parameters"), *(len(r[2]) for r in rows))
        lines = [f"{'layer':<{w_name}}{'output shape':<{w_shape}}{'parameters':>{w_count}}"]
        lines += [f"{name:<{w_name}}{shape:<{w_shape}}{count:>{w_count}}" for name, shape, count in rows]
        return "\n".join(lines)

    def __repr__(self) -> str:
        inner = ",\n".join(f"    {layer!r}" for layer in self.layers)
        return f"Sequential([\n{inner},\n])"
