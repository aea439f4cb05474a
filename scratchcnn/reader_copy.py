"""Reader copies: the chapters as plain Jupyter and Colab show them (``make colab``).

The chapters are written in MyST Markdown for the site: ``{glue:text}`` placeholders,
``{ref}``/``{doc}``/``{numref}``/``{cite}`` roles, ``(label)=`` lines and sphinx-exercise blocks.
Plain Jupyter and Colab render none of that. A reader copy is the executed chapter with every
piece of MyST replaced by what the site shows in its place:

- glued values become their formatted text (the same formatting rules as myst-nb);
- cross-references become Markdown links to the published page and anchor, with the site's link
  text ("Exercise 3.4", "Output size"); citations become "(LeCun et al., 1998a)" linked to the
  bibliography; ``(label)=`` lines disappear;
- an exercise becomes a bold "Exercise 3.1 — title" line and its text; a written solution is
  folded in ``<details>``; a code solution stays a runnable code cell, folded (Colab's
  ``cellView: form`` with a ``#@title`` line, JupyterLab's ``source_hidden``), so the check cell
  after it still works; admonitions become block quotes with their title;
- cells tagged ``remove-cell`` (glue calls, build-only checks) go, ``glue`` leaves the imports,
  nbval and Jupyter Book tags go, and the first cell is the Colab install cell generated from
  ``_config.yml``'s repository URL.

What the renderer cannot translate raises :class:`ReaderCopyError` naming the chapter and cell,
and :func:`find_myst` is the scanner the tests run on every copy.

Usage: ``python -m scratchcnn.reader_copy notebooks _build/colab`` (``make colab``).
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import re
import sys
from ast import literal_eval
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "Book",
    "ReaderCopyError",
    "find_myst",
    "format_glued",
    "install_cell_source",
    "load_book",
    "render_markdown",
    "render_notebook",
    "write_reader_copies",
]

#: nbval's and Jupyter Book's cell tags: meaningful to the tests and the site, noise in a copy.
BUILD_TAGS = re.compile(
    r"^(nbval-.*|remove-(cell|input|output)|hide-(cell|input|output)|raises-exception)$"
)
ADMONITIONS = {
    "note": "Note", "tip": "Tip", "hint": "Hint", "important": "Important", "warning": "Warning",
    "caution": "Caution", "attention": "Attention", "danger": "Danger", "error": "Error",
    "seealso": "See also",
}  # fmt: skip

FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,}|:{3,})(?P<info>.*)$")
DIRECTIVE_INFO = re.compile(r"^\{(?P<name>[\w:-]+)\}\s*(?P<arg>.*)$")
LABEL_LINE = re.compile(r"^\s*\((?P<label>[^()\s]+)\)=\s*$")
ROLE = re.compile(r"\{(?P<name>[a-z][\w:.-]*)\}`(?P<content>[^`]*)`")
OPTION_LINE = re.compile(r"^:(?P<key>[\w-]+):\s*(?P<value>.*)$")
EQ_LABEL = re.compile(r"^(?P<math>.*\$\$)\s*\((?P<label>[^()\s]+)\)\s*$")
HEADING = re.compile(r"^(?P<hashes>#{1,6})\s+(?P<text>.+?)\s*#*\s*$")


class ReaderCopyError(ValueError):
    """A chapter holds MyST that a reader copy cannot translate; the message says where."""


@dataclass(frozen=True)
class Target:
    """Where a label points on the site, and the text the site shows for it."""

    page: str  # docname, e.g. "notebooks/03_pooling"
    anchor: str | None
    ref_text: str  # what {ref}`label` shows
    numref_text: str | None = None  # what {numref}`label` shows ("Exercise 3.4")
    number: str | None = None  # "3.4", for {numref}`Exercise %s <label>`


@dataclass
class Book:
    """What a reader copy needs to know about the whole book."""

    site_url: str  # ends with "/"
    repository_url: str
    branch: str
    titles: dict[str, str] = field(default_factory=dict)  # docname -> page title
    targets: dict[str, Target] = field(default_factory=dict)  # label -> target
    citations: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (who, year)
    chapter_numbers: dict[str, int] = field(default_factory=dict)  # docname -> chapter number
    colab_branch: str = "colab"  # where the workflow publishes the reader copies

    def url(self, page: str, anchor: str | None = None) -> str:
        return f"{self.site_url}{page}.html" + (f"#{anchor}" if anchor else "")

    def colab_url(self, page: str) -> str:
        """Where Colab opens a chapter's reader copy: ``notebooks/<chapter>.ipynb`` on the branch."""
        repo = self.repository_url.removeprefix("https://github.com/")
        return (
            f"https://colab.research.google.com/github/{repo}/blob/{self.colab_branch}/{page}.ipynb"
        )

    def colab_table(self) -> str:
        """The README's table of chapters, each with its Colab link (tests keep it in step)."""
        rows = ["| chapter | open the reader copy |", "|---|---|"]
        for page, number in self.chapter_numbers.items():
            rows.append(
                f"| {number}. {self.titles[page]} | [Open in Colab]({self.colab_url(page)}) |"
            )
        return "\n".join(rows)

    @property
    def bibliography_page(self) -> str:
        return "book/references"

    @property
    def install_spec(self) -> str:
        return f"scratchcnn @ git+{self.repository_url}"


