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


def setup_notebook() -> None:
    """The chapters' common settings: readable figures in dark mode, stable printed numbers.

    - Figures get a white background (the site's dark mode would otherwise show black axes on a
      dark page) and a fixed size and resolution.
    - NumPy prints 4 decimals and plain scalars (``1.5``, not ``np.float64(1.5)``), so that
      printed results read well and are identical on every NumPy 2 release.
    """
    import matplotlib as mpl
    import numpy as np

    mpl.rcParams.update(
        {
            "figure.facecolor": "white",
            "savefig.facecolor": "white",
            "axes.facecolor": "white",
            "figure.figsize": (6.4, 4.0),
            "figure.dpi": 100,
        }
    )
    np.set_printoptions(precision=4, suppress=True)
    # NumPy >= 2 prints scalars as np.float64(1.5); legacy="1.25" restores 1.5. NumPy 1.x prints
    # them that way already, and there the option only warns and stores a value that makes every
    # later array print raise TypeError: so set it on NumPy 2 only.
    if int(np.__version__.split(".")[0]) >= 2:
        np.set_printoptions(legacy="1.25")
