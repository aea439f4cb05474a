"""Keep the assignment markers off the site: ``# BEGIN SOLUTION`` / ``# END SOLUTION``.

The chapters' worked solutions sit between these two comment lines so that ``make assignments``
can cut them out of the student copies. They mean nothing to a reader, so the code cells of the
site show the solution without them (the reader copies of ``make colab`` drop them too).
"""

from __future__ import annotations

import re

from docutils import nodes
from sphinx.application import Sphinx

MARKER = re.compile(r"^[ \t]*# (BEGIN|END) SOLUTION[ \t]*(\n|$)", re.M)


def strip_markers(app: Sphinx, doctree: nodes.document) -> None:
    for container in doctree.findall(nodes.container):
        if container.get("nb_element") != "cell_code_source":
            continue
        for block in container.findall(nodes.literal_block):
            text = block.astext()
            if MARKER.search(text):
                cleaned = MARKER.sub("", text)
                block.children = [nodes.Text(cleaned)]
                if "rawsource" in block.__dict__:
                    block.rawsource = cleaned


def setup(app: Sphinx) -> dict:
    app.connect("doctree-read", strip_markers)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
