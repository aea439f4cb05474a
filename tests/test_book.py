"""The published book: the site builds with zero warnings and every page holds together.

The site is built once per test run by the ``book_site`` fixture (tests/conftest.py) from the
committed, executed notebooks, without executing them again. These tests read the built HTML:
pages for every chapter of ``_toc.yml``, the Colab button of every notebook page, every image,
script and stylesheet a page references, every internal link and its anchor, MathJax served from
the site itself, exercise solutions folded, and the bibliography.
"""

from __future__ import annotations

import re
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf8"))
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf8"))
REPOSITORY = "https://github.com/cnn-from-scratch/cnn-from-scratch"
SPHINX_PROBLEM = re.compile(r"\b(WARNING|ERROR|CRITICAL|SEVERE):")
# The Colab buttons open the reader copies that the workflow publishes on the branch `colab`.
COLAB_PREFIX = (
    "https://colab.research.google.com/github/cnn-from-scratch/cnn-from-scratch/blob/colab/"
)

# The book's parts, in order, as the site issue lists them ("chapters numbered": the parts whose
# chapters are notebooks/0N_*.ipynb are numbered, so notebook N is chapter N).
EXPECTED_PARTS = [
    ("Getting started", ["book/setup"]),
    ("Building the network", ["notebooks/01_data", "notebooks/02_convolution",
                              "notebooks/03_pooling", "notebooks/04_affine_softmax"]),
    ("Learning", ["notebooks/05_backprop", "notebooks/06_training"]),
    ("Under the hood", ["notebooks/07_contiguity", "notebooks/08_fast_cnn"]),
    ("Going further", ["notebooks/09_deeper"]),
    ("Teaching with this book", ["book/instructors"]),
    ("References", ["book/api", "book/references"]),
]  # fmt: skip


def toc_files(entries: list[dict]) -> list[str]:
    """Every ``file:`` of a list of toc entries, sections included, in order."""
    files = []
    for entry in entries:
        if "file" in entry:
            files.append(entry["file"])
        files += toc_files(entry.get("sections", []))
    return files


DOCNAMES = [TOC["root"]] + [f for part in TOC["parts"] for f in toc_files(part["chapters"])]
NOTEBOOKS = [d for d in DOCNAMES if (ROOT / f"{d}.ipynb").is_file()]


class Page(HTMLParser):
    """What the tests need from one HTML page: ids, links, resources, classes of elements."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[str] = []  # <a href>
        self.resources: list[tuple[str, str]] = []  # (tag, url) of img / script / stylesheet
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.elements.append((tag, a))
        for key in ("id", "name") if tag == "a" else ("id",):
            if a.get(key):
                self.ids.add(a[key])
        if tag == "a" and "href" in a:
            self.links.append(a["href"])
        elif tag == "img" and a.get("src"):
            self.resources.append((tag, a["src"]))
        elif tag == "script" and a.get("src"):
            self.resources.append((tag, a["src"]))
        elif tag == "link" and "stylesheet" in a.get("rel", "") and a.get("href"):
            self.resources.append((tag, a["href"]))

    def with_class(self, name: str) -> list[dict[str, str]]:
        return [a for _, a in self.elements if name in a.get("class", "").split()]


@cache
def parse(path: Path) -> Page:
    return Page(path.read_text(encoding="utf8"))


def is_external(url: str) -> bool:
    return bool(urlsplit(url).scheme) or url.startswith("//")


def local_target(page: Path, url: str) -> tuple[Path, str]:
    """The file a relative URL on ``page`` points at, and its #fragment."""
    path, fragment = urldefrag(url)
    path = unquote(urlsplit(path).path)
    return ((page.parent / path).resolve() if path else page), unquote(fragment)


@pytest.fixture(scope="module")
def html(book_site) -> Path:
    if not (book_site.html / "index.html").is_file():
        pytest.fail(f"the book build produced no site; its log ends:\n{book_site.log[-3000:]}")
    return book_site.html


