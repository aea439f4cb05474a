"""Reader copies (``make colab``): the chapters as plain Jupyter and Colab show them.

A copy must hold no MyST at all (the scanner names the chapter and cell of the first piece
left), keep the chapter's outputs, and show what the site shows: the same glued numbers, the
same link texts, anchors that exist on the built site.
"""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

import pytest

from scratchcnn.reader_copy import (
    ReaderCopyError,
    find_myst,
    format_glued,
    install_cell_source,
    load_book,
    render_notebook,
    write_reader_copies,
)

ROOT = Path(__file__).resolve().parents[1]
BOOK = load_book(ROOT)
CHAPTERS = [p for p in BOOK.chapter_numbers if (ROOT / f"{p}.ipynb").exists()]
LINK = re.compile(r"\[(?P<text>[^\]]+)\]\((?P<url>[^)\s]+)\)")


@pytest.fixture(scope="module")
def copies(tmp_path_factory) -> dict[str, dict]:
    out = tmp_path_factory.mktemp("colab")
    paths = write_reader_copies(ROOT, out)
    return {p.stem: json.loads(p.read_text(encoding="utf8")) for p in paths}


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def _nb(*cells: dict) -> dict:
    return {"cells": list(cells), "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def _md(text: str) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": text}


def _code(text: str, tags=(), outputs=()) -> dict:
    return {"cell_type": "code", "metadata": {"tags": list(tags)}, "source": text,
            "outputs": list(outputs), "execution_count": 1}  # fmt: skip


def _glued(name: str, value: str) -> dict:
    return {"output_type": "display_data", "metadata": {"scrapbook": {"name": name, "mime_prefix": ""}},
            "data": {"text/plain": value}}  # fmt: skip


INSTALL = _code(install_cell_source(BOOK.install_spec))
PAGE = "notebooks/03_pooling"


def _render(*cells: dict) -> dict:
    return render_notebook(_nb(_md("# A chapter"), INSTALL, *cells), PAGE, BOOK)


def test_every_chapter_of_the_toc_has_a_copy(copies):
    assert sorted(copies) == sorted(p.rsplit("/", 1)[-1] for p in CHAPTERS)
    assert len(copies) >= 8


@pytest.mark.parametrize("page", CHAPTERS)
def test_no_myst_survives_in_a_copy(copies, page):
    name = page.rsplit("/", 1)[-1]
    left = find_myst(copies[name])
    assert not left, f"{name}: cell {left[0][0]} still holds a {left[0][1]}: {left[0][2]!r}"


@pytest.mark.parametrize("page", CHAPTERS)
def test_a_copy_keeps_the_outputs_and_the_teaching_code(copies, page):
    name = page.rsplit("/", 1)[-1]
    source = json.loads((ROOT / f"{page}.ipynb").read_text(encoding="utf8"))
    copy = copies[name]
    code = [c for c in copy["cells"] if c["cell_type"] == "code"]
    # Every figure of the chapter is still there.
    pngs = sum(
        "image/png" in o.get("data", {}) for c in source["cells"] for o in c.get("outputs", [])
    )
    assert sum("image/png" in o.get("data", {}) for c in code for o in c["outputs"]) == pngs
    # The first code cell installs the package in Colab only; numbering restarts at 1.
    assert _source(code[0]).rstrip() == install_cell_source(BOOK.install_spec).rstrip()
    counts = [c["execution_count"] for c in code if c["execution_count"] is not None]
    assert counts == list(range(1, len(counts) + 1))
    # What readers must not see: glue plumbing, solution markers, build tags.
    text = "\n".join(_source(c) for c in code)
    assert "glue" not in text and "# BEGIN SOLUTION" not in text and "NBVAL" not in text
    assert not any("scrapbook" in o.get("metadata", {}) for c in code for o in c["outputs"])
    # Every check cell still follows its (folded) solution, so it runs in the copy.
    for i, cell in enumerate(code):
        if _source(cell).startswith("check("):
            previous = code[i - 1]
            assert previous["metadata"].get("cellView") == "form", f"{name}: {_source(cell)!r}"


