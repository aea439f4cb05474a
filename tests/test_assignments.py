"""Student copies of the chapters (``make assignments``, :mod:`scratchcnn.assignments`).

What is tested, and why it is both honest and cheap (each chapter is executed once, not twice):

- The machinery, always, on a small synthetic chapter built here (two exercises: a function body
  and a top-level value, a written answer in a ``{solution}`` directive, a gated solution), so the
  file tests something even before any chapter has exercises: stubs, markers, Markdown answers,
  nbgrader metadata, otter test files, the build, and real executions.
- Every chapter in ``notebooks/`` with solution regions (found with a glob, so chapters are
  covered as they land):

  * the student copy holds no line of any solution, no output, the Colab cell first, and every
    other code cell unchanged; putting the solutions back gives exactly the chapter's code (the
    stripping is lossless);
  * it is executed in a fresh kernel (cwd ``notebooks/``, ``SCRATCHCNN_DATA=sample``) and must
    stop at the first exercise (between its solution cell and its check cell) with
    ``NotImplementedError`` or ``ExerciseNotAttempted``, every cell before having run cleanly;
  * then, in the same kernel, the solved copy (the student copy with the solutions spliced
    back) runs on from the first solution cell to the end, and every check must print that it
    passed. The cells before the first solution are the same in both copies, so this completes
    a top-to-bottom run of the solved notebook for the price of its exercises. (A cell between
    a solution and its check runs twice, once with the stub: harmless for the chapters' plain
    solution/check pairs.)
  * the committed chapter is executed top to bottom (execution counts 1..n, no stored error) and
    shows ``Exercise N.M passed`` under every check: the answer key handed to instructors is
    the one that passed.
"""

from __future__ import annotations

import os
import re
import sys
import types
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import nbclient
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from scratchcnn.assignments import (
    Assignment,
    build,
    find_regions,
    solution_copy,
    splice,
    student_copy,
)
from scratchcnn.assignments.__main__ import main as assignments_main
from scratchcnn.assignments.markdown import ANSWER_PROMPT, strip_markdown_solutions
from scratchcnn.assignments.nbgrader import mark_cells
from scratchcnn.assignments.otter import answer_expression, otter_tests
from scratchcnn.assignments.regions import assigned_names, marker_spans, stub
from scratchcnn.assignments.summary import chapter_exercises, exercise_table
from scratchcnn.check import exercises

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
NOT_ATTEMPTED = {"NotImplementedError", "ExerciseNotAttempted"}
CELL_TIMEOUT_S = 600


# --------------------------------------------------------------------------- helpers


def code_cells(nb) -> list:
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def leaked_lines(chapter, student) -> list[str]:
    """Solution lines found in the student copy more often than the chapter has them elsewhere.

    A line such as ``return out`` may legitimately appear outside a region too, so a line counts
    as leaked only when the student copy holds it more times than the chapter outside its regions.
    """
    inside: Counter = Counter()
    outside: Counter = Counter()
    regions = find_regions(chapter.cells)
    spans = {(r.cell, no) for r in regions for no in range(r.begin, r.end + 1)}
    for index, cell in enumerate(chapter.cells):
        for no, line in enumerate(cell.source.split("\n")):
            if line.strip():
                (inside if (index, no) in spans else outside)[line.strip()] += 1
    in_student = Counter(
        line.strip() for cell in student.cells for line in cell.source.split("\n") if line.strip()
    )
    markers = {"# BEGIN SOLUTION", "# END SOLUTION"}
    return [line for line in inside if line not in markers and in_student[line] > outside[line]]


def _client(nb, cwd: Path) -> nbclient.NotebookClient:
    return nbclient.NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(cwd)}},
    )


KERNEL_ENV = {**os.environ, "SCRATCHCNN_DATA": "sample"}


def execute(nb, cwd: Path):
    """Run ``nb`` top to bottom in a fresh kernel; ``(executed nb, first error or None)``."""
    nb = nbformat.from_dict(nb)
    try:
        _client(nb, cwd).execute(env=KERNEL_ENV)
    except nbclient.exceptions.CellExecutionError as err:
        return nb, err
    return nb, None


@dataclass
class StudentRun:
    """A student copy run until it stops, then the solved copy run on in the same kernel."""

    student: object  # the student copy, executed up to the cell that stopped it
    error: object  # that cell's CellExecutionError, or None
    solved: object  # the spliced copy, executed from ``resume_at`` on
    solved_error: object


