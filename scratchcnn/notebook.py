"""Small conveniences for the chapter notebooks.

``glue`` stores a value so the book's prose can quote it (``{glue:text}`name```). It is
myst-nb's ``glue`` when myst-nb is installed (building the site); elsewhere (Colab, a plain
Jupyter) the same call still works and simply shows the value when ``display=True``.
"""

from __future__ import annotations

try:  # pragma: no cover - which branch runs depends on the environment
    from myst_nb import glue as _myst_glue
except ImportError:  # pragma: no cover
    _myst_glue = None


def glue(name: str, value, display: bool = False) -> None:
    """Glue ``value`` under ``name`` for the book, showing it only when ``display`` is true."""
    if _myst_glue is not None:
        _myst_glue(name, value, display=display)
    elif display:
        from IPython.display import display as _show

        _show(value)