@pytest.fixture(scope="module")
def pages(html: Path) -> dict[str, Path]:
    return {doc: html / f"{doc}.html" for doc in DOCNAMES}


def test_build_has_zero_warnings(book_site):
    # Sphinx's "WARNING:"/"ERROR:" lines; not a kernel's own "[IPKernelApp] WARNING | ..." on stderr.
    problems = [ln for ln in book_site.log.splitlines() if SPHINX_PROBLEM.search(ln)]
    assert book_site.returncode == 0 and not problems, (
        f"`jupyter-book build . -W -n --keep-going` must pass with no warning; exit code "
        f"{book_site.returncode}, problems:\n" + "\n".join(problems or [book_site.log[-3000:]])
    )


def test_toc_has_the_parts_of_the_book_in_order():
    got = [(part["caption"], toc_files(part["chapters"])) for part in TOC["parts"]]
    assert TOC["format"] == "jb-book" and TOC["root"] == "book/intro"
    assert got == EXPECTED_PARTS
    numbered = [part["caption"] for part in TOC["parts"] if part.get("numbered")]
    assert numbered == ["Building the network", "Learning", "Under the hood", "Going further"]


def test_every_toc_chapter_has_a_page(pages):
    missing = [doc for doc, page in pages.items() if not page.is_file()]
    assert not missing, f"no page was built for {missing}"
    untitled = [doc for doc, page in pages.items() if not parse(page).with_class("headerlink")]
    assert not untitled, f"pages without a single heading: {untitled}"


def test_chapters_are_numbered_like_their_notebooks(pages):
    """Notebook 0N_*.ipynb is chapter N, so its exercises are "Exercise N.k" (scratchcnn.check ids)."""
    index = (pages[TOC["root"]]).read_text(encoding="utf8")
    for doc in NOTEBOOKS:
        number = int(Path(doc).name[:2])
        link = re.search(rf'href="[^"]*{Path(doc).name}\.html"[^>]*>\s*([0-9]+)\.', index)
        assert link, f"the navigation has no numbered entry for {doc}"
        assert int(link.group(1)) == number, f"{doc} is chapter {link.group(1)}, expected {number}"
        text = pages[doc].read_text(encoding="utf8")
        labels = re.findall(r'class="caption-number">Exercise ([0-9]+)\.[0-9]+', text)
        assert all(int(n) == number for n in labels), f"{doc} numbers exercises {set(labels)}"


