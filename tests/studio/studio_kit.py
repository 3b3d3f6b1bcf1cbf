"""Helpers of the studio's tests (importable from its test modules): editors, and a content service on a copy."""

from __future__ import annotations

import subprocess
from pathlib import Path

from bot.store.db import Database
from bot.studio.content import Author, ContentPaths, ContentService
from core.settings import PROJECT_ROOT

MARIA = Author("maria@example.com", "Maria")
TOM = Author("tom@example.com", "Tom")
LANGUAGES = ("en", "it", "zh", "ro")


def paths_of(project: Path) -> ContentPaths:
    return ContentPaths(project / "nlu_data", project / "domain.yml", project / "kb_index/content",
                        project / "benchmarks/data/starter_heldout", PROJECT_ROOT)


def service(project: Path, db: Database, **kwargs: object) -> ContentService:
    return ContentService(paths_of(project), languages=LANGUAGES, default_language="en", db=db,
                          lock_file=project.parent / "studio.lock", **kwargs)  # type: ignore[arg-type]


def git(project: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(project), *args], capture_output=True, text=True, check=True).stdout
