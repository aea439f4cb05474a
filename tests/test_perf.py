"""scratchcnn.perf: FLOP counts against hand-derived formulas and brute-force counts; timers."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from scratchcnn import perf
from scratchcnn.layers import Affine, Conv2D, Flatten, Layer, MaxPool2D, ReLU, Sequential, Sigmoid
from scratchcnn.models import book_model
from scratchcnn.perf import (
    FlopCount,
    Timing,
    affine_flops,
    conv_flops,
    measure_gemm_gflops,
    model_flops,
    time_interleaved,
    time_it,
)


def _brute_force_conv_flops(c, f, k, h, w, stride, padding):
    """Count the multiplies and adds of the loop definition of a convolution, one by one."""
    ho = (h + 2 * padding - k) // stride + 1
    wo = (w + 2 * padding - k) // stride + 1
    flops = 0
    for _f, _i, _j in itertools.product(range(f), range(ho), range(wo)):
        products = sum(1 for _ in itertools.product(range(c), range(k), range(k)))
        flops += products  # multiplies
        flops += products - 1  # adds inside the sum
        flops += 1  # the bias
    return flops, ho, wo


@pytest.mark.parametrize(
    "c, f, k, h, w, stride, padding",
    [(1, 1, 1, 1, 1, 1, 0), (1, 8, 3, 28, 28, 1, 0), (3, 4, 5, 11, 9, 2, 1), (2, 3, 2, 7, 7, 3, 0)],
)
def test_conv_flops_match_a_brute_force_count_of_the_loops(c, f, k, h, w, stride, padding):
    expected, ho, wo = _brute_force_conv_flops(c, f, k, h, w, stride, padding)
    assert conv_flops(c, f, k, ho, wo) == expected
    # ... and the im2col product (F, C*K*K) @ (C*K*K, H_out*W_out) at 2*m*k*n FLOPs.
    assert conv_flops(c, f, k, ho, wo) == 2 * f * (c * k * k) * (ho * wo)


def test_conv_flops_of_the_book_model_by_hand():
    # 8 filters x 26 x 26 outputs, each 9 multiplies and 9 adds (8 in the sum, 1 for the bias)
    assert conv_flops(1, 8, 3, 26, 26) == 8 * 26 * 26 * 18 == 97_344


def test_affine_flops_by_hand():
    assert affine_flops(1352, 10) == 2 * 1352 * 10
    assert affine_flops(1, 1) == 2  # one multiply, one bias add


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3"])
def test_counts_refuse_bad_sizes(bad):
    with pytest.raises(ValueError, match="integer >= 1"):
        conv_flops(1, 8, bad, 26, 26)
    with pytest.raises(ValueError, match="integer >= 1"):
        affine_flops(bad, 10)


def test_model_flops_of_the_book_model_layer_by_layer():
    count = model_flops(book_model(rng=0), (1, 28, 28))
    assert isinstance(count, FlopCount)
    rows = {row.name.split("(")[0]: row for row in count.layers}
    assert [row.output_shape for row in count.layers] == [
        (8, 26, 26),
        (8, 26, 26),
        (8, 13, 13),
        (1352,),
        (10,),
    ]
    conv = 2 * 9 * 8 * 676
    assert (rows["Conv2D"].forward, rows["Conv2D"].backward) == (
        conv,
        conv + 8 * 676,
    )  # dW, db; no dx
    assert (rows["ReLU"].forward, rows["ReLU"].backward) == (5408, 5408)
    assert (rows["MaxPool2D"].forward, rows["MaxPool2D"].backward) == (1352 * 3, 1352 * 4)
    assert (rows["Flatten"].forward, rows["Flatten"].backward) == (0, 0)
    affine = 2 * 1352 * 10
    assert (rows["Affine"].forward, rows["Affine"].backward) == (affine, 2 * affine + 10)
    assert count.forward == conv + 5408 + 4056 + affine == 133_848
    assert count.backward == conv + 5408 + 5408 + 5408 + 2 * affine + 10 == 167_658
    assert count.step == count.forward + count.backward


def test_input_grad_adds_the_first_layers_input_gradient():
    model = book_model(rng=0)
    without = model_flops(model, (1, 28, 28))
    with_dx = model_flops(model, (1, 28, 28), input_grad=True)
    # dcols = W^T @ dout: another product as large as the forward, then 9 * 676 col2im adds
    assert with_dx.backward - without.backward == 2 * 9 * 8 * 676 + 9 * 676
    assert with_dx.forward == without.forward


def test_model_flops_strided_padded_conv_overlapping_pool_and_sigmoid():
    layers = [
        Conv2D(3, 4, 5, stride=2, padding=1, rng=0),
        Sigmoid(),
        MaxPool2D(3, stride=1),
        Flatten(),
        Affine(4 * 3 * 2, 5, rng=0),
    ]
    count = model_flops(Sequential(layers), (3, 11, 9))
    conv, sig, pool, flat, aff = count.layers
    assert conv.output_shape == (4, 5, 4)  # (11 - 5 + 2) // 2 + 1 = 5, (9 - 5 + 2) // 2 + 1 = 4
    assert conv.forward == 2 * (3 * 25) * (4 * 5 * 4)
    assert sig.forward == 4 * 80 and sig.backward == 3 * 80
    assert pool.output_shape == (4, 3, 2)
    assert pool.forward == 24 * 8 and pool.backward == 24 * 9
    assert flat.output_shape == (24,)
    assert aff.forward == 2 * 24 * 5
    # a list of layers works like a Sequential
    assert model_flops(layers, (3, 11, 9)) == count


def test_model_flops_table_lists_every_layer_and_the_total():
    text = model_flops(book_model(rng=0), (1, 28, 28)).table()
    lines = text.splitlines()
    assert len(lines) == 1 + 5 + 1
    assert lines[-1].split() == ["total", "133,848", "167,658"]
    assert "Conv2D(1, 8, kernel_size=3" in lines[1]


def test_model_flops_refuses_a_batch_shape_and_says_what_to_give():
    with pytest.raises(ValueError, match=r"\(C, H, W\).*\(1, 28, 28\)"):
        model_flops(book_model(rng=0), (64, 1, 28, 28))


def test_model_flops_refuses_mismatched_layers():
    with pytest.raises(ValueError, match="3 input channels"):
        model_flops([Conv2D(3, 4, 3, rng=0)], (1, 28, 28))
    with pytest.raises(ValueError, match="Flatten"):
        model_flops([Conv2D(1, 2, 3, rng=0), Affine(2 * 26 * 26, 10, rng=0)], (1, 28, 28))
    with pytest.raises(ValueError, match="does not fit"):
        model_flops([Conv2D(1, 2, 5, rng=0)], (1, 3, 3))


def test_model_flops_refuses_unknown_layers_and_non_models():
    class Dropout(Layer):
        pass

    with pytest.raises(TypeError, match="Dropout"):
        model_flops([Dropout()], (4,))
    with pytest.raises(TypeError, match="Sequential or a list"):
        model_flops("model", (1, 28, 28))
    with pytest.raises(ValueError, match="tuple of positive ints"):
        model_flops(book_model(rng=0), [1, 28, 28])


def test_time_it_calls_warmup_plus_repeat_times_number():
    calls = []
    timing = time_it(lambda: calls.append(1), repeat=4, number=3, warmup=2)
    assert len(calls) == 2 + 4 * 3
    assert isinstance(timing, Timing) and len(timing.times) == 4
    assert 0 < timing.best <= timing.median <= max(timing.times)
    assert timing.best == min(timing.times)


def test_time_it_measures_time_per_call():
    clock = iter(np.arange(0.0, 100.0, 0.5))  # every perf_counter() call advances 0.5 s

    def fake_counter():
        return float(next(clock))

    original = perf.time.perf_counter
    perf.time.perf_counter = fake_counter
    try:
        timing = time_it(lambda: None, repeat=3, number=5, warmup=0)
    finally:
        perf.time.perf_counter = original
    assert timing.times == (0.1, 0.1, 0.1)  # 0.5 s between start and stop, over 5 calls


def test_time_interleaved_runs_the_functions_in_turns():
    order = []
    result = time_interleaved(
        {"a": lambda: order.append("a"), "b": lambda: order.append("b")}, repeat=3, warmup=1
    )
    assert order == ["a", "b"] + ["a", "b"] * 3
    assert set(result) == {"a", "b"} and all(len(t.times) == 3 for t in result.values())


def test_timers_refuse_bad_arguments():
    with pytest.raises(TypeError, match="function"):
        time_it(42)
    with pytest.raises(ValueError, match="repeat"):
        time_it(lambda: None, repeat=0)
    with pytest.raises(ValueError, match="warmup"):
        time_it(lambda: None, warmup=-1)
    with pytest.raises(TypeError, match="non-empty dict"):
        time_interleaved({})
    with pytest.raises(TypeError, match="'x' is a int"):
        time_interleaved({"x": 1})


def test_gemm_rate_is_2mkn_over_the_best_time(monkeypatch):
    monkeypatch.setattr(perf, "time_it", lambda fn, **kw: (fn(), Timing(0.5, 1.0, (0.5, 1.0)))[1])
    assert measure_gemm_gflops(10, 20, 30) == pytest.approx(2 * 10 * 20 * 30 / 0.5 / 1e9)
    assert measure_gemm_gflops(8) == pytest.approx(2 * 8**3 / 0.5 / 1e9)


def test_gemm_rate_is_measured_for_both_float_types():
    for dtype in (np.float32, np.float64):
        rate = measure_gemm_gflops(64, dtype=dtype, repeat=2)
        assert math.isfinite(rate) and rate > 0
    with pytest.raises(TypeError, match="float32 or float64"):
        measure_gemm_gflops(8, dtype=np.int64)


def test_profile_layers_times_every_layer_and_the_loss_without_changing_the_model():
    model = book_model(rng=0)
    rng = np.random.default_rng(0)
    x = rng.random((4, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, size=4)
    before = {k: v.copy() for k, v in model.params().items()}
    rows = perf.profile_layers(model, x, y, repeat=2)
    conv, relu, pool, flatten, affine = (repr(layer) for layer in model.layers)
    # as the model runs in training: the convolution, the ReLU and the pooling fused into one step
    assert [r.name for r in rows] == [
        f"{conv} + {relu} + {pool}",
        flatten,
        affine,
        "SoftmaxCrossEntropy()",
    ]
    assert all(r.forward > 0 and r.backward > 0 and r.total == r.forward + r.backward for r in rows)
    assert all(np.array_equal(before[k], v) for k, v in model.params().items())


def test_profile_layers_times_the_arrays_each_layer_sees(monkeypatch):
    seen = []
    model = book_model(rng=0)
    conv = model.layers[0]
    original = conv._backward_pooled  # the fused step's convolution part
    monkeypatch.setattr(
        conv,
        "_backward_pooled",
        lambda g, input_grad=True: (seen.append((g.shape, input_grad)), original(g, input_grad))[1],
    )
    rng = np.random.default_rng(1)
    perf.profile_layers(
        model, rng.random((3, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 3), repeat=2
    )
    # one pass to record the gradients, one warm-up call and two timed rounds; never the image gradient
    assert seen == [((8, 4, 3, 13, 14), False)] * 4  # (C_out, 4, N, H2, Wh): pooling windows


def test_profile_layers_refuses_bad_input():
    with pytest.raises(TypeError, match="Sequential"):
        perf.profile_layers([ReLU()], np.zeros((1, 2)), np.zeros(1, dtype=int))
    with pytest.raises(ValueError, match=r"\(N, \.\.\.\)"):
        perf.profile_layers(book_model(rng=0), np.zeros(3), np.zeros(1, dtype=int))


def test_profile_layers_without_fusing_gives_one_row_per_layer():
    model = book_model(rng=0)
    rng = np.random.default_rng(2)
    x, y = rng.random((4, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 4)
    rows = perf.profile_layers(model, x, y, repeat=2, fuse=False)
    assert [r.name for r in rows] == [repr(layer) for layer in model.layers] + [
        "SoftmaxCrossEntropy()"
    ]
    assert all(r.forward > 0 and r.backward > 0 for r in rows)
