"""Graded runs: the check in a separate process, every case counted, the share passed as the grade.

A self-study :func:`scratchcnn.check.check` runs in the student's own kernel, next to the answer:
an answer cell can redefine ``check``, or walk up the stack and read the check's expected values.
A graded run cannot be reached that way:

- the graded cell resolves the grader from the package, never from the notebook's globals, and
  reloads this module from disk, so an answer cell that patched it is undone
  (``reload(scratchcnn.check.grading).grade("2.1", corr2d)``);
- :func:`grade` starts a fresh Python (``python -I -m scratchcnn.check.grading``) that draws the
  hidden cases, computes every expected value and compares. The student's kernel only *calls* the
  answer on the inputs the grader sends and sends back what it returned, as plain numbers and
  arrays (never pickled objects: a returned object cannot run code in the grader);
- every case is counted; the grade is the share of cases passed. Nothing the grader prints names
  an expected value: only how many cases passed and the names of the fixed cases that failed;
- on an exercise marked "NumPy only", an answer that calls scratchcnn's own code or SciPy gets 0.

:func:`grade` prints that summary on stdout (never stderr: nbgrader gives 0 to a test cell that
writes to stderr) and returns the grade ``share * points``: the last expression of an nbgrader test
cell, so nbgrader reads it as the cell's partial credit. Otter's test files call :func:`grade` too
(``make assignments`` writes them). This module imports nothing from :mod:`scratchcnn` in the
student's process: only the standard library and NumPy.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import warnings

import numpy as np

__all__ = ["grade", "grade_report"]

_GRADER_TIMEOUT_S = 600


# --------------------------------------------------------------------------- plain encoding


class _Opaque:
    """What the grader sees of a returned object that is neither a number nor an array."""

    def __init__(self, type_name: str):
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<{self.type_name} object>"


_Opaque.__name__ = "object"


def _encode(value, seen: int = 0):
    """``value`` as builtins only (tags for arrays, generators, Ellipsis), safe to unpickle anywhere."""
    if seen > 20:
        return ("opaque", "deeply nested object")
    if isinstance(value, np.generic):  # before the builtins: np.float64 is a float subclass
        if value.dtype.kind in "biufc":
            return ("npscalar", value.dtype.str, value.tobytes())
        return ("opaque", type(value).__name__)
    if value is None or type(value) in (bool, int, float, str, bytes):
        return ("py", value)
    for base in (bool, int, float, str, bytes):  # a subclass becomes its plain base value
        if isinstance(value, base):
            return ("py", base(value))
    if value is Ellipsis:
        return ("ellipsis",)
    if isinstance(value, complex):
        return ("complex", float(value.real), float(value.imag))
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufc":
            return ("opaque", f"array of dtype {value.dtype}")
        layout = "C" if value.flags.c_contiguous else "F" if value.flags.f_contiguous else "strided"
        strides = tuple(int(s) for s in value.strides)
        return (
            "array",
            value.dtype.str,
            tuple(value.shape),
            np.ascontiguousarray(value).tobytes(),
            bool(value.flags.writeable),
            layout,
            strides,
        )
    if isinstance(value, np.random.Generator):
        return ("rng", type(value.bit_generator).__name__, value.bit_generator.state)
    if isinstance(value, tuple):
        return ("tuple", [_encode(v, seen + 1) for v in value])
    if isinstance(value, list):
        return ("list", [_encode(v, seen + 1) for v in value])
    if isinstance(value, dict):
        return ("dict", [(_encode(k, seen + 1), _encode(v, seen + 1)) for k, v in value.items()])
    if hasattr(value, "__iter__") and hasattr(
        value, "__next__"
    ):  # a generator: read it to the end here
        return ("list", [_encode(v, seen + 1) for v in value])
    return ("opaque", type(value).__name__)


def _array(tag):
    _, dtype, shape, data, writeable, layout, strides = tag
    flat = np.frombuffer(data, dtype=np.dtype(dtype)).copy()
    arr = flat.reshape(shape)
    if layout == "F":
        arr = np.asfortranarray(arr)
    elif layout == "strided" and all(s > 0 for s in strides) and arr.size:
        itemsize = arr.dtype.itemsize
        span = sum((n - 1) * s for n, s in zip(shape, strides, strict=False)) // itemsize + 1
        buffer = np.zeros(span, dtype=arr.dtype)
        view = np.lib.stride_tricks.as_strided(buffer, shape, strides)
        view[...] = arr
        arr = view
    if not writeable:
        arr.flags.writeable = False
    return arr


def _decode(tag):
    kind = tag[0]
    if kind == "py":
        return tag[1]
    if kind == "ellipsis":
        return Ellipsis
    if kind == "complex":
        return complex(tag[1], tag[2])
    if kind == "npscalar":
        return np.frombuffer(tag[2], dtype=np.dtype(tag[1]))[0]
    if kind == "array":
        return _array(tag)
    if kind == "rng":
        bit = getattr(np.random, tag[1])()
        bit.state = tag[2]
        return np.random.Generator(bit)
    if kind == "tuple":
        return tuple(_decode(v) for v in tag[1])
    if kind == "list":
        return [_decode(v) for v in tag[1]]
    if kind == "dict":
        return {_decode(k): _decode(v) for k, v in tag[1]}
    return _Opaque(str(tag[1]))


class _Builtins(pickle.Unpickler):
    """An unpickler that builds builtins only: no class, no function, nothing that runs code."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refused: {module}.{name}")


