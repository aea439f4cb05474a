"""Shared fixtures: the book site, built once per test run.

``book_site`` builds the site from the committed, already executed notebooks (execution off: nbval
runs them already) with ``-W -n --keep-going`` into a temporary folder. Under pytest-xdist
(``make test`` runs ``pytest -n 2 --dist loadfile``) the build and browser tests may land on
different workers; the first worker that needs the site builds it while holding a file lock in
the run's shared temporary folder, and the other waits for it and reuses the result (the pattern
pytest-xdist documents for session fixtures that must run once). So the site is built once per
run, whichever worker gets which file.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from filelock import FileLock

ROOT = Path(__file__).resolve().parent.parent
BUILD_TIMEOUT_S = 600
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class BookSite:
    """A finished build: ``html`` is the site's folder, ``log`` what the build printed."""

    html: Path
    returncode: int
    log: str


def _build_config(dest: Path) -> Path:
    """Write a copy of ``_config.yml`` that builds without executing the notebooks."""
    spec = importlib.util.spec_from_file_location("build_book", ROOT / "tools" / "build_book.py")
    build_tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build_tool)
    return build_tool.write_config(dest, {"execute_notebooks": "off"})


def build_book(dest: Path) -> BookSite:
    """Build the site into ``dest/_build/html``; return the result, warnings included."""
    dest.mkdir(parents=True, exist_ok=True)
    result_file = dest / "result.json"
    if result_file.is_file():  # another worker of this run built it already
        result = json.loads(result_file.read_text(encoding="utf8"))
        return BookSite(Path(result["html"]), result["returncode"], result["log"])
    cmd = [
        sys.executable, "-c", "from jupyter_book.cli.main import main; main()",
        "build", str(ROOT), "--config", str(_build_config(dest)), "--path-output", str(dest),
        "-W", "-n", "--keep-going",
    ]  # fmt: skip
    proc = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False
    )
    log = ANSI_ESCAPE.sub("", proc.stdout + proc.stderr)  # Sphinx colours its log
    site = BookSite(dest / "_build" / "html", proc.returncode, log)
    tmp = result_file.with_suffix(".tmp")
    tmp.write_text(json.dumps({"html": str(site.html), "returncode": site.returncode,
                               "log": site.log}), encoding="utf8")  # fmt: skip
    tmp.replace(result_file)
    return site


@pytest.fixture(scope="session")
def book_site(tmp_path_factory: pytest.TempPathFactory) -> BookSite:
    """The book built once per test run (shared by all pytest-xdist workers)."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):  # not running under xdist
        return build_book(tmp_path_factory.mktemp("book"))
    shared = tmp_path_factory.getbasetemp().parent  # one folder per run, common to the workers
    with FileLock(str(shared / "book.lock")):
        return build_book(shared / "book")


# The files that take longest, first. `make test` runs pytest-xdist with `--dist loadfile
# --no-loadscope-reorder`, so its two workers take whole files in this order: the chapters that
# train (executed by nbval and again as student copies) start at once instead of last, and the
# rest fills in around them. Everything else keeps pytest's order.
LONGEST_FIRST = (
    "tests/test_assignments.py",
    "notebooks/09_deeper.ipynb",
    "notebooks/06_training.ipynb",
    "tests/test_browser.py",
    "notebooks/08_fast_cnn.ipynb",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))
