"""The ``"download"`` source: each missing file from every mirror in turn, verified, into the cache."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from .cache import check_file, from_cache
from .dataset import Dataset, Unavailable, make_dataset
from .net import fetch, remove_stale_parts
from .registry import DatasetSpec

__all__ = ["from_download"]


def from_download(
    spec: DatasetSpec, folder: Path, mirrors: tuple[str, ...], timeout: float, deadline: float
) -> Dataset:
    """Fill ``folder`` with ``spec``'s files (those not there and verified already) and read it.

    A cached file whose MD5 differs but whose content is valid is kept (a reader's own copy); one
    proven corrupt is removed before the download, and the report says so even if every mirror
    then fails.
    """
    if not mirrors:
        raise Unavailable([("download", "no mirrors given")])
    remove_stale_parts(folder)
    attempts: list[tuple[str, str]] = []
    dead: dict[str, str] = {}  # mirror -> why it could not be reached
    hosts: list[str] = []
    for index, name in enumerate(spec.files):
        target = folder / name
        if target.is_file():
            verdict, _, how = check_file(spec, target, index)
            if verdict != "corrupt":
                continue
            target.unlink(missing_ok=True)
            attempts.append((f"cache {folder}", f"{name} was corrupt ({how}); removed it"))
        for mirror in mirrors:
            url = mirror + name
            if mirror in dead:
                attempts.append((url, f"not tried: {dead[mirror]} a moment ago"))
                continue
            reason, unreachable = fetch(url, target, spec.md5[name], timeout=timeout, deadline=deadline,
                                        max_bytes=spec.max_bytes(index))  # fmt: skip
            if reason is None:
                hosts.append(urlsplit(mirror).hostname or mirror)
                break
            attempts.append((url, reason))
            if unreachable:
                dead[mirror] = reason
        else:
            raise Unavailable(attempts)
    data = from_cache(spec, folder)
    if not hosts:
        return data
    where = ", ".join(dict.fromkeys(hosts))
    return make_dataset(spec, (data.X_train, data.y_train, data.X_test, data.y_test), "download",
                        f"downloaded from {where} into {folder}", note=data.note)  # fmt: skip
