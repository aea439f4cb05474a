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
"""

from __future__ import annotations

import copy
import re
from typing import Sequence

ANSWER_PROMPT = "*Your answer here.*"

# ```{solution} label   /   ::::{solution-start} label   /   ```{solution-end}
_OPEN = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|:{3,})\{(?P<kind>solution(?:-start|-end)?)\}")


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


def strip_markdown_solutions(cells: Sequence) -> tuple[list, int]:
    """Copies of ``cells`` without worked answers in Markdown, and how many directives went.

    Code and raw cells are returned unchanged (as copies); see the module docstring.
    """
    out = []
    removed = 0
    gate_opened = None  # where the open {solution-start} was, while inside a gated solution
    for index, cell in enumerate(cells):
        cell = copy.deepcopy(cell)
        if cell.cell_type != "markdown":
            out.append(cell)
            continue
        where = f"markdown cell {index}"
        inside_gate = gate_opened is not None
        removed_before = removed
        lines = cell.source.split("\n")
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
                    raise ValueError(f"{where}, line {no + 1}: a {{solution-start}} inside the gated "
                                     f"solution opened at {gate_opened}; close that one first")
                gate_opened = f"{where}, line {no + 1}"
            else:
                if gate_opened is None:
                    raise ValueError(f"{where}, line {no + 1}: {{solution-end}} without a "
                                     "{solution-start} before it")
                gate_opened = None
            removed += 1
            no = close + 1
        if removed == removed_before and not inside_gate:  # nothing to remove: keep it verbatim
            out.append(cell)
            continue
        source = "\n".join(kept).strip("\n")
        if source.strip():
            cell.source = source
            out.append(cell)
    if gate_opened is not None:
        raise ValueError(f"the gated solution opened at {gate_opened} has no {{solution-end}}")
    return out, removed