# --------------------------------------------------------------------------------------------
# The book: titles, labels, numbers and citations, read from the sources
# --------------------------------------------------------------------------------------------


def _yaml(path: Path) -> dict:
    import yaml  # PyYAML comes with matplotlib's and Jupyter's dependencies; imported lazily

    return yaml.safe_load(path.read_text(encoding="utf8")) or {}


def site_url_for(repository_url: str) -> str:
    """GitHub Pages' address of a repository: ``https://OWNER.github.io/REPO/``."""
    m = re.fullmatch(
        r"https://github\.com/(?P<owner>[\w.-]+)/(?P<repo>[\w.-]+?)(\.git)?/?", repository_url
    )
    if not m:
        raise ReaderCopyError(
            f"_config.yml's repository.url {repository_url!r} is not a GitHub repository "
            "(https://github.com/OWNER/REPO): the reader copies link to its GitHub Pages site"
        )
    return f"https://{m['owner']}.github.io/{m['repo']}/"


def _toc_docnames(toc: dict) -> list[tuple[str, bool]]:
    """(docname, numbered) for every page of a jb-book toc, in reading order."""
    pages = [(toc["root"], False)]
    for part in toc.get("parts", []):
        for chapter in part.get("chapters", []):
            pages.append((chapter["file"], bool(part.get("numbered"))))
    return [(re.sub(r"\.(ipynb|md)$", "", p), numbered) for p, numbered in pages]


def _markdown_of(path: Path) -> list[str]:
    if path.suffix == ".ipynb":
        nb = json.loads(path.read_text(encoding="utf8"))
        return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]
    return [path.read_text(encoding="utf8")]


def _plain_heading(text: str) -> str:
    """A heading as link text: roles reduced to their visible text."""
    return ROLE.sub(lambda m: _explicit_text(m["content"])[0] or m["content"], text).strip()


def _explicit_text(content: str) -> tuple[str | None, str]:
    """``text <target>`` -> (text, target); ``target`` -> (None, target)."""
    m = re.fullmatch(r"(?s)(?P<text>.*?)\s*<(?P<target>[^<>]+)>", content.strip())
    if m and m["text"]:
        return m["text"], m["target"].strip()
    return None, content.strip()


def _number(chapter: int | None, n: int) -> str:
    return f"{chapter}.{n}" if chapter else str(n)


def _closes(line: str, fence: str) -> bool:
    """Whether ``line`` ends a fenced block opened with ``fence``."""
    m = FENCE.match(line)
    return bool(
        m and m["fence"][0] == fence[0] and len(m["fence"]) >= len(fence) and not m["info"].strip()
    )


@dataclass
class _PageScan:
    """The state of :func:`_scan_page` while it reads one page."""

    book: Book
    page: str
    chapter: int | None
    pending: str | None = None  # a (label)= line waiting for its heading
    exercises: int = 0
    equations: int = 0

    def exercise(self, title: str, body: list[str]) -> None:
        self.exercises += 1
        number = _number(self.chapter, self.exercises)
        label = _options(body).get("label")
        if label:
            ref = f"Exercise {number}" + (f" ({title})" if title else "")
            self.book.targets[label] = Target(self.page, label, ref, f"Exercise {number}", number)

    def line(self, line: str) -> None:
        m = LABEL_LINE.match(line)
        if m:
            self.pending = m["label"]
            return
        eq = EQ_LABEL.match(line)
        if eq:
            self.equations += 1
            number = _number(self.chapter, self.equations)
            self.book.targets[eq["label"]] = Target(
                self.page, eq["label"], f"({number})", f"({number})", number
            )
        heading = HEADING.match(line)
        if heading:
            self.heading(len(heading["hashes"]), _plain_heading(heading["text"]))
        elif line.strip():
            self.pending = None

    def heading(self, level: int, text: str) -> None:
        if level == 1 and self.page not in self.book.titles:
            self.book.titles[self.page] = text
        if self.pending:
            number = str(self.chapter) if self.chapter and level == 1 else None
            numref = f"Chapter {number}" if number else None
            self.book.targets[self.pending] = Target(self.page, self.pending, text, numref, number)
            self.pending = None


