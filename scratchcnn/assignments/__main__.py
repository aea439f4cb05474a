"""``python -m scratchcnn.assignments [SRC] [OUT]``: student and solution copies of the chapters.

Reads ``SRC/*.ipynb`` (default ``notebooks``) and writes ``OUT/student/``, ``OUT/solutions/`` and
``OUT/otter/`` (default ``_build/assignments``). ``make assignments`` runs exactly this.
"""

from __future__ import annotations

import argparse
import sys

from . import build


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scratchcnn.assignments",
        description="Write student copies (solutions stubbed, outputs cleared) and solution copies "
        "of the chapter notebooks.",
    )
    parser.add_argument(
        "src", nargs="?", default="notebooks", help="folder of the chapter notebooks"
    )
    parser.add_argument("out", nargs="?", default="_build/assignments", help="output folder")
    args = parser.parse_args(argv)
    try:
        made = build(args.src, args.out)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for item in made:
        what = (
            f"{len(item.exercises)} exercises ({', '.join(item.exercises)})"
            if item.exercises
            else "no exercises"
        )
        print(f"{item.name}: {what}")
    print(
        f"wrote {args.out}/student/ and {args.out}/solutions/ ({len(made)} notebooks each) and {args.out}/otter/"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