class _Channel:
    def __init__(self, read, write):
        self.read, self.write = read, write

    def send(self, message) -> None:
        data = pickle.dumps(message, protocol=4)
        self.write.write(struct.pack("<Q", len(data)) + data)
        self.write.flush()

    def recv(self):
        head = self.read.read(8)
        if len(head) < 8:
            raise EOFError("the other side closed the channel")
        (size,) = struct.unpack("<Q", head)
        return _Builtins(io.BytesIO(self.read.read(size))).load()


# --------------------------------------------------------------------------- the student's side


def _forbidden_profiler(record: list):
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    checks = os.path.dirname(os.path.abspath(__file__))
    scipy = sys.modules.get("scipy")
    scipy_dir = (
        os.path.dirname(os.path.abspath(scipy.__file__))
        if getattr(scipy, "__file__", None)
        else None
    )

    def profile(frame, event, arg):
        what = None
        if event == "call":
            name = frame.f_code.co_filename
            if (name.startswith(package) and not name.startswith(checks)) or (
                scipy_dir and name.startswith(scipy_dir)
            ):
                what = f"{frame.f_globals.get('__name__', '?')}.{frame.f_code.co_name}"
        elif event == "c_call" and (getattr(arg, "__module__", None) or "").startswith("scipy"):
            what = f"{arg.__module__}.{getattr(arg, '__name__', '?')}"
        if what:
            record.append(what)
            sys.setprofile(None)

    return profile


def _serve_call(answer, message, numpy_only: bool):
    """Call the answer on the grader's inputs; the reply: result or exception, and the arguments after."""
    _, args_tag, kwargs_tag = message
    args = [_decode(tag) for tag in args_tag]
    kwargs = {key: _decode(tag) for key, tag in kwargs_tag}
    dict_objects = [
        dict(a) if isinstance(a, dict) else None for a in args
    ]  # the values' identities
    flagged: list = []
    sink = io.StringIO()
    reply = None
    try:
        with (
            warnings.catch_warnings(),
            np.errstate(all="ignore"),
            contextlib.redirect_stdout(sink),
            contextlib.redirect_stderr(sink),
        ):
            warnings.simplefilter("ignore")
            if numpy_only:
                sys.setprofile(_forbidden_profiler(flagged))
            try:
                result = answer(*args, **kwargs)
                encoded = _encode(result)  # a generator runs here, still watched
            finally:
                sys.setprofile(None)
        reply = ("return", encoded)
    except BaseException as err:
        if isinstance(err, (KeyboardInterrupt, SystemExit)):
            raise
        reply = (
            "raise",
            type(err).__name__,
            [c.__name__ for c in type(err).__mro__],
            str(err)[:2000],
        )
    after = []
    for arg, objects in zip(args, dict_objects, strict=False):
        if isinstance(arg, np.ndarray):
            after.append(("array", _encode(arg)) if arg.flags.writeable else None)
        elif isinstance(arg, np.random.Generator):
            after.append(("rng", arg.bit_generator.state))
        elif isinstance(arg, dict):
            entries = []
            for key, value in arg.items():
                same = objects is not None and key in objects and value is objects[key]
                entries.append((_encode(key), "same" if same else "new", _encode(value)))
            after.append(("dict", entries))
        else:
            after.append(None)
    return (*reply, after, flagged)


