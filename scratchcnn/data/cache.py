"""The cache: ``data_home/<key>/`` holding a data set's four files, verified before use.

A cached file is good if its MD5 is the official one, or, when it differs byte for byte (a copy
the reader re-compressed or decompressed, as the setup guide allows), if its content is: a
valid idx file of exactly the full data set's shape with labels in range, and, when the
registry records it, the same SHA-256 of the decompressed data. Only a file proven corrupt (not
readable, wrong shape, wrong content) is deleted, and the message says so. Stale temporary
files of killed downloads are cleaned on every call.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from ..idx import IdxError, read_idx
from .dataset import Dataset, Unavailable, make_dataset, validate
from .net import remove_stale_parts
from .registry import DatasetSpec, idx_digest

__all__ = [
    "DATA_HOME_ENV",
    "DEFAULT_DATA_HOME",
    "get_data_home",
    "md5_of",
    "check_file",
    "read_file",
    "from_cache",
    "is_cached",
]

DATA_HOME_ENV = "SCRATCHCNN_DATA_HOME"
DEFAULT_DATA_HOME = "~/.cache/scratchcnn"

LABEL_DTYPES = ("u1", "i1", ">i2", ">i4")  # class labels: any integer the idx format has


def get_data_home(data_home: str | os.PathLike | None = None) -> Path:
    """The cache folder: ``data_home`` if given, else ``$SCRATCHCNN_DATA_HOME``, else
    ``~/.cache/scratchcnn``. Nothing is created until something is downloaded."""
    chosen = data_home if data_home is not None else os.environ.get(DATA_HOME_ENV) or None
    return Path(chosen if chosen is not None else DEFAULT_DATA_HOME).expanduser()


def md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)  # integrity against the published MD5s
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_file(spec: DatasetSpec, path: Path, index: int) -> np.ndarray:
    """File ``index`` (0..3) of ``spec`` read from ``path``, the header checked against the full
    data set's shape and the right kind of number before anything is decompressed."""
    full = spec.full_shape(index)
    if index % 2 == 0:
        return read_idx(path, len(full), max_shape=full, dtypes=("u1",))
    try:
        return read_idx(path, len(full), max_shape=full, dtypes=LABEL_DTYPES)
    except IdxError as err:
        if "numbers (dtype code" not in str(err):
            raise
        raise IdxError(
            f"{err} Class labels are whole numbers 0..{spec.n_classes - 1}: a float labels file can hold "
            "NaN or fractions such as 1.5, which are no class."
        ) from None


def check_file(spec: DatasetSpec, path: Path, index: int) -> tuple[str, np.ndarray | None, str]:
    """Verdict on one cached file: ``("md5", None, "")`` when its MD5 is the official one,
    ``("content", array, how)`` when its bytes differ but its content is the data set's,
    ``("corrupt", None, why)`` when it is proven not to be."""
    name = spec.files[index]
    if md5_of(path) == spec.md5[name]:
        return "md5", None, ""
    try:
        array = read_file(spec, path, index)
        if array.shape != spec.full_shape(index):
            raise ValueError(
                f"shape {array.shape}, expected {spec.full_shape(index)} for the full {spec.name}"
            )
        if index % 2 == 1 and array.size and (array.min() < 0 or array.max() >= spec.n_classes):
            raise ValueError(
                f"labels {array.min()}..{array.max()}, expected 0..{spec.n_classes - 1}"
            )
    except (IdxError, ValueError) as err:
        return (
            "corrupt",
            None,
            f"MD5 is not {spec.md5[name]} and it is not a valid copy ({_short(err, path)})",
        )
    expected = spec.content_sha256.get(name)
    if expected is not None:
        actual = idx_digest(array)
        if actual != expected:
            return (
                "corrupt",
                None,
                (
                    f"MD5 is not {spec.md5[name]}, and its data is not the official {spec.name} data "
                    f"(SHA-256 of the decompressed data {actual[:16]}..., expected {expected[:16]}...)"
                ),
            )
        return "content", array, "a re-compressed copy whose data matches the official SHA-256"
    return (
        "content",
        array,
        (
            f"differs from the official file byte for byte (MD5 is not {spec.md5[name]}) but is a valid idx "
            "file of the right shape and labels"
        ),
    )


def _short(err: Exception, path: Path) -> str:
    text = str(err).replace(f"{path} is not a valid idx file: ", "")
    return text.split(". Delete it")[0]


def from_cache(spec: DatasetSpec, folder: Path) -> Dataset:
    """The data set from ``folder``; :class:`Unavailable` says why not (a corrupt file is removed)."""
    remove_stale_parts(folder)
    missing = [f for f in spec.files if not (folder / f).is_file()]
    if missing:
        why = "empty" if len(missing) == len(spec.files) else f"missing {', '.join(missing)}"
        raise Unavailable([(f"cache {folder}", f"not there ({why})")])
    arrays, notes = [], {}
    for index, name in enumerate(spec.files):
        verdict, array, how = check_file(spec, folder / name, index)
        if verdict == "corrupt":
            (folder / name).unlink(missing_ok=True)
            raise Unavailable([(f"cache {folder}", f"{name} was corrupt ({how}); removed it")])
        if verdict == "content":
            notes.setdefault(how, []).append(name)
        arrays.append(array)
    note = "; ".join(f"{', '.join(names)}: {how}" for how, names in notes.items())
    try:
        arrays = [
            a if a is not None else read_file(spec, folder / f, i)
            for i, (f, a) in enumerate(zip(spec.files, arrays, strict=False))
        ]
        arrays = validate(spec, arrays, [str(folder / f) for f in spec.files])
    except (IdxError, ValueError) as err:
        # The official checksums matched, so the data set's recorded MD5s themselves are wrong
        # (or a test's); removing the files lets a download replace them.
        for f in spec.files:
            (folder / f).unlink(missing_ok=True)
        raise Unavailable([(f"cache {folder}", f"unreadable, removed it ({err})")]) from None
    return make_dataset(spec, arrays, "cache", f"from the cache in {folder}", note=note)


def is_cached(spec: DatasetSpec, folder: Path) -> bool:
    """Whether ``folder`` holds the four files, verified by checksum or by content (nothing is removed)."""
    return all(
        (folder / f).is_file() and check_file(spec, folder / f, i)[0] != "corrupt"
        for i, f in enumerate(spec.files)
    )
