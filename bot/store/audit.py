"""The audit log table (`audit_log`): append and search. What goes in it is `bot.audit`'s business."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, Row, insert, select

from bot.store.models import AuditEntry, utcnow

audit_log = AuditEntry.__table__


def append(conn: Connection, **values: Any) -> None:
    conn.execute(insert(audit_log).values(at=utcnow(), **values))


def search(conn: Connection, *, actor: str | None = None, action: str | None = None, target: str | None = None,
           conversation_id: str | None = None, since: datetime | None = None, until: datetime | None = None,
           before_id: int | None = None, limit: int = 100) -> list[Row[Any]]:
    """Newest first. `action` ending in "." matches a family ("conversation." → every conversation action);
    `before_id` pages back from an earlier answer's last id."""
    q = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if actor:
        q = q.where(audit_log.c.actor == actor)
    if action:
        q = q.where(audit_log.c.action.startswith(action, autoescape=True) if action.endswith(".")
                    else audit_log.c.action == action)
    if target:
        q = q.where(audit_log.c.target == target)
    if conversation_id:
        q = q.where(audit_log.c.conversation_id == conversation_id)
    if since is not None:
        q = q.where(audit_log.c.at >= since.astimezone(timezone.utc))  # SQLite compares the UTC text
    if until is not None:
        q = q.where(audit_log.c.at < until.astimezone(timezone.utc))
    if before_id is not None:
        q = q.where(audit_log.c.id < before_id)
    return list(conn.execute(q))
