"""The exercises of each chapter, counted from the notebooks, for ``book/instructors.md``.

The table is computed when the book is built, so it always matches the chapters. Its time column
is an estimate from a stated rule of thumb, not a measurement.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .regions import find_regions

# ```{exercise} Title   or   :::{exercise} Title   (sphinx-exercise; gated: {exercise-start})
_EXERCISE = re.compile(r"^\s*(`{3,}|:{3,})\{exercise(?:-start)?\}", re.MULTILINE)
_HEADING = re.compile(r"^#\s+(.+)$", re.MULTILINE)

# Rule of thumb for the estimate (minutes), stated in the table's caption.
MINUTES_WRITTEN = 10
MINUTES_CODE = 15
MINUTES_PER_LINE = 2


@dataclass(frozen=True)
class ChapterExercises:
    """The exercises of one chapter notebook."""

    notebook: str  # file name
    title: str  # the notebook's first level-1 heading
    exercises: int  # exercise directives in its Markdown (at least the checked ones)
    checked: tuple[str, ...]  # ids of the exercises checked in code, in order
    solution_lines: int  # lines of code in its solution regions (no blanks, no comments)

    @property
    def minutes(self) -> int:
        """Rough time for a student, by the rule of thumb; rounded up to 5 minutes."""
        written = max(self.exercises - len(self.checked), 0)
        total = (
            MINUTES_WRITTEN * written
            + MINUTES_CODE * len(self.checked)
            + MINUTES_PER_LINE * self.solution_lines
        )
        return 5 * math.ceil(total / 5)


def chapter_exercises(path: Path | str) -> ChapterExercises:
    """Count the exercises of the notebook at ``path``."""
    path = Path(path)
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as err:
        raise ValueError(
            f"{path}: cannot read the notebook ({type(err).__name__}: {err})"
        ) from None
    markdown = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "markdown")
    heading = _HEADING.search(markdown)
    regions = find_regions(nb.cells)
    checked = tuple(dict.fromkeys(region.exercise_id for region in regions))
    lines = sum(
        1
        for region in regions
        for line in region.lines
        if line.strip() and not line.strip().startswith("#")
    )
    return ChapterExercises(
        notebook=path.name,
        title=heading.group(1).strip() if heading else path.stem,
        exercises=max(len(_EXERCISE.findall(markdown)), len(checked)),
        checked=checked,
        solution_lines=lines,
    )


def exercise_table(folder: Path | str) -> str:
    """A Markdown table of every chapter's exercises in ``folder``, with its caption."""
    chapters = [chapter_exercises(path) for path in sorted(Path(folder).glob("*.ipynb"))]
    chapters = [chapter for chapter in chapters if chapter.exercises]
    if not chapters:
        return f"No chapter in `{folder}` has exercises yet."
    rows = [
        "| Chapter | Exercises | Checked in code | Lines of solution code | Rough time (estimate) |",
        "| :-- | --: | :-- | --: | --: |",
    ]
    for ch in chapters:
        checked = ", ".join(ch.checked) if ch.checked else "none"
        rows.append(
            f"| {ch.title} (`{ch.notebook}`) | {ch.exercises} | {checked} | {ch.solution_lines} "
            f"| about {ch.minutes} min |"
        )
    total_ex = sum(ch.exercises for ch in chapters)
    total_checked = sum(len(ch.checked) for ch in chapters)
    total_lines = sum(ch.solution_lines for ch in chapters)
    total_minutes = sum(ch.minutes for ch in chapters)
    rows.append(
        f"| **All chapters** | **{total_ex}** | **{total_checked}** | **{total_lines}** "
        f"| **about {total_minutes / 60:.1f} h** |"
    )
    return "\n".join(rows)
