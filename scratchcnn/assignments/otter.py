"""otter-grader test files that run the book's checks, one per exercise.

Otter grades a submission by executing it and then running test files against the notebook's
global variables. In its exception-based format a test case passes when it raises nothing, and a
file's score is the share of its test cases' points that passed. So each exercise gets a file
that runs the graded check once (:func:`scratchcnn.check.grading.grade`, in a separate process)
and :data:`SLOTS` test cases that turn its share of cases passed into otter's score. The older,
all-or-nothing form of such a file was::

    from otter.test_files import test_case

    OK_FORMAT = False
    name = "ex5_2"
    points = 1


    @test_case(points=1)
    def check_5_2(env):
        from scratchcnn.check import check

        check("5.2", eval("corr2d", env))

where ``corr2d`` is the answer expression of the chapter's check cell, ``check("5.2", corr2d)``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence

from .nbgrader import grade_id
from .regions import Region, python_source

SLOTS = 10  # test cases per exercise: otter's score is the share of them that pass

TEMPLATE = '''"""Exercise {id}: {title}. Graded by the book's check in a separate process.

The check's grade is the share of its cases passed; otter counts test cases, so this file has
{slots} of them, worth 1/{slots} of the point each: case k passes when at least k/{slots} of the
check's cases passed (the share, rounded down to a tenth).
"""

from otter.test_files import test_case

OK_FORMAT = False
name = "{name}"
points = 1
_graded = {{}}


def _share(env):
    if "share" not in _graded:  # one graded run per submission, shared by the cases below
        from importlib import reload

        import scratchcnn.check.grading

        _graded["share"] = reload(scratchcnn.check.grading).grade({id!r}, eval({answer!r}, env))
    return _graded["share"]


def _case(k):
    def check_{func}(env):
        share = _share(env)
        assert share >= k / {slots} - 1e-9, f"{{share:.0%}} of the check's cases passed"

    return check_{func}


for _k in range(1, {slots} + 1):
    globals()[f"case_{{_k}}"] = test_case(name=f"{name} ({{_k}}0%)", points=1 / {slots})(_case(_k))
'''


def answer_expression(source: str, exercise_id: str) -> str:
    """The expression passed as the answer in ``check(exercise_id, <answer>)`` within ``source``."""
    code, _ = python_source(source)
    for node in ast.walk(ast.parse(code)):
        if (
            isinstance(node, ast.Call)
            and (
                getattr(node.func, "id", None) == "check"
                or getattr(node.func, "attr", None) == "check"
            )
            and len(node.args) == 2
            and isinstance(node.args[0], ast.Constant)
            and node.args[0].value == exercise_id
        ):
            return ast.unparse(node.args[1])
    raise ValueError(
        f"no call check({exercise_id!r}, answer) with exactly two arguments in the check cell:\n{source}"
    )


def otter_tests(
    cells: Sequence, regions: Sequence[Region], titles: Mapping[str, str]
) -> dict[str, str]:
    """``{file name: source}`` of one otter test file per exercise checked in ``regions``."""
    files = {}
    for region in regions:
        name = grade_id(region.exercise_id, "").rstrip("-")
        if f"{name}.py" in files:
            continue
        answer = answer_expression(cells[region.check_cell].source, region.exercise_id)
        files[f"{name}.py"] = TEMPLATE.format(
            id=region.exercise_id,
            title=titles[region.exercise_id].replace('"', "'"),
            name=name,
            func=name.removeprefix("ex"),
            answer=answer,
            slots=SLOTS,
        )
    return files


def requirements(cells: Sequence) -> str | None:
    """The pip requirement the notebook's Colab cell installs scratchcnn with, as a line."""
    for cell in cells:
        if cell.cell_type == "code":
            match = re.search(r"""["'](scratchcnn @ [^"']+)["']""", cell.source)
            return match.group(1) + "\n" if match else None
    return None