def test_repository_settings_give_working_launch_buttons():
    assert CONFIG["repository"]["url"] == REPOSITORY
    assert CONFIG["repository"]["branch"] == "main"
    assert CONFIG["sphinx"]["config"]["html_theme_options"]["repository_branch"] == "colab"
    assert CONFIG["repository"].get("path_to_book", "") == ""
    assert CONFIG["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert CONFIG["sphinx"]["recursive_update"] is True
    assert CONFIG["html"]["use_repository_button"] is True
    assert CONFIG["html"]["use_issues_button"] is True


@pytest.mark.parametrize("doc", NOTEBOOKS)
def test_notebook_page_has_colab_button_for_its_notebook(pages, doc):
    expected = f"{COLAB_PREFIX}{doc}.ipynb"
    links = [url for url in parse(pages[doc]).links if "colab.research.google.com" in url]
    assert links == [expected], f"{doc}: Colab links {links}, expected exactly [{expected}]"
    assert REPOSITORY in parse(pages[doc]).links, f"{doc} has no repository button"
    assert (ROOT / f"{doc}.ipynb").is_file()


def test_every_referenced_image_script_and_stylesheet_exists(pages):
    missing, remote = [], []
    for doc, page in pages.items():
        for tag, url in parse(page).resources:
            if url.startswith("data:"):
                continue
            if is_external(url):
                remote.append(f"{doc}: <{tag}> {url}")
                continue
            target, _ = local_target(page, url)
            if not target.is_file() or target.stat().st_size == 0:
                missing.append(f"{doc}: <{tag}> {url}")
    assert not missing, "missing or empty files:\n" + "\n".join(missing)
    assert not remote, "the site must work offline; remote resources:\n" + "\n".join(remote)


def test_no_link_to_a_missing_page_or_anchor(pages):
    broken = []
    for doc, page in pages.items():
        for url in parse(page).links:
            if not url or is_external(url):
                continue
            target, fragment = local_target(page, url)
            if not target.is_file():
                broken.append(f"{doc}: {url} (no file {target})")
            elif fragment and target.suffix == ".html" and fragment not in parse(target).ids:
                broken.append(f"{doc}: {url} (no id {fragment!r} in {target.name})")
    assert not broken, "broken internal links:\n" + "\n".join(broken)


def test_math_is_typeset_by_the_local_mathjax(html, pages):
    assert CONFIG["sphinx"]["config"]["mathjax_path"] == "mathjax/tex-mml-chtml.js"
    assert (html / "_static/mathjax/tex-mml-chtml.js").stat().st_size > 100_000
    assert any((html / "_static/mathjax/output/chtml/fonts/woff-v2").glob("*.woff"))
    with_math = [doc for doc, page in pages.items() if parse(page).with_class("math")]
    assert with_math, "no page has math: the check below would test nothing"
    for doc in with_math:
        scripts = [url for tag, url in parse(pages[doc]).resources if "mathjax" in url.lower()]
        assert any(url.split("?")[0].endswith("_static/mathjax/tex-mml-chtml.js")
                   for url in scripts), f"{doc} loads MathJax from {scripts}"  # fmt: skip


def test_exercise_solutions_are_folded(pages):
    solutions = {doc: parse(page).with_class("solution") for doc, page in pages.items()}
    unfolded = [
        f"{doc}: {a.get('id', '?')}"
        for doc, found in solutions.items()
        for a in found
        if "dropdown" not in a["class"].split()
    ]
    assert not unfolded, "solutions need `:class: dropdown`:\n" + "\n".join(unfolded)


def test_bibliography_lists_every_entry(pages):
    from pybtex.database import parse_file

    bib = parse_file(str(ROOT / "book/references.bib"))
    entries = list(bib.entries)
    assert len(entries) >= 10
    for key, entry in bib.entries.items():
        assert entry.persons.get("author"), f"{key} has no author"
        assert entry.fields.get("title") and re.fullmatch(r"(19|20)[0-9]{2}", entry.fields["year"])
        assert entry.fields.get("doi") or entry.fields.get("url"), f"{key}: give a doi or url"
    citations = [a for a in parse(pages["book/references"]).with_class("citation")]
    assert len(citations) == len(entries), f"{len(citations)} citations for {len(entries)} entries"
    for key in ("lecun1998gradient", "glorot2010understanding", "he2015delving",
                "chellapilla2006high", "goodfellow2016deep"):  # fmt: skip
        assert key in entries


def test_no_test_or_build_plumbing_on_the_pages(pages):
    """Readers see teaching code only: markers, glue calls and kernel stderr stay off the site."""
    plumbing = {
        "an nbval marker": re.compile(r"NBVAL_"),
        "an assignment marker": re.compile(r"(BEGIN|END) SOLUTION"),
        "a glue() call": re.compile(r'>glue</span><span class="p">\('),
        "a stderr box": re.compile(r'class="[^"]*\boutput stderr\b'),
    }
    found = [
        f"{doc}: {what}"
        for doc, page in pages.items()
        for what, pattern in plumbing.items()
        if pattern.search(page.read_text(encoding="utf8"))
    ]
    assert not found, "visible plumbing:\n" + "\n".join(found)


def test_printed_output_is_one_box_per_cell(pages):
    """nb_merge_streams: a table printed line by line is one box, not one box per line."""
    assert CONFIG["sphinx"]["config"]["nb_merge_streams"] is True
    for doc in NOTEBOOKS:
        text = pages[doc].read_text(encoding="utf8")
        for cell in re.split(r'<div class="cell[ "]', text)[1:]:
            assert cell.count('class="output stream') <= 2, (
                f"{doc}: a cell with several stream boxes"
            )
