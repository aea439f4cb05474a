"""nbgrader cell metadata, so the solution copies drop straight into an nbgrader course.

nbgrader only generates a student version from cells marked in their metadata (its
``ClearSolutions`` refuses a solution region in an unmarked cell), and only grades cells marked
as tests. This marks, in schema version 3:

- every cell holding a solution region as a solution cell (``grade_id`` ``ex5_2-answer``);
- every check cell as a locked autograder test worth one point (``ex5_2-check``): it passes
  when it runs without raising, which is exactly what ``scratchcnn.check.check`` does on a
  correct answer. Locked means nbgrader restores the check's original code before grading.

A check in the same cell as its solution is not marked as a test (a cell cannot be both for
nbgrader's autograder), so chapters keep each check in its own cell.

In the solution copies (nbgrader's *source*), each test cell holds the graded form of the check
(:func:`graded_source`): it reloads :mod:`scratchcnn.check.grading` from the package, runs the
check in a separate process and ends with the grade, ``points * share of cases passed``, which
nbgrader reads as the cell's partial credit. The student copies keep the self-study
``check(...)``; nbgrader's ``autograde`` puts the source's version back into every locked cell
(it logs that the cell changed), so a submission is always graded by the graded form.
"""

from __future__ import annotations

from collections.abc import Sequence

from .regions import Region

GRADED = """# Graded: the check runs in a separate process; the grade is the share of its cases passed.
from importlib import reload
import scratchcnn.check.grading
reload(scratchcnn.check.grading).grade({id!r}, {answer}, points={points})"""


def graded_source(exercise_id: str, answer: str, points: float = 1) -> str:
    """The source of a graded test cell for ``check(exercise_id, <answer>)``."""
    return GRADED.format(id=exercise_id, answer=answer, points=points)


def grade_id(exercise_id: str, role: str) -> str:
    """nbgrader's id for a cell: letters, digits, ``_`` and ``-`` only (``ex5_2-check``)."""
    safe = "".join(ch if ch.isalnum() else "_" for ch in exercise_id)
    return f"ex{safe}-{role}"


def _unique(wanted: str, taken: set[str]) -> str:
    name, n = wanted, 2
    while name in taken:
        name, n = f"{wanted}{n}", n + 1
    taken.add(name)
    return name


def mark_cells(cells: Sequence, regions: Sequence[Region]) -> None:
    """Write the ``nbgrader`` metadata of the solution and check cells of ``regions`` in place."""
    taken = {
        cell.metadata["nbgrader"].get("grade_id", "")
        for cell in cells
        if "nbgrader" in cell.metadata
    }
    solution_cells = {region.cell for region in regions}
    for region in regions:
        cell = cells[region.cell]
        if "nbgrader" not in cell.metadata:
            cell.metadata["nbgrader"] = {
                "grade": False,
                "grade_id": _unique(grade_id(region.exercise_id, "answer"), taken),
                "locked": False,
                "schema_version": 3,
                "solution": True,
                "task": False,
            }
    for region in regions:
        cell = cells[region.check_cell]
        if region.check_cell in solution_cells or "nbgrader" in cell.metadata:
            continue
        cell.metadata["nbgrader"] = {
            "grade": True,
            "grade_id": _unique(grade_id(region.exercise_id, "check"), taken),
            "locked": True,
            "points": 1,
            "schema_version": 3,
            "solution": False,
            "task": False,
        }
