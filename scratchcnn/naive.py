"""The layers written with explicit loops, one image and one window at a time.

These are the versions the chapters derive first, because every index is visible. They are slow
(a training step of the book's model takes milliseconds per image) and serve as the reference
that the vectorized layers in :mod:`scratchcnn.layers` are tested against.

Shapes: images ``x`` are ``(N, C, H, W)``, conv weights ``W`` are ``(F, C, K, K)``, affine
weights are ``(D, M)`` (``x @ W + b``). Convolution is cross-correlation (no kernel flip).
"""

from __future__ import annotations

import math

import numpy as np

from .layers import conv_output_size
from .optim import SGD

__all__ = [
    "conv_forward_naive",
    "conv_backward_naive",
    "maxpool_forward_naive",
    "maxpool_backward_naive",
    "relu_forward_naive",
    "relu_backward_naive",
    "affine_forward_naive",
    "affine_backward_naive",
    "softmax_naive",
    "softmax_cross_entropy_naive",
    # the book's whole model, one image at a time (chapters 6 and 8)
    "naive_gradients",
    "naive_step",
    # references of the exercise checks (scratchcnn.check), written as plainly as the layers above
    "output_size",
    "corr2d_naive",
    "pool_forward_naive",
    "log_softmax_naive",
    "softmax_rows_naive",
    "im2col_naive",
    "col2im_naive",
]


def _pad(x: np.ndarray, padding: int) -> np.ndarray:
    return np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding))) if padding else x


# The output-size formula O = (W - K + 2P) // S + 1 is written once, in scratchcnn.layers
# (conv_output_size): the loops below call it, and so does every layer.
_out_size = conv_output_size


def conv_forward_naive(x, W, b, stride: int = 1, padding: int = 0) -> np.ndarray:
    """``out[n, f, i, j] = b[f] + sum(window * W[f])`` for every window, by loops."""
    n_img, _, h, w = x.shape
    n_filt, _, k, _ = W.shape
    xp = _pad(x, padding)
    ho, wo = _out_size(h, k, stride, padding), _out_size(w, k, stride, padding)
    out = np.zeros((n_img, n_filt, ho, wo), dtype=np.result_type(x, W))  # (N, F, H_out, W_out)
    for n in range(n_img):
        for f in range(n_filt):
            for i in range(ho):
                for j in range(wo):
                    window = xp[
                        n, :, i * stride : i * stride + k, j * stride : j * stride + k
                    ]  # (C, K, K)
                    out[n, f, i, j] = np.sum(window * W[f]) + b[f]
    return out


def conv_backward_naive(dout, x, W, stride: int = 1, padding: int = 0):
    """Gradients ``(dx, dW, db)`` of the convolution, window by window.

    Each output pixel ``out[n, f, i, j]`` was ``sum(window * W[f]) + b[f]``, so its upstream
    gradient ``g`` adds ``g * window`` to ``dW[f]``, ``g * W[f]`` to the window's place in
    ``dx``, and ``g`` to ``db[f]``. Overlapping windows simply add up.
    """
    n_img, _, h, w = x.shape
    n_filt, _, k, _ = W.shape
    xp = _pad(x, padding)
    _, _, ho, wo = dout.shape
    dxp, dW, db = np.zeros_like(xp), np.zeros_like(W), np.zeros(n_filt, dtype=W.dtype)
    for n in range(n_img):
        for f in range(n_filt):
            for i in range(ho):
                for j in range(wo):
                    g = dout[n, f, i, j]
                    rows = slice(i * stride, i * stride + k)
                    cols = slice(j * stride, j * stride + k)
                    dW[f] += g * xp[n, :, rows, cols]
                    dxp[n, :, rows, cols] += g * W[f]
                    db[f] += g
    dx = dxp[:, :, padding : padding + h, padding : padding + w] if padding else dxp
    return dx, dW, db


def maxpool_forward_naive(x, kernel_size: int = 2, stride: int | None = None) -> np.ndarray:
    """The maximum of every ``K x K`` window, by loops."""
    stride = kernel_size if stride is None else stride
    n_img, ch, h, w = x.shape
    ho, wo = _out_size(h, kernel_size, stride, 0), _out_size(w, kernel_size, stride, 0)
    out = np.zeros((n_img, ch, ho, wo), dtype=x.dtype)
    for n in range(n_img):
        for c in range(ch):
            for i in range(ho):
                for j in range(wo):
                    window = x[
                        n,
                        c,
                        i * stride : i * stride + kernel_size,
                        j * stride : j * stride + kernel_size,
                    ]
                    out[n, c, i, j] = window.max()
    return out


