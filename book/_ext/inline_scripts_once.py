"""Emit each inline script once: a work-around for a Sphinx 7 bug that breaks every page's JS.

``sphinx-thebe`` (loaded by Jupyter Book) adds an inline script declaring ``const THEBE_JS_URL``
once the HTML builder exists. Sphinx 7 records that script twice -- once under the file name
``None`` and again, when pages are written, under ``''`` -- so every page declares the constant
twice and the browser reports ``SyntaxError: Identifier 'THEBE_JS_URL' has already been
declared``. Sphinx fixed this in 8.2 (sphinx-doc/sphinx#13402), but Jupyter Book 1 requires
Sphinx 7.

Just before the sources are read (after sphinx-thebe has added its script), this drops the
builder's copies named ``None``. Sphinx adds every registered script again, named ``''``, before
writing the pages, so each inline script appears exactly once. On a Sphinx without the bug there
is nothing named ``None`` and this does nothing.
"""

from __future__ import annotations

from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment


def drop_unnamed_duplicates(app: Sphinx, env: BuildEnvironment, docnames: list[str]) -> None:
    """Remove the inline scripts the builder holds under the file name ``None``."""
    scripts = getattr(app.builder, "_js_files", None)
    if scripts is not None:
        scripts[:] = [s for s in scripts if getattr(s, "filename", "") is not None]


def setup(app: Sphinx) -> dict:
    # Priority 900: after sphinx-thebe's own handler of this event (default priority 500).
    app.connect("env-before-read-docs", drop_unnamed_duplicates, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
