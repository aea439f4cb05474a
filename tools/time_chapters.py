"""Time every chapter, top to bottom in a fresh kernel, on the sample and on full-size data.

Writes ``book/chapter_times.md``, the table that ``book/setup.md`` includes, so the times in the
guide come from this command and not from a keyboard (`make times`):

    python tools/time_chapters.py --full /usr/share/datasets/fashion-mnist

Each chapter runs on a copy in a temporary folder (the stored notebooks are not touched), with
``SCRATCHCNN_DATA=offline`` (the bundled sample here) and then with ``SCRATCHCNN_DATA=<folder>``
(the full-size data: the real MNIST where it is cached, or Debian's Fashion-MNIST as the
stand-in on a machine without network). Wall time and the kernel's CPU time are both recorded:
on a busy machine the wall time grows, the CPU time much less.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN = """
import sys, nbclient, nbformat
nb = nbformat.read(sys.argv[1], as_version=4)
nbclient.NotebookClient(nb, timeout=1800, kernel_name="python3",
                        resources={"metadata": {"path": sys.argv[2]}}).execute()
"""


def run(path: Path, data: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the kernel and its children) for one chapter."""
    env = dict(os.environ, SCRATCHCNN_DATA=data)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", RUN, str(path), str(path.parent)], env=env,
                          capture_output=True, text=True)  # fmt: skip
    if proc.returncode:
        raise SystemExit(f"{path.name} failed with SCRATCHCNN_DATA={data}:\n{proc.stderr[-4000:]}")
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def load_average() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "?"


def write_table(out: Path, table: dict[str, list[str]], full: str | None) -> None:
    lines = [
        f"Measured by `make times` ({sys.executable.split('/')[-1]} {platform.python_version()}, "
        f"{os.cpu_count()} cores, {date.today().isoformat()}); each chapter top to bottom in a fresh "
        "kernel.",
        "",
        "| chapter | bundled sample (4,000 + 1,000) | full size (60,000 + 10,000) | full size, CPU time |",
        "|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(table[name]) + " |" for name in sorted(table)]
    total = sum(float(cells[1].split()[0]) for cells in table.values())
    lines += ["", f"All chapters on the sample: {total:.0f} s."]
    if full:
        lines.append(f"Full-size data: `SCRATCHCNN_DATA={full}`.")
    out.write_text("\n".join(lines) + "\n", encoding="utf8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--full", help="SCRATCHCNN_DATA for the full-size runs (a folder or 'auto')"
    )
    parser.add_argument("--out", default=str(ROOT / "book" / "chapter_times.md"))
    parser.add_argument(
        "--update", action="store_true", help="keep the other chapters' rows of --out"
    )
    parser.add_argument("chapters", nargs="*", help="notebooks (default: all of notebooks/)")
    args = parser.parse_args()
    chapters = [Path(c) for c in args.chapters] or sorted(
        (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")
    )
    out = Path(args.out)
    table: dict[str, list[str]] = {}
    if args.update and out.exists():  # rows measured earlier for chapters not run now
        for line in out.read_text(encoding="utf8").splitlines():
            cells = [c.strip() for c in line.strip("|").split("|")]
            if len(cells) == 4 and cells[0][:2].isdigit():
                table[cells[0]] = cells
    with tempfile.TemporaryDirectory() as tmp:
        for chapter in chapters:
            copy = Path(tmp) / chapter.name
            shutil.copy(chapter, copy)
            load = load_average()
            sample = run(copy, "offline")
            full = run(copy, args.full) if args.full else None
            full_wall = f"{full[0]:.0f} s" if full else "not measured"
            full_cpu = f"{full[1]:.0f} s" if full else ""
            table[chapter.stem] = [chapter.stem, f"{sample[0]:.0f} s", full_wall, full_cpu]
            write_table(out, table, args.full)  # after every chapter: a failure loses nothing
            print(f"{chapter.stem}: sample {sample[0]:.0f} s, full size {full_wall} (CPU {full_cpu}), "
                  f"load {load}", flush=True)  # fmt: skip
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
