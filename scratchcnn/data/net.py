"""All the network code: DNS lookups with a time limit, and one verified download of one file.

A download (:func:`fetch`) is bounded three ways: each connection and read by ``timeout``
seconds, the whole file by ``deadline`` seconds (a server trickling a byte a second is cut off
in the end), and its size by ``max_bytes`` (a server sending a 64 MiB stream for a 47 KB file is
stopped at the cap, or refused outright when it announces the length). It streams into a
temporary file in the target's folder named ``.<file>.<host>-<pid>-<random>.part``, checks the
MD5, and renames it into place only when complete and verified, so an interrupted or corrupt
transfer never leaves a file under the real name, and two processes filling one cache never
see each other's half-written files. A process killed mid-download (a kernel restart) leaves
its ``.part`` file behind; :func:`remove_stale_parts` deletes those whose process is gone.

Only the standard library is used (``urllib``), with certifi's certificates when installed.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import secrets
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["resolve", "fetch", "socket_timeout", "remove_stale_parts", "part_name"]

CHUNK = 1 << 16
STALE_AFTER = 3600.0  # seconds: a temporary file older than this is stale whoever wrote it
_HOST = re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname())[:40] or "host"
_PART = re.compile(r"^\.(?P<file>.+)\.(?P<host>[A-Za-z0-9_]*)-(?P<pid>\d+)-[0-9a-f]{8}\.part$")
_POOCH_TMP = re.compile(r"^tmp[a-z0-9_]{8}$")  # what earlier versions (pooch's tempfile) left


def resolve(host: str, seconds: float) -> str | None:
    """None if ``host`` resolves within ``seconds``, else why not.

    Timeouts given to urllib do not cover the DNS lookup, which can hang for minutes on a
    machine without network; running it in a thread bounds the wait.
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


@contextlib.contextmanager
def socket_timeout(seconds: float | None):
    """Bound urllib's connects and reads where the caller passes no timeout (scikit-learn's
    fetch_openml)."""
    if seconds is None:
        yield
        return
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def part_name(target: Path) -> Path:
    """A fresh temporary name beside ``target`` that says which process on which host wrote it."""
    return target.with_name(f".{target.name}.{_HOST}-{os.getpid()}-{secrets.token_hex(4)}.part")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name == "nt":  # os.kill would terminate the process there: rely on the age alone
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, under another user
        return True
    return True


def remove_stale_parts(folder: Path) -> list[str]:
    """Delete temporary download files in ``folder`` whose writer is gone; return their names.

    A ``.part`` file written on this host by a process that no longer runs is stale at once;
    any temporary file (also the ``tmpXXXXXXXX`` files earlier versions left) older than
    ``STALE_AFTER`` seconds is stale whoever wrote it. Files of running downloads stay.
    """
    removed = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    now = time.time()
    for path in entries:
        match = _PART.match(path.name)
        if match is None and not _POOCH_TMP.match(path.name):
            continue
        try:
            age = now - path.stat().st_mtime
            dead = match is not None and match["host"] == _HOST and not _alive(int(match["pid"]))
            if (dead or age > STALE_AFTER) and path.is_file():
                path.unlink()
                removed.append(path.name)
        except OSError:  # gone already (another process cleaned it), or not ours to delete
            continue
    return removed


def _ssl_context() -> ssl.SSLContext:
    try:
        import certifi
    except ImportError:  # pragma: no cover - certifi comes with requests, which most installs have
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())


def _reason(err: BaseException, seconds: float) -> tuple[str, bool]:
    """A short reason for a failed request, and whether the server could not be reached at all."""
    if isinstance(err, urllib.error.HTTPError):
        if 300 <= err.code < 400:
            return f"HTTP {err.code}: a redirect loop or too many redirects", False
        return f"HTTP {err.code} {err.reason}", False
    if isinstance(err, urllib.error.URLError):
        inner = err.reason
        if isinstance(inner, (TimeoutError, socket.timeout)):
            return f"no connection within {seconds:g} s", True
        if isinstance(inner, ssl.SSLError):
            return f"the secure connection failed ({inner})", True
        if isinstance(inner, OSError) and inner.errno is not None:
            return f"could not connect ([Errno {inner.errno}] {inner.strerror})", True
        return f"could not connect ({inner})", True
    if isinstance(err, (TimeoutError, socket.timeout)):
        return f"the server sent nothing for {seconds:g} s", False
    if isinstance(err, (http.client.HTTPException, ConnectionError)):
        return "the connection broke off in the middle of the file", False
    text = str(err)
    return f"{type(err).__name__}: {text if len(text) < 200 else text[:197] + '...'}", False


def fetch(
    url: str, target: Path, md5: str, *, timeout: float, deadline: float, max_bytes: int
) -> tuple[str | None, bool]:
    """Download ``url`` to ``target`` if its MD5 is ``md5``.

    Returns ``(None, False)`` on success, else ``(reason, unreachable)``, where ``unreachable``
    means the server could not be reached at all (so its other files need not be tried).
    """
    start = time.monotonic()
    host = urlsplit(url).hostname or url
    problem = resolve(host, min(timeout, deadline))
    if problem:
        return problem, True
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        return f"could not create the cache folder {target.parent}: {err}", False
    part = part_name(target)
    got = 0
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "scratchcnn (urllib)"})
        context = _ssl_context()  # also for http: a mirror may redirect to https
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            announced = response.headers.get("Content-Length")
            length = int(announced) if announced and announced.isdigit() else None
            if length is not None and length > max_bytes:
                return (
                    f"the server announced {length:,} bytes, more than the {max_bytes:,} this file can "
                    "take; did not download it"
                ), False
            digest = hashlib.md5(usedforsecurity=False)  # integrity against the published MD5s
            with open(part, "wb") as out:
                while True:
                    if time.monotonic() - start > deadline:
                        return (
                            f"the download did not finish within {deadline:g} s ({got:,} bytes "
                            "arrived); gave up"
                        ), False
                    chunk = response.read1(
                        CHUNK
                    )  # whatever has arrived: the deadline is checked often
                    if not chunk:
                        break
                    got += len(chunk)
                    if got > max_bytes:
                        return (
                            f"the server sent more than {max_bytes:,} bytes, more than this file can "
                            "take; stopped and discarded it"
                        ), False
                    digest.update(chunk)
                    out.write(chunk)
            if length is not None and got < length:
                return (
                    f"the connection broke off in the middle of the file ({got:,} of {length:,} bytes)",
                    False,
                )
        actual = digest.hexdigest()
        if actual != md5:
            return f"corrupt download: MD5 is not {md5} but {actual}; discarded it", False
        os.replace(part, target)
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError) as err:
        return _reason(err, timeout)
    except OSError as err:  # the cache folder is not writable, the disk is full, ...
        return f"could not write to {target.parent}: {err}", False
    finally:
        with contextlib.suppress(OSError):
            part.unlink(missing_ok=True)
    print(f"Downloaded {target.name} ({got / 1e6:.1f} MB) from {host}")
    return None, False