def _scan_page(book: Book, page: str, chapter: int | None, blocks: list[str]) -> None:
    """Record the page's title, its labels and the numbers of its exercises and equations."""
    scan = _PageScan(book, page, chapter)
    for block in blocks:
        code_fence: str | None = None  # inside a plain code block, whose content is literal
        lines = block.splitlines()
        for i, line in enumerate(lines):
            if code_fence is not None:
                if _closes(line, code_fence):
                    code_fence = None
                continue
            fence = FENCE.match(line)
            if fence and fence["info"].strip():
                directive = DIRECTIVE_INFO.match(fence["info"].strip())
                if directive is None:
                    code_fence = fence["fence"]
                elif directive["name"] == "exercise":
                    scan.exercise(directive["arg"].strip(), lines[i + 1 :])
                continue
            scan.line(line)


def _options(lines: list[str]) -> dict[str, str]:
    options = {}
    for line in lines:
        m = OPTION_LINE.match(line.strip())
        if not m:
            break
        options[m["key"]] = m["value"].strip()
    return options


_LATEX_ACCENTS = {"'": "\u0301", '"': "\u0308", "`": "\u0300", "^": "\u0302", "~": "\u0303"}


def _latex_text(text: str) -> str:
    """Plain text of a BibTeX name: ``M{\\"u}ller`` -> ``Müller``, braces dropped."""
    import unicodedata

    def accent(m: re.Match) -> str:
        return unicodedata.normalize("NFC", m["letter"] + _LATEX_ACCENTS[m["accent"]])

    text = re.sub(r"\{?\\(?P<accent>['\"`^~])\{?(?P<letter>\w)\}?\}?", accent, text)
    return text.replace("{", "").replace("}", "").strip()


def _bib_entries(path: Path) -> list[dict[str, str]]:
    """Key, author surnames (``;``-joined), year and title of each entry of a BibTeX file."""
    text = path.read_text(encoding="utf8")
    entries = []
    for m in re.finditer(
        r"@(?P<kind>\w+)\s*\{\s*(?P<key>[^,\s]+)\s*,(?P<body>.*?)\n\}", text, re.S
    ):
        fields = {}
        for f in re.finditer(
            r"(?P<name>\w+)\s*=\s*(?P<value>\{(?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*\}|\"[^\"]*\"|\d+)",
            m["body"],
        ):
            fields[f["name"].lower()] = (
                f["value"].strip().strip('"')[1:-1]
                if f["value"].startswith("{")
                else f["value"].strip('"')
            )
        people = fields.get("author") or fields.get("editor") or ""
        names = [n.strip() for n in re.split(r"\s+and\s+", people) if n.strip()]
        entries.append({
            "key": m["key"],
            "surnames": [_latex_text(n.split(",")[0]) if "," in n else _latex_text(n.split()[-1]) for n in names],
            "people": [_latex_text(n) for n in names],
            "year": fields.get("year", "n.d."),
            "title": _latex_text(fields.get("title", "")),
            "organization": fields.get("organization", ""),
        })  # fmt: skip
    return entries


def _citation_labels(entries: list[dict]) -> dict[str, tuple[str, str]]:
    """The bibliography's labels (book/_ext/bib_author_year.py): who and year, with a, b, ..."""

    def who(e: dict) -> str:
        s = e["surnames"]
        if not s:
            return e["organization"] or e["title"] or "Anonymous"
        return s[0] if len(s) == 1 else f"{s[0]} and {s[1]}" if len(s) == 2 else f"{s[0]} et al."

    # pybtex's plain style sorts by author (surname first), year, title.
    def sort_key(e: dict):
        people = " ".join(
            " ".join(reversed(p.split(", "))) if ", " in p else p for p in e["people"]
        )
        surname_first = " ".join(
            (p.split(", ")[0] + " " + " ".join(p.split(", ")[1:])) if ", " in p else p
            for p in e["people"]
        )
        return (surname_first.lower() or people.lower(), e["year"], e["title"].lower())

    ordered = sorted(entries, key=sort_key)
    labels = [(who(e), e["year"]) for e in ordered]
    repeated = {label for label, n in Counter(labels).items() if n > 1}
    seen: Counter = Counter()
    out = {}
    for e, label in zip(ordered, labels, strict=True):
        year = label[1]
        if label in repeated:
            seen[label] += 1
            year = f"{year}{chr(ord('a') + seen[label] - 1)}"
        out[e["key"]] = (label[0], year)
    return out


