"""Published releases on disk: the models and knowledge-base versions a rollback can return to.

::

    <RASA_MODEL_DIR>/releases/
        LIVE                      the id of the release being served (replaced atomically)
        release-0007/
            release.json          who, when, what changed, the model's and the index's identity, the gate
            release-0007.tar.gz   the Rasa model (a KB-only release links its parent's model instead)
            inputs/               the content it was built from: nlu_data/, domain.yml, config.yml, kb/
            report.json           the gate's numbers for these inputs
        scratch-*/                a publish in progress (removed when it ends)
        .evaluations/             the gate's reports by input fingerprint; the evaluation's embedding cache

The last `keep` releases are kept (never the live one); older ones are deleted with their models. The first
release is the model the bot was started with (`make run`), adopted the first time the studio needs it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bot.studio.yaml_text import atomic_write

LIVE_FILE = "LIVE"
RELEASE_FILE = "release.json"
REPORT_FILE = "report.json"
INPUTS = "inputs"
_ID = re.compile(r"^release-(\d{4,})$")


@dataclass
class Release:
    id: str
    number: int
    created_at: str
    author: str
    author_name: str
    summary: str
    kind: str  # adopted | full | kb | rollback
    model_file: str | None = None  # file name inside the release folder
    model_fingerprint: str | None = None  # of the model's inputs (the launcher's fingerprint)
    model_from: str | None = None  # the release whose training produced the model
    kb_version: str | None = None  # the index version directory
    kb_content_hash: str | None = None
    revision: int | None = None  # the last content revision it contains
    commit: str | None = None
    gate: dict[str, Any] | None = None
    seconds: float | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ReleaseStore:
    def __init__(self, root: Path, keep: int = 5) -> None:
        self.root = root
        self.keep = keep

    # -- reading -----------------------------------------------------------------------------------

    def folder(self, release_id: str) -> Path:
        if not _ID.match(release_id):
            raise KeyError(f"no release {release_id!r}")
        return self.root / release_id

    def get(self, release_id: str) -> Release | None:
        try:
            path = self.folder(release_id) / RELEASE_FILE
            data = json.loads(path.read_text(encoding="utf-8"))
        except (KeyError, OSError, ValueError):
            return None
        known = set(Release.__dataclass_fields__)
        return Release(**{k: v for k, v in data.items() if k in known})

    def all(self) -> list[Release]:
        """Every release kept, newest first."""
        if not self.root.is_dir():
            return []
        found = [self.get(p.name) for p in self.root.iterdir() if p.is_dir() and _ID.match(p.name)]
        return sorted((r for r in found if r is not None), key=lambda r: r.number, reverse=True)

    def live_id(self) -> str | None:
        try:
            value = (self.root / LIVE_FILE).read_text(encoding="utf-8").strip()
        except OSError:
            return None
        return value or None

    def live(self) -> Release | None:
        live = self.live_id()
        return self.get(live) if live else None

    def model_path(self, release: Release) -> Path | None:
        if not release.model_file:
            return None
        path = self.folder(release.id) / release.model_file
        return path if path.exists() else None

    def inputs(self, release: Release) -> Path:
        return self.folder(release.id) / INPUTS

    def report(self, release: Release) -> dict[str, Any] | None:
        try:
            return json.loads((self.folder(release.id) / REPORT_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    # -- writing -------------------------------------------------------------------------------------

    def next_number(self) -> int:
        numbers = [int(m.group(1)) for p in (self.root.iterdir() if self.root.is_dir() else [])
                   if (m := _ID.match(p.name))]
        return max(numbers, default=0) + 1

    def scratch(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / f"scratch-{os.getpid()}-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S%f')}"
        path.mkdir()
        return path

    def create(self, release: Release, scratch: Path) -> Path:
        """Move a finished scratch folder (model, inputs, report) into place as `release`."""
        (scratch / RELEASE_FILE).write_text(json.dumps(release.as_dict(), indent=2), encoding="utf-8")
        target = self.folder(release.id)
        os.rename(scratch, target)
        return target

    def update(self, release: Release) -> None:
        atomic_write(self.folder(release.id) / RELEASE_FILE, json.dumps(release.as_dict(), indent=2))

    def set_live(self, release_id: str) -> None:
        atomic_write(self.root / LIVE_FILE, release_id + "\n")

    def remove(self, release_id: str) -> None:
        shutil.rmtree(self.folder(release_id), ignore_errors=True)

    def prune(self) -> list[str]:
        """Delete all but the newest `keep` releases (never the live one); the ids deleted."""
        live = self.live_id()
        removed = []
        for release in self.all()[self.keep:]:
            if release.id != live:
                self.remove(release.id)
                removed.append(release.id)
        for leftover in self.root.glob("scratch-*") if self.root.is_dir() else []:
            if leftover.is_dir() and not _alive(leftover.name.split("-")[1]):
                shutil.rmtree(leftover, ignore_errors=True)  # a publish that died half-way
        return removed

    def protected_kb_versions(self) -> set[str]:
        return {r.kb_version for r in self.all() if r.kb_version}


def link_or_copy(source: Path, target: Path) -> None:
    """`target` as a hard link to `source` (a copy across file systems)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        target.unlink()
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def snapshot(dest: Path, *, data_dir: Path, domain: Path, config: Path, kb_content: Path) -> Path:
    """Copy the content a release is built from into `dest` (`nlu_data/`, `domain.yml`, `config.yml`, `kb/`)."""
    dest.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns(".*", "__pycache__")
    shutil.copytree(data_dir, dest / "nlu_data", ignore=ignore)
    shutil.copy2(domain, dest / "domain.yml")
    shutil.copy2(config, dest / "config.yml")
    shutil.copytree(kb_content, dest / "kb", ignore=ignore)
    return dest


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
