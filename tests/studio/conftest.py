"""Fixtures of the studio's tests: a copy of the project's content in its own git repository, never the real one."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bot.store.db import Database, make_engine, migrate
from bot.studio.content import Author, ContentPaths, ContentService
from core.settings import PROJECT_ROOT

MARIA = Author("maria@example.com", "Maria")
TOM = Author("tom@example.com", "Tom")
LANGUAGES = ("en", "it", "zh", "ro")


def copy_content(target: Path, *, git: bool = True) -> Path:
    for rel in ("nlu_data", "kb_index/content", "benchmarks/data/starter_heldout"):
        shutil.copytree(PROJECT_ROOT / rel, target / rel)
    shutil.copy2(PROJECT_ROOT / "domain.yml", target / "domain.yml")
    shutil.copy2(PROJECT_ROOT / "config.yml", target / "config.yml")
    if git:
        run = ["git", "-C", str(target)]
        subprocess.run([*run, "init", "-q"], check=True)
        subprocess.run([*run, "add", "."], check=True)
        subprocess.run([*run, "-c", "user.name=Developer", "-c", "user.email=dev@example.com", "commit", "-q", "-m",
                        "starter content"], check=True)
    return target


def paths_of(project: Path) -> ContentPaths:
    return ContentPaths(project / "nlu_data", project / "domain.yml", project / "kb_index/content",
                        project / "benchmarks/data/starter_heldout", PROJECT_ROOT)


def service(project: Path, db: Database, **kwargs: object) -> ContentService:
    return ContentService(paths_of(project), languages=LANGUAGES, default_language="en", db=db,
                          lock_file=project.parent / "studio.lock", **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_content(tmp_path / "project")


@pytest.fixture
def db(tmp_path: Path) -> Database:
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    migrate(engine)
    return Database(engine)


@pytest.fixture
def content(project: Path, db: Database) -> ContentService:
    return service(project, db)


def git(project: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(project), *args], capture_output=True, text=True, check=True).stdout