def load_book(root: str | Path) -> Book:
    """Read ``_config.yml``, ``_toc.yml``, the pages and the bibliography under ``root``."""
    root = Path(root)
    config = _yaml(root / "_config.yml")
    repository = config.get("repository") or {}
    url = str(repository.get("url", "")).rstrip("/")
    book = Book(
        site_url=site_url_for(url), repository_url=url, branch=str(repository.get("branch", "main"))
    )
    theme = ((config.get("sphinx") or {}).get("config") or {}).get("html_theme_options") or {}
    book.colab_branch = str(theme.get("repository_branch") or book.branch)
    chapter = 0
    for page, numbered in _toc_docnames(_yaml(root / "_toc.yml")):
        path = next(
            (
                root / f"{page}{ext}"
                for ext in (".ipynb", ".md")
                if (root / f"{page}{ext}").exists()
            ),
            None,
        )
        if path is None:
            raise ReaderCopyError(
                f"_toc.yml lists {page!r}, but neither {page}.ipynb nor {page}.md exists"
            )
        number = None
        if numbered:
            chapter += 1
            number = chapter
            book.chapter_numbers[page] = chapter
        _scan_page(book, page, number, _markdown_of(path))
    for bib in config.get("bibtex_bibfiles") or []:
        book.citations.update(_citation_labels(_bib_entries(root / bib)))
    return book


# --------------------------------------------------------------------------------------------
# Glued values
# --------------------------------------------------------------------------------------------


def glued_values(nb: dict) -> dict[str, str]:
    """Name -> text/plain of every value the notebook glued (myst-nb's scrapbook outputs)."""
    values = {}
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            meta = out.get("metadata", {}).get("scrapbook")
            if meta:
                prefix = meta.get("mime_prefix", "")
                text = out["data"].get(prefix + "text/plain")
                if text is not None:
                    values[meta["name"]] = "".join(text) if isinstance(text, list) else text
    return values


def format_glued(text: str, fmt_spec: str) -> str:
    """A glued value as ``{glue:text}`name:fmt``` shows it (myst-nb's ``format_plain_text``)."""
    try:
        value = literal_eval(text)
    except (SyntaxError, ValueError):
        value = text
    if fmt_spec == "":
        return str(value)
    kind = fmt_spec[-1]
    if kind == "s":
        value = str(value)
    elif kind in "bcdoxX":
        value = int(value)
    elif kind in "eEfFgGn%":
        value = float(value)
    return format(value, fmt_spec)


# --------------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------------


@dataclass
class _Context:
    book: Book
    page: str
    glue: dict[str, str]
    where: str  # "03_pooling, cell 12", for error messages

    def fail(self, what: str) -> ReaderCopyError:
        return ReaderCopyError(f"{self.where}: {what}")


def _resolve_doc(ctx: _Context, target: str) -> str:
    base = ctx.page.rsplit("/", 1)[0] if "/" in ctx.page else ""
    parts = [] if target.startswith("/") else (base.split("/") if base else [])
    for piece in target.lstrip("/").split("/"):
        if piece == "..":
            if parts:
                parts.pop()
        elif piece and piece != ".":
            parts.append(piece)
    return re.sub(r"\.(ipynb|md)$", "", "/".join(parts))


def _glue_role(ctx: _Context, name: str, content: str) -> str:
    key, fmt = content.rsplit(":", 1) if ":" in content else (content, "")
    if key not in ctx.glue:
        raise ctx.fail(f"{{{name}}}`{content}` quotes {key!r}, which the notebook never glued")
    return format_glued(ctx.glue[key], fmt if name == "glue:text" else "")


