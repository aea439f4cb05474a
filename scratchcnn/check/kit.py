"""The small kit every chapter's checks are written with: cases, mistakes, one ``diagnose()``.

A check is a table, not a program:

- its **cases**: fixed, named ones (the hand-made example, the edge cases), then
  :data:`HIDDEN` random ones drawn from :func:`hidden_rng`, whose seed is drawn at run time
  (``secrets``), so no run can be replayed from the package's source;
- its **mistakes**: :class:`Mistake` records, each a name, a function that produces the wrong
  answer from the case's inputs (through the references of :mod:`scratchcnn.naive`), and the
  hint that explains it;
- :func:`diagnose` compares the reader's result with each mistake in turn and fails with the
  first one it matches.

Each case runs inside :func:`scored`: in self-study the first failure stops the check with its
message; in a graded run (:mod:`scratchcnn.check.grading`) every case is run and counted, and the
share of cases passed is the grade.
"""

from __future__ import annotations

import secrets
import textwrap
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

HIDDEN = 12  # random cases after the fixed ones, in every call
WIDTH = 100  # hint text is wrapped to this many columns

__all__ = [
    "HIDDEN",
    "Mistake",
    "Run",
    "diagnose",
    "hidden_rng",
    "scored",
    "tolerance",
    "wrap",
]


def hidden_rng() -> np.random.Generator:
    """A generator for the hidden cases, seeded at run time: the seed is in no source file."""
    return np.random.default_rng(secrets.randbits(128))


def tolerance(*dtypes) -> dict:
    """``rtol``/``atol`` that fit the least precise of ``dtypes`` (float32 or float16 inputs)."""
    kinds = [np.dtype(d) for d in dtypes if d is not None]
    floats = [d for d in kinds if d.kind == "f"]
    least = min((d.itemsize for d in floats), default=8)
    if least <= 2:
        return {"rtol": 1e-2, "atol": 1e-3}
    if least <= 4:
        return {"rtol": 1e-4, "atol": 1e-5}
    return {"rtol": 1e-7, "atol": 1e-10}


def wrap(text: str, width: int = WIDTH) -> str:
    """``text`` wrapped to ``width`` columns (long words, such as code, are never broken)."""
    return "\n".join(
        textwrap.fill(par, width=width, break_long_words=False, break_on_hyphens=False)
        if par
        else ""
        for par in text.split("\n")
    )


@dataclass(frozen=True)
class Mistake:
    """A classic wrong answer: what it is called, how to make it from the inputs, the hint.

    ``make(*inputs)`` returns what the mistaken code would return for the case's inputs (or
    None when the mistake cannot be told apart on these inputs); ``when(*inputs)`` says whether
    the mistake is worth trying at all (e.g. a stride mistake only when the stride is not 1).
    ``name`` and ``hint`` may be functions of the inputs too, to quote the case's sizes; with
    ``quotes_answer``, they are called as ``name(got, *inputs)``, to quote the reader's value.
    ``same``, when given, replaces :func:`diagnose`'s comparison for this mistake (its own tolerance).
    """

    name: (
        str | Callable[..., str]
    )  # what went wrong, said to the reader: "the bias b seems not to be added"
    make: Callable[..., object]
    hint: str | Callable[..., str]
    when: Callable[..., bool] = field(default=lambda *inputs: True)
    quotes_answer: bool = False
    same: Callable[[object, object], bool] | None = None


@dataclass
class Run:
    """The state of one check run (self-study or graded)."""

    graded: bool = False
    results: list = field(default_factory=list)  # (case, passed, hidden)
    flagged: list = field(default_factory=list)  # forbidden calls seen ("scipy.signal.correlate2d")
    numpy_only: bool = False
    low_precision: tuple = ()  # float32/float16 dtypes among the last call's inputs: tolerances widen


_STATE: dict = {"run": None}


def current() -> Run | None:
    return _STATE["run"]


@contextmanager
def running(run: Run):
    previous = _STATE["run"]
    _STATE["run"] = run
    try:
        yield run
    finally:
        _STATE["run"] = previous


def graded() -> bool:
    run = current()
    return bool(run and run.graded)


HIDDEN_PREFIX = "hidden random case"


@contextmanager
def scored(case: str, hidden: bool | None = None):
    """One case of a check: a failure stops a self-study run and is counted in a graded run.

    A case whose name starts with :data:`HIDDEN_PREFIX` counts as hidden (its name is not shown
    in a graded report).
    """
    from . import ExerciseFailed, ExerciseNotAttempted

    hidden = str(case).startswith(HIDDEN_PREFIX) if hidden is None else hidden
    run = current()
    try:
        yield
    except ExerciseNotAttempted:
        raise
    except ExerciseFailed:
        if run is None or not run.graded:
            raise
        run.results.append((case, False, hidden))
        return
    if run is not None:
        run.results.append((case, True, hidden))


def diagnose(got, inputs: Sequence, mistakes: Sequence[Mistake], case: str, same: Callable) -> None:
    """Fail with the first of ``mistakes`` whose wrong answer ``got`` matches; return if none does."""
    from . import fail

    for mistake in mistakes:
        try:
            if not mistake.when(*inputs):
                continue
            wrong = mistake.make(*inputs)
        except Exception:
            continue
        if wrong is not None and (mistake.same or same)(got, wrong):
            said = (got, *inputs) if mistake.quotes_answer else tuple(inputs)
            name = mistake.name(*said) if callable(mistake.name) else mistake.name
            hint = mistake.hint(*said) if callable(mistake.hint) else mistake.hint
            fail(case, name, hint)


def far_apart_logit_cases():
    """The log-sum-exp cases every loss check ends with: ``(case, logits, labels)``.

    Rows far apart (``[[1000, 0], [0, -1000]]``) in float64 and float32 catch a shift by the
    whole batch's maximum, which every row of 1000s would hide; then hidden random rows shifted
    by hundreds, some up and some down.
    """
    for dtype in (np.float64, np.float32):
        name = np.dtype(dtype).name
        yield (
            f"{name} logits [[1000, -1000]], label [1]",
            np.array([[1000.0, -1000.0]], dtype=dtype),
            np.array([1]),
        )
        yield (
            f"{name} rows far apart [[1000, 0], [0, -1000]], labels [1, 0]: each row needs its own maximum",
            np.array([[1000.0, 0.0], [0.0, -1000.0]], dtype=dtype),
            np.array([1, 0]),
        )
    hidden = hidden_rng()
    for i in range(HIDDEN):
        n, k = int(hidden.integers(1, 8)), int(hidden.integers(2, 11))
        z = hidden.standard_normal((n, k)) * 3 + hidden.choice([0.0, 0.0, 700.0, -900.0], (n, 1))
        dtype = np.float32 if hidden.random() < 0.4 else np.float64
        yield (
            f"hidden random case {i + 1}: {dtype.__name__} logits ({n}, {k}), rows far apart",
            z.astype(dtype),
            hidden.integers(0, k, n),
        )
