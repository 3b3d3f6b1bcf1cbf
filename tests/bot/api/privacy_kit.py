"""Helpers of the personal-data tests: Rasa trackers written by Rasa itself, and what a database still holds."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, create_engine, select

from core.settings import PROJECT_ROOT

WRITER = Path(__file__).with_name("rasa_tracker_writer.py")
RASA_PYTHON = PROJECT_ROOT / ".venv-rasa" / "bin" / "python"


def write_trackers(tracker_db: Path, trackers: list[dict[str, Any]]) -> None:
    """Save these trackers with Rasa's SQLTrackerStore (its own table, its own rows)."""
    if not RASA_PYTHON.exists():
        pytest.fail("Rasa's runtime is not installed: run `make install`")
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run([str(RASA_PYTHON), str(WRITER), str(tracker_db), json.dumps(trackers)], check=True, env=env,
                   capture_output=True, timeout=180)


def tracker_events(tracker_db: Path) -> dict[str, list[str]]:
    """sender → the texts of its events."""
    engine = create_engine(f"sqlite:///{tracker_db}")
    try:
        meta = MetaData()
        meta.reflect(engine, only=["events"])
        events = meta.tables["events"]
        out: dict[str, list[str]] = {}
        with engine.connect() as conn:
            for row in conn.execute(select(events.c.sender_id, events.c.data)):
                out.setdefault(row.sender_id, []).append(json.loads(row.data).get("text"))
        return out
    finally:
        engine.dispose()


def rows_mentioning(engine: Engine, needles: list[str], *, skip: tuple[str, ...] = ()) -> dict[str, int]:
    """Per table, how many rows contain any of `needles` in any column (as text)."""
    meta = MetaData()
    meta.reflect(engine)
    found: dict[str, int] = {}
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            if table.name in skip:
                continue
            n = sum(1 for row in conn.execute(select(table))
                    if any(needle in json.dumps(list(row), default=str) for needle in needles))
            if n:
                found[table.name] = n
    return found
