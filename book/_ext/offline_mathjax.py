"""Serve MathJax from the built site itself, so the book's math renders with no network.

Sphinx's ``sphinx.ext.mathjax`` loads MathJax from a CDN by default: offline, every formula stays
raw TeX. This extension copies MathJax 3's browser bundle (its ``es5/`` folder) into
``<outdir>/_static/mathjax/`` and checks that ``mathjax_path`` points into that copy.

The bundle comes from a package registry, not from files committed by hand: the PyPI package
``django-static-mathjax`` ships MathJax's own release files (3.2.2) and installs with nothing else
(no Django), so ``pip install -r requirements.txt`` -- run by ``make install`` -- brings it along.

Set in ``_config.yml``::

    sphinx:
      local_extensions:
        offline_mathjax: book/_ext
      config:
        mathjax_path: mathjax/tex-mml-chtml.js

The copy goes straight into the output folder, never into the source tree, and is atomic: it is
written to a temporary folder and renamed into place with a marker naming the MathJax version, so
an interrupted build never leaves half a MathJax that the next build would trust.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import tempfile
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)

DISTRIBUTION = "django-static-mathjax"
BUNDLE = "mathjax/static/mathjax/es5"  # MathJax's es5/ folder, inside the installed package
PREFIX = "mathjax/"  # where the bundle goes under _static/, and how mathjax_path must start
MARKER = ".scratchcnn-mathjax-version"
INSTALL_HINT = (
    f"install it with `pip install '{DISTRIBUTION}>=3.2.2'` "
    "(`make install` does this from requirements.txt)"
)


def mathjax_bundle() -> tuple[Path, str]:
    """Return the installed MathJax ``es5/`` folder and the package version that shipped it."""
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise ExtensionError(
            f"offline_mathjax: the package {DISTRIBUTION!r} (MathJax 3 for the offline site) "
            f"is not installed; {INSTALL_HINT}."
        ) from None
    folder = Path(dist.locate_file(BUNDLE))
    if not (folder / "tex-mml-chtml.js").is_file():
        raise ExtensionError(
            f"offline_mathjax: expected MathJax's es5 bundle at {folder} (from {DISTRIBUTION} "
            f"{dist.version}), found no tex-mml-chtml.js there; reinstall it: {INSTALL_HINT}."
        )
    return folder, dist.version


def _check_mathjax_path(app: Sphinx, bundle: Path) -> None:
    """Refuse a ``mathjax_path`` that is a URL or names no file of the bundle."""
    path = app.config.mathjax_path or ""
    if not path.startswith(PREFIX) or not (bundle / path[len(PREFIX) :]).is_file():
        entries = ", ".join(sorted(p.name for p in bundle.glob("tex-*.js")))
        raise ExtensionError(
            f"offline_mathjax: mathjax_path must name a file of the local MathJax copy, such as "
            f"'{PREFIX}tex-mml-chtml.js' (set it under sphinx.config in _config.yml); got "
            f"{path!r}. Files available after '{PREFIX}': {entries}."
        )


def copy_mathjax(app: Sphinx) -> None:
    """Copy the bundle into ``<outdir>/_static/mathjax`` unless that version is already there."""
    if app.builder.format != "html":
        return
    bundle, version = mathjax_bundle()
    _check_mathjax_path(app, bundle)
    static = Path(app.outdir) / "_static"
    dest = static / PREFIX.rstrip("/")
    marker = dest / MARKER
    if marker.is_file() and marker.read_text(encoding="utf8").strip() == version:
        return
    static.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".mathjax-", dir=static))
    try:
        shutil.copytree(bundle, tmp, dirs_exist_ok=True)
        (tmp / MARKER).write_text(version + "\n", encoding="utf8")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info(f"offline_mathjax: copied MathJax ({DISTRIBUTION} {version}) to {dest}")


def setup(app: Sphinx) -> dict:
    """Register the copy step; it runs once the builder (and so the output folder) is known."""
    app.setup_extension("sphinx.ext.mathjax")
    app.connect("builder-inited", copy_mathjax)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
