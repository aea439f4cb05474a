"""Checks for chapter 9 (a deeper network).

- 9.1 ``receptive_field(layers)``: the receptive field (in input pixels, along one axis) of one
  output of the last of ``layers``, given as ``(kernel_size, stride)`` pairs.
- 9.2 ``adam_step(params, grads, state, lr, beta1=0.9, beta2=0.999, eps=1e-8)``: one Adam update
  with bias correction, in place, with the running averages and the step count kept in ``state``
  (a dict the caller creates empty and passes to every call).
- 9.3 ``dropout(x, p, rng, training=True)``: inverted dropout, the identity when not training.
- 9.4 ``Tanh``: a layer class written against the package's protocol; it must pass the
  gradient check and be counted by ``model_flops`` without any other change.

The references are the package's own: :class:`scratchcnn.optim.Adam`,
:class:`scratchcnn.layers.Dropout`'s rule, :func:`scratchcnn.gradcheck.check_layer` and
:func:`scratchcnn.perf.model_flops`.
"""

from __future__ import annotations

import numpy as np

from ..gradcheck import check_layer
from ..layers import Affine, Flatten, Layer, Sequential
from . import HIDDEN, call, exercise, expect_close, fail, hidden_rng, invoke, same, scored

# ---------------------------------------------------------------------------------------------
# 9.1 receptive field

RF_RULE = (
    "walk the layers from the input: r = 1 and j = 1 (one pixel, one pixel apart) at the start; a layer "
    "with kernel k and stride s makes r = r + (k - 1) * j and then j = j * s"
)


def _receptive(layers, use_jump=True, jump_after=False) -> int:
    r, j = 1, 1
    for k, s in layers:
        if jump_after:  # the mistake: the layer's own stride used before its kernel
            j *= s
        r += (k - 1) * (j if use_jump else 1)
        if not jump_after:
            j *= s
    return r


_RF_CASES = [
    ("one 3x3 convolution", [(3, 1)]),
    ("the book's network: conv 3x3, pool 2x2", [(3, 1), (2, 2)]),
    ("chapter 9's lenet: conv 5, pool 2, conv 5, pool 2", [(5, 1), (2, 2), (5, 1), (2, 2)]),
    ("three 3x3 convolutions (VGG's argument)", [(3, 1), (3, 1), (3, 1)]),
    ("strided convolutions: 7x7 stride 2, 3x3 stride 2, 3x3", [(7, 2), (3, 2), (3, 1)]),
    ("no layers at all: one pixel", []),
]


@exercise("9.1", "the receptive field of a stack of layers")
def _check_receptive_field(receptive_field) -> str:
    cases = list(_RF_CASES)
    rng = hidden_rng()
    for i in range(HIDDEN):
        layers = [
            (int(rng.integers(1, 6)), int(rng.integers(1, 4))) for _ in range(rng.integers(1, 6))
        ]
        cases.append((f"hidden random case {i + 1}: {len(layers)} layers", layers))
    for case, layers in cases:
        with scored(case):
            got = call(receptive_field, list(layers), case=case)
            expected = _receptive(layers)
            if not isinstance(got, (int, np.integer)) and not (
                isinstance(got, float) and got.is_integer()
            ):
                fail(
                    case,
                    f"the receptive field should be a whole number of pixels, got {got!r}",
                    RF_RULE,
                )
            if int(got) != expected:
                if int(got) == _receptive(layers, use_jump=False):
                    fail(
                        case,
                        f"got {int(got)}: the strides seem to be ignored",
                        "a 2x2 pooling makes every later "
                        "kernel step cover 2 input pixels: " + RF_RULE,
                    )
                if int(got) == _receptive(layers, jump_after=True):
                    fail(
                        case,
                        f"got {int(got)}: each layer's own stride seems to be applied before its kernel",
                        "a layer's stride spaces the *next* layers' steps, not its own: " + RF_RULE,
                    )
                fail(case, f"expected {expected} pixels, got {got!r}", RF_RULE)
    return f"{len(cases)} stacks of layers, from none to strided convolutions"


