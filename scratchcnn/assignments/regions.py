"""Solution regions in code cells: find them, name their exercise, write the student's stub.

A solution region is the run of lines between a ``# BEGIN SOLUTION`` line and the next
``# END SOLUTION`` line of a code cell (each marker alone on its line, at any indentation).
That exact form, one ``#`` and one space, is the one both graders read: nbgrader treats any
line containing ``BEGIN SOLUTION`` as a marker, otter-grader only ``# BEGIN SOLUTION`` at the
start of a line. A line that mentions the markers in any other way is refused, so a typo can
never leave a solution in a student's copy.

The exercise a region belongs to is the first ``check("N.M", ...)`` call after its END line,
in the same cell or a later code cell: the check cell that must follow every solution anyway.

The stub that replaces a region in the student copy:

- inside a ``def`` (the BEGIN line is indented in a function body)::

      # YOUR CODE HERE
      raise NotImplementedError("Exercise 5.2: <title registered in scratchcnn.check>")

- anywhere else: ``name = ...`` for every name the solution assigns (or defines with
  ``def``/``class``), or a bare ``...`` when it assigns none (an expression)::

      # YOUR CODE HERE
      kernel = ...

Passing ``...`` (Ellipsis) or calling a function that raises ``NotImplementedError`` makes
``scratchcnn.check.check`` raise ``ExerciseNotAttempted``: the student sees "not done yet",
not a confusing failure.
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

BEGIN = "# BEGIN SOLUTION"
END = "# END SOLUTION"
YOUR_CODE_HERE = "# YOUR CODE HERE"

# Anything that looks like a marker but is not exactly BEGIN or END (e.g. "### BEGIN SOLUTION",
# "#BEGIN SOLUTION", "# begin solution", "# END SOLUTIONS"): refused, see the module docstring.
_NEAR_MISS = re.compile(r"\b(BEGIN|END)[\s_-]*SOLUTION", re.IGNORECASE)
# check("5.2", ...) or scratchcnn.check.check('5.2', ...); not gradcheck(...) or check_x(...).
CHECK_CALL = re.compile(r"""\bcheck\(\s*(?P<q>['"])(?P<id>[^'"\s]+)(?P=q)""")


@dataclass(frozen=True)
class Region:
    """One solution region of a notebook."""

    cell: int  # index of its code cell in nb.cells
    begin: int  # 0-based line of the BEGIN marker in the cell's source
    end: int  # 0-based line of the END marker
    marked: tuple[str, ...]  # the lines from BEGIN to END, markers included, verbatim
    in_function: bool  # the BEGIN line lies inside a def
    exercise_id: str  # from the first check("N.M", ...) after the END line
    check_cell: int  # index of the cell holding that check call

    @property
    def indent(self) -> str:
        """The BEGIN line's indentation: the stub is written at it."""
        return self.marked[0][: len(self.marked[0]) - len(self.marked[0].lstrip())]

    @property
    def lines(self) -> tuple[str, ...]:
        """The solution itself, markers excluded."""
        return self.marked[1:-1]


def marker_spans(source: str, where: str) -> list[tuple[int, int]]:
    """``(begin, end)`` line numbers of the regions in ``source``; ``where`` names it in errors."""
    spans: list[tuple[int, int]] = []
    begin = None
    for no, line in enumerate(source.split("\n")):
        text = line.strip()
        if text == BEGIN:
            if begin is not None:
                raise ValueError(
                    f"{where}, line {no + 1}: a second {BEGIN!r} before the {END!r} of the one on "
                    f"line {begin + 1}; regions cannot nest: close the first region first"
                )
            begin = no
        elif text == END:
            if begin is None:
                raise ValueError(f"{where}, line {no + 1}: {END!r} without a {BEGIN!r} before it")
            spans.append((begin, no))
            begin = None
        elif _NEAR_MISS.search(line):
            raise ValueError(
                f"{where}, line {no + 1}: {text!r} looks like a solution marker but is not one: "
                f"write exactly {BEGIN!r} or {END!r} alone on its line (one '#', one space), the "
                "form both nbgrader and otter-grader read"
            )
    if begin is not None:
        raise ValueError(
            f"{where}, line {begin + 1}: {BEGIN!r} has no {END!r} after it in the cell"
        )
    return spans


def python_source(source: str) -> tuple[str, int]:
    """Cell source as plain Python (IPython magics turned into calls) and its line offset.

    Line magics become calls on the same line, so line numbers are kept. A cell magic
    (``%%time``) turns the whole cell into one call, so its body is returned instead, with an
    offset of 1.
    """
    offset = 0
    if source.lstrip().startswith("%%"):
        _, _, source = source.partition("\n")
        offset = 1
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # without IPython (a bare pip install): magics become `pass`, lines kept
        lines = source.split("\n")
        lines = [
            line[: len(line) - len(line.lstrip())] + "pass"
            if line.lstrip()[:1] in ("%", "!")
            else line
            for line in lines
        ]
        return "\n".join(lines), offset
    return TransformerManager().transform_cell(source), offset


def parse_cell(source: str, where: str) -> tuple[ast.Module, int]:
    """The cell's syntax tree and line offset; a syntax error is reported with ``where``."""
    code, offset = python_source(source)
    try:
        return ast.parse(code), offset
    except SyntaxError as err:
        raise ValueError(
            f"{where}: the cell is not valid Python ({err.msg}, line {err.lineno})"
        ) from None


def _in_function(tree: ast.Module, line: int) -> bool:
    """Whether the 1-based ``line`` lies inside the body of a ``def`` in ``tree``."""
    return any(
        isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.lineno < line <= (node.end_lineno or node.lineno)
        for node in ast.walk(tree)
    )


def find_exercise(cells: Sequence, cell: int, after_line: int) -> tuple[str, int] | None:
    """``(exercise id, cell index)`` of the first ``check("N.M", ...)`` after a region's END."""
    rest = "\n".join(cells[cell].source.split("\n")[after_line + 1 :])
    match = CHECK_CALL.search(rest)
    if match:
        return match["id"], cell
    for index in range(cell + 1, len(cells)):
        if cells[index].cell_type == "code":
            match = CHECK_CALL.search(cells[index].source)
            if match:
                return match["id"], index
    return None


def find_regions(cells: Sequence) -> list[Region]:
    """Every solution region of a notebook's ``cells``, in order; ValueError on malformed markers."""
    regions = []
    for index, cell in enumerate(cells):
        if cell.cell_type != "code":
            continue
        where = f"code cell {index}"
        spans = marker_spans(cell.source, where)
        if not spans:
            continue
        tree, offset = parse_cell(cell.source, where)
        lines = cell.source.split("\n")
        for begin, end in spans:
            found = find_exercise(cells, index, end)
            if found is None:
                raise ValueError(
                    f'{where}, line {begin + 1}: no check("N.M", answer) call follows this solution '
                    "region; every solution needs its check cell after it (the check names the "
                    "exercise and grades the student's answer)"
                )
            regions.append(
                Region(
                    cell=index,
                    begin=begin,
                    end=end,
                    marked=tuple(lines[begin : end + 1]),
                    in_function=_in_function(tree, begin + 1 - offset),
                    exercise_id=found[0],
                    check_cell=found[1],
                )
            )
    return regions


def assigned_names(lines: Sequence[str], where: str = "the solution region") -> list[str]:
    """Names a solution region binds (assignments, ``def``, ``class``), in order of appearance.

    Assignments inside ``if``/``for``/``with``/``try`` blocks count; loop variables, imports and
    assignments to attributes or items (``params["W"] = ...``) do not. An expression region (no
    statement binds a name) gives ``[]``.
    """
    code_lines = [line for line in lines if line.strip() and not line.strip().startswith("#")]
    code = textwrap.dedent("\n".join(code_lines))
    try:
        tree = ast.parse(code)
    except SyntaxError:
        try:  # a region inside brackets: part of an expression
            ast.parse("(\n" + code + "\n)", mode="eval")
        except SyntaxError:
            raise ValueError(
                f"{where}: the solution is neither whole statements nor an expression; move the "
                "markers so that they enclose complete lines of code"
            ) from None
        return []
    names: list[str] = []

    def target(node: ast.AST) -> None:
        if isinstance(node, ast.Name) and node.id not in names:
            names.append(node.id)
        elif isinstance(node, (ast.Tuple, ast.List)):
            for element in node.elts:
                target(element)
        elif isinstance(node, ast.Starred):
            target(node.value)

    def visit(statements: list[ast.stmt]) -> None:
        for stmt in statements:
            if isinstance(stmt, ast.Assign):
                for node in stmt.targets:
                    target(node)
            elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
                target(stmt.target)
            elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                target(ast.Name(id=stmt.name))
            elif isinstance(stmt, getattr(ast, "Match", ())):
                for case in stmt.cases:
                    visit(case.body)
            else:
                for field in ("body", "orelse", "finalbody"):
                    visit(getattr(stmt, field, []))
                for handler in getattr(stmt, "handlers", []):
                    visit(handler.body)

    visit(tree.body)
    return names


def _python_string(text: str) -> str:
    """``text`` as a double-quoted Python string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def stub(region: Region, titles: Mapping[str, str]) -> list[str]:
    """The lines that replace ``region`` (markers included) in the student copy."""
    if region.exercise_id not in titles:
        raise ValueError(
            f"code cell {region.cell}: the solution is checked by check({region.exercise_id!r}, ...), "
            f"but scratchcnn.check has no exercise {region.exercise_id!r}; register it in "
            f'scratchcnn/check/chNN.py with @exercise({region.exercise_id!r}, "short title")'
        )
    indent = region.indent
    if region.in_function:
        message = f"Exercise {region.exercise_id}: {titles[region.exercise_id]}"
        return [
            indent + YOUR_CODE_HERE,
            indent + f"raise NotImplementedError({_python_string(message)})",
        ]
    names = assigned_names(region.lines, f"code cell {region.cell}, line {region.begin + 1}")
    body = [f"{name} = ..." for name in names] or ["..."]
    return [indent + line for line in [YOUR_CODE_HERE, *body]]
