"""Choosing the source: ``load(name, source=...)``, the ``"auto"`` chain and its one report."""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from .cache import from_cache, get_data_home
from .dataset import DataFallbackWarning, Dataset, DataUnavailableError, Unavailable
from .download import from_download
from .folder import from_folder, from_local_folder
from .openml import from_openml
from .registry import DatasetSpec, get_spec
from .sample import from_sample

__all__ = [
    "DATA_ENV",
    "SOURCES",
    "AUTO_TIMEOUT",
    "DOWNLOAD_TIMEOUT",
    "AUTO_DEADLINE",
    "DOWNLOAD_DEADLINE",
    "load",
]

DATA_ENV = "SCRATCHCNN_DATA"
SOURCES = ("auto", "offline", "cache", "download", "openml", "sample")
AUTO_TIMEOUT = 5.0  # seconds per DNS lookup / connect / read in "auto"
DOWNLOAD_TIMEOUT = 30.0  # the same for an explicit "download"
AUTO_DEADLINE = 300.0  # seconds for the whole of one file in "auto"
DOWNLOAD_DEADLINE = 1800.0  # the same for an explicit "download" (47 MB at 26 kB/s)

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _parse_source(source, where: str = "source") -> str | Path:
    if isinstance(source, os.PathLike):
        return Path(source)
    if not isinstance(source, str):
        raise TypeError(f"{where} must be a string or a path, got {type(source).__name__}")
    if source in SOURCES:
        return source
    if os.sep in source or "/" in source or source.startswith(("~", ".")) or Path(source).exists():
        return Path(source)
    raise ValueError(
        f"{where} must be one of {', '.join(map(repr, SOURCES))} or a folder holding the idx "
        f"files; got {source!r}"
    )


def _mirror_list(mirrors: Sequence[str] | None, default: Sequence[str]) -> tuple[str, ...]:
    chosen = default if mirrors is None else mirrors
    if isinstance(chosen, (str, bytes)):
        raise TypeError(f"mirrors must be a list of base URLs, got the single string {chosen!r}")
    return tuple(m if m.endswith("/") else m + "/" for m in chosen)