def run_then_solve(student, solved, cwd: Path, resume_at: int, stop_after: int) -> StudentRun:
    """Execute ``student`` in a fresh kernel until a cell raises (or past ``stop_after``); then,
    in the same kernel, execute the cells of ``solved`` from ``resume_at`` to the end.

    The cells before ``resume_at`` are the same in both copies, so the second half completes a
    top-to-bottom run of the solved notebook without executing the chapter a second time.
    """
    student, solved = nbformat.from_dict(student), nbformat.from_dict(solved)
    same = [a.source for a in student.cells[:resume_at]] == [
        b.source for b in solved.cells[:resume_at]
    ]
    assert same, "the student and solved copies differ before the first solution"
    client = _client(student, cwd)
    error = solved_error = None
    with client.setup_kernel(env=KERNEL_ENV):
        for index, cell in enumerate(student.cells[: stop_after + 1]):
            try:
                client.execute_cell(cell, index)
            except nbclient.exceptions.CellExecutionError as err:
                error = err
                break
        client.nb = solved
        for index in range(resume_at, len(solved.cells)):
            try:
                client.execute_cell(solved.cells[index], index)
            except nbclient.exceptions.CellExecutionError as err:
                solved_error = err
                break
    return StudentRun(student, error, solved, solved_error)


def first_exercise(student, replacements) -> tuple[int, int, str]:
    """``(index of the first solution cell, index of its check cell, exercise id)`` in ``student``."""
    first = replacements[0]
    code_index = [i for i, c in enumerate(student.cells) if c.cell_type == "code"]
    first_cell = code_index[first.code_cell]
    exercise_id = first.region.exercise_id
    call = re.compile(rf"""\bcheck\(\s*["']{re.escape(exercise_id)}["']""")
    check_cell = next(
        i
        for i in range(first_cell, len(student.cells))
        if student.cells[i].cell_type == "code" and call.search(student.cells[i].source)
    )
    return first_cell, check_cell, exercise_id


def passed_checks(nb, start: int = 0) -> list[str]:
    """The ids of the exercises whose check cell, from cell ``start`` on, printed that it passed."""
    found = []
    for cell in nb.cells[start:]:
        if cell.cell_type == "code":
            found += re.findall(r"^Exercise (\S+) passed", stdout(cell), flags=re.MULTILINE)
    return found


def error_cells(nb) -> list[tuple[int, str]]:
    return [
        (index, out.ename)
        for index, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type == "error"
    ]


def stdout(cell) -> str:
    return "".join(out.get("text", "") for out in cell.outputs if out.output_type == "stream")


# --------------------------------------------------------------------------- a synthetic chapter

TITLES = {"99.1": "double a number", "99.2": "a 2x2 kernel of ones"}

REGISTER = '''from scratchcnn.check import call, check, exercise, expect_close, fail


@exercise("99.1", "double a number")
def _(double):
    for x in (0.0, 1.5, -2.0):
        expect_close(call(double, x, case=f"x = {x}"), 2 * x, case=f"x = {x}")
    return "3 cases"


@exercise("99.2", "a 2x2 kernel of ones")
def _(kernel):
    expect_close(kernel, np.ones((2, 2)), case="the kernel")
    return "shape and values"'''


def synthetic_chapter():
    """A small chapter in the book's conventions, with both kinds of solution region."""
    return new_notebook(
        cells=[
            new_markdown_cell("# A synthetic chapter\n\nEverything the stripping must handle."),
            new_code_cell(
                'import sys\nif "google.colab" in sys.modules:\n'
                '    %pip install -q "scratchcnn @ git+https://github.com/cnn-from-scratch/cnn-from-scratch"'
            ),
            new_code_cell("import numpy as np\n\nrng = np.random.default_rng(0)"),
            new_code_cell(REGISTER),
            new_markdown_cell("## Some teaching\n\nA cell that must survive untouched."),
            new_code_cell("x = rng.standard_normal(3)  # (3,)\nprint(x.shape)"),
            new_markdown_cell(
                "## Exercises\n\n```{exercise} Why twice?\n:label: ex-why\n\nExplain.\n```\n\n"
                "```{solution} ex-why\n:class: dropdown\n\nBecause the gradient of x**2 is 2x.\n```\n\n"
                "```{exercise} Double\n:label: ex-double\n\nWrite `double(x)`.\n```"
            ),
            new_code_cell(
                'def double(x):\n    """Return 2 x."""\n    # BEGIN SOLUTION\n    twice = x + x\n'
                "    return twice\n    # END SOLUTION"
            ),
            new_code_cell('check("99.1", double)'),
            new_markdown_cell(
                "```{exercise} A kernel\n:label: ex-kernel\n\nMake a 2x2 kernel of ones.\n```\n\n"
                "```{solution-start} ex-kernel\n:class: dropdown\n```\nThe kernel is all ones:"
            ),
            new_code_cell(
                "# BEGIN SOLUTION\nkernel = np.full((2, 2), 1.0)\n# END SOLUTION\nprint(type(kernel).__name__)"
            ),
            new_markdown_cell("```{solution-end}\n```"),
            new_code_cell('check("99.2", kernel)'),
        ],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )


@pytest.fixture(scope="module")
def synthetic():
    chapter = synthetic_chapter()
    student, replacements = student_copy(chapter, TITLES)
    return chapter, student, replacements


def test_synthetic_student_copy_has_stubs_and_no_solutions(synthetic):
    chapter, student, _ = synthetic
    sources = [cell.source for cell in code_cells(student)]
    assert sources[4] == (
        'def double(x):\n    """Return 2 x."""\n    # YOUR CODE HERE\n'
        '    raise NotImplementedError("Exercise 99.1: double a number")'
    )
    assert sources[6] == "# YOUR CODE HERE\nkernel = ...\nprint(type(kernel).__name__)"
    assert leaked_lines(chapter, student) == []
    markdown = "\n".join(cell.source for cell in student.cells if cell.cell_type == "markdown")
    assert "Because the gradient" not in markdown and "all ones" not in markdown
    assert "solution-start" not in markdown and "solution-end" not in markdown
    assert ANSWER_PROMPT in markdown and "{exercise} A kernel" in markdown


def test_leak_detector_can_fail(synthetic):
    chapter, student, _ = synthetic
    leaky = nbformat.from_dict(student)
    code_cells(leaky)[4].source += "\n    twice = x + x"
    assert leaked_lines(chapter, leaky) == ["twice = x + x"]


def test_synthetic_student_copy_keeps_everything_else(synthetic):
    chapter, student, _ = synthetic
    for ours, theirs in zip(code_cells(chapter), code_cells(student), strict=False):
        if "# BEGIN SOLUTION" not in ours.source:
            assert theirs.source == ours.source
    kept = [cell.source for cell in student.cells if cell.cell_type == "markdown"]
    assert kept[:2] == [chapter.cells[0].source, chapter.cells[4].source]
    assert len(code_cells(student)) == len(code_cells(chapter))


def test_synthetic_round_trip_is_lossless(synthetic):
    chapter, student, replacements = synthetic
    spliced = splice(student, replacements)
    assert [c.source for c in code_cells(spliced)] == [c.source for c in code_cells(chapter)]


def test_synthetic_student_copy_stops_at_first_exercise_then_solutions_pass(synthetic, tmp_path):
    _, student, replacements = synthetic
    first_cell, check_cell, exercise_id = first_exercise(student, replacements)
    assert (first_cell, check_cell, exercise_id) == (7, 8, "99.1")
    run = run_then_solve(student, splice(student, replacements), tmp_path, first_cell, check_cell)
    assert run.error is not None, (
        "the student copy ran through the first exercise: nothing stopped it"
    )
    assert run.error.ename == "ExerciseNotAttempted", run.error
    assert "Exercise 99.1 is not done yet" in run.error.evalue
    assert [index for index, _ in error_cells(run.student)] == [check_cell]
    assert run.solved_error is None, run.solved_error
    assert passed_checks(run.solved, first_cell) == ["99.1", "99.2"]


def test_synthetic_solutions_spliced_back_pass_every_check(synthetic, tmp_path):
    _, student, replacements = synthetic
    ran, error = execute(splice(student, replacements), tmp_path)
    assert error is None, error
    assert passed_checks(ran) == ["99.1", "99.2"]


def test_a_value_stub_used_before_its_check_gives_an_unrelated_error(tmp_path):
    """What the chapter test guards against: a value's stub (``kernel = ...``) used before the
    check can report it. The chapter itself runs; only its student copy breaks."""
    chapter = synthetic_chapter()
    del chapter.cells[6:9]  # drop exercise 99.1, so that 99.2 comes first
    chapter.cells[7].source = chapter.cells[7].source.replace(
        "type(kernel).__name__", "kernel.shape"
    )
    student, replacements = student_copy(chapter, TITLES)
    first_cell, check_cell, exercise_id = first_exercise(student, replacements)
    run = run_then_solve(student, splice(student, replacements), tmp_path, first_cell, check_cell)
    assert exercise_id == "99.2"
    assert error_cells(run.student) == [(first_cell, "AttributeError")]
    assert run.solved_error is None and passed_checks(run.solved) == ["99.2"]