@pytest.mark.parametrize("page", CHAPTERS)
def test_links_point_to_pages_of_the_site(copies, page):
    name = page.rsplit("/", 1)[-1]
    pages = set(BOOK.titles)
    for i, cell in enumerate(copies[name]["cells"]):
        for m in LINK.finditer(_source(cell)):
            url = m["url"]
            if url.startswith(BOOK.site_url):
                target = url[len(BOOK.site_url) :].split("#")[0].removesuffix(".html")
                assert target in pages, f"{name}: cell {i} links to {url}, not a page of the book"


def test_glued_text_is_formatted_as_myst_nb_does():
    from myst_nb.core.variables import format_plain_text

    for text, spec in [("0.9612", ".2%"), ("0.9612", ".1%"), ("223.6727070003326", ".0f"), ("12345", ","),
                       ("12345.678", ",.1f"), ("3", "d"), ("'a string'", ""), ("'a string'", "s"),
                       ("1.5e-12", ".1e"), ("7", ""), ("0.000123", ".2g")]:  # fmt: skip
        assert format_glued(text, spec) == format_plain_text(text, spec), (text, spec)


def test_glue_roles_become_the_values_and_glue_cells_go():
    nb = _render(
        _code("acc = 0.9612", outputs=[]),
        _code('glue("acc", acc)', tags=["remove-cell"], outputs=[_glued("acc", "0.9612")]),
        _md("It reached {glue:text}`acc:.1%` test accuracy ({glue:}`acc`)."),
    )
    text = _source(nb["cells"][-1])
    assert text == "It reached 96.1% test accuracy (0.9612)."
    assert not any("glue" in _source(c) for c in nb["cells"])


def test_an_unknown_glue_name_is_refused_with_chapter_and_cell():
    with pytest.raises(ReaderCopyError, match=r"03_pooling, cell 2: .*'missing'"):
        _render(_md("Quoting {glue:text}`missing:.2f`."))


def test_cross_references_become_links_with_the_site_text():
    nb = _render(_md("See {ref}`sec-pool-output-size`, {numref}`ex-pool-shift-by-stride`, "
                     "{ref}`that section <sec-pool-overlap>` and {doc}`chapter 2 <02_convolution>`."))  # fmt: skip
    text = _source(nb["cells"][-1])
    site = BOOK.site_url
    assert text == (
        f"See [Output size]({site}notebooks/03_pooling.html#sec-pool-output-size), "
        f"[Exercise 3.4]({site}notebooks/03_pooling.html#ex-pool-shift-by-stride), "
        f"[that section]({site}notebooks/03_pooling.html#sec-pool-overlap) and "
        f"[chapter 2]({site}notebooks/02_convolution.html)."
    )


def test_citations_read_author_year_and_link_to_the_bibliography():
    nb = _render(_md("MNIST {cite:p}`lecun1998gradient`; {cite:t}`glorot2010understanding` and "
                     "{cite:p}`lecun1998efficient,he2015delving`."))  # fmt: skip
    bib = f"{BOOK.site_url}book/references.html"
    assert _source(nb["cells"][-1]) == (
        f"MNIST ([LeCun et al., 1998a]({bib})); Glorot and Bengio ([2010]({bib})) and "
        f"([LeCun et al., 1998b]({bib}); [He et al., 2015]({bib}))."
    )


def test_labels_vanish_and_inline_code_is_left_alone():
    nb = _render(
        _md("(sec-x)=\n## A section\n\nThe role `{ref}` is written as `` {ref}`label` ``.")
    )
    assert (
        _source(nb["cells"][-1])
        == "## A section\n\nThe role `{ref}` is written as `` {ref}`label` ``."
    )


