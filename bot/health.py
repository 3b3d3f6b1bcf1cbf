"""Health checks of the hub's dependencies: its database, Rasa, and Rasa's tracker store.

Rasa silently falls back to an in-memory tracker store when its SQL database is unreachable (dialogue
state is then lost on restart without any crash), so the hub checks that database itself.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import create_engine, inspect, text

from bot.rasa_client import RasaClient, RasaUnavailable

log = logging.getLogger(__name__)


def check_database(engine: Any) -> dict[str, Any]:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"ok": True}
    except Exception as exc:  # report, never raise: this feeds /health
        return {"ok": False, "error": str(exc)}


def check_tracker_store(url: str) -> dict[str, Any]:
    """Is Rasa's SQL tracker store reachable, and has Rasa created its `events` table there?"""
    try:
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                has_events = inspect(conn).has_table("events")
        finally:
            engine.dispose()
    except Exception as exc:
        return {"ok": False, "error": f"tracker store unreachable: {exc}"}
    if not has_events:
        return {
            "ok": False,
            "error": "Rasa has not created its events table: it is probably running on an in-memory "
            "tracker store (dialogue state would be lost on restart). Check RASA_TRACKER_STORE_URL.",
        }
    return {"ok": True}


async def check_rasa(rasa: RasaClient) -> dict[str, Any]:
    try:
        status = await rasa.status()
    except RasaUnavailable as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": bool(status.get("model_file")), "model": status.get("model_file"), "model_id": status.get("model_id")}