def maxpool_backward_naive(dout, x, kernel_size: int = 2, stride: int | None = None) -> np.ndarray:
    """Route each window's gradient to its *first* maximum (row-major), by loops.

    ``np.argmax`` returns the first maximum, which makes the rule concrete. Giving the gradient to
    every tied maximum would count it once per tie.
    """
    stride = kernel_size if stride is None else stride
    n_img, ch, _, _ = x.shape
    _, _, ho, wo = dout.shape
    dx = np.zeros_like(x)
    for n in range(n_img):
        for c in range(ch):
            for i in range(ho):
                for j in range(wo):
                    window = x[
                        n,
                        c,
                        i * stride : i * stride + kernel_size,
                        j * stride : j * stride + kernel_size,
                    ]
                    p, q = np.unravel_index(np.argmax(window), window.shape)
                    dx[n, c, i * stride + p, j * stride + q] += dout[n, c, i, j]
    return dx


def relu_forward_naive(x) -> np.ndarray:
    out = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        out[idx] = x[idx] if x[idx] > 0 else 0
    return out


def relu_backward_naive(dout, x) -> np.ndarray:
    dx = np.zeros_like(dout)
    for idx in np.ndindex(x.shape):
        dx[idx] = dout[idx] if x[idx] > 0 else 0
    return dx


def affine_forward_naive(x, W, b) -> np.ndarray:
    """``out[n, m] = sum_d x[n, d] * W[d, m] + b[m]``, by loops."""
    n_rows, d_in = x.shape
    out = np.zeros((n_rows, W.shape[1]), dtype=np.result_type(x, W))
    for n in range(n_rows):
        for m in range(W.shape[1]):
            total = b[m]
            for d in range(d_in):
                total += x[n, d] * W[d, m]
            out[n, m] = total
    return out


def affine_backward_naive(dout, x, W):
    """``(dx, dW, db)`` of ``x @ W + b``: ``dx = dout W^T``, ``dW = x^T dout``, ``db = sum_n dout``."""
    n_rows, d_in = x.shape
    m_out = W.shape[1]
    dx, dW, db = np.zeros_like(x), np.zeros_like(W), np.zeros(m_out, dtype=W.dtype)
    for n in range(n_rows):
        for m in range(m_out):
            g = dout[n, m]
            db[m] += g
            for d in range(d_in):
                dW[d, m] += x[n, d] * g
                dx[n, d] += W[d, m] * g
    return dx, dW, db


def softmax_naive(z) -> np.ndarray:
    """Softmax of one vector of logits, subtracting the maximum so ``exp`` cannot overflow."""
    z = np.asarray(z, dtype=float)
    top = max(z)
    exps = [math.exp(v - top) for v in z]
    total = sum(exps)
    return np.array([e / total for e in exps])


def softmax_cross_entropy_naive(logits, labels):
    """Mean cross-entropy and its gradient ``(p - onehot) / N``, one example at a time."""
    n_rows, n_cls = logits.shape
    loss = 0.0
    dlogits = np.zeros_like(logits, dtype=float)
    for n in range(n_rows):
        z = np.asarray(logits[n], dtype=float)
        top = max(z)
        log_total = math.log(sum(math.exp(v - top) for v in z))
        loss -= z[labels[n]] - top - log_total  # -log p[y], by log-sum-exp: finite for any logits
        p = softmax_naive(z)
        for k in range(n_cls):
            dlogits[n, k] = (p[k] - (1.0 if k == labels[n] else 0.0)) / n_rows
    return loss / n_rows, dlogits


def naive_gradients(params: dict, x: np.ndarray, y: np.ndarray) -> tuple[float, dict]:
    """Loss and gradients of the book's model for one image, with the loop layers above.

    ``params`` holds the model's arrays under ``Sequential.params()``'s names ("0.W", "0.b",
    "4.W", "4.b"); the gradients come back under the same names.
    """
    W1, b1, W2, b2 = params["0.W"], params["0.b"], params["4.W"], params["4.b"]
    conv = conv_forward_naive(x, W1, b1)  # (1, 8, 26, 26)
    act = relu_forward_naive(conv)
    pool = maxpool_forward_naive(act, 2)  # (1, 8, 13, 13)
    flat = pool.reshape(1, -1)  # (1, 1352)
    logits = affine_forward_naive(flat, W2, b2)  # (1, 10)
    loss, dlogits = softmax_cross_entropy_naive(logits, y)
    dflat, dW2, db2 = affine_backward_naive(dlogits, flat, W2)
    dact = maxpool_backward_naive(dflat.reshape(pool.shape), act, 2)
    dconv = relu_backward_naive(dact, conv)
    _, dW1, db1 = conv_backward_naive(dconv, x, W1)
    return loss, {"0.W": dW1, "0.b": db1, "4.W": dW2, "4.b": db2}


def naive_step(params: dict, x: np.ndarray, y: np.ndarray, lr: float = 0.01) -> float:
    """One per-sample training step with the loop layers: gradients, then a separate SGD update.

    Updates ``params`` in place and returns the loss.
    """
    loss, grads = naive_gradients(params, x, y)
    SGD(lr).step(params, grads)
    return loss