def test_build_writes_both_folders_and_fails_cleanly(tmp_path, capsys):
    src = tmp_path / "notebooks"
    src.mkdir()
    chapter = synthetic_chapter()
    chapter.cells[5].outputs = [nbformat.v4.new_output("stream", text="(3,)\n")]
    chapter.cells[5].execution_count = 3
    nbformat.write(chapter, src / "01_synthetic.ipynb")
    nbformat.write(new_notebook(cells=[new_code_cell("print(1)")]), src / "02_plain.ipynb")
    out = tmp_path / "_build" / "assignments"

    made = build(src, out, TITLES)
    assert made == [
        Assignment("01_synthetic.ipynb", ("99.1", "99.2"), 2),
        Assignment("02_plain.ipynb", (), 0),
    ]
    student = nbformat.read(out / "student" / "01_synthetic.ipynb", as_version=4)
    solution = nbformat.read(out / "solutions" / "01_synthetic.ipynb", as_version=4)
    assert all(not c.outputs and c.execution_count is None for c in code_cells(student))
    assert code_cells(solution)[3].outputs == chapter.cells[5].outputs  # as committed
    nbformat.validate(student)
    nbformat.validate(solution)

    otter = out / "otter" / "01_synthetic"
    assert sorted(p.name for p in (otter / "tests").iterdir()) == ["ex99_1.py", "ex99_2.py"]
    assert (otter / "requirements.txt").read_text() == (
        "scratchcnn @ git+https://github.com/cnn-from-scratch/cnn-from-scratch\n"
    )
    assert not (out / "otter" / "02_plain").exists()

    # A broken chapter: nothing half-written, the previous set left as it was.
    broken = synthetic_chapter()
    broken.cells[7].source = broken.cells[7].source.replace("# END SOLUTION", "")
    nbformat.write(broken, src / "01_synthetic.ipynb")
    with pytest.raises(
        ValueError, match=r"01_synthetic.ipynb: code cell 7, line 3: '# BEGIN SOLUTION' has no"
    ):
        build(src, out, TITLES)
    assert sorted(p.name for p in out.parent.iterdir()) == ["assignments"]
    assert nbformat.read(out / "student" / "01_synthetic.ipynb", as_version=4) == student

    assert assignments_main([str(src), str(out)]) == 1
    assert "has no '# END SOLUTION'" in capsys.readouterr().err


def test_build_refuses_an_empty_folder(tmp_path):
    (tmp_path / "src").mkdir()
    with pytest.raises(ValueError, match="no notebooks"):
        build(tmp_path / "src", tmp_path / "out", TITLES)
    with pytest.raises(ValueError, match="is not a folder"):
        build(tmp_path / "missing", tmp_path / "out", TITLES)


# --------------------------------------------------------------------------- the pieces


@pytest.mark.parametrize(
    "source, message",
    [
        ("# BEGIN SOLUTION\nx = 1", "has no '# END SOLUTION'"),
        ("x = 1\n# END SOLUTION", "without a '# BEGIN SOLUTION'"),
        ("# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION", "regions cannot nest"),
        ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", "looks like a solution marker"),
        ("#BEGIN SOLUTION\nx = 1\n#END SOLUTION", "looks like a solution marker"),
        ("# begin solution\nx = 1\n# end solution", "looks like a solution marker"),
        ("# BEGIN SOLUTION\nx = 1\n# END SOLUTIONS", "looks like a solution marker"),
        ("x = 1  # BEGIN SOLUTION\ny = 2\n# END SOLUTION", "looks like a solution marker"),
    ],
)
def test_malformed_markers_are_refused(source, message):
    with pytest.raises(ValueError, match=message):
        marker_spans(source, "code cell 0")


def test_markers_at_any_indentation_and_no_false_alarms():
    assert marker_spans("def f():\n    # BEGIN SOLUTION\n    pass\n    # END SOLUTION  ", "c") == [
        (1, 3)
    ]
    assert marker_spans("append_solution(x)  # a friend solution", "c") == []


def regions_of(*sources):
    return find_regions([new_code_cell(s) for s in sources])


@pytest.mark.parametrize(
    "source, in_function",
    [
        ("def f(x):\n    # BEGIN SOLUTION\n    return x\n    # END SOLUTION", True),
        (
            "def f(x):\n    for i in x:\n        # BEGIN SOLUTION\n        pass\n        # END SOLUTION",
            True,
        ),
        (
            "class A:\n    def f(self):\n        # BEGIN SOLUTION\n        return 1\n        # END SOLUTION",
            True,
        ),
        (
            "@dec\nasync def f(\n    x,\n):\n    # BEGIN SOLUTION\n    return x\n    # END SOLUTION",
            True,
        ),
        ("%%time\ndef f(x):\n    # BEGIN SOLUTION\n    return x\n    # END SOLUTION", True),
        ("# BEGIN SOLUTION\nk = 1\n# END SOLUTION", False),
        ("if True:\n    # BEGIN SOLUTION\n    k = 1\n    # END SOLUTION", False),
        ("class A:\n    # BEGIN SOLUTION\n    k = 1\n    # END SOLUTION", False),
        ("def g():\n    return 1\n\n# BEGIN SOLUTION\nk = g()\n# END SOLUTION", False),
    ],
)
def test_function_bodies_are_recognised(source, in_function):
    (region,) = regions_of(source, 'check("1.1", f)')
    assert region.in_function is in_function
    assert (region.exercise_id, region.check_cell) == ("1.1", 1)