# ---------------------------------------------------------------------------------------------
# 9.2 Adam with bias correction

ADAM_RULE = (
    "for every name, at step t = 1, 2, ...: m = beta1*m + (1-beta1)*g; v = beta2*v + (1-beta2)*g**2; "
    "m_hat = m / (1 - beta1**t); v_hat = v / (1 - beta2**t); w -= lr * m_hat / (sqrt(v_hat) + eps), "
    "with m, v (zeros at first) and t kept in state between calls"
)


def _adam_path(params, grads_list, lr, b1, b2, eps, correct=True, eps_inside=False, fixed_t=False):
    """Parameters after each step, for the right rule and for the classic mistakes."""
    w = {k: v.astype(np.float64).copy() for k, v in params.items()}
    m = {k: np.zeros_like(v) for k, v in w.items()}
    v2 = {k: np.zeros_like(v) for k, v in w.items()}
    path = []
    for t, grads in enumerate(grads_list, start=1):
        tt = 1 if fixed_t else t
        for k in w:
            g = grads[k]
            m[k] = b1 * m[k] + (1 - b1) * g
            v2[k] = b2 * v2[k] + (1 - b2) * g * g
            mh, vh = (m[k] / (1 - b1**tt), v2[k] / (1 - b2**tt)) if correct else (m[k], v2[k])
            w[k] = w[k] - lr * mh / (np.sqrt(vh + eps) if eps_inside else np.sqrt(vh) + eps)
        path.append({k: v.copy() for k, v in w.items()})
    return path


def _adam_cases(rng):
    def make(shapes, steps, lr, b1, b2, eps, scale=1.0):
        params = {k: rng.standard_normal(s) for k, s in shapes.items()}
        grads = [
            {k: rng.standard_normal(s) * scale for k, s in shapes.items()} for _ in range(steps)
        ]
        return params, grads, lr, b1, b2, eps

    yield (
        "one step on one weight (the first step is lr * sign(g))",
        *make({"w": (1,)}, 1, 0.1, 0.9, 0.999, 1e-8),
    )
    yield (
        "six steps on a model's parameters, the defaults",
        *make(
            {"0.W": (4, 1, 3, 3), "0.b": (4,), "4.W": (16, 3), "4.b": (3,)},
            6,
            1e-3,
            0.9,
            0.999,
            1e-8,
        ),
    )
    yield (
        "ten steps, beta1 0.5, beta2 0.9, eps 1e-3 (bias correction and eps both matter)",
        *make({"w": (5,)}, 10, 0.01, 0.5, 0.9, 1e-3, scale=1e-2),
    )


