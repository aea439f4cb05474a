"""Graded runs (scratchcnn.check.grading): a separate process, every case counted, nothing to steal.

Each test starts a real grader process; they are few on purpose.
"""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest

import scratchcnn.check.grading as grading


def corr2d(x, k):
    kh, kw = k.shape
    out = np.zeros((x.shape[0] - kh + 1, x.shape[1] - kw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(x[i : i + kh, j : j + kw] * k)
    return out


def test_a_right_answer_scores_one_and_a_stub_zero(capsys):
    assert grading.grade("2.1", corr2d) == 1.0
    assert "cases passed (100%)" in capsys.readouterr().out

    def stub(x, k):
        raise NotImplementedError("Exercise 2.1")

    assert grading.grade("2.1", stub) == 0.0
    assert "not done yet" in capsys.readouterr().out
    assert grading.grade("2.3", ...) == 0.0


def test_a_partly_right_answer_scores_the_share_of_cases_passed(capsys):
    def square_only(x, k):  # right on square kernels only
        return (
            corr2d(x, k)
            if k.shape[0] == k.shape[1]
            else np.zeros((x.shape[0] - k.shape[0] + 1, x.shape[1] - k.shape[1] + 1))
        )

    report = grading.grade_report("2.1", square_only)
    assert 0 < report["passed"] < report["total"]
    # The hidden cases are drawn anew in every run, so two runs may pass different numbers of
    # them: the grade is compared with the count that its own run printed.
    score = grading.grade("2.1", square_only)
    out = capsys.readouterr().out
    passed, total = map(int, re.search(r"(\d+) of (\d+) cases passed", out).groups())
    assert 0 < passed < total
    assert score == round(passed / total, 6)
    assert "non-square 2x3 kernel" in out  # the failed fixed case is named


@pytest.mark.slow
def test_expected_values_cannot_be_read_from_the_stack_or_the_messages(capsys):
    def thief(x, k):
        for frame in inspect.stack():
            if "expected" in frame.frame.f_locals:
                return frame.frame.f_locals["expected"]
        return np.zeros((1, 1))

    assert grading.grade("2.1", thief) == 0.0
    out = capsys.readouterr().out
    assert "expected" not in out.lower()

    def off_by_one(size, k, stride):
        return (size - k) // stride + 2

    grading.grade("3.2", off_by_one)
    out = capsys.readouterr().out
    assert "windows" not in out and "expected" not in out.lower()  # no exact answer echoed


def test_a_redefined_check_in_the_notebook_changes_nothing():
    namespace = {}
    exec(
        "check = lambda *a, **k: print('Exercise 2.1 passed')", namespace
    )  # the answer cell's trick
    exec("def corr2d(x, k):\n    return x", namespace)
    exec(
        "from importlib import reload\nimport scratchcnn.check.grading\n"
        "grading_module = scratchcnn.check.grading\n"
        "scratchcnn.check.grading.grade = lambda *a, **k: 1.0\n",  # even a patched module
        namespace,
    )
    exec("score = reload(scratchcnn.check.grading).grade('2.1', corr2d)", namespace)
    assert namespace["score"] == 0.0


def test_numpy_only_exercises_give_no_credit_for_scipy(capsys):
    from scipy.signal import correlate2d

    assert grading.grade("2.1", lambda x, k: correlate2d(x, k, mode="valid")) == 0.0
    assert "NumPy only" in capsys.readouterr().out


def test_in_place_updates_and_generators_reach_the_grader(capsys):
    def sgd_step(params, grads, lr):
        for name in params:
            params[name] -= lr * grads[name]

    def minibatches(X, y, batch_size, rng):
        idx = rng.permutation(len(y))
        for start in range(0, len(y), batch_size):
            yield X[idx[start : start + batch_size]], y[idx[start : start + batch_size]]

    assert grading.grade("6.1", sgd_step) == 1.0
    assert grading.grade("6.4", minibatches) == 1.0

    def rebinding(params, grads, lr):
        for name in params:
            params[name] = params[name] - lr * grads[name]  # a new array: the model never moves

    assert grading.grade("6.1", rebinding) < 1.0


def test_returned_objects_cannot_run_code_in_the_grader():
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    assert grading.grade("2.1", lambda x, k: Evil()) == 0.0


def test_numpy_scalars_and_builtin_subclasses_cross_as_plain_values():
    for value in (np.float64(0.5), np.float32(0.25), np.int64(3), np.bool_(True), True, 2.5, "x"):
        back = grading._decode(grading._encode(value))
        assert back == value and type(back) in (type(value), float, int, bool, str)
    assert grading._decode(grading._encode(np.float32(0.25))).dtype == np.float32

    class Sneaky(float):
        def __reduce__(self):
            return (print, ("pwned",))

    assert type(grading._decode(grading._encode(Sneaky(1.0)))) is float
    import io
    import pickle

    blob = pickle.dumps(grading._encode(np.float64(1.0)), protocol=4)
    assert grading._Builtins(io.BytesIO(blob)).load() == grading._encode(np.float64(1.0))


def _right_answers():
    import test_check_ch01 as t1
    import test_check_ch02 as t2
    import test_check_ch03 as t3
    import test_check_ch04 as t4
    import test_check_ch05 as t5
    import test_check_ch06 as t6
    import test_check_ch07 as t7
    import test_check_ch08 as t8
    import test_check_issue12 as ti

    return {
        "1.1": t1.prepare_images, "1.2": t1.standardize, "1.3": t1.stratified_split,
        "2.1": t2.corr2d, "2.2": t2.conv_forward, "2.3": t2.SOBEL_Y,
        "3.1": t3.maxpool_right, "3.2": t3.size_right, "3.3": t3.avgpool_right,
        "4.1": t4.affine_right, "4.2": t4.softmax_right, "4.3": t4.ce_right, "4.4": t4.lecun_right,
        "5.1": t5.softmax_cross_entropy_backward, "5.2": t5.maxpool_backward, "5.3": t5.affine_backward,
        "5.4": t5.conv_backward_dW, "5.5": ti._conv_backward_dx,
        "6.1": t6.sgd_right, "6.2": t6.momentum_right, "6.3": t6.accuracy_right, "6.4": t6.batches_right,
        "7.1": t7.c_strides, "7.2": t7.im2col, "8.1": t8.col2im, "8.2": t8.conv_forward_im2col,
    }  # fmt: skip


def test_every_right_answer_scores_one_in_a_graded_run():
    """The graded path (messages between two processes) accepts what the self-study path accepts."""
    from scratchcnn.check import exercises

    answers = _right_answers()
    assert set(answers) <= set(exercises())
    scores = {eid: grading.grade(eid, answer, quiet=True) for eid, answer in answers.items()}
    assert scores == {eid: 1.0 for eid in answers}