def _label_role(ctx: _Context, name: str, content: str) -> str:
    """``{ref}``, ``{numref}`` and ``{eq}``: a link to the label's page and anchor."""
    text, label = _explicit_text(content)
    target = ctx.book.targets.get(label)
    if target is None:
        raise ctx.fail(f"{{{name}}}`{content}`: no label {label!r} in the book")
    if name != "numref":
        shown = text or target.ref_text
    elif text:
        shown = text.replace("%s", target.number or "").replace("{number}", target.number or "")
    elif target.numref_text:
        shown = target.numref_text
    else:
        raise ctx.fail(f"{{numref}}`{content}`: {label!r} has no number on the site")
    return f"[{shown}]({ctx.book.url(target.page, target.anchor)})"


def _doc_role(ctx: _Context, name: str, content: str) -> str:
    text, target = _explicit_text(content)
    page = _resolve_doc(ctx, target)
    if page not in ctx.book.titles:
        raise ctx.fail(f"{{doc}}`{content}`: {page!r} is not a page of the book")
    return f"[{text or ctx.book.titles[page]}]({ctx.book.url(page)})"


def _cite_role(ctx: _Context, name: str, content: str) -> str:
    """``(LeCun et al., 1998a)`` for {cite:p}, ``LeCun et al. (1998a)`` for {cite:t}."""
    book = ctx.book
    keys = [k.strip() for k in content.split(",") if k.strip()]
    unknown = [k for k in keys if k not in book.citations]
    if unknown:
        raise ctx.fail(f"{{{name}}}`{content}`: {unknown} not in the bibliography")
    url = book.url(book.bibliography_page)
    cited = [book.citations[k] for k in keys]
    if name.startswith("cite:t"):
        return ", ".join(f"{who} ([{year}]({url}))" for who, year in cited)
    return "(" + "; ".join(f"[{who}, {year}]({url})" for who, year in cited) + ")"


_ROLES = {
    "glue": _glue_role, "glue:": _glue_role, "glue:text": _glue_role, "glue:any": _glue_role,
    "ref": _label_role, "numref": _label_role, "eq": _label_role,
    "doc": _doc_role,
    **dict.fromkeys(("cite", "cite:p", "cite:t", "cite:ps", "cite:ts"), _cite_role),
    "math": lambda ctx, name, content: f"${content}$",
    **dict.fromkeys(("sub", "sup"), lambda ctx, name, content: f"<{name}>{content}</{name}>"),
    **dict.fromkeys(("code", "samp", "file", "kbd", "command", "program"), lambda ctx, name, c: f"`{c}`"),
    **dict.fromkeys(("abbr", "term", "dfn", "emphasis"), lambda ctx, name, content: content),
}  # fmt: skip


def _role(ctx: _Context, name: str, content: str) -> str:
    if name not in _ROLES:
        raise ctx.fail(f"the role {{{name}}} has no reader-copy translation")
    return _ROLES[name](ctx, name, content)


def _inline(ctx: _Context, text: str) -> str:
    """Roles and glue in running text; inline code spans are left alone."""
    out, pos = [], 0
    token = re.compile(ROLE.pattern + r"|(?P<ticks>`+)")
    while True:
        m = token.search(text, pos)
        if m is None:
            out.append(text[pos:])
            return "".join(out)
        out.append(text[pos : m.start()])
        if m["name"]:
            out.append(_role(ctx, m["name"], m["content"]))
            pos = m.end()
            continue
        close = text.find(m["ticks"], m.end())  # an inline code span: copied as it is
        while close != -1 and text[close + len(m["ticks"]) : close + len(m["ticks"]) + 1] == "`":
            close = text.find(m["ticks"], close + len(m["ticks"]) + 1)
        if close == -1:
            out.append(m["ticks"])
            pos = m.end()
        else:
            out.append(text[m.start() : close + len(m["ticks"])])
            pos = close + len(m["ticks"])


@dataclass
class _Piece:
    """A rendered Markdown cell: plain Markdown, and whether a code solution starts or ends."""

    text: str
    solution_start: bool = False
    solution_end: bool = False


def _blockquote(text: str) -> str:
    return "\n".join("> " + line if line.strip() else ">" for line in text.strip("\n").splitlines())