@pytest.mark.parametrize(
    "lines, names",
    [
        (["k = 1"], ["k"]),
        (["w, (b, *rest) = 1, (2, 3)", "w = 4"], ["w", "b", "rest"]),
        (["def relu(x):", "    return x", "class Net:", "    pass"], ["relu", "Net"]),
        (
            [
                "if a:",
                "    y = 1",
                "else:",
                "    z: int = 2",
                "for i in range(3):",
                "    total += i",
            ],
            ["y", "z", "total"],
        ),
        (["params['W'] = 1", "self.b = 2", "import numpy as np"], []),
        (["    np.ones(3)"], []),
        (["[1, 2],", "[3, 4]"], []),
    ],
)
def test_assigned_names(lines, names):
    assert assigned_names(lines) == names


def test_region_that_is_not_whole_lines_is_refused():
    with pytest.raises(ValueError, match="neither whole statements nor an expression"):
        assigned_names(["x = (1,"])


def test_stubs():
    body, value, expression = regions_of(
        "def f(x):\n    # BEGIN SOLUTION\n    return x\n    # END SOLUTION",
        'check("1.1", f)\n# BEGIN SOLUTION\nk, b = 1, 2\n# END SOLUTION',
        'check("1.2", k)\nanswer = (\n    # BEGIN SOLUTION\n    3 * 4\n    # END SOLUTION\n)',
        'check("1.3", answer)',
    )
    titles = {"1.1": 'the "identity"', "1.2": "two numbers", "1.3": "a product"}
    assert stub(body, titles) == [
        "    # YOUR CODE HERE",
        '    raise NotImplementedError("Exercise 1.1: the \\"identity\\"")',
    ]
    assert stub(value, titles) == ["# YOUR CODE HERE", "k = ...", "b = ..."]
    assert stub(expression, titles) == ["    # YOUR CODE HERE", "    ..."]
    assert (value.exercise_id, expression.exercise_id) == ("1.2", "1.3")


def test_region_without_check_or_unknown_exercise_is_refused():
    with pytest.raises(ValueError, match=r'no check\("N.M", answer\) call follows'):
        regions_of("# BEGIN SOLUTION\nk = 1\n# END SOLUTION", "print(k)")
    (region,) = regions_of("# BEGIN SOLUTION\nk = 1\n# END SOLUTION", 'check("7.7", k)')
    with pytest.raises(ValueError, match=r"no exercise '7.7'; register it"):
        stub(region, {"1.1": "x"})


def test_markdown_solutions_are_removed_and_other_cells_kept():
    cells = [
        new_markdown_cell("Intro\n\n````{solution} ex-a\n```python\nx = 1\n```\n````\nAfter"),
        new_markdown_cell(":::{solution-start} ex-b\n:::\nHidden prose"),
        new_markdown_cell("More hidden prose"),
        new_code_cell("# BEGIN SOLUTION\nk = 1\n# END SOLUTION"),
        new_markdown_cell(":::{solution-end}\n:::\nVisible again"),
        new_markdown_cell("Untouched\n"),
    ]
    out, removed = strip_markdown_solutions(cells)
    assert [c.source for c in out] == [
        f"Intro\n\n{ANSWER_PROMPT}\nAfter",
        cells[3].source,
        "Visible again",
        "Untouched\n",
    ]
    assert removed == 3
    with pytest.raises(ValueError, match="never closed"):
        strip_markdown_solutions([new_markdown_cell("```{solution} ex\nopen")])
    with pytest.raises(ValueError, match="has no {solution-end}"):
        strip_markdown_solutions([new_markdown_cell("```{solution-start} ex\n```")])


def test_nbgrader_metadata(synthetic):
    chapter, student, _ = synthetic
    marked = solution_copy(chapter)
    meta = {
        i: c.metadata["nbgrader"] for i, c in enumerate(marked.cells) if "nbgrader" in c.metadata
    }
    assert sorted(meta) == [7, 8, 10, 12]
    assert [meta[i]["grade_id"] for i in (7, 8, 10, 12)] == [
        "ex99_1-answer",
        "ex99_1-check",
        "ex99_2-answer",
        "ex99_2-check",
    ]
    for m in meta.values():  # nbgrader's schema version 3
        assert re.fullmatch(r"[a-zA-Z0-9_\-]+", m["grade_id"]) and m["schema_version"] == 3
        assert {"grade", "locked", "solution"} <= set(m)
        assert m["grade"] == (m.get("points") == 1) == m["locked"] == (not m["solution"])
    assert [c.metadata.get("nbgrader") for c in code_cells(student)] == [
        c.metadata.get("nbgrader") for c in code_cells(marked)
    ]
    # A check in the same cell as its solution cannot be an nbgrader test cell too.
    cells = [new_code_cell("# BEGIN SOLUTION\nk = 1\n# END SOLUTION\ncheck('1.1', k)")]
    mark_cells(cells, find_regions(cells))
    assert cells[0].metadata["nbgrader"]["solution"] and not cells[0].metadata["nbgrader"]["grade"]


