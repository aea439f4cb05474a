"""A folder the reader names: the four idx files, ``.gz`` or not, there or up to two levels down.

torchvision leaves ``root/MNIST/raw`` and ``root/FashionMNIST/raw``; Kaggle downloads spell the
files ``train-images.idx3-ubyte``. All four files must come from one folder. When several
folders below hold a complete set, the one named for the data set (``DatasetSpec.folder_names``)
is taken; a set in a folder named for another registered data set is never taken for this one;
anything still ambiguous is refused with the candidates listed. Every file is then checked
strictly (:func:`~scratchcnn.data.dataset.validate`): uint8 images of the data set's size,
integer labels in range, matching counts, naming the file that is wrong.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .cache import read_file
from .dataset import Dataset, Unavailable, make_dataset, validate
from .registry import DATASETS, ROLES, DatasetSpec, idx_digest

__all__ = ["find_idx_files", "from_folder", "from_local_folder"]


def _stems(role: str, ndim: int) -> list[str]:
    names = [f"{role}-idx{ndim}-ubyte", f"{role}.idx{ndim}-ubyte"]
    return [n for stem in names for n in (stem, stem + ".gz")]  # plain before .gz


def _sets(folder: Path) -> dict[Path, dict[str, Path]]:
    """Folder -> {role: file} for ``folder`` and every folder up to two levels below it."""
    dirs = [folder] + sorted(p for p in folder.glob("*") if p.is_dir())
    dirs += sorted(p for p in folder.glob("*/*") if p.is_dir())
    found: dict[Path, dict[str, Path]] = {}
    for d in dirs:
        roles = {}
        for role, ndim in ROLES:
            for name in _stems(role, ndim):
                if (d / name).is_file():
                    roles[role] = d / name
                    break
        if roles:
            found[d] = roles
    return found


def _named(path: Path, folder: Path, spec: DatasetSpec) -> bool:
    names = {n.lower() for n in (*spec.folder_names, spec.key, spec.name)}
    return any(part.lower() in names for part in path.relative_to(folder).parts)


def _describe(folder: Path, d: Path) -> str:
    return str(d.relative_to(folder)) if d != folder else "."


def find_idx_files(spec: DatasetSpec, folder: Path) -> list[Path]:
    """The four idx files of ``spec`` in ``folder`` (or one or two levels below), from ONE folder."""
    sets = _sets(folder)
    roles = [role for role, _ in ROLES]
    complete = [d for d, r in sets.items() if len(r) == len(ROLES)]
    others = [s for s in DATASETS.values() if s.key != spec.key]
    if folder in complete:
        return [sets[folder][r] for r in roles]
    ours = [d for d in sets if _named(d, folder, spec)]
    foreign = {
        d: s for d in sets for s in others if _named(d, folder, s) and not _named(d, folder, spec)
    }
    ours_complete = [d for d in ours if d in complete]
    if len(ours_complete) == 1:
        return [sets[ours_complete[0]][r] for r in roles]
    if len(ours_complete) > 1:
        raise ValueError(
            f"{folder} holds {spec.name}'s files in several folders: "
            f"{', '.join(_describe(folder, d) for d in ours_complete)}. Pass the one you mean."
        )
    if ours:  # a folder named for this data set, but incomplete: say what it lacks
        d = ours[0]
        missing = [f"{role}-idx{ndim}-ubyte[.gz]" for role, ndim in ROLES if role not in sets[d]]
        raise FileNotFoundError(
            f"{d} (the {spec.name} folder in {folder}) does not hold the idx files {', '.join(missing)}. "
            "The four files must be in one folder; files of another data set beside it are not used."
        )
    neutral = [d for d in complete if d not in foreign]
    if len(neutral) == 1:
        return [sets[neutral[0]][r] for r in roles]
    if len(neutral) > 1:
        raise ValueError(
            f"{folder} holds a set of idx files in several folders ({', '.join(_describe(folder, d) for d in neutral)}) "
            f"and none is named for {spec.name} ({', '.join(spec.folder_names or (spec.name,))}). Pass the one you mean."
        )
    if foreign:
        d, other = next(iter(foreign.items()))
        raise ValueError(
            f"{folder} holds no {spec.name} files, only {other.name}'s (in {_describe(folder, d)}). Load "
            f"them with {other.call(str(folder))}, or pass a folder holding {spec.name}'s four idx files."
        )
    best = max(sets.values(), key=len) if sets else {}
    missing = [f"{role}-idx{ndim}-ubyte[.gz]" for role, ndim in ROLES if role not in best]
    present = sorted(p.name for p in folder.iterdir())[:12]
    raise FileNotFoundError(
        f"{folder} does not hold the idx files {', '.join(missing)} (also looked one and two "
        f"levels down). It holds: {', '.join(present) or 'nothing'}. Put the four files "
        "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and "
        "t10k-labels-idx1-ubyte (.gz or not) there, as torchvision's MNIST/raw or Kaggle "
        "leave them."
    )


def from_folder(spec: DatasetSpec, folder: Path, sources: tuple[str, ...] = ()) -> Dataset:
    folder = folder.expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder} is not a folder; pass a folder holding the four {spec.name} idx files"
            + (f" or one of {', '.join(map(repr, sources))}" if sources else "")
        )
    paths = find_idx_files(spec, folder)
    arrays = [read_file(spec, p, i) for i, p in enumerate(paths)]
    where = [str(paths[0]), paths[1].name if paths[1].parent == paths[0].parent else str(paths[1]),
             str(paths[2]), paths[3].name if paths[3].parent == paths[2].parent else str(paths[3])]  # fmt: skip
    arrays = validate(spec, arrays, where)
    how = f"read from {folder}"
    other = identify_other(spec, arrays)
    if other is not None:  # e.g. Fashion-MNIST passed as the MNIST stand-in: say what it is
        how += f" (these are {other.name}'s files, by their content digests: not {spec.name})"
    return make_dataset(spec, arrays, "folder", how)


def identify_other(spec: DatasetSpec, arrays) -> DatasetSpec | None:
    """The other registered data set whose recorded digests the arrays match, if any.

    Only the two label files are hashed (70 KB): enough to tell registered data sets apart.
    """
    labels = {spec.files[1]: arrays[1], spec.files[3]: arrays[3]}
    digests = {name: idx_digest(np.asarray(a)) for name, a in labels.items()}
    for other in DATASETS.values():
        if other.key == spec.key or not other.content_sha256:
            continue
        if all(other.content_sha256.get(name) == digest for name, digest in digests.items()):
            return other
    return None


def from_local_folder(spec: DatasetSpec, folder: Path) -> Dataset:
    """A copy installed on the machine (Debian's package): :class:`Unavailable` if not usable."""
    if not folder.is_dir():
        raise Unavailable([(f"local copy {folder}", "not installed")])
    try:
        return from_folder(spec, folder)
    except (OSError, ValueError) as err:
        raise Unavailable([(f"local copy {folder}", str(err))]) from None
