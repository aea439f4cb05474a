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

Then, for the book's model and chapter 9's ``lenet`` at batch 64, float32:

- where a training step's time goes, layer by layer (:func:`scratchcnn.perf.profile_layers`);
- when PyTorch is importable (a developer's extra, never a dependency of the book), the ratio of
  :func:`scratchcnn.train.fit` (shuffling, validation of the data and divergence checks included)
  to PyTorch's fastest configuration (NCHW or channels_last, its default threads or one) training
  the same model on the same batches, all timed in interleaved rounds; the median round counts.

``--contention`` adds the busy-machine table: two trainings at once against one, with 1 and 2
BLAS threads, each training in a process of its own.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from .layers import SoftmaxCrossEntropy
from .models import book_model, lenet
from .naive import naive_step
from .optim import SGD
from .perf import measure_gemm_gflops, model_flops, profile_layers, time_interleaved
from .train import _blas_limit, fit

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


def run(
    batches: int = 200, naive_samples: int = 5, repeat: int = 3, seed: int = 0, out=sys.stdout
) -> list[Result]:
    """Measure everything and print the report to ``out``; returns the results."""
    rng = np.random.default_rng(seed)
    say = lambda text="": print(text, file=out, flush=True)  # noqa: E731

    say(
        f"scratchcnn benchmark: the book's model, {INPUT} inputs, training steps (forward, backward, SGD update)"
    )
    say(
        f"machine: {platform.machine()}, Python {platform.python_version()}, NumPy {np.__version__}"
    )
    gemm32 = measure_gemm_gflops(1024, dtype=np.float32)
    gemm64 = measure_gemm_gflops(1024, dtype=np.float64)
    say(
        f"measured matrix-multiply rate (1024x1024 @ 1024x1024): float32 {gemm32:.1f} GFLOP/s, float64 {gemm64:.1f} GFLOP/s"
    )
    flops = model_flops(book_model(rng=0), INPUT).step
    say(
        f"arithmetic per training sample: {flops / 1e6:.2f} MFLOP (forward + backward, scratchcnn.perf.model_flops)"
    )
    say()

    # Naive loops, one image at a time, float64 like the classic tutorials.
    params = {k: v.astype(np.float64) for k, v in book_model(rng=0).params().items()}
    x1 = rng.random((1, *INPUT))
    y1 = np.array([3])
    naive_t = time_interleaved(
        {"naive": lambda: naive_step(params, x1, y1)}, repeat=naive_samples, number=1
    )["naive"]

    # Vectorized: several batch sizes and dtypes, timed in interleaved rounds.
    configs = [
        ("vectorized, batch 1, float32", 1, np.float32, max(batches, 200)),
        ("vectorized, batch 64, float32", 64, np.float32, batches),
        ("vectorized, batch 128, float32", 128, np.float32, max(1, batches // 2)),
        ("vectorized, batch 64, float64", 64, np.float64, batches),
    ]
    steps, per_call = {}, {}
    for name, bs, dtype, count in configs:
        model = book_model(rng=0, dtype=dtype)
        X = rng.random((max(count, 1) * bs if bs > 1 else 256, *INPUT)).astype(dtype)
        y = rng.integers(0, 10, size=len(X))
        step = _vectorized_step(model, SoftmaxCrossEntropy(), SGD(0.01, momentum=0.9), X, y, bs)
        steps[name] = lambda step=step, count=count: [step() for _ in range(count)]
        per_call[name] = (bs, count)
    timings = time_interleaved(steps, repeat=repeat, number=1, warmup=1)

    results = [Result("naive loops, batch 1, float64", naive_t.best)]
    for name, (bs, count) in per_call.items():
        results.append(Result(name, timings[name].best / (count * bs)))

    base = results[0].seconds_per_sample
    say(f"{'variant':<34}{'ms/sample':>11}{'s/epoch':>11}{'speed-up':>10}{'GFLOP/s':>9}")
    for r in results:
        say(
            f"{r.name:<34}{r.seconds_per_sample * 1e3:>11.4f}{r.epoch_seconds:>11.2f}"
            f"{base / r.seconds_per_sample:>9.0f}x{flops / r.seconds_per_sample / 1e9:>9.2f}"
        )
    say()
    say(
        f"How the figures were taken: the naive loops were timed on {naive_samples} single-image steps; "
        f"each vectorized variant on {batches} batches of 64 (half as many of 128, at least 200 steps at batch 1), "
        f"{repeat} interleaved rounds, best round kept. Seconds per epoch are estimates: time per sample "
        f"x {EPOCH:,} images, not a timed epoch."
    )
    best = min(results[1:], key=lambda r: r.seconds_per_sample)
    say(
        f"Fastest: {best.name}, {best.epoch_seconds:.2f} s per epoch, {flops / best.seconds_per_sample / 1e9:.2f} GFLOP/s "
        f"= {flops / best.seconds_per_sample / 1e9 / gemm32:.1%} of the float32 matrix-multiply rate. "
        f"The model's arithmetic alone, at that rate, would take {flops * EPOCH / (gemm32 * 1e9):.2f} s per epoch: "
        "the rest is memory traffic and per-call overhead on small arrays."
    )
    return results


MODELS = {"book_model": book_model, "lenet": lenet}
# Images per timed round of the comparison with PyTorch (whole batches of 64): a round of a few
# batches would be at the mercy of one slow moment of a shared machine.
COMPARE_IMAGES = {"book_model": 64 * 60, "lenet": 64 * 12}


def _data(images: int, seed: int = 0, dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((images, *INPUT), dtype=np.float64).astype(dtype), rng.integers(
        0, 10, size=images
    )


def print_profile(name: str, batch_size: int = 64, repeat: int = 10, out=sys.stdout) -> list:
    """Print where a training step of ``MODELS[name]`` goes, layer by layer (best of ``repeat``).

    The layers run as in ``fit``: one BLAS thread, so this thread's CPU time (``time.thread_time``)
    is all their work, and the time spent waiting for a core on a busy machine is left out.
    """
    model = MODELS[name](rng=0)
    X, y = _data(batch_size)
    with _blas_limit(1):
        rows = profile_layers(model, X, y, repeat=repeat, clock=time.thread_time)
    total = sum(r.total for r in rows)
    print(
        f"{name}, batch {batch_size}, float32: CPU ms per batch (one BLAS thread, as in fit), "
        f"best of {repeat} interleaved rounds",
        file=out,
    )
    print(f"  {'layer':<52}{'forward':>9}{'backward':>9}{'share':>8}", file=out)
    for r in rows:
        print(
            f"  {r.name:<52}{r.forward * 1e3:>9.3f}{r.backward * 1e3:>9.3f}{r.total / total:>8.1%}",
            file=out,
        )
    print(
        f"  {'sum':<52}{sum(r.forward for r in rows) * 1e3:>9.3f}{sum(r.backward for r in rows) * 1e3:>9.3f}",
        file=out,
    )
    return rows


def _torch_twin(model, torch, channels_last: bool):
    """The PyTorch network of the same layers and the same initial weights as ``model``."""
    from . import layers as L

    nn = torch.nn
    mods = []
    for layer in model.layers:
        if isinstance(layer, L.Conv2D):
            m = nn.Conv2d(
                layer.in_channels,
                layer.out_channels,
                layer.kernel_size,
                layer.stride,
                layer.padding,
            )
            m.weight.data = torch.from_numpy(layer.params["W"].copy())
            m.bias.data = torch.from_numpy(layer.params["b"].copy())
        elif isinstance(layer, L.Affine):
            m = nn.Linear(layer.in_features, layer.out_features)
            m.weight.data = torch.from_numpy(layer.params["W"].T.copy())
            m.bias.data = torch.from_numpy(layer.params["b"].copy())
        elif isinstance(layer, L.ReLU):
            m = nn.ReLU()
        elif isinstance(layer, L.Sigmoid):
            m = nn.Sigmoid()
        elif isinstance(layer, L.MaxPool2D):
            m = nn.MaxPool2d(layer.kernel_size, layer.stride)
        elif isinstance(layer, L.Flatten):
            m = nn.Flatten()
        elif isinstance(layer, L.Dropout):
            m = nn.Dropout(layer.p)
        else:
            raise TypeError(f"no PyTorch twin for {layer!r}")
        mods.append(m)
    net = nn.Sequential(*mods)
    return net.to(memory_format=torch.channels_last) if channels_last else net


def _torch_epoch(torch, net, X, y, batch_size, seed, lr, momentum, channels_last, threads):
    """One epoch of PyTorch's usual training loop over ``(X, y)``, shuffled like ``fit``."""
    torch.set_num_threads(threads)
    order = torch.from_numpy(np.random.default_rng(seed).permutation(len(X)))
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum)
    net.train()
    for s in range(0, len(X), batch_size):
        idx = order[s : s + batch_size]
        xb = Xt[idx]
        if channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(net(xb), yt[idx])
        loss.backward()
        opt.step()


def compare_torch(
    names=("book_model", "lenet"),
    repeat: int = 3,
    batch_size: int = 64,
    images=None,
    out=sys.stdout,
) -> dict | None:
    """Ratios of ``fit``'s time to PyTorch's fastest configuration, per model; None without PyTorch.

    Every variant trains one epoch over the same ``images`` random images per round, in the same
    shuffled order, with SGD (lr 0.01, momentum 0.9); the variants take turns in ``repeat``
    rounds after one warm-up round, and the median round of each is compared.
    """
    try:
        import torch
    except ImportError:
        print(
            "PyTorch is not importable here: no comparison (pip install torch in a separate environment)",
            file=out,
        )
        return None
    default_threads = torch.get_num_threads()
    ours = os.environ.get("SCRATCHCNN_BLAS_THREADS", "1 (fit's default)")
    print(
        f"PyTorch {torch.__version__}, default threads {default_threads}; scratchcnn fit with BLAS threads: {ours}",
        file=out,
    )
    ratios = {}
    for name in names:
        count = (images or COMPARE_IMAGES)[name] if not isinstance(images, int) else images
        X, y = _data(count, seed=1)
        model = MODELS[name](rng=0)
        fns = {
            "scratchcnn fit": lambda model=model, X=X, y=y: fit(
                model,
                X,
                y,
                epochs=1,
                batch_size=batch_size,
                optimizer=SGD(0.01, momentum=0.9),
                rng=0,
                progress=False,
            )
        }
        for threads in sorted({default_threads, 1}, reverse=True):
            for layout in ("NCHW", "channels_last"):
                net = _torch_twin(MODELS[name](rng=0), torch, layout == "channels_last")
                fns[f"PyTorch {layout}, {threads} thread{'s' if threads > 1 else ''}"] = (
                    lambda net=net, X=X, y=y, cl=layout == "channels_last", t=threads: _torch_epoch(
                        torch, net, X, y, batch_size, 0, 0.01, 0.9, cl, t
                    )
                )
        cpu = {k: [] for k in fns}  # the process's CPU seconds of each call, beside the wall time

        def with_cpu(k, fn, cpu=cpu):
            def call():
                start = time.process_time()
                fn()
                cpu[k].append(time.process_time() - start)

            return call

        try:
            timings = time_interleaved(
                {k: with_cpu(k, fn) for k, fn in fns.items()}, repeat=repeat, number=1, warmup=1
            )
        finally:
            torch.set_num_threads(default_threads)
        per_epoch = {k: t.median / count * EPOCH for k, t in timings.items()}
        cpu_epoch = {
            k: statistics.median(v[1:]) / count * EPOCH for k, v in cpu.items()
        }  # warm-up dropped
        fastest = min((k for k in per_epoch if k.startswith("PyTorch")), key=per_epoch.get)
        ratios[name] = per_epoch["scratchcnn fit"] / per_epoch[fastest]
        print(
            f"{name}, batch {batch_size}, float32, {count} images a round, {repeat} interleaved rounds "
            "(median; s per 60k epoch, estimated):",
            file=out,
        )
        print(f"  {'':<34}{'wall s':>10}{'ratio':>8}{'CPU s':>10}", file=out)
        for k, sec in per_epoch.items():
            print(
                f"  {k:<34}{sec:>10.2f}{per_epoch['scratchcnn fit'] / sec:>7.2f}x{cpu_epoch[k]:>10.2f}",
                file=out,
            )
        print(f"  ratio scratchcnn / fastest PyTorch ({fastest}): {ratios[name]:.2f}", file=out)
    return ratios


def _contention_worker(name: str, threads: int, images: int) -> None:
    """One training in this process: print its seconds per step (fit with ``threads`` BLAS threads)."""
    X, y = _data(images, seed=2)
    model = MODELS[name](rng=0)
    fit(
        model,
        X[:128],
        y[:128],
        epochs=1,
        batch_size=64,
        optimizer=SGD(0.01),
        rng=0,
        progress=False,
        blas_threads=threads,
    )  # warm-up
    start = time.perf_counter()
    fit(
        model,
        X,
        y,
        epochs=1,
        batch_size=64,
        optimizer=SGD(0.01, momentum=0.9),
        rng=0,
        progress=False,
        blas_threads=threads,
    )
    print((time.perf_counter() - start) / (images // 64))


def _trainings_at_once(name: str, threads: int, images: int, at_once: int) -> float:
    """Start ``at_once`` trainings together; the mean of their seconds per step."""
    code = f"from scratchcnn.bench import _contention_worker as w; w({name!r}, {threads}, {images})"
    env = {k: v for k, v in os.environ.items() if k != "SCRATCHCNN_BLAS_THREADS"}
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
        for _ in range(at_once)
    ]
    times = []
    for proc in procs:
        text, _ = proc.communicate()
        if proc.returncode:
            raise RuntimeError(f"contention worker failed (exit {proc.returncode})")
        times.append(float(text.strip().splitlines()[-1]))
    return sum(times) / len(times)


def contention(names=("book_model", "lenet"), repeat: int = 3, images=None, out=sys.stdout) -> dict:
    """Two trainings at once against one, with 1 and 2 BLAS threads: ms per step, median of ``repeat``."""
    images = images or {"book_model": 64 * 60, "lenet": 64 * 8}
    table = {}
    for name in names:
        runs = {(t, k): [] for t in (1, 2) for k in (1, 2)}
        for _ in range(repeat):  # interleaved: every configuration once per round
            for key in runs:
                runs[key].append(_trainings_at_once(name, key[0], images[name], key[1]))
        table[name] = {key: statistics.median(v) for key, v in runs.items()}
        print(
            f"{name}, batch 64, float32: ms per training step, median of {repeat} interleaved rounds",
            file=out,
        )
        print(
            f"  {'BLAS threads':<14}{'one training':>14}{'two at once':>14}{'slow-down':>11}",
            file=out,
        )
        for t in (1, 2):
            one, two = table[name][(t, 1)], table[name][(t, 2)]
            print(f"  {t:<14}{one * 1e3:>14.1f}{two * 1e3:>14.1f}{two / one:>10.2f}x", file=out)
    return table


def contention_markdown(table: dict, repeat: int = 3) -> str:
    """The :func:`contention` table as the Markdown that ``book/setup.md`` includes."""
    names = {"book_model": "the book's model", "lenet": "`lenet` (chapter 9)"}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        f"Measured by `python -m scratchcnn.bench --contention --contention-md FILE` on "
        f"{date.today().isoformat()} ({platform.machine()}, {os.cpu_count()} cores, load average "
        f"{load:.1f} when it finished): batch 64, float32, milliseconds per training step with "
        f"`fit`, median of {repeat} interleaved rounds, each training in a process of its own.",
        "",
        "| model | BLAS threads | one training | two at once | slow-down |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, runs in table.items():
        for t in (1, 2):
            one, two = runs[(t, 1)], runs[(t, 2)]
            lines.append(
                f"| {names.get(name, name)} | {t} | {one * 1e3:,.1f} | {two * 1e3:,.1f} | "
                f"{two / one:.2f}x |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scratchcnn.bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--batches", type=int, default=200, help="batches of 64 timed per round (default 200)"
    )
    parser.add_argument(
        "--naive-samples", type=int, default=5, help="single-image naive steps timed (default 5)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--no-torch", action="store_true", help="skip the comparison with PyTorch")
    parser.add_argument("--no-profile", action="store_true", help="skip the per-layer profiles")
    parser.add_argument(
        "--contention",
        action="store_true",
        help="also time two trainings at once against one, with 1 and 2 BLAS threads (minutes)",
    )
    parser.add_argument(
        "--contention-md",
        metavar="FILE",
        help="with --contention: also write that table as Markdown to FILE (book/contention.md)",
    )
    args = parser.parse_args(argv)
    if args.contention_md and not args.contention:
        parser.error("--contention-md needs --contention")
    if min(args.batches, args.naive_samples, args.repeat) < 1:
        parser.error("--batches, --naive-samples and --repeat must be at least 1")
    run(args.batches, args.naive_samples, args.repeat)
    if not args.no_profile:
        print("\nWhere a training step goes (one BLAS thread, as in fit):")
        for name in MODELS:
            print_profile(name)
    if not args.no_torch:
        print("\nAgainst PyTorch, training with fit:")
        compare_torch(repeat=args.repeat)
    if args.contention:
        print("\nA busy machine: two trainings at once against one")
        table = contention(repeat=args.repeat)
        if args.contention_md:
            Path(args.contention_md).write_text(contention_markdown(table, args.repeat))
            print(f"wrote {args.contention_md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