def test_exercises_solutions_and_admonitions():
    nb = _render(
        _md("## Exercises\n\n````{exercise} Max pooling for a batch\n:label: ex-pool-maxpool-forward\n\n"
            "Write `f`:\n\n```python\nf(x)\n```\n````\n\n"
            "```{solution} ex-pool-maxpool-forward\n:class: dropdown\n\nThe answer is $42$.\n```"),
        _md("```{solution-start} ex-pool-maxpool-forward\n:class: dropdown\n```\nLoop over windows:"),
        _code("def f(x):\n    # BEGIN SOLUTION\n    return x\n    # END SOLUTION"),
        _md("```{solution-end}\n```"),
        _code('check("3.1", f)'),
        _md(":::{note}\nPooling has no weights.\n:::\n\n```{admonition} Why max?\nIt keeps the peak.\n```"),
    )  # fmt: skip
    cells = nb["cells"][2:]
    assert _source(cells[0]) == (
        "## Exercises\n\n**Exercise 3.1** — Max pooling for a batch\n\nWrite `f`:\n\n```python\nf(x)\n```"
        "\n\n<details><summary>Solution</summary>\n\nThe answer is $42$.\n\n</details>"
    )
    assert _source(cells[1]).startswith(
        "<details><summary>Solution</summary>\n\nLoop over windows:\n\n</details>"
    )
    assert _source(cells[2]) == "#@title Solution to exercise 3.1\ndef f(x):\n    return x"
    assert cells[2]["metadata"]["cellView"] == "form"
    assert cells[2]["metadata"]["jupyter"]["source_hidden"] is True
    assert _source(cells[3]) == 'check("3.1", f)' and "cellView" not in cells[3]["metadata"]
    assert (
        _source(cells[4])
        == "> **Note**\n>\n> Pooling has no weights.\n\n> **Why max?**\n>\n> It keeps the peak."
    )
    assert not find_myst(nb)


def test_an_unknown_directive_or_role_is_refused_with_chapter_and_cell():
    with pytest.raises(ReaderCopyError, match=r"03_pooling, cell 2: the directive \{figure\}"):
        _render(_md("```{figure} a.png\n:name: fig-a\n```"))
    with pytest.raises(ReaderCopyError, match=r"03_pooling, cell 2: .*no label 'sec-nowhere'"):
        _render(_md("See {ref}`sec-nowhere`."))
    with pytest.raises(
        ReaderCopyError, match=r"03_pooling, cell 3: glue\(\) is called inside a block"
    ):
        _render(_code("x = 1"), _code("for i in range(2):\n    glue('a', i)\n    print(i)"))


def test_a_solution_must_open_its_cell():
    with pytest.raises(
        ReaderCopyError, match=r"03_pooling, cell 2: \{solution-start\} must open its Markdown cell"
    ):
        _render(
            _md(
                "## Summary\n\n- a point\n\n```{solution-start} ex-pool-maxpool-forward\n```\nLoop:"
            )
        )


def test_the_scanner_names_every_kind_of_leftover():
    nb = _nb(
        _md("(lbl)=\n## T\n\nsee {ref}`lbl`\n\n```{note}\nx\n```\n:label: y\n$$ a $$ (eq-1)"),
        _code("# NBVAL_CHECK_OUTPUT\nglue('a', 1)", tags=["nbval-check-output"]),
    )
    kinds = {kind for _, kind, _ in find_myst(nb)}
    assert kinds == {"label", "role", "directive", "option", "equation label", "nbval marker", "glue call",
                     "build tag"}  # fmt: skip