# ---------------------------------------------------------------------------------------------
# References of the exercise checks (scratchcnn.check): plain, float64, tested in tests/test_naive.py


def output_size(size: int, k: int, stride: int = 1, padding: int = 0) -> int:
    """Windows of width ``k`` at ``stride`` along an axis of ``size`` padded by ``padding``.

    ``(size + 2 * padding - k) // stride + 1``, rounded down; ValueError when no window fits.
    """
    return _out_size(size, k, stride, padding)


def corr2d_naive(x, k) -> np.ndarray:
    """Valid cross-correlation of a 2-D ``x`` with a 2-D kernel ``k`` of any shape, by loops (float64)."""
    x, k = np.asarray(x, dtype=np.float64), np.asarray(k, dtype=np.float64)
    kh, kw = k.shape
    ho, wo = _out_size(x.shape[0], kh, 1, 0), _out_size(x.shape[1], kw, 1, 0)
    out = np.zeros((ho, wo))  # (H - kh + 1, W - kw + 1)
    for i in range(ho):
        for j in range(wo):
            out[i, j] = np.sum(x[i : i + kh, j : j + kw] * k)
    return out


def pool_forward_naive(
    x, kernel_size: int = 2, stride: int | None = None, reduce=np.max
) -> np.ndarray:
    """Pool every ``K x K`` window at ``stride`` (default ``K``) with ``reduce`` (np.max, np.mean), by loops."""
    stride = kernel_size if stride is None else stride
    n_img, ch, h, w = x.shape
    ho, wo = _out_size(h, kernel_size, stride, 0), _out_size(w, kernel_size, stride, 0)
    out = np.zeros((n_img, ch, ho, wo))  # (N, C, H_out, W_out), float64
    for i in range(ho):
        for j in range(wo):
            window = x[
                :, :, i * stride : i * stride + kernel_size, j * stride : j * stride + kernel_size
            ]
            out[:, :, i, j] = reduce(window, axis=(2, 3))
    return out


def log_softmax_naive(logits) -> np.ndarray:
    """``log softmax`` of every row of a 2-D batch, in float64, by log-sum-exp one row at a time."""
    z = np.asarray(logits, dtype=np.float64)
    out = np.zeros_like(z)  # (N, K)
    for n in range(z.shape[0]):
        top = max(z[n])
        log_total = math.log(sum(math.exp(v - top) for v in z[n]))
        out[n] = z[n] - top - log_total
    return out


def softmax_rows_naive(logits) -> np.ndarray:
    """Softmax of every row of a 2-D batch, in float64 (:func:`softmax_naive` row by row)."""
    z = np.asarray(logits, dtype=np.float64)
    return np.array([softmax_naive(row) for row in z]).reshape(z.shape)


def im2col_naive(x, kernel_size: int, stride: int = 1, padding: int = 0) -> np.ndarray:
    """Every window as a column, by loops: ``(C*K*K, N*H_out*W_out)``, rows ``(c, p, q)``, columns ``(n, i, j)``.

    The layout of :func:`scratchcnn.layers.im2col`; the dtype of ``x`` is kept.
    """
    n_img, ch, h, w = x.shape
    k = kernel_size
    xp = _pad(x, padding)
    ho, wo = _out_size(h, k, stride, padding), _out_size(w, k, stride, padding)
    cols = np.zeros((ch * k * k, n_img * ho * wo), dtype=x.dtype)  # (C*K*K, N*H_out*W_out)
    for n in range(n_img):
        for i in range(ho):
            for j in range(wo):
                window = xp[
                    n, :, i * stride : i * stride + k, j * stride : j * stride + k
                ]  # (C, K, K)
                cols[:, (n * ho + i) * wo + j] = window.reshape(-1)
    return cols


def col2im_naive(
    cols, x_shape: tuple, kernel_size: int, stride: int = 1, padding: int = 0
) -> np.ndarray:
    """The adjoint of :func:`im2col_naive`, by loops: each column added back onto its window.

    Overlapping windows accumulate; the padding's entries are dropped; the dtype of ``cols`` is kept.
    """
    n_img, ch, h, w = x_shape
    k = kernel_size
    ho, wo = _out_size(h, k, stride, padding), _out_size(w, k, stride, padding)
    dxp = np.zeros((n_img, ch, h + 2 * padding, w + 2 * padding), dtype=cols.dtype)
    for n in range(n_img):
        for i in range(ho):
            for j in range(wo):
                window = cols[:, (n * ho + i) * wo + j].reshape(ch, k, k)
                dxp[n, :, i * stride : i * stride + k, j * stride : j * stride + k] += window
    return dxp[:, :, padding : padding + h, padding : padding + w] if padding else dxp
