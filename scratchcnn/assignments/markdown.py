"""Worked answers in Markdown cells: sphinx-exercise's ``solution`` directives.

A chapter writes the answer to a written exercise as a solution directive, folded into a dropdown
on the site::

    ```{solution} ex-conv-size
    :class: dropdown

    $O = (32 - 5 + 4)/1 + 1 = 32$.
    ```

and the answer to a code exercise as a gated solution: a ``{solution-start}`` fence in a
Markdown cell, the code cells, then a ``{solution-end}`` fence. Jupyter and Colab do not know
these directives and would show the answers in plain sight, so the student copy drops them: a
``{solution}`` block becomes :data:`ANSWER_PROMPT`; the gate's fences and any Markdown between
them disappear, while the code cells between them stay (their ``# BEGIN SOLUTION`` regions are
stubbed like any other). A Markdown cell left empty is removed.

Raw cells are treated like Markdown cells (Jupyter shows them verbatim). In both, a code
solution region (``# BEGIN SOLUTION`` ... ``# END SOLUTION`` lines, e.g. inside a fenced code
block) becomes :data:`ANSWER_PROMPT` too, and anything that still looks like a solution after
that (a marker without its pair or misspelt, a ``{solution`` directive this module does not
know) is refused with its cell and line, as is a code cell inside a gated solution that has no
solution region (its code would reach the student as it is).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence

ANSWER_PROMPT = "*Your answer here.*"

# ```{solution} label   /   ::::{solution-start} label   /   ```{solution-end}
_OPEN = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|:{3,})\{(?P<kind>solution(?:-start|-end)?)\}")
# What must not survive into a student copy's Markdown or raw cells.
_LEFTOVER = re.compile(r"\{solution|(BEGIN|END)[\s_-]*SOLUTION", re.IGNORECASE)
_TEXT_CELLS = ("markdown", "raw")


def _closing(lines: list[str], start: int, fence: str, where: str) -> int:
    """Index of the line that closes the directive opened on ``lines[start]`` with ``fence``."""
    for no in range(start + 1, len(lines)):
        text = lines[no].strip()
        if text and set(text) == {fence[0]} and len(text) >= len(fence):
            return no
    raise ValueError(
        f"{where}, line {start + 1}: the {{solution}} directive opened with {fence} is never closed; "
        f"end it with a line of {fence}"
    )


def _strip_code_regions(lines: list[str], where: str) -> tuple[list[str], int]:
    """Replace ``# BEGIN SOLUTION`` ... ``# END SOLUTION`` runs in Markdown lines by the prompt."""
    from .regions import BEGIN, END

    kept: list[str] = []
    begin = None
    found = 0
    for no, line in enumerate(lines):
        text = line.strip()
        if text == BEGIN and begin is None:
            begin = no
            kept.append(line[: len(line) - len(line.lstrip())] + ANSWER_PROMPT)
        elif text == END and begin is not None:
            begin = None
            found += 1
        elif begin is None:
            kept.append(line)
    if begin is not None:
        raise ValueError(
            f"{where}, line {begin + 1}: {BEGIN!r} has no {END!r} after it in the cell"
        )
    return kept, found


def _refuse_leftovers(source: str, where: str) -> None:
    for no, line in enumerate(source.split("\n")):
        if _LEFTOVER.search(line):
            raise ValueError(
                f"{where}, line {no + 1}: {line.strip()!r} looks like a solution, or part of one, that "
                "the student copy would show: write answers as {solution} directives or between "
                "'# BEGIN SOLUTION' and '# END SOLUTION' lines (each alone on its line)"
            )


def strip_markdown_solutions(cells: Sequence, stubbed: set[int] | None = None) -> tuple[list, int]:
    """Copies of ``cells`` without worked answers in Markdown or raw cells, and how many went.

    Code cells are returned unchanged (as copies); see the module docstring. ``stubbed`` holds the
    indices of code cells whose solution regions were already replaced by stubs.
    """
    from .regions import BEGIN

    out = []
    removed = 0
    gate_opened = None  # where the open {solution-start} was, while inside a gated solution
    for index, cell in enumerate(cells):
        cell = copy.deepcopy(cell)
        if cell.cell_type not in _TEXT_CELLS:
            if gate_opened is not None and cell.cell_type == "code" and BEGIN not in cell.source:
                if not stubbed or index not in stubbed:
                    raise ValueError(
                        f"code cell {index} lies inside the gated solution opened at {gate_opened} but "
                        f"has no {BEGIN!r} region: its code would reach the student copy as it is; mark "
                        "the solution lines, or move the cell out of the gate"
                    )
            out.append(cell)
            continue
        where = f"{cell.cell_type} cell {index}"
        inside_gate = gate_opened is not None
        removed_before = removed
        lines, found = _strip_code_regions(cell.source.split("\n"), where)
        removed += found
        kept: list[str] = []
        no = 0
        while no < len(lines):
            match = _OPEN.match(lines[no])
            if match is None:
                if gate_opened is None:
                    kept.append(lines[no])
                no += 1
                continue
            close = _closing(lines, no, match["fence"], where)
            kind = match["kind"]
            if kind == "solution":
                if gate_opened is None:
                    kept.append(match["indent"] + ANSWER_PROMPT)
            elif kind == "solution-start":
                if gate_opened is not None:
                    raise ValueError(
                        f"{where}, line {no + 1}: a {{solution-start}} inside the gated "
                        f"solution opened at {gate_opened}; close that one first"
                    )
                gate_opened = f"{where}, line {no + 1}"
            else:
                if gate_opened is None:
                    raise ValueError(
                        f"{where}, line {no + 1}: {{solution-end}} without a "
                        "{solution-start} before it"
                    )
                gate_opened = None
            removed += 1
            no = close + 1
        source = (
            "\n".join(kept).strip("\n")
            if (removed != removed_before or inside_gate)
            else cell.source
        )
        _refuse_leftovers(source, where)
        if removed == removed_before and not inside_gate:  # nothing to remove: keep it verbatim
            out.append(cell)
            continue
        if source.strip():
            cell.source = source
            out.append(cell)
    if gate_opened is not None:
        raise ValueError(f"the gated solution opened at {gate_opened} has no {{solution-end}}")
    return out, removed
