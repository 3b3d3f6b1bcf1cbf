"""Fixtures of the studio's tests: a copy of the project's content in its own git repository, never the real one."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.store.db import Database, make_engine, migrate
from bot.studio.content import ContentService
from studio_kit import service
from tests_support import copy_content


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
