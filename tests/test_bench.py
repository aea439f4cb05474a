"""The benchmark runs and reports every figure (speed itself is measured, never asserted)."""

from __future__ import annotations

import io

import numpy as np
import pytest

from scratchcnn.bench import main, naive_step, run
from scratchcnn.layers import SoftmaxCrossEntropy
from scratchcnn.models import book_model
from scratchcnn.optim import SGD


def test_naive_step_is_the_same_training_step_as_the_vectorized_one():
    rng = np.random.default_rng(0)
    x, y = rng.random((1, 1, 28, 28)), np.array([7])
    model = book_model(rng=0, dtype=np.float64)
    model.layers[0].params["b"][:] = 0.1  # make some ReLU inputs positive for sure
    params = {k: v.copy() for k, v in model.params().items()}
    loss_naive = naive_step(params, x, y, lr=0.1)
    loss_fn = SoftmaxCrossEntropy()
    loss = loss_fn.forward(model.forward(x), y)
    model.backward(loss_fn.backward())
    SGD(0.1).step(model.params(), model.grads())
    assert abs(loss - loss_naive) < 1e-12
    for name, value in model.params().items():
        np.testing.assert_allclose(params[name], value, rtol=0, atol=1e-12, err_msg=name)


@pytest.mark.slow
def test_report_names_every_figure():
    out = io.StringIO()
    results = run(batches=2, naive_samples=1, repeat=1, out=out)
    text = out.getvalue()
    for words in [
        "GFLOP/s",
        "naive loops, batch 1",
        "batch 64, float32",
        "batch 128, float32",
        "batch 64, float64",
        "s/epoch",
        "speed-up",
        "estimates",
        "interleaved",
    ]:
        assert words in text, words
    assert len(results) == 5 and all(r.seconds_per_sample > 0 for r in results)


def test_bad_arguments_are_refused(capsys):
    import pytest

    with pytest.raises(SystemExit):
        main(["--batches", "0"])
    assert "at least 1" in capsys.readouterr().err


def test_without_pytorch_the_comparison_says_so_and_the_rest_runs(monkeypatch):
    import sys

    from scratchcnn.bench import compare_torch

    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    out = io.StringIO()
    assert compare_torch(out=out) is None
    assert "PyTorch is not importable" in out.getvalue()


def test_the_profile_rows_follow_the_training_step():
    from scratchcnn.bench import print_profile

    out = io.StringIO()
    rows = print_profile("book_model", batch_size=4, repeat=1, out=out)
    assert "padding=0) + ReLU() + MaxPool2D" in out.getvalue() and "CPU ms" in out.getvalue()
    assert len(rows) == 4 and all(
        r.total > 0 for r in rows
    )  # conv+ReLU+pool, flatten, affine, loss


def test_the_contention_table_is_written_as_markdown_for_the_setup_guide():
    from scratchcnn.bench import contention_markdown, main

    table = {"book_model": {(1, 1): 0.002, (1, 2): 0.003, (2, 1): 0.0025, (2, 2): 0.01}}
    text = contention_markdown(table, repeat=3)
    assert "| the book's model | 2 | 2.5 | 10.0 | 4.00x |" in text
    assert "| the book's model | 1 | 2.0 | 3.0 | 1.50x |" in text
    assert "median of 3 interleaved rounds" in text and "load average" in text
    with pytest.raises(SystemExit):
        main(["--contention-md", "x.md"])  # only with --contention
