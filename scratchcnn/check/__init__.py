"""Self-checks for the book's exercises.

A check cell in a chapter calls ``check("2.1", my_function)``. The check runs the reader's
answer against the package's reference implementation on random and edge cases and either
prints a one-line success message or raises :class:`ExerciseFailed` with the case that failed,
the expected and received shape or values, and a hint. Raising (rather than printing) makes a
failed check visible to autograders (nbgrader, otter-grader) and stops "Run all".

Every call runs the fixed, named cases and then :data:`~scratchcnn.check.kit.HIDDEN` random ones
from a seed drawn at run time. Graded runs (nbgrader, otter) go through
:func:`scratchcnn.check.grading.grade` instead: the check runs in a separate process, every case
is counted, and the grade is the share of cases passed (see :mod:`scratchcnn.check.grading`).

Chapter modules (``ch02.py``, ...) register their exercises with :func:`exercise`, as a table
of cases and :class:`~scratchcnn.check.kit.Mistake` records (see :mod:`scratchcnn.check.kit`)::

    MISTAKES = [Mistake("the kernel looks flipped", lambda x, k: corr2d_naive(x, k[::-1, ::-1]), HINT)]

    @exercise("2.1", "cross-correlation of one channel", numpy_only=True)
    def _(corr2d):
        for case, x, k in cases():  # fixed, named cases, then HIDDEN random ones from hidden_rng()
            with scored(case):
                got = result_array(call(corr2d, x, k, case=case), ..., case)
                if not same(got, corr2d_naive(x, k)):
                    diagnose(got, (x, k), MISTAKES, case, same)
                    expect_close(got, corr2d_naive(x, k), case=case, hint="...")
        return "summary of what was verified"
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .kit import HIDDEN, Mistake, Run, diagnose, hidden_rng, running, scored, tolerance, wrap
from .kit import current as _current_run
from .kit import graded as _graded

__all__ = [
    "check",
    "exercises",
    "exercise",
    "call",
    "expect_close",
    "result_array",
    "same",
    "fail",
    "rehint",
    "expected_got",
    "ExerciseFailed",
    "ExerciseNotAttempted",
    "HIDDEN",
    "Mistake",
    "diagnose",
    "hidden_rng",
    "scored",
    "tolerance",
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
    numpy_only: bool = (
        False  # the exercise says "NumPy only": calls of scratchcnn or SciPy are reported
    )


_REGISTRY: dict[str, _Exercise] = {}


def exercise(exercise_id: str, title: str, numpy_only: bool = False):
    """Register the decorated function as the check of exercise ``exercise_id``.

    The function receives the reader's answer, raises :class:`ExerciseFailed` (use
    :func:`fail`, :func:`expect_close`) on a wrong answer and returns a short summary of what
    it verified. Each case's work sits in a ``with scored(case):`` block. ``numpy_only`` marks an
    exercise whose text says "NumPy only": an answer that calls scratchcnn's own code or SciPy
    gets a warning in self-study and no credit in a graded run.
    """

    def register(run: Callable[[object], str]) -> Callable[[object], str]:
        if exercise_id in _REGISTRY:
            raise RuntimeError(f"exercise {exercise_id!r} is registered twice")
        _REGISTRY[exercise_id] = _Exercise(exercise_id, title, run, numpy_only)
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


def _lookup(exercise_id: str) -> _Exercise:
    known = exercises()
    if exercise_id not in known:
        raise KeyError(
            f"There is no exercise {exercise_id!r}; the exercises with checks are: "
            + ", ".join(known)
        )
    return _REGISTRY[exercise_id]


def check(exercise_id: str, answer) -> None:
    """Check the reader's ``answer`` to exercise ``exercise_id`` and say what happened.

    Prints ``Exercise 2.1 passed: ...`` on success; raises :class:`ExerciseFailed` with a
    readable message otherwise. For grading, use :func:`scratchcnn.check.grading.grade`.
    """
    ex = _lookup(exercise_id)
    if answer is Ellipsis:
        raise _not_attempted(exercise_id)
    run = Run(graded=False, numpy_only=ex.numpy_only)
    try:
        with running(run):
            summary = ex.run(answer)
    except ExerciseFailed as err:
        if isinstance(err, ExerciseNotAttempted):
            raise _not_attempted(exercise_id) from None
        raise ExerciseFailed(f"Exercise {exercise_id} ({ex.title}) failed.\n{err}") from None
    print(f"Exercise {exercise_id} passed: {summary}")
    if run.flagged:
        print(
            wrap(
                f"Warning: the exercise asks for NumPy only, but your answer calls {', '.join(run.flagged)}. "
                "A graded run gives no credit for it: write the computation yourself."
            )
        )


def run_graded(exercise_id: str, answer, flagged: list | None = None) -> dict:
    """Run every case of the check on ``answer`` and count them (the graded run's core).

    Returns ``{"passed": int, "total": int, "failed": [case names], "flagged": [calls],
    "not_attempted": bool, "error": str or None}``. Prints nothing.
    """
    ex = _lookup(exercise_id)
    report = {
        "passed": 0,
        "total": 0,
        "failed": [],
        "hidden_failed": 0,
        "flagged": [],
        "not_attempted": False,
        "error": None,
    }
    if answer is Ellipsis:
        report["not_attempted"] = True
        return report
    run = Run(graded=True, numpy_only=ex.numpy_only)
    try:
        with running(run):
            ex.run(answer)
    except ExerciseNotAttempted:
        report["not_attempted"] = True
    except ExerciseFailed:  # a failure outside any case: the answer could not be checked at all
        report["error"] = "the answer could not be checked (see the self-study check for why)"
    if not run.results:  # a check with one case only (a value such as 2.3's kernel)
        run.results.append(("the answer", not (report["not_attempted"] or report["error"]), False))
    report["total"] = len(run.results)
    report["passed"] = sum(1 for _, ok, _ in run.results if ok)
    report["failed"] = [case for case, ok, hidden in run.results if not ok and not hidden]
    report["hidden_failed"] = sum(1 for _, ok, hidden in run.results if not ok and hidden)
    report["flagged"] = list(dict.fromkeys([*run.flagged, *(flagged or [])]))
    if report["not_attempted"] or report["error"]:
        report["passed"] = 0
    return report


def fail(case: str, problem: str, hint: str | None = None):
    """Raise :class:`ExerciseFailed` for ``case`` with ``problem`` and an optional ``hint``."""
    message = wrap(f"Case {case}: {problem}")
    if hint:
        message += "\n" + wrap(f"Hint: {hint}")
    err = ExerciseFailed(message)
    err.case, err.problem, err.hint = case, problem, hint
    raise err


def rehint(err: ExerciseFailed, hint: str):
    """Raise ``err`` again with ``hint`` in place of its own (a better hint for this exercise)."""
    if getattr(err, "problem", None) is None:
        raise err
    fail(err.case, err.problem, hint)


BROADCAST_HINT = (
    "shapes that do not line up: a reduction such as z.max(axis=1) drops its axis, (N, K) becomes (N,), "
    "which no longer lines up with (N, K); keep it with keepdims=True, shape (N, 1). A bias b of shape "
    "(F,) lines up with a feature map (F, H, W) as b[:, None, None] and with a batch (N, F) as it is"
)
IN_PLACE_HINT = (
    "the function wrote into one of its input arrays (a read-only copy here), e.g. z -= z.max(...) or "
    "x[...] = ...: that changes the caller's data. Compute into a new array instead: z = z - z.max(...)"
)

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_CHECK_DIR = os.path.dirname(os.path.abspath(__file__))


def _scipy_dir() -> str | None:
    module = sys.modules.get("scipy")
    path = getattr(module, "__file__", None)
    return os.path.dirname(os.path.abspath(path)) if path else None


class _Forbidden:
    """A profiler that records calls of scratchcnn's own code (outside its checks) or SciPy's."""

    def __init__(self, record: list):
        self.record = record
        self.scipy = _scipy_dir()

    def __call__(self, frame, event, arg):
        if event == "call":
            name = frame.f_code.co_filename
            if name.startswith(_PACKAGE_DIR) and not name.startswith(_CHECK_DIR):
                self._add(frame.f_globals.get("__name__", "scratchcnn"), frame.f_code.co_name)
            elif self.scipy and name.startswith(self.scipy):
                self._add(frame.f_globals.get("__name__", "scipy"), frame.f_code.co_name)
        elif event == "c_call":
            module = getattr(arg, "__module__", None) or ""
            if module.startswith("scipy"):
                self._add(module, getattr(arg, "__name__", "?"))

    def _add(self, module: str, name: str) -> None:
        what = f"{module}.{name}"
        if not self.record or self.record[-1] != what:
            if what not in self.record:
                self.record.append(what)
            sys.setprofile(None)  # one finding is enough: stop paying for the profiler
            self.stopped = True


def _read_only_copy(a):
    if isinstance(a, np.ndarray):
        a = a.copy()
        a.flags.writeable = False
    return a


def invoke(answer: Callable, args: tuple, kwargs: dict, case: str):
    """Call ``answer(*args, **kwargs)`` as the checks do: errors turned into readable failures.

    Watches for calls the exercise forbids (see :func:`exercise`'s ``numpy_only``) and silences
    NumPy's floating-point warnings (the check explains what went wrong instead).
    """
    run = _current_run()
    profiler = _Forbidden(run.flagged) if run is not None and run.numpy_only else None
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            if profiler is not None:
                sys.setprofile(profiler)
            try:
                return answer(*args, **kwargs)
            finally:
                if profiler is not None:
                    sys.setprofile(None)
    except NotImplementedError:
        raise ExerciseNotAttempted() from None
    except ExerciseFailed:
        raise
    except Exception as err:
        text = str(err)
        hint = None
        if isinstance(err, ValueError) and "read-only" in text:
            fail(case, f"your code raised ValueError: {text}", IN_PLACE_HINT)
        if "broadcast" in text or "could not be broadcast" in text:
            hint = BROADCAST_HINT
        fail(case, f"your code raised {type(err).__name__}: {text}", hint)


def call(answer: Callable, *args, case: str, writable: bool = False, **kwargs):
    """Call the reader's function; turn its exceptions into readable failures.

    ``NotImplementedError`` means the stub is still there; any other exception is reported
    with the case that triggered it. Array arguments are passed as read-only copies (unless
    ``writable``), so the reader's code can neither change the check's arrays nor modify its
    inputs in place unnoticed: that raises, and is named.
    """
    if not callable(answer):
        fail(case, f"expected a function, got {type(answer).__name__} {answer!r:.60}")
    run = _current_run()
    if run is not None:
        run.low_precision = tuple(
            a.dtype
            for a in (*args, *kwargs.values())
            if isinstance(a, np.ndarray) and a.dtype.kind == "f" and a.dtype.itemsize < 8
        )
    if writable:
        args = tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)
    else:
        args = tuple(_read_only_copy(a) for a in args)
    return invoke(answer, args, kwargs, case)


def _as_float_array(got, name: str, shape, case: str, hint: str | None = None) -> np.ndarray:
    """``got`` as a float64 array; ragged, complex and non-numeric results are refused clearly."""
    if isinstance(got, (list, tuple)):
        try:
            np.array(got, dtype=object).astype(float)
        except ValueError as err:
            if "inhomogeneous" in str(err) or "sequence" in str(err):
                fail(
                    case,
                    f"{name} is ragged: nested sequences of different lengths, not an array of "
                    f"shape {shape}",
                    "build the result as one NumPy array, e.g. np.zeros(shape) filled in",
                )
        except TypeError:
            pass
    if np.iscomplexobj(got):
        fail(
            case,
            f"{name} holds complex numbers; expected real numbers of shape {shape}",
            "a complex result comes from np.fft or a square root of a negative number: compute in real numbers",
        )
    try:
        arr = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        fail(case, f"{name} should be an array of shape {shape}, got {type(got).__name__}", hint)
    return arr


def expected_got(expected, got) -> str:
    """ "expected X, got Y" with enough digits to differ; in a graded run only "got Y, which is wrong"."""
    if _graded():
        return f"got {got}, which is not the right value"
    if isinstance(expected, (float, np.floating)) or isinstance(got, (float, np.floating)):
        want, have = _two_numbers(float(expected), float(got))
        return f"expected {want}, got {have}"
    return f"expected {expected}, got {got}"


def _fit(rtol: float, atol: float, *arrays) -> tuple[float, float]:
    """Tolerances widened to fit the least precise float dtype among ``arrays``."""
    low = [
        a.dtype
        for a in arrays
        if isinstance(a, (np.ndarray, np.floating)) and a.dtype.kind == "f" and a.dtype.itemsize < 8
    ]
    run = _current_run()
    if run is not None:
        low += list(run.low_precision)  # the inputs of the call being checked
    if not low:
        return rtol, atol
    fit = tolerance(*low)
    return max(rtol, fit["rtol"]), max(atol, fit["atol"])


def _two_numbers(expected: float, got: float) -> tuple[str, str]:
    """Expected and received values with enough digits to tell them apart."""
    for digits in (6, 9, 12, 17):
        e, g = f"{expected:.{digits}g}", f"{got:.{digits}g}"
        if e != g:
            return e, g
    return repr(expected), repr(got)


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
    """Fail unless ``got`` is an array (or number) of ``expected``'s shape and values.

    In a graded run the message names where the values differ but never the expected value.
    """
    if got is Ellipsis or got is None:
        if got is Ellipsis:
            raise ExerciseNotAttempted()
        fail(case, f"{name} is None: did the function forget to `return`?", hint)
    rtol, atol = _fit(rtol, atol, got, expected)
    expected = np.asarray(expected)
    got_arr = _as_float_array(got, name, expected.shape, case, hint)
    if got_arr.shape != expected.shape:
        fail(case, f"{name} should have shape {expected.shape}, got shape {got_arr.shape}", hint)
    if not np.all(np.isfinite(got_arr)) and np.all(np.isfinite(expected)):
        fail(case, f"{name} contains NaN or infinity; expected finite values", hint)
    if not np.allclose(got_arr, expected, rtol=rtol, atol=atol):
        diff = np.abs(got_arr - expected)
        where = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.ndim else ()
        at = f" at index {tuple(int(i) for i in where)}" if where else ""
        if _graded():
            fail(case, f"{name} is wrong{at}", hint)
        want, have = _two_numbers(float(expected[where]), float(got_arr[where]))
        fail(
            case,
            f"{name} is wrong{at}: expected {want}, got {have} (largest difference {float(diff.max()):.3g}, "
            f"allowed {atol:.2g} + {rtol:.2g} * |expected|)",
            hint,
        )


def result_array(got, shape: tuple, case: str, name: str = "the result") -> np.ndarray:
    """The reader's result as a float array, or a failure for None, ``...``, ragged, complex or non-numbers."""
    if got is None or got is Ellipsis:
        expect_close(got, np.zeros(shape), case=case, name=name)  # raises the right error
    run = _current_run()
    dtype = getattr(got, "dtype", None)
    if run is not None and dtype is not None and dtype.kind == "f" and dtype.itemsize < 8:
        run.low_precision = (
            *run.low_precision,
            dtype,
        )  # a float32 result is compared at float32's precision
    return _as_float_array(got, name, shape, case)


def same(a, b, rtol: float = 1e-6, atol: float = 1e-8) -> bool:
    """Whether ``a`` and ``b`` have the same shape and close values (for telling mistakes apart).

    A float32 (or float16) array widens the tolerance to one that fits its precision.
    """
    rtol, atol = _fit(rtol, atol, a, b)
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol))