@exercise("9.2", "Adam with bias correction")
def _check_adam(adam_step) -> str:
    rng = np.random.default_rng(2029)
    cases = list(_adam_cases(rng))
    hidden = hidden_rng()
    for i in range(HIDDEN // 3):
        shape = (int(hidden.integers(1, 5)), int(hidden.integers(1, 5)))
        steps = int(hidden.integers(1, 8))
        params = {"a": hidden.standard_normal(shape), "b": hidden.standard_normal(shape[0])}
        grads = [
            {k: hidden.standard_normal(v.shape) for k, v in params.items()} for _ in range(steps)
        ]
        cases.append(
            (f"hidden random case {i + 1}: {steps} steps", params, grads, 0.01, 0.8, 0.99, 1e-6)
        )
    for case, params, grads_list, lr, b1, b2, eps in cases:
        with scored(case):
            expected = _adam_path(params, grads_list, lr, b1, b2, eps)
            mistakes = [
                (
                    "the step seems to have no bias correction (m and v used as they are)",
                    _adam_path(params, grads_list, lr, b1, b2, eps, correct=False),
                ),
                (
                    "eps seems to be added inside the square root",
                    _adam_path(params, grads_list, lr, b1, b2, eps, eps_inside=True),
                ),
                (
                    "the step count t seems to stay at 1 (keep it in state and add 1 at every call)",
                    _adam_path(params, grads_list, lr, b1, b2, eps, fixed_t=True),
                ),
            ]
            mine = {k: v.copy() for k, v in params.items()}
            held = dict(mine)  # the very arrays: the update must be in place
            state: dict = {}
            for t, grads in enumerate(grads_list, start=1):
                frozen = {k: v.copy() for k, v in grads.items()}
                for g in frozen.values():
                    g.flags.writeable = False
                invoke(
                    adam_step,
                    (mine, frozen, state, lr),
                    {"beta1": b1, "beta2": b2, "eps": eps},
                    case,
                )
                if any(mine[k] is not held[k] for k in held):
                    fail(
                        case,
                        "params[name] was replaced by a new array",
                        "update in place: w -= ... (the layer "
                        "holds the old array, so a new one never reaches the model)",
                    )
                at = f"after step {t}"
                if not all(same(mine[k], expected[t - 1][k], rtol=1e-9, atol=1e-12) for k in mine):
                    for name, path in mistakes:
                        if all(same(mine[k], path[t - 1][k], rtol=1e-9, atol=1e-12) for k in mine):
                            fail(case, f"{at}: {name}", ADAM_RULE)
                    if t == 1 and all(same(mine[k], params[k]) for k in mine):
                        fail(case, f"{at}: the parameters did not change", ADAM_RULE)
                    key = next(
                        k
                        for k in mine
                        if not same(mine[k], expected[t - 1][k], rtol=1e-9, atol=1e-12)
                    )
                    expect_close(
                        mine[key],
                        expected[t - 1][key],
                        case=f"{case}, {at}",
                        name=f"params[{key!r}]",
                        hint=ADAM_RULE,
                        rtol=1e-9,
                        atol=1e-12,
                    )
    return f"{len(cases)} runs of 1 to 10 steps, bias correction and eps placement told apart"


# ---------------------------------------------------------------------------------------------
# 9.3 inverted dropout

DROPOUT_RULE = (
    "in training, keep each entry with probability 1 - p (mask = rng.random(x.shape) >= p) and divide "
    "the survivors by 1 - p, so the expected output equals x; when not training return x unchanged"
)


@exercise("9.3", "inverted dropout")
def _check_dropout(dropout) -> str:
    n_cases = 0
    for p in (0.5, 0.2, 0.8):
        x = np.random.default_rng(1).standard_normal((400, 500)) + 3.0  # (400, 500), no zeros
        case = f"p = {p}, a 400 x 500 array, training"
        with scored(case):
            n_cases += 1
            got = call(dropout, x, p, np.random.default_rng(0), training=True, case=case)
            got = np.asarray(got, dtype=float) if got is not None else got
            if got is None or getattr(got, "shape", None) != x.shape:
                expect_close(got, x, case=case, name="the output", hint=DROPOUT_RULE)
            dropped = float(np.mean(got == 0))
            if abs(dropped - (1 - p)) < 0.01 and abs(p - 0.5) > 0.05:
                fail(
                    case,
                    f"{dropped:.1%} of the entries were dropped, but p = {p} is the probability of "
                    "dropping: p seems to be used as the probability of keeping",
                    DROPOUT_RULE,
                )
            if abs(dropped - p) > 0.01:
                fail(
                    case,
                    f"{dropped:.1%} of the entries were dropped; expected about {p:.0%}",
                    DROPOUT_RULE,
                )
            kept = got != 0
            ratio = got[kept] / x[kept]
            if np.allclose(ratio, 1.0):
                fail(
                    case,
                    "the surviving entries are unchanged: without the division by 1 - p the expected "
                    f"output is {1 - p:g} * x, and the network would see larger inputs at test time",
                    DROPOUT_RULE,
                )
            if not np.allclose(ratio, 1 / (1 - p)):
                fail(
                    case,
                    f"the surviving entries should be x / (1 - p) = {1 / (1 - p):g} * x; got ratios from "
                    f"{ratio.min():.4g} to {ratio.max():.4g}",
                    DROPOUT_RULE,
                )
            again = np.asarray(
                call(dropout, x, p, np.random.default_rng(1), training=True, case=case)
            )
            if np.array_equal(again == 0, got == 0):
                fail(
                    case,
                    "two calls with different generators dropped the same entries: draw the mask from rng",
                    DROPOUT_RULE,
                )
        case = f"p = {p}, not training"
        with scored(case):
            n_cases += 1
            got = call(dropout, x, p, np.random.default_rng(0), training=False, case=case)
            if got is not None and np.allclose(np.asarray(got, dtype=float), x * (1 - p)):
                fail(
                    case,
                    "in evaluation the output is x * (1 - p): that is the old, non-inverted dropout; with "
                    "inverted dropout the scaling happened in training, so evaluation returns x as it is",
                    DROPOUT_RULE,
                )
            expect_close(got, x, case=case, name="the output", hint=DROPOUT_RULE, rtol=0, atol=0)
    return f"{n_cases} cases: the share dropped, the 1 / (1 - p) scaling, a new mask per call, the identity in evaluation"


# ---------------------------------------------------------------------------------------------
# 9.4 a Tanh layer

TANH_RULE = (
    "class Tanh(Elementwise): forward stores t = np.tanh(x) and returns it; backward(dout, input_grad=True) "
    "returns dout * (1 - t**2), or None when input_grad is False"
)


@exercise("9.4", "a tanh layer through the package's protocol")
def _check_tanh(Tanh) -> str:
    case = "Tanh is a class of the package's protocol"
    with scored(case):
        if not isinstance(Tanh, type):
            fail(case, f"pass the class itself, Tanh, not {type(Tanh).__name__}", TANH_RULE)
        layer = invoke(Tanh, (), {}, case)
        if not isinstance(layer, Layer):
            fail(
                case,
                "Tanh() is not a scratchcnn.layers.Layer: fit, model_flops and check_layer rely on the "
                "protocol that Layer declares (train/eval, output_shape, flops)",
                TANH_RULE,
            )
    rng = np.random.default_rng(9)
    x = rng.standard_normal((3, 2, 4, 4)) * 2  # (N, C, H, W)
    case = "forward of a (3, 2, 4, 4) float64 batch"
    with scored(case):
        layer = Tanh()
        out = invoke(layer.forward, (x.copy(),), {}, case)
        expect_close(
            out, np.tanh(x), case=case, name="forward(x)", hint=TANH_RULE, rtol=1e-12, atol=1e-12
        )
    case = "backward: the gradient check in float64"
    with scored(case):
        dout = rng.standard_normal(x.shape)
        got = invoke(layer.backward, (dout,), {}, case)
        expect_close(
            got,
            dout * (1 - np.tanh(x) ** 2),
            case=case,
            name="backward(dout)",
            hint=TANH_RULE,
            rtol=1e-10,
            atol=1e-12,
        )
        errors = invoke(check_layer, (Tanh(), rng.standard_normal((2, 5))), {}, case)
        if not errors["x"] < 1e-7:
            fail(case, f"check_layer's relative error is {errors['x']:.2g}, above 1e-7", TANH_RULE)
        if invoke(layer.backward, (dout,), {"input_grad": False}, case) is not None:
            fail(
                case,
                "backward(dout, input_grad=False) should return None (the caller needs no gradient)",
                TANH_RULE,
            )
    case = "in a model: model_flops and output_shape"
    with scored(case):
        from ..perf import model_flops

        model = Sequential([Flatten(), Affine(12, 5, rng=0), Tanh(), Affine(5, 2, rng=0)])
        try:
            count = model_flops(model, (3, 2, 2))
        except TypeError as err:
            fail(
                case,
                f"model_flops could not count the layer: {err}",
                "subclass Elementwise (it counts "
                "forward_flops and backward_flops per element) or write flops(input_shape, input_grad=True)",
            )
        row = count.layers[2]
        if row.output_shape != (5,):
            fail(
                case,
                f"the layer changes the shape to {row.output_shape}; an activation keeps it",
                TANH_RULE,
            )
        if row.forward <= 0:
            fail(
                case,
                "model_flops counts 0 FLOPs for the tanh: set forward_flops (tanh costs a few per element)",
                TANH_RULE,
            )
    return "forward, backward, the gradient check, input_grad=False, and model_flops in a model"