def _directive(ctx: _Context, name: str, arg: str, body: list[str]) -> str:
    options = _options(body)
    content = body[len(options) :]
    while content and not content[0].strip():
        content = content[1:]
    inner = _render_lines(ctx, content).strip("\n")
    if name in ("exercise", "exercise-start"):
        label = options.get("label")
        target = ctx.book.targets.get(label) if label else None
        number = target.number if target else None
        head = f"**Exercise {number}**" if number else "**Exercise**"
        title = _inline(ctx, arg.strip())
        return f"{head} — {title}\n\n{inner}" if title else f"{head}\n\n{inner}"
    if name == "solution":
        return f"<details><summary>Solution</summary>\n\n{inner}\n\n</details>"
    if name in ADMONITIONS or name == "admonition":
        title = _inline(ctx, arg.strip()) if name == "admonition" else ADMONITIONS[name]
        if name != "admonition" and arg.strip():
            inner = _inline(ctx, arg.strip()) + ("\n\n" + inner if inner else "")
        return _blockquote(f"**{title or 'Note'}**\n\n{inner}")
    if name == "math":
        return "$$\n" + "\n".join(content).strip("\n") + "\n$$"
    if name in ("epigraph", "pull-quote", "highlights"):
        return _blockquote(inner)
    raise ctx.fail(f"the directive {{{name}}} has no reader-copy translation")


def _render_lines(ctx: _Context, lines: list[str]) -> str:
    out: list[str] = []
    prose: list[str] = []

    def flush() -> None:
        if prose:
            out.append(_inline(ctx, "\n".join(prose)))
            prose.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        fence = FENCE.match(line)
        if fence:
            info = fence["info"].strip()
            mark = fence["fence"]
            # The block ends at the first line of the same fence character, at least as long.
            j = i + 1
            while j < len(lines):
                close = FENCE.match(lines[j])
                if (
                    close
                    and close["fence"][0] == mark[0]
                    and len(close["fence"]) >= len(mark)
                    and not close["info"].strip()
                ):
                    break
                j += 1
            body = lines[i + 1 : j]
            directive = DIRECTIVE_INFO.match(info)
            flush()
            if directive:
                out.append(_directive(ctx, directive["name"], directive["arg"], body))
            else:
                out.append("\n".join(lines[i : j + 1]))
            i = j + 1
            continue
        if LABEL_LINE.match(line):
            i += 1
            continue
        eq = EQ_LABEL.match(line)
        if eq:
            line = eq["math"]
        prose.append(line)
        i += 1
    flush()
    text = "\n".join(out)
    return re.sub(r"\n{3,}", "\n\n", text)


def render_markdown(text: str, ctx: _Context) -> _Piece:
    """One Markdown cell of a chapter, as plain Jupyter Markdown."""
    lines = text.splitlines()
    start = end = False
    # sphinx-exercise's gated solutions: ```{solution-start} label``` ... ```{solution-end}```
    kept: list[str] = []
    i = 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        directive = DIRECTIVE_INFO.match(fence["info"].strip()) if fence else None
        if directive and directive["name"] in ("solution-start", "solution-end", "exercise-end"):
            j = i + 1
            while j < len(lines):
                close = FENCE.match(lines[j])
                if close and close["fence"][0] == fence["fence"][0] and not close["info"].strip():
                    break
                j += 1
            if directive["name"] == "solution-start" and any(line.strip() for line in kept):
                raise ctx.fail(
                    "{solution-start} must open its Markdown cell: the text before it would be "
                    "folded into the solution (split the cell at the directive)"
                )
            start |= directive["name"] == "solution-start"
            end |= directive["name"] == "solution-end"
            i = j + 1
            continue
        kept.append(lines[i])
        i += 1
    rendered = _render_lines(ctx, kept).strip("\n")
    if start:
        note = "The worked solution is the folded code cell below: open it to read it, run it to check it."
        rendered = (
            f"<details><summary>Solution</summary>\n\n{rendered}\n\n</details>\n\n{note}"
            if rendered
            else note
        )
    return _Piece(rendered, start, end)


# --------------------------------------------------------------------------------------------
# Code
# --------------------------------------------------------------------------------------------


def install_cell_source(install_spec: str) -> str:
    """The first cell of every chapter: install the book's package in Colab, quietly, and only there.

    ``!{sys.executable} -m pip`` rather than ``%pip``: the magic always ends with "Note: you may
    need to restart the kernel", although nothing that Colab has imported changes (pip keeps every
    package that already satisfies the requirements and adds only what is missing). Every line
    fits the site's 88-column code box.
    """
    return (
        "# In Colab, install the book's helper package (elsewhere it is installed already).\n"
        "import sys\n"
        "\n"
        f'PACKAGE = "{install_spec}"\n'
        'if "google.colab" in sys.modules:\n'
        '    !{sys.executable} -m pip install -q "{PACKAGE}"\n'
    )


def _glue_statement(node: ast.stmt) -> bool:
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        return getattr(node.value.func, "id", None) == "glue"
    if isinstance(node, ast.For) and not node.orelse and node.body:
        return all(_glue_statement(n) for n in node.body)
    return False