def grade_report(exercise_id: str, answer) -> dict:
    """Run the graded check of ``exercise_id`` on ``answer`` in a separate process; its report.

    The report: ``passed``, ``total``, ``failed`` (names of the fixed cases that failed),
    ``hidden_failed``, ``flagged`` (forbidden calls), ``not_attempted``, ``error``, ``title``,
    ``numpy_only``.
    """
    with tempfile.TemporaryFile() as errors:
        child = subprocess.Popen(
            [sys.executable, "-I", "-m", "scratchcnn.check.grading", str(exercise_id)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
        )
        channel = _Channel(child.stdout, child.stdin)
        try:
            kind = "function" if callable(answer) else "value"
            channel.send(("answer", kind, None if kind == "function" else _encode(answer)))
            numpy_only = False
            while True:
                message = channel.recv()
                if message[0] == "info":
                    numpy_only = bool(message[1])
                elif message[0] == "call":
                    channel.send(_serve_call(answer, message, numpy_only))
                elif message[0] == "done":
                    return message[1]
                else:  # pragma: no cover - protocol error
                    raise RuntimeError(f"unexpected message {message[0]!r} from the grader")
        except (EOFError, BrokenPipeError, OSError) as err:
            child.wait(timeout=_GRADER_TIMEOUT_S)
            errors.seek(0)
            detail = errors.read().decode("utf8", "replace")[-2000:]
            raise RuntimeError(f"the grader process stopped ({err}):\n{detail}") from None
        finally:
            with contextlib.suppress(Exception):
                child.stdin.close()
            with contextlib.suppress(Exception):
                child.wait(timeout=_GRADER_TIMEOUT_S)


def grade(exercise_id: str, answer, points: float = 1.0, quiet: bool = False) -> float:
    """Grade ``answer``: prints the summary (unless ``quiet``) and returns ``points * share passed``."""
    report = grade_report(exercise_id, answer)
    total = max(report["total"], 1)
    share = report["passed"] / total
    lines = []
    title = f"Exercise {exercise_id} ({report.get('title', '')})"
    if report["not_attempted"]:
        share = 0.0
        lines.append(f"{title}: not done yet, 0 of {total} cases.")
    elif report["error"]:
        share = 0.0
        lines.append(f"{title}: 0 of {total} cases: {report['error']}.")
    elif report["flagged"]:
        share = 0.0
        lines.append(
            f"{title}: no credit: the exercise asks for NumPy only, and the answer calls "
            f"{', '.join(report['flagged'][:3])}."
        )
    else:
        lines.append(f"{title}: {report['passed']} of {total} cases passed ({share:.0%}).")
        failed = report["failed"]
        if failed:
            lines.append(
                "Failed: "
                + "; ".join(failed[:5])
                + (f"; and {len(failed) - 5} more" if len(failed) > 5 else "")
            )
        if report["hidden_failed"]:
            lines.append(f"Hidden random cases failed: {report['hidden_failed']}.")
        if share < 1:
            lines.append(f'Run check("{exercise_id}", ...) in your notebook for what went wrong.')
    if not quiet:
        print("\n".join(lines))
    return round(points * share, 6)


# --------------------------------------------------------------------------- the grader's side


class _Proxy:
    """The answer, as the grader sees it: calling it asks the student's process to call the real one."""

    def __init__(self, channel: _Channel, run):
        self._channel, self._run = channel, run

    def __call__(self, *args, **kwargs):
        self._channel.send(
            ("call", [_encode(a) for a in args], [(k, _encode(v)) for k, v in kwargs.items()])
        )
        reply = self._channel.recv()
        kind = reply[0]
        after, flagged = reply[-2], reply[-1]
        self._run.flagged.extend(str(f) for f in flagged)
        for arg, state in zip(args, after, strict=False):
            _mirror(arg, state)
        if kind == "return":
            return _decode(reply[1])
        _, name, mro, text = reply[:4]
        raise _exception(name, mro, text)


def _mirror(arg, state) -> None:
    """Apply to the grader's argument what the call did to the student's copy of it."""
    if state is None:
        return
    if state[0] == "array" and isinstance(arg, np.ndarray) and arg.flags.writeable:
        new = _decode(state[1])
        if new.shape == arg.shape:
            np.copyto(arg, new, casting="unsafe")
    elif state[0] == "rng" and isinstance(arg, np.random.Generator):
        arg.bit_generator.state = state[1]
    elif state[0] == "dict" and isinstance(arg, dict):
        seen = set()
        for key_tag, how, value_tag in state[1]:
            key, value = _decode(key_tag), _decode(value_tag)
            seen.add(key)
            old = arg.get(key)
            if (
                how == "same"
                and isinstance(old, np.ndarray)
                and isinstance(value, np.ndarray)
                and old.shape == value.shape
            ):
                if old.flags.writeable:
                    np.copyto(old, value, casting="unsafe")
            else:
                arg[key] = value
        for key in [k for k in arg if k not in seen]:
            del arg[key]


_BUILTIN_ERRORS = {
    cls.__name__: cls
    for cls in (
        ValueError,
        TypeError,
        IndexError,
        KeyError,
        ZeroDivisionError,
        AttributeError,
        NameError,
        RuntimeError,
        AssertionError,
        NotImplementedError,
        OverflowError,
        ArithmeticError,
    )
}


def _exception(name: str, mro: list, text: str) -> Exception:
    if name in _BUILTIN_ERRORS:
        return _BUILTIN_ERRORS[name](text)
    for base in mro:  # a subclass of a builtin error stays one (the checks catch ValueError)
        if base in _BUILTIN_ERRORS:
            return type(name, (_BUILTIN_ERRORS[base],), {})(text)
    return type(name, (Exception,), {})(text)


def _child_main(exercise_id: str) -> int:
    read, write = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but the protocol on the channel
    channel = _Channel(read, write)
    from scratchcnn.check import _lookup, run_graded  # imported here, in the grader's process only
    from scratchcnn.check.kit import Run

    ex = _lookup(exercise_id)
    message = channel.recv()
    channel.send(("info", ex.numpy_only))
    holder = Run(graded=True, numpy_only=ex.numpy_only)
    answer = _Proxy(channel, holder) if message[1] == "function" else _decode(message[2])
    report = run_graded(exercise_id, answer, flagged=holder.flagged)
    report["title"] = ex.title
    report["numpy_only"] = ex.numpy_only
    channel.send(("done", report))
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1]))
