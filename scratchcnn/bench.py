"""``python -m scratchcnn.bench``: how fast the book's model trains, in figures.

It measures, for the book's model (Conv2D 1->8 3x3, ReLU, MaxPool 2, Flatten, Affine 1352->10)
on 28x28 inputs:

- milliseconds per training sample (forward, backward, SGD update) of the naive loop layers
  (:mod:`scratchcnn.naive`), one image at a time;
- the same for the vectorized layers at batch size 1;
- seconds per 60,000-image epoch of the vectorized layers at batch sizes 64 and 128 (float32,
  and float64 at 64), *estimated* from a few hundred timed batches: the per-batch time times the
  number of batches in an epoch;
- the speed-ups, and the arithmetic rate achieved (FLOPs per step from
  :func:`scratchcnn.perf.model_flops`) next to this machine's measured matrix-multiply rate.

The variants are timed in interleaved rounds (a, b, c, a, b, c, ...) and the best round is kept,
because a shared machine's speed drifts from second to second: compare figures of one run.
Inputs are random (timing does not depend on the pixel values).
"""

from __future__ import annotations

import argparse
import platform
import sys
from dataclasses import dataclass

import numpy as np

from .layers import SoftmaxCrossEntropy
from .models import book_model
from .naive import naive_step as naive_step  # re-exported: chapter 8 imports it from here (moved to naive)
from .optim import SGD
from .perf import measure_gemm_gflops, model_flops, time_interleaved

EPOCH = 60_000
INPUT = (1, 28, 28)


@dataclass(frozen=True)
class Result:
    name: str
    seconds_per_sample: float

    @property
    def epoch_seconds(self) -> float:
        return self.seconds_per_sample * EPOCH


def _vectorized_step(model, loss_fn, optimizer, X, y, batch_size):
    """A function that runs one training step on the next batch of ``X`` each time it is called."""
    starts = range(0, len(X) - batch_size + 1, batch_size)
    state = {"i": 0}

    def step():
        s = starts[state["i"] % len(starts)]
        state["i"] += 1
        xb, yb = X[s : s + batch_size], y[s : s + batch_size]
        loss_fn.forward(model.forward(xb), yb)
        model.backward(loss_fn.backward(), input_grad=False)
        optimizer.step(model.params(), model.grads())

    return step


def run(batches: int = 200, naive_samples: int = 5, repeat: int = 3, seed: int = 0, out=sys.stdout) -> list[Result]:
    """Measure everything and print the report to ``out``; returns the results."""
    rng = np.random.default_rng(seed)
    say = lambda text="": print(text, file=out, flush=True)  # noqa: E731

    say(f"scratchcnn benchmark: the book's model, {INPUT} inputs, training steps (forward, backward, SGD update)")
    say(f"machine: {platform.machine()}, Python {platform.python_version()}, NumPy {np.__version__}")
    gemm32 = measure_gemm_gflops(1024, dtype=np.float32)
    gemm64 = measure_gemm_gflops(1024, dtype=np.float64)
    say(f"measured matrix-multiply rate (1024x1024 @ 1024x1024): float32 {gemm32:.1f} GFLOP/s, float64 {gemm64:.1f} GFLOP/s")
    flops = model_flops(book_model(rng=0), INPUT).step
    say(f"arithmetic per training sample: {flops / 1e6:.2f} MFLOP (forward + backward, scratchcnn.perf.model_flops)")
    say()

    # Naive loops, one image at a time, float64 like the classic tutorials.
    params = {k: v.astype(np.float64) for k, v in book_model(rng=0).params().items()}
    x1 = rng.random((1, *INPUT))
    y1 = np.array([3])
    naive_t = time_interleaved({"naive": lambda: naive_step(params, x1, y1)}, repeat=naive_samples, number=1)["naive"]

    # Vectorized: several batch sizes and dtypes, timed in interleaved rounds.
    configs = [("vectorized, batch 1, float32", 1, np.float32, max(batches, 200)),
               ("vectorized, batch 64, float32", 64, np.float32, batches),
               ("vectorized, batch 128, float32", 128, np.float32, max(1, batches // 2)),
               ("vectorized, batch 64, float64", 64, np.float64, batches)]
    steps, per_call = {}, {}
    for name, bs, dtype, count in configs:
        model = book_model(rng=0, dtype=dtype)
        X = rng.random((max(count, 1) * bs if bs > 1 else 256, *INPUT)).astype(dtype)
        y = rng.integers(0, 10, size=len(X))
        step = _vectorized_step(model, SoftmaxCrossEntropy(), SGD(0.01, momentum=0.9), X, y, bs)
        steps[name] = (lambda step=step, count=count: [step() for _ in range(count)])
        per_call[name] = (bs, count)
    timings = time_interleaved(steps, repeat=repeat, number=1, warmup=1)

    results = [Result("naive loops, batch 1, float64", naive_t.best)]
    for name, (bs, count) in per_call.items():
        results.append(Result(name, timings[name].best / (count * bs)))

    base = results[0].seconds_per_sample
    say(f"{'variant':<34}{'ms/sample':>11}{'s/epoch':>11}{'speed-up':>10}{'GFLOP/s':>9}")
    for r in results:
        say(f"{r.name:<34}{r.seconds_per_sample * 1e3:>11.4f}{r.epoch_seconds:>11.2f}"
            f"{base / r.seconds_per_sample:>9.0f}x{flops / r.seconds_per_sample / 1e9:>9.2f}")
    say()
    say(f"How the figures were taken: the naive loops were timed on {naive_samples} single-image steps; "
        f"each vectorized variant on {batches} batches of 64 (half as many of 128, at least 200 steps at batch 1), "
        f"{repeat} interleaved rounds, best round kept. Seconds per epoch are estimates: time per sample "
        f"x {EPOCH:,} images, not a timed epoch.")
    best = min(results[1:], key=lambda r: r.seconds_per_sample)
    say(f"Fastest: {best.name}, {best.epoch_seconds:.2f} s per epoch, {flops / best.seconds_per_sample / 1e9:.2f} GFLOP/s "
        f"= {flops / best.seconds_per_sample / 1e9 / gemm32:.1%} of the float32 matrix-multiply rate. "
        f"The model's arithmetic alone, at that rate, would take {flops * EPOCH / (gemm32 * 1e9):.2f} s per epoch: "
        "the rest is memory traffic and per-call overhead on small arrays.")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scratchcnn.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=200, help="batches of 64 timed per round (default 200)")
    parser.add_argument("--naive-samples", type=int, default=5, help="single-image naive steps timed (default 5)")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds (default 3)")
    args = parser.parse_args(argv)
    if min(args.batches, args.naive_samples, args.repeat) < 1:
        parser.error("--batches, --naive-samples and --repeat must be at least 1")
    run(args.batches, args.naive_samples, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
