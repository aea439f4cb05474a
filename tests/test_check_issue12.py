"""One test per wrong answer that used to pass and per right answer that used to fail (issue 12).

Each answer is written the way a student would; the check must reject the wrong ones with a message
that names the mistake and accept the right ones, on its fixed and its hidden random cases.
"""

from __future__ import annotations

import numpy as np
import pytest
from checking import failure, passes

from scratchcnn.check import check


def _standardize(X_train, X_test):
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (X_train - mean) / std, (X_test - mean) / std


# --- chapter 1 ---------------------------------------------------------------------------------


def test_1_2_in_place_standardisation_is_named():
    def in_place(X_train, X_test):
        mean, std = X_train.mean(axis=0), X_train.std(axis=0)
        std = np.where(std > 0, std, 1.0)
        X_train -= mean
        X_test -= mean
        return X_train / std, X_test / std

    assert "wrote into one of its input arrays" in failure("1.2", in_place)


def test_1_2_in_float32_throughout_passes(capsys):
    def float32(X_train, X_test):
        a, b = X_train.astype(np.float32), X_test.astype(np.float32)
        mean, std = a.mean(axis=0), a.std(axis=0)
        std = np.where(std > 0, std, np.float32(1))
        return (a - mean) / std, (b - mean) / std

    passes("1.2", float32, capsys)


def test_1_3_returning_labels_is_not_called_a_leak():
    def labels(y, val_fraction, rng):
        train, val = [], []
        for c in np.unique(y):
            idx = rng.permutation(np.flatnonzero(y == c))
            n_val = round(val_fraction * len(idx))
            val.append(y[idx[:n_val]])
            train.append(y[idx[n_val:]])
        return np.concatenate(train), np.concatenate(val)

    message = failure("1.3", labels)
    assert "labels of the examples" in message and "measures nothing" not in message


def test_1_1_calling_the_package_is_reported_in_self_study(capsys):
    from scratchcnn.preprocess import add_channel_axis, scale01

    check("1.1", lambda X: scale01(add_channel_axis(X)).astype(np.float32))
    out = capsys.readouterr().out
    assert "Exercise 1.1 passed" in out and "Warning: the exercise asks for NumPy only" in out
    assert "scratchcnn.preprocess" in out


# --- chapter 2 ---------------------------------------------------------------------------------


def test_2_1_integer_output_buffer_is_named():
    def int_buffer(x, k):
        kh, kw = k.shape
        out = np.zeros_like(x[: x.shape[0] - kh + 1, : x.shape[1] - kw + 1])
        for i in range(out.shape[0]):
            for j in range(out.shape[1]):
                out[i, j] = np.sum(x[i : i + kh, j : j + kw] * k)
        return out

    assert "output buffer seems to be an integer array" in failure("2.1", int_buffer)


def test_2_3_a_kernel_larger_than_7x7_passes(capsys):
    kernel = np.zeros((9, 9))
    kernel[:4] = -1.0
    kernel[5:] = 1.0
    passes("2.3", kernel, capsys)


def test_2_1_scipy_is_reported(capsys):
    from scipy.signal import correlate2d

    check("2.1", lambda x, k: correlate2d(x, k, mode="valid"))
    out = capsys.readouterr().out
    assert "passed" in out and "NumPy only" in out and "scipy" in out


# --- chapter 4 ---------------------------------------------------------------------------------


def test_4_3_log_sum_exp_shifted_by_the_batch_maximum_fails():
    def batch_max(logits, labels):
        z = logits - logits.max()  # no axis: one maximum for the whole batch
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return -logp[np.arange(len(labels)), labels].mean()

    assert "Exercise 4.3" in failure("4.3", batch_max)