def test_otter_test_files_run_the_graded_checks(synthetic, monkeypatch):
    import importlib

    import scratchcnn.check.grading

    chapter, _, replacements = synthetic
    files = otter_tests(chapter.cells, [r.region for r in replacements], TITLES)
    assert sorted(files) == ["ex99_1.py", "ex99_2.py"]
    fake = types.ModuleType("otter.test_files")

    class test_case:
        def __init__(self, name=None, points=None, hidden=False):
            self.name, self.points, self.hidden = name, points, hidden

        def __call__(self, func):
            self.func = func
            return self

    fake.test_case = test_case
    monkeypatch.setitem(sys.modules, "otter", types.ModuleType("otter"))
    monkeypatch.setitem(sys.modules, "otter.test_files", fake)
    monkeypatch.setattr(importlib, "reload", lambda module: module)
    calls = []
    shares = {"99.1": 0.75, "99.2": 1.0}

    def fake_grade(eid, answer):
        calls.append((eid, answer))
        return shares[eid]

    monkeypatch.setattr(scratchcnn.check.grading, "grade", fake_grade)
    passed = {}
    for name, text in sorted(files.items()):
        namespace: dict = {}
        exec(compile(text, name, "exec"), namespace)
        assert (namespace["OK_FORMAT"], namespace["points"]) == (False, 1)
        cases = [v for v in namespace.values() if isinstance(v, test_case)]
        assert len(cases) == 10 and sum(c.points for c in cases) == pytest.approx(1)
        env = {"double": "D", "kernel": "K"}
        ok = 0
        for c in cases:
            try:
                c.func(env)
                ok += 1
            except AssertionError:
                pass
        passed[name] = ok
    assert passed == {"ex99_1.py": 7, "ex99_2.py": 10}  # 75% -> 7 of 10 tenths
    assert calls == [("99.1", "D"), ("99.2", "K")]  # one graded run per file
    assert answer_expression('x = 1\nscratchcnn.check.check("1.1", (k, b))', "1.1") == "(k, b)"
    with pytest.raises(ValueError, match="no call check"):
        answer_expression('check("1.1", k, extra)', "1.1")


def test_solution_copy_test_cells_hold_the_graded_form(synthetic):
    chapter, student, _ = synthetic
    marked = solution_copy(chapter)
    assert marked.cells[8].source.endswith(
        "reload(scratchcnn.check.grading).grade('99.1', double, points=1)"
    )
    assert (
        student.cells[8].source == chapter.cells[8].source == 'check("99.1", double)'
    )  # self-study form


