"""On-disk layout of a built index, its manifest, and the atomic swap of the live version.

::

    <index_dir>/
        current -> index-20250101T120000Z-1a2b3c4d   symlink to the live version (swapped atomically)
        index-20250101T120000Z-1a2b3c4d/
            manifest.json                            what was built, from what, with which model
            metadata.json                            entries and the entry of every vector row
            index.faiss                              the FAISS index
        .cache/embeddings-<model>.npz                embedding cache (see kb_index.cache)
        .build.lock                                  held while a build runs

A version directory is written completely under a temporary name beside it and renamed before the
``current`` link is replaced with ``os.replace``, so readers always see either the old or the new
version, never a half-written one. A directory that directly holds ``manifest.json`` (for example a
copied version) is also accepted as an index directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
CURRENT_LINK = "current"
MANIFEST_FILE = "manifest.json"
METADATA_FILE = "metadata.json"
INDEX_FILE = "index.faiss"
CACHE_DIR = ".cache"
LOCK_FILE = ".build.lock"
VERSION_PREFIX = "index-"
TMP_PREFIX = ".tmp-"
KEEP_OLD_VERSIONS = 2  # superseded versions kept so a reader that resolved `current` a moment ago still finds its files
# The kinds of the rows in metadata.json, one row per vector: an entry's question, each of its phrasings and,
# in indexes built with answers (kb_index.build.EMBED_ANSWERS), each paragraph of its answer (after the others).
QUESTION_ROW = "question"
PHRASING_ROW = "phrasing"
ANSWER_ROW = "answer"


class KBIndexError(Exception):
    """The index cannot be used: missing, unreadable, or built with another model. The message says what to run."""


@dataclass(frozen=True)
class BuildStats:
    """What one `build_index` call did."""

    skipped: bool = False  # nothing changed: the live index was kept as is
    texts: int = 0  # texts that make up the index
    embedded: int = 0  # texts sent to the encoder (cache misses)
    cache_hits: int = 0  # texts whose vector came from the embedding cache
    seconds: float = 0.0


@dataclass(frozen=True)
class Manifest:
    """Describes one built index version (stored as ``manifest.json``)."""

    model: str
    dimension: int
    content_hash: str
    entry_count: int
    vector_count: int
    index_type: str  # "flat" (exact inner product) or "hnsw"
    built_at: str  # ISO 8601, UTC
    build_seconds: float
    languages: tuple[str, ...] = ()
    answers: bool = False  # the index also holds answer-paragraph rows (kb_index.build.EMBED_ANSWERS)
    format_version: int = FORMAT_VERSION
    version: str = ""  # name of the version directory
    stats: BuildStats = field(default_factory=BuildStats)
    # thresholds the content itself calls for (kb_index.self_calibration), used when the settings name none
    calibration: dict[str, Any] | None = None
    # how the rows were made language-neutral (encoders.language_means.centring_key); "" for raw vectors
    centring: str = ""

    def to_json(self) -> str:
        data = asdict(self)
        data["languages"] = list(self.languages)
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Manifest":
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        values["languages"] = tuple(values.get("languages", ()))
        values["stats"] = BuildStats(**values.get("stats", {}))
        return cls(**values)


def live_version_dir(index_dir: Path) -> Path | None:
    """The directory of the live index version, or None when nothing was built yet."""
    link = index_dir / CURRENT_LINK
    if link.is_symlink() or link.is_dir():
        target = link.resolve()
        return target if target.is_dir() else None
    if (index_dir / MANIFEST_FILE).is_file():
        return index_dir
    return None


def read_manifest(version_dir: Path) -> Manifest:
    """Read the manifest of a version directory; `KBIndexError` when missing or unreadable."""
    path = version_dir / MANIFEST_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Manifest.from_dict(data)
    except FileNotFoundError:
        raise KBIndexError(f"{path} is missing: rebuild the index with `make kb`") from None
    except (OSError, ValueError, TypeError) as exc:
        raise KBIndexError(f"{path} is unreadable ({exc}): rebuild the index with `make kb`") from exc


def live_manifest(index_dir: Path) -> Manifest | None:
    """The live manifest, or None when there is no readable live index."""
    version = live_version_dir(index_dir)
    if version is None:
        return None
    try:
        return read_manifest(version)
    except KBIndexError as exc:
        log.warning("ignoring the live index: %s", exc)
        return None


def live_marker(index_dir: Path) -> tuple[Any, ...] | None:
    """A cheap fingerprint of the live version (a few stat calls): it changes whenever a build is swapped in."""
    try:
        link = index_dir / CURRENT_LINK
        target = os.readlink(link) if link.is_symlink() else ""
        manifest = (link if target else index_dir) / MANIFEST_FILE
        st = manifest.stat()
        return (target, st.st_ino, st.st_mtime_ns, st.st_size)
    except OSError:
        return None


@contextlib.contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on `index_dir` for the duration of a build (waits for a running build)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / LOCK_FILE, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("another build of %s is running; waiting for it to finish", index_dir)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def new_temp_dir(index_dir: Path) -> Path:
    """A fresh temporary directory beside the versions (same file system, so it can be renamed)."""
    path = index_dir / f"{TMP_PREFIX}{os.getpid()}-{time.monotonic_ns()}"
    path.mkdir(parents=True)
    return path


def publish(index_dir: Path, temp_dir: Path, version: str) -> Path:
    """Rename a fully written `temp_dir` to `version` and point ``current`` at it atomically."""
    final = stage(index_dir, temp_dir, version)
    activate(index_dir, version)
    return final


def stage(index_dir: Path, temp_dir: Path, version: str) -> Path:
    """Rename a fully written `temp_dir` to the version directory `version`, without serving it yet."""
    _fsync_dir_files(temp_dir)
    final = index_dir / version
    if final.exists():
        shutil.rmtree(final)
    os.rename(temp_dir, final)
    return final


def activate(index_dir: Path, version: str) -> None:
    """Point ``current`` at the existing version directory `version` atomically (readers see old or new)."""
    if not (index_dir / version / MANIFEST_FILE).is_file():
        raise KBIndexError(f"{index_dir / version} is not a built index version")
    tmp_link = index_dir / f"{TMP_PREFIX}link-{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        tmp_link.unlink()
    os.symlink(version, tmp_link)
    link = index_dir / CURRENT_LINK
    if link.is_dir() and not link.is_symlink():
        raise KBIndexError(f"{link} is a directory, not a link; move it away and build again")
    os.replace(tmp_link, link)
    _fsync_dir(index_dir)
    log.info("published index version %s", version)


def version_dirs(index_dir: Path) -> list[Path]:
    """The built version directories, newest first."""
    return sorted((p for p in index_dir.glob(f"{VERSION_PREFIX}*") if p.is_dir()), key=lambda p: p.stat().st_mtime,
                  reverse=True)


def remove_stale(index_dir: Path, live: str, keep: frozenset[str] | set[str] = frozenset()) -> None:
    """Delete leftovers of interrupted builds and all but the newest `KEEP_OLD_VERSIONS` old versions; the
    versions named in `keep` (the one being served, those a release may roll back to) are never deleted.

    Call only while holding `build_lock`.
    """
    for path in index_dir.glob(f"{TMP_PREFIX}*"):
        log.debug("removing leftover %s", path)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                path.unlink()
    serving = live_version_dir(index_dir)
    protected = set(keep) | {live} | ({serving.name} if serving is not None else set())
    old = [p for p in version_dirs(index_dir) if p.name not in protected]
    for path in old[KEEP_OLD_VERSIONS:]:
        log.debug("removing old version %s", path)
        shutil.rmtree(path, ignore_errors=True)


def _fsync_dir_files(directory: Path) -> None:
    for path in directory.iterdir():
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
