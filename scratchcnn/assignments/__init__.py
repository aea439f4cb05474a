"""Student and solution copies of the chapters, for instructors: ``make assignments``.

The chapter notebooks are the single source. Their exercise solutions sit between
``# BEGIN SOLUTION`` and ``# END SOLUTION`` lines, each followed by a check cell
(``check("5.2", my_answer)``). :func:`build` writes

- ``student/``: every solution region replaced by a stub (see :mod:`.regions`), worked answers
  in Markdown removed (see :mod:`.markdown`), outputs and execution counts cleared; everything
  else, the Colab install cell first, exactly as in the chapter;
- ``solutions/``: the executed chapters as committed;

both with nbgrader cell metadata on the solution and check cells (see :mod:`.nbgrader`); and

- ``otter/<chapter>/``: otter-grader test files that run the checks (see :mod:`.otter`) and the
  ``requirements.txt`` that installs scratchcnn, ready for ``otter generate``.
Run it as ``python -m scratchcnn.assignments [notebooks] [_build/assignments]``.

It never destroys data: the output folder is replaced only when this tool wrote it (it holds the
:data:`MARKER` file and nothing else but the three folders); a folder that is, contains or lies
inside the source, or any other non-empty folder, is refused with :class:`UnsafeOutput`.

A thin tool of its own rather than nbgrader's ``ClearSolutions``: that preprocessor writes the
same stub everywhere (``raise NotImplementedError()``), while ours names the exercise and keeps
top-level answers as ``name = ...``, and nbgrader would add Jupyter Server, JupyterLab and a
database to the book's requirements. Instructors who grade with nbgrader still can: the markers
and the metadata are nbgrader's (``book/instructors.md``).
"""

from __future__ import annotations

import copy
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .markdown import strip_markdown_solutions
from .nbgrader import graded_source, mark_cells
from .otter import answer_expression, otter_tests, requirements
from .regions import BEGIN, END, Region, find_regions, parse_cell, stub

__all__ = [
    "BEGIN",
    "END",
    "Assignment",
    "MARKER",
    "UnsafeOutput",
    "check_output_folder",
    "Replacement",
    "Region",
    "build",
    "clear_outputs",
    "find_regions",
    "solution_copy",
    "splice",
    "student_copy",
]


@dataclass(frozen=True)
class Replacement:
    """Where a stub stands in a student copy: lines ``start:stop`` of its ``code_cell``-th code cell."""

    code_cell: int  # ordinal among the notebook's code cells (Markdown cells may be dropped)
    start: int
    stop: int
    region: Region


@dataclass(frozen=True)
class Assignment:
    """What :func:`build` made of one chapter."""

    name: str  # the notebook's file name
    exercises: tuple[str, ...]  # the ids of its checked exercises, in order
    regions: int