def test_the_site_shows_the_same_link_texts_and_has_every_anchor(book_site, copies):
    """Cross-check against the built site: anchors exist, {ref}/{numref}/{cite} texts agree."""
    assert book_site.returncode == 0, book_site.log[-3000:]
    html = {}
    for page in BOOK.titles:
        path = book_site.html / f"{page}.html"
        assert path.is_file(), f"the site has no page {page}.html"
        html[page] = path.read_text(encoding="utf8")
    checked = 0
    for name, nb in copies.items():
        for i, cell in enumerate(nb["cells"]):
            for m in LINK.finditer(_source(cell)):
                if not m["url"].startswith(BOOK.site_url):
                    continue
                page, _, anchor = (
                    m["url"][len(BOOK.site_url) :].removesuffix(".html").partition(".html#")
                )
                page = page.removesuffix(".html")
                if anchor:
                    assert f'id="{anchor}"' in html[page], (
                        f"{name}, cell {i}: no #{anchor} on {page}.html"
                    )
                checked += 1
    assert checked > 100
    # The texts the site gives each reference.
    site_texts: dict[str, set[str]] = {}
    for text in html.values():
        for m in re.finditer(r'href="[^"#]*#(?P<anchor>[\w-]+)"[^>]*>\s*<span class="std std-(?:ref|numref)">'
                             r"(?P<text>.*?)</span>", text, re.S):  # fmt: skip
            shown = unescape(re.sub(r"<[^>]+>", "", m["text"])).strip()
            # Sphinx's smart quotes are the only difference Jupyter's Markdown does not make.
            shown = shown.translate(
                str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})
            )
            site_texts.setdefault(m["anchor"], set()).add(shown)
    # Every {ref}`label` / {numref}`label` without a text of its own, in the sources.
    implicit = set()
    for page in BOOK.titles:
        path = next(p for p in (ROOT / f"{page}.ipynb", ROOT / f"{page}.md") if p.exists())
        implicit |= set(re.findall(r"\{(ref|numref)\}`([^`<>]+)`", path.read_text(encoding="utf8")))
    for role, label in sorted(implicit):
        target = BOOK.targets[label]
        ours = target.ref_text if role == "ref" else target.numref_text
        assert ours in site_texts.get(label, set()), (
            f"{{{role}}}`{label}`: the site shows {site_texts.get(label)}, the reader copy {ours!r}"
        )
    assert len(implicit) >= 20
    # Citations: the site's in-text labels are the reader copy's.
    cited = set()
    for text in html.values():
        for m in re.finditer(
            r'<a class="reference internal" href="[^"]*references\.html#id\d+"[^>]*>(.*?)</a>', text
        ):
            cited.add(unescape(re.sub(r"<[^>]+>", "", m.group(1))))
    ours = {f"{who}, {year}" for who, year in BOOK.citations.values()}
    assert cited and cited <= ours | {year for _, year in BOOK.citations.values()}, cited - ours


def test_the_readme_links_every_chapter_to_its_reader_copy():
    readme = (ROOT / "README.md").read_text(encoding="utf8")
    assert BOOK.colab_table() in readme, (
        "README.md's Colab table is out of date; it should read:\n" + BOOK.colab_table()
    )


def test_guides_name_the_repository_of_config():
    """_config.yml holds the repository URL; README and the guides may only repeat it."""
    for name in ("README.md", "book/setup.md", "book/instructors.md", "book/intro.md"):
        text = (ROOT / name).read_text(encoding="utf8")
        for url in re.findall(r"https://github\.com/cnn-from-scratch/[\w.-]+", text):
            assert url.removesuffix(".git") == BOOK.repository_url, f"{name} names {url}"
        for url in re.findall(
            r"https://colab\.research\.google\.com/github/cnn-from-scratch/\S+?\.ipynb", text
        ):
            page = re.sub(r"^.*/blob/[\w.-]+/", "", url).removesuffix(".ipynb")
            assert url == BOOK.colab_url(page), f"{name}: {url} is not the reader copy's address"


def test_the_workflow_publishes_what_the_buttons_open():
    import yaml

    flow = yaml.safe_load((ROOT / ".github/workflows/publish.yml").read_text(encoding="utf8"))
    steps = flow["jobs"]["publish"]["steps"]
    script = "\n".join(step.get("run", "") for step in steps)
    assert "make book" in script and "make colab" in script
    assert 'cp _build/colab/*.ipynb "$publish/notebooks/"' in script
    assert f"git init -q -b {BOOK.colab_branch}" in script and script.rstrip().endswith(
        BOOK.colab_branch
    )
    assert any(step.get("uses", "").startswith("actions/deploy-pages") for step in steps)
    assert BOOK.colab_url(CHAPTERS[0]).endswith(f"/blob/{BOOK.colab_branch}/{CHAPTERS[0]}.ipynb")
