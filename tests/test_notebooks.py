"""Every chapter notebook is stored the way readers, Colab and nbval need it.

nbval itself (``pytest --nbval-lax notebooks/``, run by ``make test``) re-executes each notebook
and compares the cells tagged ``nbval-check-output``; these tests check how they are stored.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from scratchcnn.reader_copy import install_cell_source, load_book

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = [
    "01_data",
    "02_convolution",
    "03_pooling",
    "04_affine_softmax",
    "05_backprop",
    "06_training",
    "07_contiguity",
    "08_fast_cnn",
    "09_deeper",
]
MIN_CHECKED_CELLS = 8


def _load(name: str) -> dict:
    return json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())


def _code_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def _repository_url() -> str:
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    return config["repository"]["url"].rstrip("/")


def test_every_chapter_exists():
    missing = [c for c in CHAPTERS if not (ROOT / "notebooks" / f"{c}.ipynb").exists()]
    assert not missing, f"chapter notebooks missing: {missing}"


@pytest.fixture(params=CHAPTERS)
def chapter(request):
    path = ROOT / "notebooks" / f"{request.param}.ipynb"
    if not path.exists():
        pytest.fail(f"{path} does not exist")
    return request.param, _load(request.param)


def test_executed_top_to_bottom_without_errors(chapter):
    name, nb = chapter
    cells = _code_cells(nb)
    counts = [c["execution_count"] for c in cells]
    assert counts == list(range(1, len(cells) + 1)), (
        f"{name}: execution counts {counts} are not 1..{len(cells)}: run `make execute NB=notebooks/{name}.ipynb`"
    )
    errors = [o.get("ename") for c in cells for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, f"{name}: stored error outputs {errors}"


def test_first_code_cell_installs_scratchcnn_in_colab_only(chapter):
    """The install cell is generated from _config.yml's repository URL (one place for the URL)."""
    name, nb = chapter
    first = _source(_code_cells(nb)[0])
    book = load_book(ROOT)
    assert 'if "google.colab" in sys.modules:' in first, (
        f"{name}: the first code cell must test for Colab"
    )
    assert book.install_spec == f"scratchcnn @ git+{_repository_url()}"
    assert first.rstrip("\n") == install_cell_source(book.install_spec).rstrip("\n"), (
        f"{name}: the first code cell differs from scratchcnn.reader_copy.install_cell_source() "
        f"for _config.yml's repository.url {_repository_url()}"
    )


def test_summary_and_exercises_close_the_chapter(chapter):
    name, nb = chapter
    headings = [
        line.strip()
        for c in nb["cells"]
        if c["cell_type"] == "markdown"
        for line in _source(c).splitlines()
        if line.startswith("#")
    ]
    assert headings and headings[0].startswith("# "), (
        f"{name}: the first cell must hold the chapter title"
    )
    assert "## Summary" in headings, f"{name}: no '## Summary' section"
    assert "## Exercises" in headings, f"{name}: no '## Exercises' section"
    assert headings.index("## Summary") < headings.index("## Exercises"), (
        f"{name}: Summary must come before Exercises"
    )


def _tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def test_enough_deterministic_cells_are_checked(chapter):
    name, nb = chapter
    checked = [c for c in _code_cells(nb) if "nbval-check-output" in _tags(c)]
    assert len(checked) >= MIN_CHECKED_CELLS, (
        f"{name}: {len(checked)} cells carry the nbval-check-output tag, want >= {MIN_CHECKED_CELLS}"
    )
    empty = [i for i, c in enumerate(checked) if not c["outputs"]]
    assert not empty, f"{name}: checked cells with no stored output compare nothing: {empty}"


def test_no_test_markers_in_what_readers_see(chapter):
    """nbval's markers live in cell tags: a reader never sees a ``# NBVAL_...`` comment."""
    name, nb = chapter
    for i, cell in enumerate(nb["cells"]):
        found = re.findall(r"#\s*NBVAL_\w+", _source(cell))
        assert not found, f"{name}: cell {i} shows {found[0]!r}; use the cell tag instead"


def test_solution_regions_are_well_formed_and_checked(chapter):
    name, nb = chapter
    cells = _code_cells(nb)
    regions = 0
    for i, cell in enumerate(cells):
        lines = [line.strip() for line in _source(cell).splitlines()]
        begins, ends = lines.count("# BEGIN SOLUTION"), lines.count("# END SOLUTION")
        assert begins == ends, f"{name}: cell {i} has {begins} BEGIN and {ends} END SOLUTION lines"
        if begins:
            regions += begins
            later = "".join(_source(c) for c in cells[i + 1 : i + 3])
            assert "check(" in later, (
                f"{name}: the solution in code cell {i} is not followed by a check cell"
            )
    assert regions >= 1, (
        f"{name}: no exercise has a worked solution between # BEGIN SOLUTION / # END SOLUTION"
    )


def test_no_pickle_anywhere():
    """No code unpickles data it did not make: pickle runs code while it loads.

    The one exception is the graders' channel (scratchcnn/check/grading.py): its unpickler's
    find_class refuses every class and function, so it can only build lists, dicts, strings and
    numbers, and it never calls pickle.load/loads directly.
    """
    offenders = []
    for p in list((ROOT / "scratchcnn").rglob("*.py")) + list((ROOT / "notebooks").glob("*.ipynb")):
        text = p.read_text()
        if re.search(r"allow_pickle\s*=\s*True", text):
            offenders.append(str(p.relative_to(ROOT)))
        elif re.search(r"import pickle", text):
            restricted = re.search(
                r"def find_class\(self, module, name\):[^\n]*\n(\s+\"\"\"[^\n]*\n)?\s+raise ", text
            )
            if not restricted or re.search(r"pickle\.loads?\(", text):
                offenders.append(str(p.relative_to(ROOT)))
    assert not offenders, f"pickle used in {offenders}"


MAX_CODE_LINE = 88  # the site's content column clips longer code lines


def test_code_fits_the_page(chapter):
    name, nb = chapter
    long = [
        (i, line)
        for i, cell in enumerate(nb["cells"])
        if cell["cell_type"] == "code"
        for line in _source(cell).splitlines()
        if len(line) > MAX_CODE_LINE
    ]
    assert not long, (
        f"{name}: {len(long)} code lines over {MAX_CODE_LINE} characters, first in cell {long[0][0]}: {long[0][1]!r}"
    )


def test_every_exercise_has_a_title(chapter):
    name, nb = chapter
    untitled = [
        i
        for i, cell in enumerate(nb["cells"])
        if cell["cell_type"] == "markdown"
        for line in _source(cell).splitlines()
        if re.fullmatch(r"\s*`{3,}\{exercise\}\s*", line)
    ]
    assert not untitled, f"{name}: exercises without a title in cells {untitled}"


def test_math_shows_no_stray_backslash(chapter):
    """MathJax prints ``\\_`` inside ``\\text{}`` as a backslash and an underscore."""
    name, nb = chapter
    bad = [i for i, c in enumerate(nb["cells"]) if re.search(r"\\text\{[^}]*\\_", _source(c))]
    assert not bad, f"{name}: \\text{{...\\_...}} in cells {bad}: write \\text{{fan}}_\\text{{in}}"


def test_glued_numbers_are_not_bold(chapter):
    name, nb = chapter
    bold = [
        i
        for i, c in enumerate(nb["cells"])
        if any("{glue" in span for span in re.findall(r"\*\*(.+?)\*\*", _source(c), re.S))
    ]
    assert not bold, f"{name}: bold glued numbers in cells {bold}"
