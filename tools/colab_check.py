"""Run every reader copy as Colab would, as far as that can be tried offline (`make colab-check`).

1. A fresh venv gets what Colab ships and the book does not pin: the newest NumPy, SciPy,
   Matplotlib, scikit-learn, with ipykernel to run notebooks (from PyPI: this step needs it).
2. The reader copies are rendered with the install cell pointing at this checkout
   (``scratchcnn @ file://...`` instead of the GitHub URL, which this machine cannot reach).
3. Each copy runs top to bottom in that venv with a ``google.colab`` stand-in imported at kernel
   start, so its first cell really installs the package, as in Colab.
4. The venv's packages before and after are compared: the install may add packages, never
   upgrade or downgrade one that was there.

Prints one line per chapter (seconds, cells, whether the install cell printed anything) and exits
non-zero on any failure. Usage: python tools/colab_check.py --venv _build/colab-venv --out DIR
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLAB_SHIPS = [
    "numpy",
    "scipy",
    "matplotlib",
    "scikit-learn",
    "pandas",
    "ipykernel",
    "nbclient",
    "nbformat",
]
STAND_IN = '"""A stand-in for Colab\'s module: the chapters only ask whether it is imported."""\n'


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=True, **kw)


def freeze(python: Path) -> dict[str, str]:
    out = subprocess.run([str(python), "-m", "pip", "list", "--format=json"], check=True,
                         capture_output=True, text=True).stdout  # fmt: skip
    return {p["name"].lower(): p["version"] for p in json.loads(out)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--venv", default=str(ROOT / "_build/colab-venv"))
    parser.add_argument("--out", default=str(ROOT / "_build/colab-check"))
    parser.add_argument("--chapter", action="append", help="only this chapter (repeatable)")
    args = parser.parse_args()
    venv, out = Path(args.venv).resolve(), Path(args.out).resolve()
    python = venv / "bin" / "python"
    if not python.exists():
        run([sys.executable, "-m", "venv", str(venv)])
        run([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"])
        run([str(python), "-m", "pip", "install", "-q", "--upgrade", *COLAB_SHIPS])
    # The stand-in module, and a kernel start-up file that imports it (Colab imports it too).
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())  # fmt: skip
    (site / "google" / "colab").mkdir(parents=True, exist_ok=True)
    (site / "google" / "colab" / "__init__.py").write_text(STAND_IN)
    ipython_dir = out / "ipython"
    startup = ipython_dir / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    (startup / "00-colab.py").write_text("import google.colab  # noqa: F401  (the stand-in)\n")
    # Start from a venv without the book's package, so every chapter's first cell installs it.
    subprocess.run([str(python), "-m", "pip", "uninstall", "-q", "-y", "scratchcnn"], check=False,
                   capture_output=True)  # fmt: skip
    before = freeze(python)
    print(
        "the venv has:",
        ", ".join(f"{n} {before[n]}" for n in ("numpy", "scipy", "matplotlib", "scikit-learn")),
    )

    copies = out / "copies"
    if copies.exists():
        shutil.rmtree(copies)
    spec = f"scratchcnn @ {ROOT.as_uri()}"
    chapters = [a for c in (args.chapter or []) for a in ("--chapter", c)]
    run([sys.executable, "-m", "scratchcnn.reader_copy", str(ROOT / "notebooks"), str(copies),
         "--install-spec", spec, *chapters])  # fmt: skip

    env = dict(
        os.environ,
        IPYTHONDIR=str(ipython_dir),
        SCRATCHCNN_DATA=os.environ.get("SCRATCHCNN_DATA", "offline"),
    )
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    runner = (
        "import sys, time, nbformat, nbclient\n"
        "nb = nbformat.read(sys.argv[1], as_version=4)\n"
        "start = time.perf_counter()\n"
        "nbclient.NotebookClient(nb, timeout=900, kernel_name='python3',\n"
        "    resources={'metadata': {'path': sys.argv[2]}}).execute()\n"
        "first = next(c for c in nb.cells if c.cell_type == 'code')\n"
        "printed = ''.join(o.get('text', '') for o in first.outputs)\n"
        # This machine's pip configuration names local index folders that do not exist; pip
        # warns about each. Colab has no such configuration: those lines are not the cell's.
        "import re\n"
        "printed = re.sub(r'(\\x1b\\[[0-9;]*m)?WARNING: Location .file://\\S+ is ignored: it is neither a file nor a directory\\.(\\x1b\\[0m)?\\r?\\n', '', printed)\n"
        "nbformat.write(nb, sys.argv[1])\n"
        "print(f'{time.perf_counter() - start:.1f} {len(nb.cells)} {len(printed)}')\n"
    )
    failures = []
    work = out / "run"
    work.mkdir(parents=True, exist_ok=True)
    installed_once = False
    for path in sorted(copies.glob("*.ipynb")):
        proc = subprocess.run([str(python), "-c", runner, str(path), str(work)], env=env,
                              capture_output=True, text=True)  # fmt: skip
        if proc.returncode:
            failures.append(path.stem)
            print(f"FAILED {path.stem}:\n{proc.stderr[-3000:]}")
            continue
        seconds, cells, printed = proc.stdout.split()[-3:]
        note = "" if printed == "0" else f", its install cell printed {printed} characters"
        print(f"ran {path.stem}: {seconds} s, {cells} cells{note}")
        if printed != "0":
            failures.append(f"{path.stem} (install cell not quiet)")
        installed_once = True
    after = freeze(python)
    changed = {n: (before[n], after[n]) for n in before if n in after and before[n] != after[n]}
    removed = sorted(set(before) - set(after))
    added = sorted(set(after) - set(before))
    print("the install added:", ", ".join(f"{n} {after[n]}" for n in added) or "nothing")
    if changed or removed:
        failures.append(f"packages changed {changed}, removed {removed}")
        print("CHANGED:", changed, "REMOVED:", removed)
    if not installed_once or "scratchcnn" not in after:
        failures.append("the install cell never installed scratchcnn")
    print(
        "colab-check:",
        "FAILED " + "; ".join(failures)
        if failures
        else "every reader copy ran; nothing Colab ships was changed",
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
