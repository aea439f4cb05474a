"""A bibliography whose labels read like the citations in the text: "LeCun et al., 1998".

The chapters cite in author-year form (``bibtex_reference_style: author_year``), but pybtex's
built-in styles label the bibliography itself ``[LBBH98]`` (alpha) or ``[1]`` (numbers), so a
reader who follows "LeCun et al., 1998" lands on an entry labelled something else. This registers
the pybtex style ``author_year``: the entries of pybtex's ``plain`` style (sorted by author,
year, title) with the same labels as the citations. Two works with the same label get "a", "b"
after the year.

The citations in the text must then carry the same letter ("LeCun et al., 1998a"), or a reader
cannot tell two such works apart: the referencing style ``author_year_labels`` is
sphinxcontrib-bibtex's ``author_year`` with the year taken from the entry's label.

Use with ``bibtex_default_style: author_year`` and ``bibtex_reference_style: author_year_labels``
under ``sphinx.config`` in ``_config.yml``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from pybtex.plugin import register_plugin
from pybtex.richtext import Text
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle
from pybtex.style.template import node
from sphinx.application import Sphinx
from sphinxcontrib.bibtex.plugin import register_plugin as register_bibtex_plugin
from sphinxcontrib.bibtex.style.referencing import author_year, basic_author_year
from sphinxcontrib.bibtex.style.template import join, join2, post_text, pre_text, reference


def _surname(person) -> str:
    """``von Last`` of a pybtex Person as plain text (LaTeX accents and braces resolved)."""
    names = person.rich_prelast_names + person.rich_last_names
    return " ".join(name.render_as("text") for name in names)


def author_year_label(entry) -> str:
    """ "LeCun et al., 1998", "Glorot and Bengio, 2010", "Raschka, 2018"."""
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


@node
def label_year(children, data) -> Text:
    """The year as the entry's label has it: "1998a" for the first of two LeCun et al., 1998."""
    assert not children
    return Text(data["formatted_entry"].label.rsplit(", ", 1)[-1])


@dataclass
class _Parenthetical(basic_author_year.BasicAuthorYearParentheticalReferenceStyle):
    def inner(self, role_name: str):
        who = self.person.author_or_editor_or_title(full="s" in role_name)
        return join2(sep1=self.pre_text_sep, sep2=self.post_text_sep)[
            pre_text, reference[join(sep=self.author_year_sep)[who, label_year]], post_text
        ]


@dataclass
class _Textual(basic_author_year.BasicAuthorYearTextualReferenceStyle):
    def inner(self, role_name: str):
        who = self.person.author_or_editor_or_title(full="s" in role_name)
        cited = join2(sep1=self.pre_text_sep, sep2=self.post_text_sep)[
            pre_text, reference[label_year], post_text
        ]
        return join(sep=self.text_reference_sep)[
            who, join[self.bracket.left, cited, self.bracket.right]
        ]


@dataclass
class AuthorYearLabelsReferenceStyle(author_year.AuthorYearReferenceStyle):
    """``author_year``, with the parenthetical and textual citations' year read off the label."""

    def __post_init__(self):
        super().__post_init__()
        kinds = {
            basic_author_year.BasicAuthorYearParentheticalReferenceStyle: _Parenthetical,
            basic_author_year.BasicAuthorYearTextualReferenceStyle: _Textual,
        }
        self.styles[:] = [
            kinds[type(s)](**{k: getattr(s, k) for k in s.__dataclass_fields__})
            if type(s) in kinds
            else s
            for s in self.styles
        ]
        self.role_style.update((role, s) for s in self.styles for role in s.role_names())


def setup(app: Sphinx) -> dict:
    register_plugin("pybtex.style.formatting", "author_year", AuthorYearStyle)
    register_bibtex_plugin(
        "sphinxcontrib.bibtex.style.referencing",
        "author_year_labels",
        AuthorYearLabelsReferenceStyle,
    )
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
