"""The API reference links every public function and class back to the chapter that builds it.

For each object that autodoc documents, the chapter is the first one (in the book's order)
whose code imports it or calls it by name; its docstring then ends with "Built in chapter N:
Title", a link to that chapter. Objects no chapter uses get no such line.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

from sphinx.application import Sphinx


@lru_cache(maxsize=1)
def _chapter_code(srcdir: str) -> tuple[tuple[str, str, str], ...]:
    """(docname, title, code) of every chapter notebook, in the toc's order."""
    import yaml

    root = Path(srcdir)
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf8"))
    out = []
    for part in toc.get("parts", []):
        if not part.get("numbered"):
            continue
        for chapter in part.get("chapters", []):
            path = root / f"{chapter['file']}.ipynb"
            if not path.exists():
                continue
            nb = json.loads(path.read_text(encoding="utf8"))
            code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
            title = next(
                (m.group(1) for c in nb["cells"] if c["cell_type"] == "markdown"
                 for m in [re.search(r"^# (.+)$", "".join(c["source"]), re.M)] if m),
                chapter["file"],
            )  # fmt: skip
            out.append((chapter["file"], title, code))
    return tuple(out)


def link_chapter(app: Sphinx, what: str, name: str, obj, options, lines: list[str]) -> None:
    if what not in ("function", "class") or "._" in name:
        return
    short = name.rsplit(".", 1)[-1]
    pattern = re.compile(rf"\b{re.escape(short)}\b")
    for number, (docname, title, code) in enumerate(_chapter_code(app.srcdir), start=1):
        if pattern.search(code):
            lines.extend(["", f"Built in :doc:`chapter {number}: {title} </{docname}>`."])
            return


def setup(app: Sphinx) -> dict:
    app.connect("autodoc-process-docstring", link_chapter)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
