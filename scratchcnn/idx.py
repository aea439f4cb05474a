"""Read and write the idx format that MNIST and Fashion-MNIST are published in.

An idx file is a tiny header followed by raw big-endian numbers::

    bytes 0-1   0x00 0x00                      the magic number's zero bytes
    byte  2     dtype code                     0x08 uint8, 0x09 int8, 0x0B int16,
                                               0x0C int32, 0x0D float32, 0x0E float64
    byte  3     number of dimensions d
    4 * d       the size of each dimension     big-endian uint32
    the rest    prod(sizes) numbers            row-major, big-endian

``train-images-idx3-ubyte`` is therefore ``00 00 08 03``, then 60000, 28, 28, then
47,040,000 pixels. Files may be gzip-compressed (``.gz``, recognised by their content, not
their name).

Public API:

- :func:`read_idx` ``(path, expected_ndim=None, *, max_shape=None, dtypes=None) -> np.ndarray``:
  checks the magic number, the dtype code, the number of dimensions, the declared shape against
  ``max_shape`` (before decompressing anything) and that the data is exactly as long as the
  header says, and raises :class:`IdxError` (a ``ValueError``) naming the file otherwise.
- :func:`write_idx` ``(path, array)``: the inverse, used by the tests and handy for exercises.
- :class:`IdxError`: a file that is not a valid idx file (truncated, corrupt, wrong format).

No pickle anywhere: the format is plain numbers.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

__all__ = ["IdxError", "read_idx", "write_idx", "IDX_DTYPES"]

# dtype code (byte 2 of the header) -> NumPy dtype as stored in the file (big-endian).
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"
# Deflate cannot compress better than about 1032:1, so a .gz file of n bytes cannot hold
# more than ~1032 n bytes of data. A header that claims more is corrupt (and reading it
# would allocate memory for nothing).
_MAX_GZIP_RATIO = 1100
_WHAT_TO_DO = (
    "Delete it and get a fresh copy (scratchcnn.data.load_mnist('download') downloads and "
    "verifies the official files)."
)


class IdxError(ValueError):
    """A file that is not a valid idx file: wrong magic number, truncated, or corrupt."""


def _fail(path: Path, problem: str) -> IdxError:
    return IdxError(f"{path} is not a valid idx file: {problem}. {_WHAT_TO_DO}")


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == _GZIP_MAGIC


def _read_exactly(stream, n: int) -> bytes:
    data = stream.read(n)
    return data if data is not None else b""


def read_idx(
    path: str | os.PathLike,
    expected_ndim: int | None = None,
    *,
    max_shape: tuple[int, ...] | None = None,
    dtypes=None,
) -> np.ndarray:
    """Read an idx file (plain or gzip-compressed) into a writable native-endian array.

    ``expected_ndim`` (3 for images, 1 for labels) turns a file of the wrong kind into a
    clear error instead of a surprise later. ``max_shape`` caps every dimension the header
    declares and ``dtypes`` (NumPy dtypes, e.g. ``["u1"]``) the kinds of number it may hold:
    both are checked on the header, before anything is decompressed or allocated, so a small
    gzip file that would expand into gigabytes is refused at once. Raises :class:`IdxError`
    naming the file if the header is wrong or the data is shorter or longer than the header
    says, and ``FileNotFoundError`` if there is no such file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No idx file at {path}")
    compressed = _is_gzip(path)
    opener = gzip.open if compressed else open
    try:
        with opener(path, "rb") as f:
            header = _read_exactly(f, 4)
            if len(header) < 4:
                raise _fail(path, f"it is only {len(header)} bytes long, shorter than a header")
            zero, code, ndim = header[:2], header[2], header[3]
            if zero != b"\x00\x00":
                raise _fail(
                    path,
                    f"the magic number starts with bytes {zero.hex(' ')}, expected 00 00 "
                    f"(whole magic number {header.hex(' ')})",
                )
            if code not in IDX_DTYPES:
                known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
                raise _fail(path, f"unknown dtype code 0x{code:02X} (known: {known})")
            if ndim == 0:
                raise _fail(path, "the header says the data has 0 dimensions")
            if expected_ndim is not None and ndim != expected_ndim:
                raise _fail(path, f"it holds {ndim}-dimensional data, expected {expected_ndim}")
            if max_shape is not None and ndim != len(max_shape):
                raise _fail(path, f"it holds {ndim}-dimensional data, expected {len(max_shape)}")
            allowed_dtypes = (
                None if dtypes is None else [np.dtype(d).newbyteorder("=") for d in dtypes]
            )
            if (
                allowed_dtypes is not None
                and IDX_DTYPES[code].newbyteorder("=") not in allowed_dtypes
            ):
                allowed = " or ".join(map(str, allowed_dtypes))
                raise _fail(
                    path,
                    f"it holds {IDX_DTYPES[code].newbyteorder('=')} numbers (dtype code 0x{code:02X}), expected {allowed}",
                )
            size_bytes = _read_exactly(f, 4 * ndim)
            if len(size_bytes) < 4 * ndim:
                raise _fail(path, f"the header is cut off inside the {ndim} dimension sizes")
            shape = struct.unpack(f">{ndim}I", size_bytes)
            dtype = IDX_DTYPES[code]
            n_bytes = math.prod(shape) * dtype.itemsize
            if max_shape is not None and any(s > m for s, m in zip(shape, max_shape, strict=False)):
                raise _fail(
                    path,
                    f"the header declares shape {shape} ({n_bytes:,} bytes), larger than the at most "
                    f"{tuple(max_shape)} this file can hold; nothing was decompressed",
                )
            on_disk = path.stat().st_size
            if not compressed and n_bytes != on_disk - 4 - 4 * ndim:
                raise _fail(
                    path,
                    f"the header promises shape {shape} ({n_bytes:,} bytes of data) but the "
                    f"file holds {on_disk - 4 - 4 * ndim:,} bytes after the header",
                )
            if compressed and n_bytes > _MAX_GZIP_RATIO * on_disk:
                raise _fail(
                    path,
                    f"the header promises shape {shape} ({n_bytes:,} bytes), more than a "
                    f"{on_disk:,}-byte gzip file can hold",
                )
            out = np.empty(shape, dtype=dtype)  # filled in place: no second copy in memory
            got = f.readinto(memoryview(out).cast("B")) if n_bytes else 0
            if got != n_bytes:
                raise _fail(
                    path,
                    f"it is truncated: the header promises shape {shape} ({n_bytes:,} bytes) "
                    f"but only {got:,} bytes follow",
                )
            if f.read(1):  # also makes gzip check its CRC at the end of the stream
                raise _fail(path, f"there is data after the {n_bytes:,} bytes of shape {shape}")
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise _fail(path, f"the gzip stream is truncated or corrupt ({err})") from None
    return out.astype(dtype.newbyteorder("="), copy=False)


def write_idx(path: str | os.PathLike, array) -> Path:
    """Write ``array`` as an idx file, gzip-compressed when ``path`` ends in ``.gz``.

    The array's dtype must be one the format knows (uint8, int8, int16, int32, float32,
    float64); every dimension must fit in 32 bits.
    """
    path = Path(path)
    array = np.asarray(array)
    codes = {dt.newbyteorder("="): code for code, dt in IDX_DTYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        raise TypeError(
            f"write_idx cannot store dtype {array.dtype}; convert to one of "
            "uint8, int8, int16, int32, float32, float64 first"
        )
    if array.ndim == 0 or array.ndim > 255 or any(s >= 2**32 for s in array.shape):
        raise ValueError(
            f"write_idx needs 1 to 255 dimensions below 2**32, got shape {array.shape}"
        )
    code = codes[native]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    # mtime=0 makes the .gz bytes (and so their checksum) identical on every run.
    data = gzip.compress(header + payload, mtime=0) if path.suffix == ".gz" else header + payload
    path.write_bytes(data)
    return path