def _seconds(value, name: str, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


class _Request:
    def __init__(self, spec: DatasetSpec, home: Path, mirrors, timeout, deadline):
        self.spec, self.home = spec, home
        self.mirrors = _mirror_list(mirrors, spec.mirrors)
        self.timeout, self.deadline = timeout, deadline

    @property
    def cache(self) -> Path:
        return self.home / self.spec.key

    def download(self, auto: bool) -> Dataset:
        timeout = _seconds(self.timeout, "timeout", AUTO_TIMEOUT if auto else DOWNLOAD_TIMEOUT)
        deadline = _seconds(self.deadline, "deadline", AUTO_DEADLINE if auto else DOWNLOAD_DEADLINE)
        return from_download(self.spec, self.cache, self.mirrors, timeout, deadline)

    def openml(self, auto: bool) -> Dataset:
        timeout = _seconds(self.timeout, "timeout", AUTO_TIMEOUT if auto else DOWNLOAD_TIMEOUT)
        return from_openml(self.spec, self.home, timeout, auto)


def load(
    name: str | DatasetSpec,
    source: str | os.PathLike = "auto",
    data_home: str | os.PathLike | None = None,
    *,
    mirrors: Sequence[str] | None = None,
    timeout: float | None = None,
    deadline: float | None = None,
) -> Dataset:
    """Load the registered data set ``name`` (``"mnist"``, ``"fashion-mnist"``, ``"kmnist"``, ...)
    from ``source``; see :mod:`scratchcnn.data` for the sources.

    ``mirrors`` replaces the spec's mirrors (base URLs, tried in order); ``timeout`` (seconds, for
    each DNS lookup, connection and read) replaces ``AUTO_TIMEOUT`` / ``DOWNLOAD_TIMEOUT``;
    ``deadline`` (seconds for the whole of one file) replaces ``AUTO_DEADLINE`` /
    ``DOWNLOAD_DEADLINE``.
    """
    spec = get_spec(name)
    req = _Request(spec, get_data_home(data_home), mirrors, timeout, deadline)
    choice = _parse_source(source)
    note = ""
    if choice == "auto":
        env = os.environ.get(DATA_ENV, "").strip()
        if env and env != "auto":
            choice = _parse_source(env, where=f"the environment variable {DATA_ENV}")
            note = f"chosen by {DATA_ENV}={env}"
            if choice == "sample" and not spec.has_sample:
                choice = "offline"  # no sample exists: "sample" then means "no network"
                note = f"{DATA_ENV}={env} keeps it offline; {spec.name} has no sample"
    if isinstance(choice, Path):
        return _with_note(from_folder(spec, choice, SOURCES), note)
    if choice == "sample":
        if not spec.has_sample:
            raise ValueError(
                f"{spec.name} has no bundled sample. Use source='auto' (cache, local "
                "copies, download, OpenML) or a folder holding its four idx files."
            )
        return _with_note(from_sample(spec), note)
    single = {
        "cache": lambda: from_cache(spec, req.cache),
        "download": lambda: req.download(auto=False),
        "openml": lambda: req.openml(auto=False),
    }
    if choice in single:
        try:
            return _with_note(single[choice](), note)
        except Unavailable as err:
            raise DataUnavailableError(_report(req, err.attempts, None)) from None
    return _auto(req, network=(choice == "auto"), note=note)


def _with_note(data: Dataset, note: str) -> Dataset:
    if not note:
        return data
    return replace(data, note="; ".join(n for n in (note, data.note) if n))


def _caller_stacklevel() -> int:
    """The stacklevel that points a warning at the first frame outside this package."""
    level, frame = 1, sys._getframe(1)
    while (
        frame is not None
        and os.path.dirname(os.path.abspath(frame.f_code.co_filename)) == _PACKAGE_DIR
    ):
        frame, level = frame.f_back, level + 1
    return level


def _auto(req: _Request, network: bool, note: str) -> Dataset:
    """Cache, local copies, then (when ``network``) download and OpenML, then the sample."""
    spec = req.spec
    attempts: list[tuple[str, str]] = []
    steps = [lambda: from_cache(spec, req.cache)]
    steps += [lambda f=f: from_local_folder(spec, Path(f)) for f in spec.local_folders]
    if network:
        steps += [lambda: req.download(auto=True)]
        if spec.openml is not None:
            steps += [lambda: req.openml(auto=True)]
    for step in steps:
        try:
            return _with_note(step(), note)
        except Unavailable as err:
            attempts += err.attempts
    if not spec.has_sample:
        raise DataUnavailableError(_report(req, attempts, None))
    sample = from_sample(spec)
    if not network:  # "offline": the sample is the expected outcome, not an accident
        removed = [f"{what}: {why}" for what, why in attempts if "removed it" in why]
        if removed:  # never silently: a file was deleted on the way
            warnings.warn(
                f"Loaded the {sample.source}, because the cached {spec.name} could not be used:\n  - "
                + "\n  - ".join(removed) + f"\nRun {spec.call('download')} with internet access to fetch it again.",
                DataFallbackWarning, stacklevel=_caller_stacklevel(),
            )  # fmt: skip
        return _with_note(
            sample, note or "; ".join(["offline: the full data set is not cached", *removed])
        )
    warnings.warn(
        _report(req, attempts, sample), DataFallbackWarning, stacklevel=_caller_stacklevel()
    )
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
    lines.append(
        f"To get the full data set: with internet access run {spec.call('download')} once (it "
        f"keeps the files in {req.cache}), or download the four idx files "
        f"({', '.join(spec.files)}) from {req.mirrors[0] if req.mirrors else 'a mirror'} yourself "
        f"and call {spec.call('/path/to/that/folder')}."
    )
    if fallback is not None:
        lines.append(f"To use the sample without this warning, set {DATA_ENV}=sample.")
    elif not spec.has_sample:
        lines.append(
            f"{spec.name} has no bundled sample"
            + (f"; {spec.offline_hint}" if spec.offline_hint else ".")
        )
    return "\n".join(lines)