def clear_outputs(nb) -> None:
    """Drop outputs, execution counts and execution timings from every cell, in place."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
    nb.metadata.pop("widgets", None)


def _titles(titles: Mapping[str, str] | None) -> Mapping[str, str]:
    if titles is not None:
        return titles
    from scratchcnn.check import exercises

    return exercises()


def student_copy(nb, titles: Mapping[str, str] | None = None, keep_outputs: bool = False):
    """The student version of notebook ``nb`` and where its stubs are.

    ``titles`` maps exercise ids to the titles used in the stubs' messages; by default the
    exercises registered in :mod:`scratchcnn.check`. Returns ``(student, replacements)``.
    Raises ValueError, naming the cell, on malformed markers, a region without a check after
    it, an exercise the checks do not know, or a stub that would not be valid Python.
    """
    titles = _titles(titles)
    regions = find_regions(nb.cells)
    student = copy.deepcopy(nb)
    mark_cells(student.cells, regions)
    code_ordinal = {}
    for index, cell in enumerate(student.cells):
        if cell.cell_type == "code":
            code_ordinal[index] = len(code_ordinal)
    replacements = []
    for index in sorted({region.cell for region in regions}, reverse=True):
        lines = student.cells[index].source.split("\n")
        in_cell = [region for region in regions if region.cell == index]
        placed = []
        for region in reversed(in_cell):  # bottom up, so earlier line numbers stay valid
            new = stub(region, titles)
            lines[region.begin : region.end + 1] = new
            placed.append((region, len(new)))
        student.cells[index].source = "\n".join(lines)
        parse_cell(student.cells[index].source, f"code cell {index} of the student copy")
        shift = 0
        for region, size in reversed(placed):  # top down: each stub moves the ones below it
            start = region.begin + shift
            replacements.append(Replacement(code_ordinal[index], start, start + size, region))
            shift += size - len(region.marked)
    if not keep_outputs:  # kept only for the reader rendering, which reads glued values from them
        clear_outputs(student)
    student.cells, _ = strip_markdown_solutions(student.cells, {region.cell for region in regions})
    replacements.sort(key=lambda r: (r.code_cell, r.start))
    return student, replacements


def solution_copy(nb):
    """The solution version of ``nb``: the chapter as committed, plus nbgrader metadata.

    Its nbgrader test cells hold the graded form of their check (:func:`.nbgrader.graded_source`).
    """
    solution = copy.deepcopy(nb)
    regions = find_regions(solution.cells)
    mark_cells(solution.cells, regions)
    for region in regions:
        cell = solution.cells[region.check_cell]
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            answer = answer_expression(cell.source, region.exercise_id)
            cell.source = graded_source(region.exercise_id, answer, meta.get("points", 1))
    return solution


def splice(student, replacements):
    """Put the solutions back into a student copy: the inverse of :func:`student_copy` on code.

    Used to prove the stripping lossless: every code cell of the result equals the chapter's.
    """
    spliced = copy.deepcopy(student)
    code_cells = [cell for cell in spliced.cells if cell.cell_type == "code"]
    for rep in sorted(replacements, key=lambda r: (r.code_cell, -r.start)):
        cell = code_cells[rep.code_cell]
        lines = cell.source.split("\n")
        lines[rep.start : rep.stop] = rep.region.marked
        cell.source = "\n".join(lines)
    return spliced


MARKER = ".scratchcnn-assignments"
MARKER_TEXT = (
    "Written by `python -m scratchcnn.assignments` (make assignments). This file marks the folder as\n"
    "the tool's own: the next run replaces the whole folder. Keep nothing else in it.\n"
)
_OURS = {MARKER, "student", "solutions", "otter"}


class UnsafeOutput(ValueError):
    """The output folder is one the tool must not replace (it would destroy data)."""


def check_output_folder(src: Path | str, out: Path | str) -> None:
    """Refuse an output folder whose replacement could destroy data; return if ``out`` is safe.

    Safe means: ``out`` does not exist, is an empty folder, or is a folder this tool wrote (it holds
    :data:`MARKER` and nothing but ``student/``, ``solutions/`` and ``otter/``), and it neither is,
    contains, nor lies inside the source folder ``src``.
    """
    src_r, out_r = Path(src).resolve(), Path(out).resolve()
    if out_r == src_r:
        raise UnsafeOutput(
            f"the output folder {out} is the source folder {src}: writing there would replace the "
            "chapters; give a folder of its own, e.g. _build/assignments"
        )
    if src_r in out_r.parents:
        raise UnsafeOutput(
            f"the output folder {out} lies inside the source folder {src}: the copies would mix with "
            "the chapters (the book and the tests read that folder); give a folder outside it, e.g. "
            "_build/assignments"
        )
    if out_r in src_r.parents:
        raise UnsafeOutput(
            f"the output folder {out} contains the source folder {src}: replacing it would delete the "
            "chapters; give a folder of its own, e.g. _build/assignments"
        )
    if not out_r.exists() and not out_r.is_symlink():
        return
    if not out_r.is_dir():
        raise UnsafeOutput(
            f"the output {out} exists and is not a folder; remove it or give another path"
        )
    entries = sorted(p.name for p in out_r.iterdir())
    if not entries:
        return
    if MARKER not in entries:
        shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
        raise UnsafeOutput(
            f"the output folder {out} is not empty ({shown}) and was not written by this tool (it has no "
            f"{MARKER} file): refusing to replace it; give a new or empty folder, e.g. _build/assignments"
        )
    foreign = [name for name in entries if name not in _OURS]
    if foreign:
        raise UnsafeOutput(
            f"the output folder {out} was written by this tool but now also holds {', '.join(foreign)}, "
            "which the tool did not write: move those elsewhere first (the folder is replaced whole)"
        )


def _reader_book(src: Path):
    """The book around the chapters (``_config.yml`` beside ``src``), for the reader rendering; or None."""
    root = src.resolve().parent
    if not (root / "_config.yml").is_file() or not (root / "_toc.yml").is_file():
        return None
    from scratchcnn.reader_copy import load_book

    return load_book(root)


def reader_rendering(student, page: str, book):
    """The student copy as plain Jupyter and Colab show it: :mod:`scratchcnn.reader_copy`'s rendering.

    MyST roles, labels and exercise directives become Markdown, nbval and Jupyter Book tags go,
    the install cell comes from ``_config.yml``; then outputs are cleared. Anything MyST left over
    is refused, naming the cell.
    """
    from scratchcnn.reader_copy import ReaderCopyError, find_myst, render_notebook

    try:
        rendered = nbformat.from_dict(render_notebook(student, page, book))
    except ReaderCopyError as err:
        raise ValueError(f"the reader rendering failed: {err}") from None
    for cell in rendered.cells:
        if isinstance(cell.source, list):
            cell.source = "".join(cell.source)
    clear_outputs(rendered)
    left = find_myst(rendered)
    if left:
        index, kind, text = left[0]
        raise ValueError(f"cell {index} of the student copy still holds a {kind}: {text!r}")
    return rendered


def _read(path: Path):
    try:
        return nbformat.read(path, as_version=4)
    except Exception as err:
        raise ValueError(
            f"{path}: cannot read the notebook ({type(err).__name__}: {err})"
        ) from None


def build(
    src: Path | str, out: Path | str, titles: Mapping[str, str] | None = None
) -> list[Assignment]:
    """Write ``out/student/``, ``out/solutions/`` and ``out/otter/`` for the notebooks in ``src``.

    ``out`` must be new, empty or written by this tool before (see :func:`check_output_folder`;
    :class:`UnsafeOutput` otherwise). The new folder replaces ``out`` only once every notebook has
    been written, so a failure never leaves a half-built set behind.
    """
    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise ValueError(f"{src} is not a folder: give the folder of the chapters, e.g. notebooks/")
    check_output_folder(src, out)
    notebooks = sorted(src.glob("*.ipynb"))
    if not notebooks:
        raise ValueError(
            f"no notebooks (*.ipynb) in {src}: give the folder of the chapters, e.g. notebooks/"
        )
    titles = _titles(titles)
    book = _reader_book(src)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    made = []
    try:
        (tmp / MARKER).write_text(MARKER_TEXT, encoding="utf8")
        (tmp / "student").mkdir()
        (tmp / "solutions").mkdir()
        for path in notebooks:
            nb = _read(path)
            try:
                student, replacements = student_copy(nb, titles, keep_outputs=book is not None)
                if book is not None:
                    student = reader_rendering(student, f"{src.resolve().name}/{path.stem}", book)
                solution = solution_copy(nb)
                tests = otter_tests(nb.cells, [r.region for r in replacements], titles)
            except ValueError as err:
                raise ValueError(f"{path}: {err}") from None
            nbformat.write(student, tmp / "student" / path.name)
            nbformat.write(solution, tmp / "solutions" / path.name)
            if tests:
                folder = tmp / "otter" / path.stem
                (folder / "tests").mkdir(parents=True)
                for name, text in tests.items():
                    (folder / "tests" / name).write_text(text, encoding="utf8")
                needs = requirements(nb.cells)
                if needs:
                    (folder / "requirements.txt").write_text(needs, encoding="utf8")
            ids = tuple(dict.fromkeys(r.region.exercise_id for r in replacements))
            made.append(Assignment(path.name, ids, len(replacements)))
        check_output_folder(src, out)  # again: nothing may have appeared in it meanwhile
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return made
