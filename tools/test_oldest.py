"""The lowest versions the package allows, tried for real (`make test-oldest`).

pyproject.toml's lower bounds are promises: ``numpy>=1.24`` says the book works with NumPy 1.24.
This builds a venv of its own where every dependency of ``scratchcnn`` is pinned to exactly its
lower bound (read from pyproject.toml, so the bounds and this check cannot drift apart), then
runs the package's unit tests and two chapters under nbval there.

Usage: python tools/test_oldest.py [--venv _build/oldest-venv]   (needs PyPI for the first run)
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
# The unit tests: everything but the site, the browser and the full notebook runs.
UNIT_TESTS = ["tests/test_layers.py", "tests/test_preprocess.py", "tests/test_train.py", "tests/test_data.py",
              "tests/test_plots.py", "tests/test_reader_copy.py::test_glued_text_is_formatted_as_myst_nb_does"]  # fmt: skip
CHAPTERS = ["notebooks/01_data.ipynb", "notebooks/04_affine_softmax.ipynb"]
TEST_TOOLS = ["pytest", "nbval", "ipykernel", "hypothesis", "pyyaml", "myst-nb", "filelock"]


def lowest_pins() -> list[str]:
    """``name==lower`` for every ``name>=lower`` dependency of pyproject.toml."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf8"))["project"]
    pins = []
    for requirement in project["dependencies"]:
        m = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)\s*>=\s*([0-9][\w.]*)\s*(,.*)?", requirement)
        if not m:
            raise SystemExit(
                f"pyproject.toml: {requirement!r} has no lower bound (name>=version) to test"
            )
        pins.append(f"{m[1]}=={m[2]}")
    return pins


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--venv", default=str(ROOT / "_build/oldest-venv"))
    args = parser.parse_args()
    venv = Path(args.venv).resolve()
    python = venv / "bin" / "python"
    pins = lowest_pins()
    constraints = venv / "constraints.txt"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    constraints.write_text("\n".join(pins) + "\n", encoding="utf8")
    print("lowest versions:", ", ".join(pins), flush=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-c", str(constraints), "-e", str(ROOT), *TEST_TOOLS],
                   check=True)  # fmt: skip
    versions = subprocess.run(
        [str(python), "-c", "import numpy, scipy, matplotlib, sklearn; "
         "print('numpy', numpy.__version__, 'scipy', scipy.__version__, 'matplotlib', matplotlib.__version__, "
         "'scikit-learn', sklearn.__version__)"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    print("running on", versions, flush=True)
    env = dict(os.environ, SCRATCHCNN_DATA="sample")
    cmd = [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", *UNIT_TESTS,
           "--nbval-lax", "--nbval-current-env", "--nbval-sanitize-with", "tests/sanitize.cfg", *CHAPTERS]  # fmt: skip
    return subprocess.run(cmd, cwd=ROOT, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