def test_exercise_table(tmp_path):
    nbformat.write(synthetic_chapter(), tmp_path / "01_synthetic.ipynb")
    (info,) = [chapter_exercises(tmp_path / "01_synthetic.ipynb")]
    assert (info.title, info.exercises, info.checked, info.solution_lines) == (
        "A synthetic chapter",
        3,
        ("99.1", "99.2"),
        3,
    )
    assert info.minutes == 5 * -(-(10 * 1 + 15 * 2 + 2 * 3) // 5)
    table = exercise_table(tmp_path)
    assert (
        "| A synthetic chapter (`01_synthetic.ipynb`) | 3 | 99.1, 99.2 | 3 | about 50 min |"
        in table
    )
    assert exercise_table(tmp_path / "missing").startswith("No chapter")


# --------------------------------------------------------------------------- the real chapters


def _chapters_with_solutions() -> list:
    found = [
        path
        for path in sorted(NOTEBOOKS.glob("*.ipynb"))
        if "# BEGIN SOLUTION" in path.read_text(encoding="utf8")
    ]
    if found:
        return found
    return [
        pytest.param(
            None,
            marks=pytest.mark.skip(reason="no notebook in notebooks/ has solution regions yet"),
        )
    ]


@pytest.fixture(
    scope="module", params=_chapters_with_solutions(), ids=lambda p: getattr(p, "stem", "none")
)
def chapter(request):
    path = request.param
    nb = nbformat.read(path, as_version=4)
    student, replacements = student_copy(nb)
    return path, nb, student, replacements


def test_chapter_student_copy_hides_solutions_and_outputs(chapter):
    path, nb, student, _ = chapter
    assert leaked_lines(nb, student) == [], f"{path.name}: solution lines left in the student copy"
    with_outputs = [
        i for i, c in enumerate(code_cells(student)) if c.outputs or c.execution_count is not None
    ]
    assert not with_outputs, f"{path.name}: student code cells {with_outputs} keep outputs"
    answers = [
        i
        for i, c in enumerate(student.cells)
        if c.cell_type == "markdown" and "{solution" in c.source
    ]
    assert not answers, f"{path.name}: student Markdown cells {answers} still hold worked answers"
    first_ours, first_theirs = code_cells(nb)[0], code_cells(student)[0]
    assert (
        first_theirs.source == first_ours.source
        and '"google.colab" in sys.modules' in first_theirs.source
    )
    for index, (ours, theirs) in enumerate(zip(code_cells(nb), code_cells(student), strict=False)):
        if "# BEGIN SOLUTION" not in ours.source:
            assert theirs.source == ours.source, (
                f"{path.name}: code cell {index} changed in the student copy"
            )


def test_chapter_round_trip_is_lossless(chapter):
    path, nb, student, replacements = chapter
    spliced = splice(student, replacements)
    assert [c.source for c in code_cells(spliced)] == [c.source for c in code_cells(nb)]
    assert len(code_cells(student)) == len(code_cells(nb))


def test_chapter_committed_solutions_pass_every_check(chapter):
    path, nb, _, _ = chapter
    cells = [c for c in code_cells(nb) if c.source.strip()]
    counts = [c.execution_count for c in cells]
    assert counts == list(range(1, len(cells) + 1)), (
        f"{path.name} is not executed top to bottom: `make execute`"
    )
    assert not error_cells(nb), f"{path.name} has stored errors {error_cells(nb)}"
    known = exercises()
    for region in find_regions(nb.cells):
        assert region.exercise_id in known, (
            f"{path.name}: exercise {region.exercise_id} has no registered check"
        )
        out = stdout(nb.cells[region.check_cell])
        assert f"Exercise {region.exercise_id} passed" in out, (
            f"{path.name}: the check cell {region.check_cell} of exercise {region.exercise_id} does not show "
            f"that the worked solution passed; it printed {out!r}"
        )


@pytest.fixture(scope="module")
def chapter_run(chapter):
    """The chapter's student copy run to its first exercise, then its solutions run on."""
    path, _, student, replacements = chapter
    first_cell, check_cell, exercise_id = first_exercise(student, replacements)
    run = run_then_solve(student, splice(student, replacements), NOTEBOOKS, first_cell, check_cell)
    return path, run, first_cell, check_cell, exercise_id


def test_chapter_student_copy_stops_at_first_exercise(chapter_run):
    path, run, first_cell, check_cell, exercise_id = chapter_run
    assert run.error is not None, (
        f"{path.name}: the student copy ran through exercise {exercise_id} without stopping"
    )
    (failing, ename), *_ = error_cells(run.student)
    assert first_cell <= failing <= check_cell and ename in NOT_ATTEMPTED, (
        f"{path.name}: the student copy stopped at cell {failing} with {ename}: {run.error.evalue}; expected "
        f"NotImplementedError or ExerciseNotAttempted in cells {first_cell}..{check_cell} (exercise {exercise_id})"
    )


def test_chapter_solutions_spliced_back_pass_every_check(chapter, chapter_run):
    path, nb, _, _ = chapter
    _, run, first_cell, _, _ = chapter_run
    assert run.solved_error is None, f"{path.name}: the solved copy failed: {run.solved_error}"
    expected = list(dict.fromkeys(region.exercise_id for region in find_regions(nb.cells)))
    assert passed_checks(run.solved, first_cell) == expected


# --------------------------------------------------------------------------- never destroy data


def _chapters_folder(tmp_path: Path) -> Path:
    src = tmp_path / "course" / "notebooks"
    src.mkdir(parents=True)
    nbformat.write(synthetic_chapter(), src / "01_synthetic.ipynb")
    return src


@pytest.mark.parametrize(
    "out, message",
    [
        (".", "is the source folder"),
        ("..", "contains the source folder"),
        ("../..", "contains the source folder"),
        ("sub/out", "lies inside the source folder"),
    ],
)
def test_build_refuses_the_source_and_its_relatives(tmp_path, out, message, capsys):
    src = _chapters_folder(tmp_path)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with pytest.raises(ValueError, match=message):
        build(src, src / out, TITLES)
    assert assignments_main([str(src), str(src / out)]) == 1
    assert message in capsys.readouterr().err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing deleted


def test_build_refuses_a_folder_it_did_not_write(tmp_path):
    src = _chapters_folder(tmp_path)
    theirs = tmp_path / "course" / "grades"
    theirs.mkdir()
    (theirs / "grades.csv").write_text("alice,3\n")
    with pytest.raises(
        ValueError, match=r"not empty \(grades.csv\) and was not written by this tool"
    ):
        build(src, theirs, TITLES)
    assert (theirs / "grades.csv").read_text() == "alice,3\n"
    a_file = tmp_path / "course" / "notes.txt"
    a_file.write_text("keep me")
    with pytest.raises(ValueError, match="is not a folder"):
        build(src, a_file, TITLES)
    assert a_file.read_text() == "keep me"


def test_build_replaces_only_its_own_folder(tmp_path):
    from scratchcnn.assignments import MARKER

    src = _chapters_folder(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    build(src, empty, TITLES)  # an empty folder is fine
    assert (empty / MARKER).is_file() and (empty / "student" / "01_synthetic.ipynb").is_file()
    build(src, empty, TITLES)  # its own folder: replaced
    (empty / "my_grades.csv").write_text("x")
    with pytest.raises(ValueError, match="also holds my_grades.csv"):
        build(src, empty, TITLES)
    assert (empty / "my_grades.csv").read_text() == "x"


def test_unreadable_notebook_is_named(tmp_path):
    src = _chapters_folder(tmp_path)
    (src / "02_broken.ipynb").write_text("{not json")
    with pytest.raises(ValueError, match=r"02_broken.ipynb: cannot read the notebook"):
        build(src, tmp_path / "out", TITLES)
    with pytest.raises(ValueError, match=r"02_broken.ipynb: cannot read the notebook"):
        chapter_exercises(src / "02_broken.ipynb")


def test_code_markers_in_markdown_and_raw_cells_are_stripped():
    md = new_markdown_cell(
        "Try:\n```python\n# BEGIN SOLUTION\nsecret = 42\n# END SOLUTION\n```\nDone."
    )
    raw = nbformat.v4.new_raw_cell("```{solution} ex\nThe raw answer.\n```")
    out, removed = strip_markdown_solutions([md, raw])
    assert removed == 2
    assert (
        "secret" not in out[0].source
        and ANSWER_PROMPT in out[0].source
        and "Done." in out[0].source
    )
    assert out[1].source == ANSWER_PROMPT and out[1].cell_type == "raw"


@pytest.mark.parametrize(
    "cell, message",
    [
        (
            new_markdown_cell("Intro\n### BEGIN SOLUTION\nsecret\n### END SOLUTION"),
            r"markdown cell 0, line 2",
        ),
        (
            nbformat.v4.new_raw_cell("a\n# BEGIN SOLUTION\nsecret"),
            r"raw cell 0, line 2: '# BEGIN SOLUTION' has no",
        ),
        (new_markdown_cell("The answer {solution}`ex` is 42"), r"markdown cell 0, line 1"),
        (new_markdown_cell("text\n  ```{Solution} ex\n  42\n  ```"), r"markdown cell 0, line 2"),
    ],
)
def test_solution_leftovers_in_text_cells_are_refused_with_cell_and_line(cell, message):
    with pytest.raises(ValueError, match=message):
        strip_markdown_solutions([cell])


def test_code_cell_without_region_inside_a_gate_is_refused():
    cells = [
        new_markdown_cell("```{solution-start} ex\n```"),
        new_code_cell("answer = 42"),
        new_markdown_cell("```{solution-end}\n```"),
    ]
    with pytest.raises(
        ValueError, match=r"code cell 1 lies inside the gated solution opened at markdown cell 0"
    ):
        strip_markdown_solutions(cells)


def test_the_package_declares_what_the_tool_imports():
    import tomllib

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[<>=!~ ]", d, maxsplit=1)[0].lower() for d in declared}
    assert "nbformat" in names


def test_make_assignments_student_copies_are_reader_rendered(tmp_path):
    """``build`` on the book's chapters: student copies in the reader rendering, no MyST, no nbval tags."""
    import shutil

    from scratchcnn.reader_copy import find_myst

    executed = [
        path
        for path in _chapters_with_solutions()
        if isinstance(path, Path)
        and any(c.get("outputs") for c in code_cells(nbformat.read(path, as_version=4)))
    ]
    if not executed:
        pytest.skip("no executed chapter with exercises yet")
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "book", tmp_path / "book")
    (tmp_path / "notebooks").mkdir()
    for path in executed:
        shutil.copy(path, tmp_path / "notebooks" / path.name)
    out = tmp_path / "out"
    build(tmp_path / "notebooks", out)
    for path in executed:
        student = nbformat.read(out / "student" / path.name, as_version=4)
        solution = nbformat.read(out / "solutions" / path.name, as_version=4)
        assert find_myst(student) == [], path.name
        assert not any(c.metadata.get("tags") for c in student.cells), path.name
        assert all(not c.outputs for c in code_cells(student)), path.name
        assert '"google.colab" in sys.modules' in code_cells(student)[0].source
        ids = [
            c.metadata["nbgrader"]["grade_id"] for c in student.cells if "nbgrader" in c.metadata
        ]
        assert ids == [
            c.metadata["nbgrader"]["grade_id"] for c in solution.cells if "nbgrader" in c.metadata
        ]
        assert "# BEGIN SOLUTION" not in "".join(c.source for c in student.cells)
