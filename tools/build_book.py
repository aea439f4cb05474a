"""Build the site (`make book`): execute the chapters two at a time, then build with Jupyter Book.

Usage: python tools/build_book.py [--jobs N] [notebooks ...]

Jupyter Book 1 executes a book's notebooks one after the other, so on a 2-core machine one core
waits while chapter 9 trains. This command does the same work in two steps:

1. every chapter runs top to bottom in a fresh kernel (as ``execute_notebooks: force`` would),
   ``--jobs`` of them at once (the number of cores, at most 2 by default), the longest first
   (by the sample column of ``book/chapter_times.md``, which ``make times`` writes); each
   executed chapter goes into a new jupyter-cache in ``_build/.jupyter_cache``, and progress is
   printed as each chapter finishes;
2. ``jupyter-book build --all -W -n --keep-going`` with a copy of ``_config.yml`` whose only
   change is ``execute_notebooks: cache`` pointing at that cache, so the build takes the outputs
   just computed and executes nothing itself.

The cache is emptied first on every run: its known trap (a notebook is re-run only when its own
cells change, so edits to ``scratchcnn/`` would leave stale outputs) cannot bite. A chapter that
fails stops the command before the build, with the chapter's error. The stored notebooks are
never written.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build"
CACHE = BUILD / ".jupyter_cache"
TIMES = ROOT / "book" / "chapter_times.md"


def write_config(dest: Path, execute: dict) -> Path:
    """A copy of ``_config.yml`` in ``dest`` with ``execute`` merged into its ``execute`` section.

    Jupyter Book resolves local extension folders against the config file's folder, so those
    become absolute paths; everything else stays as it is.
    """
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf8"))
    config.setdefault("execute", {}).update(execute)
    sphinx = config.setdefault("sphinx", {})
    sphinx["local_extensions"] = {
        name: str(ROOT / folder) for name, folder in (sphinx.get("local_extensions") or {}).items()
    }
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / "_config.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf8")
    return path


def longest_first(paths: list[Path]) -> list[Path]:
    """``paths`` ordered by their sample times in ``book/chapter_times.md`` (unknown ones last)."""
    seconds = {}
    if TIMES.is_file():
        for name, sample in re.findall(r"^\| (\w+) \| (\d+) s \|", TIMES.read_text(), re.M):
            seconds[name] = int(sample)
    return sorted(paths, key=lambda p: -seconds.get(p.stem, 0))


def _execute(path: str) -> tuple[str, object, float]:
    """Run one chapter in a fresh kernel: (path, executed notebook, seconds)."""
    from execute_notebooks import run_notebook  # tools/ is this script's folder

    nb, seconds = run_notebook(Path(path))
    return path, nb, seconds


def execute_into_cache(paths: list[Path], cache_dir: Path, jobs: int) -> None:
    """Execute ``paths``, ``jobs`` at a time, into a new jupyter-cache at ``cache_dir``."""
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    shutil.rmtree(cache_dir, ignore_errors=True)
    cache = get_cache(str(cache_dir))
    start = time.perf_counter()
    order = longest_first(paths)
    print(f"executing {len(order)} chapters, {jobs} at a time, longest first", flush=True)
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(_execute, str(p)) for p in order]
        for done, future in enumerate(as_completed(futures), 1):
            try:
                path, nb, seconds = future.result()
            except Exception as err:  # the chapter's own error, as nbclient reports it
                for other in futures:
                    other.cancel()
                raise SystemExit(
                    f"make book: a chapter failed, nothing was built:\n{err}"
                ) from None
            bundle = CacheBundleIn(
                nb, str(Path(path).resolve()), data={"execution_seconds": seconds}
            )
            cache.cache_notebook_bundle(bundle, check_validity=False, overwrite=True)
            elapsed = time.perf_counter() - start
            print(
                f"  [{done}/{len(order)}] {Path(path).name}: {seconds:.0f} s "
                f"({elapsed:.0f} s since the start)",
                flush=True,
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("notebooks", nargs="*", help="default: notebooks/*.ipynb")
    args = parser.parse_args(argv)
    paths = [Path(p) for p in args.notebooks] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    os.environ.setdefault("SCRATCHCNN_DATA", "offline")  # the full MNIST if cached, else the sample
    start = time.perf_counter()
    execute_into_cache(paths, CACHE, max(1, args.jobs))
    config = write_config(
        BUILD / "book-config", {"execute_notebooks": "cache", "cache": str(CACHE)}
    )
    cmd = [
        sys.executable, "-c", "from jupyter_book.cli.main import main; main()",
        "build", str(ROOT), "--config", str(config), "--all", "-W", "-n", "--keep-going",
    ]  # fmt: skip
    print("building the site with the executed chapters (jupyter-book build)", flush=True)
    code = subprocess.call(cmd, cwd=ROOT)
    print(f"make book: {time.perf_counter() - start:.0f} s in all", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
