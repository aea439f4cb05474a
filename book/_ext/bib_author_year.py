"""A bibliography whose labels read like the citations in the text: "LeCun et al., 1998".

The chapters cite in author-year form (``bibtex_reference_style: author_year``), but pybtex's
built-in styles label the bibliography itself ``[LBBH98]`` (alpha) or ``[1]`` (numbers), so a
reader who follows "LeCun et al., 1998" lands on an entry labelled something else. This registers
the pybtex style ``author_year``: the entries of pybtex's ``plain`` style (sorted by author,
year, title) with the same labels as the citations. Two works with the same label get "a", "b"
after the year.

Use with ``bibtex_default_style: author_year`` under ``sphinx.config`` in ``_config.yml``.
"""

from __future__ import annotations

from collections import Counter

from pybtex.plugin import register_plugin
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle
from sphinx.application import Sphinx


def _surname(person) -> str:
    """``von Last`` of a pybtex Person as plain text (LaTeX accents and braces resolved)."""
    names = person.rich_prelast_names + person.rich_last_names
    return " ".join(name.render_as("text") for name in names)


def author_year_label(entry) -> str:
    """"LeCun et al., 1998", "Glorot and Bengio, 2010", "Raschka, 2018"."""
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    names = [_surname(p) for p in people]
    if not names:
        who = entry.fields.get("organization") or entry.fields.get("title", "Anonymous")
    elif len(names) == 1:
        who = names[0]
    elif len(names) == 2:
        who = f"{names[0]} and {names[1]}"
    else:
        who = f"{names[0]} et al."
    return f"{who}, {entry.fields.get('year', 'n.d.')}"


class AuthorYearLabels(BaseLabelStyle):
    """Label each entry as it is cited; disambiguate equal labels with a, b, c."""

    def format_labels(self, sorted_entries):
        entries = list(sorted_entries)
        labels = [author_year_label(e) for e in entries]
        repeated = {label for label, n in Counter(labels).items() if n > 1}
        seen: Counter = Counter()
        for label in labels:
            if label in repeated:
                seen[label] += 1
                label = f"{label}{chr(ord('a') + seen[label] - 1)}"
            yield label


class AuthorYearStyle(PlainStyle):
    default_label_style = AuthorYearLabels


def setup(app: Sphinx) -> dict:
    register_plugin("pybtex.style.formatting", "author_year", AuthorYearStyle)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
