"""The `notifications` table: one row per customer of a send, from scheduled to its end state.

    scheduled → sent (stored in the conversation and handed to the outbox, one transaction)
              → skipped (the customer opted out) | cancelled (by an agent) | failed (nothing could be sent,
                or the channel refused it: its delivery status says why)

Taking a row to send is a conditional UPDATE (`claim`), so two hub processes never send one twice.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from bot.store.models import Message, Notification, iso, utcnow

notifications = Notification.__table__
messages = Message.__table__

SCHEDULED, SENT, SKIPPED, CANCELLED, FAILED = "scheduled", "sent", "skipped", "cancelled", "failed"


def add(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        now = utcnow()
        conn.execute(insert(notifications), [{"created_at": now, "updated_at": now, **r} for r in rows])


def due(conn: Connection, now: datetime | None = None, limit: int = 200, channel: str | None = None) -> list[Row[Any]]:
    """Scheduled rows whose time has come (on one channel), oldest first."""
    q = (select(notifications.c.id, notifications.c.channel)
         .where(notifications.c.state == SCHEDULED, notifications.c.send_at <= (now or datetime.now(timezone.utc)))
         .order_by(notifications.c.send_at, notifications.c.id).limit(limit))
    if channel is not None:
        q = q.where(notifications.c.channel == channel)
    return list(conn.execute(q))


def claim(conn: Connection, notification_id: str) -> Row[Any] | None:
    """Take a scheduled row to send it (None: someone else did, or it was cancelled)."""
    return conn.execute(update(notifications)
                        .where(notifications.c.id == notification_id, notifications.c.state == SCHEDULED)
                        .values(state=SENT, updated_at=utcnow()).returning(notifications)).first()


def finish(conn: Connection, notification_id: str, state: str, **values: Any) -> None:
    conn.execute(update(notifications).where(notifications.c.id == notification_id)
                 .values(state=state, updated_at=utcnow(), **values))


def cancel(conn: Connection, notification_id: str) -> bool:
    return conn.execute(update(notifications)
                        .where(notifications.c.id == notification_id, notifications.c.state == SCHEDULED)
                        .values(state=CANCELLED, updated_at=utcnow())).rowcount == 1


def by_message(conn: Connection, message_id: str) -> Row[Any] | None:
    return conn.execute(select(notifications).where(notifications.c.message_id == message_id)).first()


def listing(conn: Connection, *, batch_id: str | None = None, state: str | None = None, channel: str | None = None,
            customer: str | None = None, limit: int = 100) -> list[Row[Any]]:
    """Notifications with their message's delivery status, newest first."""
    q = (select(notifications, messages.c.delivery_status)
         .select_from(notifications.outerjoin(messages, messages.c.id == notifications.c.message_id))
         .order_by(notifications.c.created_at.desc(), notifications.c.id).limit(limit))
    for column, value in ((notifications.c.batch_id, batch_id), (notifications.c.state, state),
                          (notifications.c.channel, channel), (notifications.c.external_user_id, customer)):
        if value:
            q = q.where(column == value)
    return list(conn.execute(q))


def get(conn: Connection, notification_id: str) -> Row[Any] | None:
    rows = conn.execute(select(notifications, messages.c.delivery_status)
                        .select_from(notifications.outerjoin(messages, messages.c.id == notifications.c.message_id))
                        .where(notifications.c.id == notification_id)).first()
    return rows


def notification_view(row: Any) -> dict[str, Any]:
    return {
        "id": row.id, "batch_id": row.batch_id, "template": row.template_key, "channel": row.channel,
        "customer": row.external_user_id, "language": row.language, "params": row.params, "send_at": iso(row.send_at),
        "state": row.state, "delivery_status": getattr(row, "delivery_status", None), "error": row.error,
        "reply_to": row.reply_to, "created_by": row.created_by, "conversation_id": row.conversation_id,
        "message_id": row.message_id, "created_at": iso(row.created_at), "updated_at": iso(row.updated_at),
    }
