"""Rasa's dialogue state, read and deleted straight in its SQL tracker store (table `events`, one row per event,
`sender_id` = the hub's conversation id; `HubSettings.tracker_store_url`).

Rasa re-reads a tracker from this table on every message, so deleting the rows is deleting the tracker, also
while Rasa runs. No Rasa API is involved (it needs no token and works when Rasa is down).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, MetaData, Table, create_engine, delete, func, inspect, select
from sqlalchemy.exc import SQLAlchemyError

from bot.errors import DomainError

log = logging.getLogger(__name__)

CHUNK = 400


class TrackerUnavailable(DomainError):
    """Rasa's tracker store cannot be reached: nothing was changed; try again when it is back."""

    status_code = 503
    code = "tracker_unavailable"


class RasaTrackerStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None

    def _events(self) -> tuple[Engine, Table | None]:
        try:
            if self._engine is None:
                self._engine = create_engine(self.url, pool_pre_ping=True)
            with self._engine.connect() as conn:
                if not inspect(conn).has_table("events"):
                    return self._engine, None  # Rasa never ran against this store: it holds nothing
                return self._engine, Table("events", MetaData(), autoload_with=conn)
        except SQLAlchemyError as exc:
            raise TrackerUnavailable(f"Rasa's tracker store is unreachable ({exc.__class__.__name__}): "
                                     "check RASA_TRACKER_STORE_URL and try again") from None

    def events(self, sender_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """Each conversation's tracker events, oldest first, as Rasa stored them (`data` decoded)."""
        engine, events = self._events()
        out: dict[str, list[dict[str, Any]]] = {}
        if events is None:
            return out
        with engine.connect() as conn:
            for i in range(0, len(sender_ids), CHUNK):
                q = select(events).where(events.c.sender_id.in_(sender_ids[i:i + CHUNK])).order_by(events.c.id)
                for row in conn.execute(q):
                    item = dict(row._mapping)
                    try:
                        item["data"] = json.loads(item.get("data") or "null")
                    except ValueError:
                        pass
                    out.setdefault(row.sender_id, []).append(item)
        return out

    def delete(self, sender_ids: list[str]) -> int:
        """Delete these conversations' trackers; the number of events deleted."""
        if not sender_ids:
            return 0
        engine, events = self._events()
        if events is None:
            return 0
        n = 0
        try:
            with engine.begin() as conn:
                for i in range(0, len(sender_ids), CHUNK):
                    n += conn.execute(delete(events).where(events.c.sender_id.in_(sender_ids[i:i + CHUNK]))
                                      ).rowcount or 0
        except SQLAlchemyError as exc:
            raise TrackerUnavailable(f"could not delete from Rasa's tracker store ({exc.__class__.__name__}): "
                                     "try again") from None
        return n

    def delete_inactive(self, cutoff: datetime) -> int:
        """Delete every tracker whose newest event is older than `cutoff` (with or without a hub conversation)."""
        engine, events = self._events()
        if events is None:
            return 0
        stale = (select(events.c.sender_id).group_by(events.c.sender_id)
                 .having(func.max(events.c.timestamp) < cutoff.timestamp()))
        try:
            with engine.begin() as conn:
                return conn.execute(delete(events).where(events.c.sender_id.in_(stale))).rowcount or 0
        except SQLAlchemyError as exc:
            raise TrackerUnavailable(f"could not delete from Rasa's tracker store ({exc.__class__.__name__})") from None

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