def _strip_code(source: str, ctx: _Context) -> str:
    """Drop top-level glue calls and ``glue`` from the imports; refuse glue anywhere else."""
    if "glue" not in source:
        return source
    parsable = "\n".join(
        "pass  # " + line if line.lstrip().startswith(("%", "!")) else line
        for line in source.split("\n")
    )
    try:
        tree = ast.parse(parsable)
    except SyntaxError:
        return source
    drop: set[int] = set()
    for node in tree.body:
        if _glue_statement(node):
            drop.update(range(node.lineno, node.end_lineno + 1))
    lines = source.split("\n")
    kept = [line for n, line in enumerate(lines, 1) if n not in drop]
    text = "\n".join(kept)
    text = re.sub(r"^(from scratchcnn\.notebook import )glue, ", r"\1", text, flags=re.M)
    text = re.sub(r"^(from scratchcnn\.notebook import .*), glue\b", r"\1", text, flags=re.M)
    text = re.sub(r"^from scratchcnn\.notebook import glue\n", "", text, flags=re.M)
    if re.search(r"\bglue\(", text):
        raise ctx.fail(
            "glue() is called inside a block: move the call into a cell tagged remove-cell"
        )
    return re.sub(r"\n{3,}", "\n\n\n", text).strip("\n")


def _fold(cell: dict, title: str) -> None:
    """Fold a code cell in Colab (a form with a title) and in JupyterLab (hidden source)."""
    cell["source"] = f"#@title {title}\n" + cell["source"]
    cell["metadata"]["cellView"] = "form"
    cell["metadata"].setdefault("jupyter", {})["source_hidden"] = True


def _clean_tags(cell: dict) -> list[str]:
    """Drop the build tags from a cell; return the tags it had."""
    meta = cell.setdefault("metadata", {})
    tags = meta.get("tags", [])
    kept = [t for t in tags if not BUILD_TAGS.match(t)]
    if kept:
        meta["tags"] = kept
    else:
        meta.pop("tags", None)
    return tags


def _code_cell(cell: dict, ctx: _Context, install_spec: str | None) -> dict | None:
    """A code cell as readers get it, or None when nothing of it is left."""
    if install_spec is not None:  # the first code cell: the Colab install cell
        if 'if "google.colab" in sys.modules' not in cell["source"]:
            raise ctx.fail("the first code cell must be the Colab install cell")
        cell["source"] = install_cell_source(install_spec).rstrip("\n")
        cell["outputs"] = []
        return cell
    source = _strip_code(cell["source"], ctx)
    source = re.sub(r"^[ \t]*# (BEGIN|END) SOLUTION[ \t]*\n?", "", source, flags=re.M)
    cell["source"] = source.rstrip("\n")
    cell["outputs"] = [
        o for o in cell.get("outputs", []) if "scrapbook" not in o.get("metadata", {})
    ]
    return cell if cell["source"].strip() else None


def _renumber(cells: list[dict]) -> None:
    """Execution counts 1, 2, 3, ... over the cells that are left; sources as lists of lines."""
    count = 0
    for cell in cells:
        if cell["cell_type"] == "code" and cell.get("execution_count") is not None:
            count += 1
            cell["execution_count"] = count
            for output in cell["outputs"]:
                if "execution_count" in output:
                    output["execution_count"] = count
        cell["source"] = cell["source"].splitlines(keepends=True)


