"""Self-checks for the book's exercises.

A check cell in a chapter calls ``check("2.1", my_function)``. The check runs the reader's
answer against the package's reference implementation on random and edge cases and either
prints a one-line success message or raises :class:`ExerciseFailed` with the case that failed,
the expected and received shape or values, and a hint. Raising (rather than printing) makes a
failed check visible to autograders (nbgrader, otter-grader) and stops "Run all".

Chapter modules (``ch02.py``, ...) register their exercises with :func:`exercise`::

    @exercise("2.1", "cross-correlation of one channel")
    def _(corr2d):
        x, k = ...
        expect_close(call(corr2d, x, k, case="3x3 ramp"), reference(x, k),
                     case="3x3 ramp", hint="...")
        return "4 cases, including a non-square kernel"
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = [
    "check",
    "exercises",
    "exercise",
    "call",
    "expect_close",
    "result_array",
    "same",
    "fail",
    "ExerciseFailed",
    "ExerciseNotAttempted",
]


class ExerciseFailed(AssertionError):
    """The reader's answer gave a wrong result on one of the check's cases."""


class ExerciseNotAttempted(ExerciseFailed):
    """The answer is still the stub (``...`` or ``raise NotImplementedError``)."""


@dataclass(frozen=True)
class _Exercise:
    id: str
    title: str
    run: Callable[[object], str]


_REGISTRY: dict[str, _Exercise] = {}


def exercise(exercise_id: str, title: str):
    """Register the decorated function as the check of exercise ``exercise_id``.

    The function receives the reader's answer, raises :class:`ExerciseFailed` (use
    :func:`fail`, :func:`expect_close`) on a wrong answer and returns a short summary of what
    it verified.
    """

    def register(run: Callable[[object], str]) -> Callable[[object], str]:
        if exercise_id in _REGISTRY:
            raise RuntimeError(f"exercise {exercise_id!r} is registered twice")
        _REGISTRY[exercise_id] = _Exercise(exercise_id, title, run)
        return run

    return register


def _load_chapters() -> None:
    for module in pkgutil.iter_modules(__path__):
        if module.name.startswith("ch"):
            importlib.import_module(f"{__name__}.{module.name}")


def exercises() -> dict[str, str]:
    """All registered exercises, ``{id: title}``, in book order."""
    _load_chapters()
    key = lambda eid: tuple(int(p) if p.isdigit() else p for p in eid.split("."))  # noqa: E731
    return {eid: _REGISTRY[eid].title for eid in sorted(_REGISTRY, key=key)}


def _not_attempted(exercise_id: str) -> ExerciseNotAttempted:
    return ExerciseNotAttempted(
        f"Exercise {exercise_id} is not done yet: replace the `...` or the "
        "`raise NotImplementedError(...)` with your code, run that cell, then run this one again."
    )


def check(exercise_id: str, answer) -> None:
    """Check the reader's ``answer`` to exercise ``exercise_id`` and say what happened.

    Prints ``Exercise 2.1 passed: ...`` on success; raises :class:`ExerciseFailed` with a
    readable message otherwise.
    """
    known = exercises()
    if exercise_id not in known:
        raise KeyError(
            f"There is no exercise {exercise_id!r}; the exercises with checks are: "
            + ", ".join(known)
        )
    if answer is Ellipsis:
        raise _not_attempted(exercise_id)
    ex = _REGISTRY[exercise_id]
    try:
        summary = ex.run(answer)
    except ExerciseFailed as err:
        if isinstance(err, ExerciseNotAttempted):
            raise _not_attempted(exercise_id) from None
        raise ExerciseFailed(f"Exercise {exercise_id} ({ex.title}) failed.\n{err}") from None
    print(f"Exercise {exercise_id} passed: {summary}")


def fail(case: str, problem: str, hint: str | None = None):
    """Raise :class:`ExerciseFailed` for ``case`` with ``problem`` and an optional ``hint``."""
    message = f"Case {case}: {problem}"
    if hint:
        message += f"\nHint: {hint}"
    raise ExerciseFailed(message)


def call(answer: Callable, *args, case: str, **kwargs):
    """Call the reader's function; turn its exceptions into readable failures.

    ``NotImplementedError`` means the stub is still there; any other exception is reported
    with the case that triggered it. Inputs are copied so the reader's code cannot change the
    check's own arrays.
    """
    if not callable(answer):
        fail(case, f"expected a function, got {type(answer).__name__} {answer!r:.60}")
    args = tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)
    try:
        return answer(*args, **kwargs)
    except NotImplementedError:
        raise ExerciseNotAttempted() from None
    except Exception as err:  # noqa: BLE001 - any error in reader code is reported, not raised
        fail(case, f"your code raised {type(err).__name__}: {err}")


def expect_close(
    got,
    expected,
    *,
    case: str,
    hint: str | None = None,
    name: str = "the result",
    rtol: float = 1e-6,
    atol: float = 1e-8,
) -> None:
    """Fail unless ``got`` is an array (or number) of ``expected``'s shape and values."""
    if got is Ellipsis or got is None:
        if got is Ellipsis:
            raise ExerciseNotAttempted()
        fail(case, f"{name} is None: did the function forget to `return`?", hint)
    expected = np.asarray(expected)
    try:
        got_arr = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        fail(case, f"{name} should be an array of shape {expected.shape}, got {type(got).__name__}", hint)
    if got_arr.shape != expected.shape:
        fail(case, f"{name} should have shape {expected.shape}, got shape {got_arr.shape}", hint)
    if not np.all(np.isfinite(got_arr)) and np.all(np.isfinite(expected)):
        fail(case, f"{name} contains NaN or infinity; expected finite values", hint)
    if not np.allclose(got_arr, expected, rtol=rtol, atol=atol):
        diff = np.abs(got_arr - expected)
        where = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.ndim else ()
        at = f" at index {tuple(int(i) for i in where)}" if where else ""
        fail(
            case,
            f"{name} is wrong{at}: expected {float(expected[where]):.6g}, "
            f"got {float(got_arr[where]):.6g} (largest difference {float(diff.max()):.3g})",
            hint,
        )


def result_array(got, shape: tuple, case: str, name: str = "the result") -> np.ndarray:
    """The reader's result as a float array, or a failure for None, ``...`` or non-numbers."""
    if got is None or got is Ellipsis:
        expect_close(got, np.zeros(shape), case=case, name=name)  # raises the right error
    try:
        return np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        fail(case, f"{name} should be an array of shape {shape}, got {type(got).__name__}")


def same(a, b, rtol: float = 1e-6, atol: float = 1e-8) -> bool:
    """Whether ``a`` and ``b`` have the same shape and close values (for telling mistakes apart)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol))