@pytest.mark.parametrize("shift", ["min", "mean"])
def test_4_2_shift_by_row_min_or_mean_after_upcast_fails(shift):
    def shifted(z):
        z = z.astype(np.float64)
        e = np.exp(z - getattr(z, shift)(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    assert "NaN or infinity" in failure("4.2", shifted)


def test_4_2_in_place_softmax_is_named():
    def in_place(z):
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    assert "wrote into one of its input arrays" in failure("4.2", in_place)


def test_4_3_in_place_cross_entropy_is_named():
    def in_place(logits, labels):
        logits -= logits.max(axis=1, keepdims=True)
        logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        return -logp[np.arange(len(labels)), labels].mean()

    assert "wrote into one of its input arrays" in failure("4.3", in_place)


def test_4_4_a_hard_coded_spread_fails():
    def hard_coded(fan_in, fan_out, rng):
        a = 0.0471  # sqrt(3 / 1352), the book's layer only
        return rng.uniform(-a, a, (fan_in, fan_out))

    assert "standard deviation" in failure("4.4", hard_coded)


def test_4_3_and_4_2_computed_in_float32_pass(capsys):
    def softmax32(z):
        z = z.astype(np.float32)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def ce32(logits, labels):
        z = logits.astype(np.float32)
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-logp[np.arange(len(labels)), labels].mean())

    passes("4.2", softmax32, capsys)
    passes("4.3", ce32, capsys)


# --- chapter 5 ---------------------------------------------------------------------------------


def _softmax_rows(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def test_5_1_batch_maximum_shift_fails():
    def batch_max(logits, labels):
        e = np.exp(logits - logits.max())
        p = e / e.sum(axis=1, keepdims=True)
        p[np.arange(len(labels)), labels] -= 1
        return p / len(labels)

    assert "NaN or infinity" in failure("5.1", batch_max)


def test_5_1_in_place_is_named():
    def in_place(logits, labels):
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        p[np.arange(len(labels)), labels] -= 1
        return p / len(labels)

    assert "wrote into one of its input arrays" in failure("5.1", in_place)


def test_5_1_every_label_column_is_named_not_the_1_over_n():
    def columns(logits, labels):
        p = _softmax_rows(logits)
        p[:, labels] -= 1
        return p / len(labels)

    message = failure("5.1", columns)
    assert "p[:, labels] -= 1 picks whole columns" in message and "1/N" not in message


def _maxpool_backward(dout, x, k, s, square=False, every_k=False):
    dx = np.zeros_like(x)
    n_img, ch, ho, wo = dout.shape
    if square:
        wo = ho
    step = k if every_k else s
    for n in range(n_img):
        for c in range(ch):
            for i in range(ho):
                for j in range(wo):
                    window = x[n, c, i * step : i * step + k, j * step : j * step + k]
                    p, q = np.unravel_index(np.argmax(window), window.shape)
                    dx[n, c, i * step + p, j * step + q] += dout[n, c, i, j]
    return dx


def test_5_2_loops_that_assume_square_inputs_fail():
    assert "Exercise 5.2" in failure(
        "5.2", lambda dout, x, k, s: _maxpool_backward(dout, x, k, s, square=True)
    )


def test_5_2_windows_every_k_are_named_not_the_first_maximum_rule():
    message = failure("5.2", lambda dout, x, k, s: _maxpool_backward(dout, x, k, s, every_k=True))
    assert "start every K" in message and "ONE position" not in message


def _conv_backward_dx(dout, W, flip=False):
    n_img, n_filt, ho, wo = dout.shape
    _, c, k, _ = W.shape
    Wk = W[:, :, ::-1, ::-1] if flip else W
    dx = np.zeros((n_img, c, ho + k - 1, wo + k - 1))
    for n in range(n_img):
        for f in range(n_filt):
            for i in range(ho):
                for j in range(wo):
                    dx[n, :, i : i + k, j : j + k] += dout[n, f, i, j] * Wk[f]
    return dx


def test_5_5_conv_input_gradient_passes_and_names_its_mistakes(capsys):
    passes("5.5", _conv_backward_dx, capsys)
    assert "rotated by 180 degrees" in failure(
        "5.5", lambda dout, W: _conv_backward_dx(dout, W, flip=True)
    )
    assert "sum over the filters is missing" in failure(
        "5.5", lambda dout, W: _conv_backward_dx(dout[:, :1], W[:1])
    )
    assert "shape of x, not of dout" in failure(
        "5.5", lambda dout, W: np.zeros((dout.shape[0], W.shape[1], *dout.shape[2:]))
    )


# --- chapter 6 ---------------------------------------------------------------------------------


def test_6_3_counting_ties_as_correct_fails():
    def ties(logits, labels):
        return np.mean(logits[np.arange(len(labels)), labels] == logits.max(axis=1))

    assert "only ties for the largest logit" in failure("6.3", ties)


def test_6_3_computed_in_float32_passes(capsys):
    passes(
        "6.3", lambda z, y: np.float32(np.mean((z.argmax(axis=1) == y).astype(np.float32))), capsys
    )


def test_6_4_padded_last_batch_is_not_called_sampling_with_replacement():
    def padded(X, y, batch_size, rng):
        idx = rng.permutation(len(y))
        short = -len(idx) % batch_size
        idx = np.concatenate([idx, idx[:short]])
        for start in range(0, len(idx), batch_size):
            part = idx[start : start + batch_size]
            yield X[part], y[part]

    message = failure("6.4", padded)
    assert "padded to" in message and "with replacement" not in message


def test_identity_answers_pass_no_pooling_case():
    """Hidden cases never use 1x1 windows, where returning the input would be right."""
    from scratchcnn.check.grading import grade_report

    for eid, identity in (("3.1", lambda x, k, s: x), ("3.3", lambda x, k: x)):
        report = grade_report(eid, identity)
        assert report["passed"] == 0, (eid, report)


# --- messages ----------------------------------------------------------------------------------


def test_a_tiny_difference_is_never_shown_as_two_identical_numbers():
    import re

    message = failure("4.1", lambda x, W, b: (x @ W + b) * (1 + 3e-6))
    found = re.search(r"expected (\S+), got (\S+)", message)
    assert found and found.group(1) != found.group(2), message


def test_a_broadcast_error_gets_the_keepdims_and_bias_hint():
    def conv_forward(x, W, b, stride=1, padding=0):
        n, _, h, w = x.shape
        f, _, k, _ = W.shape
        xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
        ho, wo = (h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1
        out = np.zeros((n, f, ho, wo))
        for i in range(ho):
            for j in range(wo):
                win = xp[:, :, i * stride : i * stride + k, j * stride : j * stride + k]
                out[:, :, i, j] = np.einsum("nckl,fckl->nf", win, W)
        return out + b  # (F,) lines up with the last axis, W_out, not with F

    message = failure("2.2", conv_forward)
    assert "broadcast" in message and "b[:, None, None]" in message


def test_ragged_and_complex_results_are_refused_clearly():
    ragged = failure("2.1", lambda x, k: [[1.0, 2.0], [3.0]])
    assert "ragged" in ragged
    complex_ = failure(
        "4.2",
        lambda z: (
            np.exp(z - z.max(axis=1, keepdims=True))
            / np.exp(z - z.max(axis=1, keepdims=True)).sum(axis=1, keepdims=True)
            + 0j
        ),
    )
    assert "complex numbers" in complex_


# --- hidden random cases -----------------------------------------------------------------------


def _case_names(exercise_id, answer):
    from scratchcnn.check import _lookup
    from scratchcnn.check.kit import Run, running

    run = Run(graded=True)
    with running(run):
        _lookup(exercise_id).run(answer)
    return [name for name, _, _ in run.results]


@pytest.mark.parametrize(
    "exercise_id, wrong", [("3.2", lambda size, k, s: -1), ("2.1", lambda x, k: np.zeros((1, 1)))]
)
def test_every_call_adds_10_to_20_hidden_cases_drawn_anew(exercise_id, wrong):
    first, second = _case_names(exercise_id, wrong), _case_names(exercise_id, wrong)
    hidden = [name for name in first if name.startswith("hidden random case")]
    assert 10 <= len(hidden) <= 20
    assert [n for n in first if n not in hidden] == [
        n for n in second if not n.startswith("hidden")
    ]  # fixed ones
    assert hidden != [n for n in second if n.startswith("hidden")]  # a new draw each call


def test_the_hidden_seed_is_drawn_at_run_time():
    import inspect

    from scratchcnn.check import kit

    assert "secrets.randbits" in inspect.getsource(kit.hidden_rng)