def render_notebook(nb: dict, page: str, book: Book, install_spec: str | None = None) -> dict:
    """The reader copy of one executed chapter (a new notebook dict; ``nb`` is not changed)."""
    name = page.rsplit("/", 1)[-1]
    glue = glued_values(nb)
    out = copy.deepcopy(nb)
    cells: list[dict] = []
    solution_title: str | None = None  # inside a {solution-start} ... {solution-end}
    exercise_number: str | None = None
    first_code = True
    for index, cell in enumerate(copy.deepcopy(nb["cells"])):
        ctx = _Context(book, page, glue, f"{name}, cell {index}")
        cell["source"] = (
            "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        )
        tags = _clean_tags(cell)
        if "remove-cell" in tags:
            continue
        if cell["cell_type"] == "raw":
            raise ctx.fail("a raw cell has no place in a reader copy")
        if cell["cell_type"] == "markdown":
            for m in re.finditer(r"\{exercise\}[^\n]*\n:label:\s*(\S+)", cell["source"]):
                target = book.targets.get(m.group(1))
                exercise_number = target.number if target else exercise_number
            piece = render_markdown(cell["source"], ctx)
            if piece.solution_start:
                solution_title = (
                    f"Solution to exercise {exercise_number}" if exercise_number else "Solution"
                )
            if piece.solution_end:
                solution_title = None
            if piece.text.strip():
                cell["source"] = piece.text
                cells.append(cell)
            continue
        spec = (install_spec or book.install_spec) if first_code else None
        first_code = False
        if (cell := _code_cell(cell, ctx, spec)) is None:
            continue
        if solution_title:
            _fold(cell, solution_title)
        elif "hide-input" in tags:
            cell["metadata"].setdefault("jupyter", {})["source_hidden"] = True
            cell["metadata"]["cellView"] = "form"
        cells.append(cell)
    _renumber(cells)
    out["cells"] = cells
    out.setdefault("metadata", {})["colab"] = {"provenance": [], "name": f"{name}.ipynb"}
    return out


# --------------------------------------------------------------------------------------------
# The scanner the tests use
# --------------------------------------------------------------------------------------------

MYST_PATTERNS = {
    "role": re.compile(r"\{[a-z][\w:.-]*\}`"),
    "directive": re.compile(r"^\s*(`{3,}|~{3,}|:{3,})\s*\{[\w:-]+\}", re.M),
    "label": re.compile(r"^\s*\([^()\s]+\)=\s*$", re.M),
    "option": re.compile(
        r"^\s*:(label|class|name|nonumber|hidden|dropdown|tags|width|align):", re.M
    ),
    "equation label": re.compile(r"\$\$\s*\([^()\s]+\)\s*$", re.M),
    "nbval marker": re.compile(r"#\s*NBVAL_\w+"),
    "glue call": re.compile(r"\bglue\("),
}


def find_myst(nb: dict) -> list[tuple[int, str, str]]:
    """(cell index, kind, the offending text) for every piece of MyST left in a notebook."""
    found = []
    for i, cell in enumerate(nb["cells"]):
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        for kind, pattern in MYST_PATTERNS.items():
            if kind == "glue call" and cell["cell_type"] != "code":
                continue
            for m in pattern.finditer(source):
                line = source[source.rfind("\n", 0, m.start()) + 1 : source.find("\n", m.end())]
                found.append((i, kind, line.strip()))
        for tag in cell.get("metadata", {}).get("tags", []):
            if BUILD_TAGS.match(tag):
                found.append((i, "build tag", tag))
    return found


# --------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------


def write_reader_copies(
    root: str | Path,
    out_dir: str | Path,
    chapters: list[str] | None = None,
    install_spec: str | None = None,
) -> list[Path]:
    """Render every chapter of the toc (or ``chapters``) into ``out_dir``; return the paths."""
    root, out_dir = Path(root), Path(out_dir)
    book = load_book(root)
    pages = [p for p in book.chapter_numbers if (root / f"{p}.ipynb").exists()]
    if chapters:
        wanted = {Path(c).stem for c in chapters}
        pages = [p for p in pages if p.rsplit("/", 1)[-1] in wanted]
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for page in pages:
        source = root / f"{page}.ipynb"
        try:
            nb = json.loads(source.read_text(encoding="utf8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ReaderCopyError(f"cannot read {source}: {exc}") from exc
        copy_ = render_notebook(nb, page, book, install_spec)
        left = find_myst(copy_)
        if left:
            i, kind, text = left[0]
            raise ReaderCopyError(
                f"{source.name}: cell {i} of the reader copy still holds a {kind}: {text!r}"
            )
        target = out_dir / source.name
        tmp = target.with_suffix(".ipynb.tmp")
        tmp.write_text(json.dumps(copy_, indent=1, ensure_ascii=False) + "\n", encoding="utf8")
        tmp.replace(target)
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scratchcnn.reader_copy", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "notebooks", help="the folder of the chapter notebooks (its parent holds _config.yml)"
    )
    parser.add_argument("out", help="where to write the reader copies, e.g. _build/colab")
    parser.add_argument(
        "--chapter", action="append", help="only this chapter (repeatable), e.g. 03_pooling"
    )
    parser.add_argument(
        "--install-spec", help="pip requirement for the Colab cell (default: the repository URL)"
    )
    args = parser.parse_args(argv)
    root = Path(args.notebooks).resolve().parent
    try:
        paths = write_reader_copies(root, args.out, args.chapter, args.install_spec)
    except ReaderCopyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for path in paths:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
