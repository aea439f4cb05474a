"""otter-grader test files that run the book's checks, one per exercise.

Otter grades a submission by executing it and then running test files against the notebook's
global variables. Its exception-based format fits the checks exactly: a test case passes when it
raises nothing, and :func:`scratchcnn.check.check` raises on a wrong or missing answer. So each
exercise gets a file like::

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
from typing import Mapping, Sequence

from .nbgrader import grade_id
from .regions import Region, python_source

TEMPLATE = '''"""Exercise {id}: {title}. Runs the book's check on the submission's answer."""

from otter.test_files import test_case

OK_FORMAT = False
name = "{name}"
points = 1


@test_case(points=1)
def check_{func}(env):
    from scratchcnn.check import check

    check({id!r}, eval({answer!r}, env))
'''


def answer_expression(source: str, exercise_id: str) -> str:
    """The expression passed as the answer in ``check(exercise_id, <answer>)`` within ``source``."""
    code, _ = python_source(source)
    for node in ast.walk(ast.parse(code)):
        if (
            isinstance(node, ast.Call)
            and (getattr(node.func, "id", None) == "check" or getattr(node.func, "attr", None) == "check")
            and len(node.args) == 2
            and isinstance(node.args[0], ast.Constant)
            and node.args[0].value == exercise_id
        ):
            return ast.unparse(node.args[1])
    raise ValueError(
        f"no call check({exercise_id!r}, answer) with exactly two arguments in the check cell:\n{source}"
    )


def otter_tests(cells: Sequence, regions: Sequence[Region], titles: Mapping[str, str]) -> dict[str, str]:
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
        )
    return files


def requirements(cells: Sequence) -> str | None:
    """The pip requirement the notebook's Colab cell installs scratchcnn with, as a line."""
    for cell in cells:
        if cell.cell_type == "code":
            match = re.search(r"""["'](scratchcnn @ [^"']+)["']""", cell.source)
            return match.group(1) + "\n" if match else None
    return None
