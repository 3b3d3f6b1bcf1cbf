"""Export and erase everything held about one customer, and delete what is older than the retention period.

What a customer's data is, where it lives, and what export and erase do with it:

- the hub's database: conversations, messages, handoffs (with their summaries), notes, CSAT, outbox rows, channel
  state (`channel_deliveries`, `channel_contacts`) and any later table tied to a conversation
  (`bot.store.personal_data`): exported, deleted;
- Rasa's tracker store: every dialogue event, with the raw text Rasa saw (`bot.privacy.tracker`): exported,
  deleted;
- DATA_DIR/logs: the lines naming the conversation or channel id (`bot.privacy.logs`): exported, ids masked in
  place (erase only; retention leaves logs to log rotation);
- the hub's memory: recent outgoing-webhook bodies (the admin's webhook view): dropped;
- elsewhere: channel providers (Telegram, Twilio) and webhook receivers keep their own copies, and database
  backups and logs shipped elsewhere are beyond the hub: the export and the erasure report say so.

An erasure is irreversible and idempotent: the tracker is deleted first (if Rasa's store is unreachable nothing
is deleted and the call can be repeated), then the hub's rows with the audit entry in one transaction, then the
tracker once more (a message that arrived meanwhile), the log ids and the in-memory copies. The audit log keeps
that it happened, by whom, the request's reference and the counts, never what was erased.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import anyio

from bot import audit
from bot.audit import Who
from bot.errors import Invalid
from bot.privacy.logs import LogFiles
from bot.privacy.tracker import RasaTrackerStore
from bot.store import personal_data
from bot.store.db import Database, Tx
from bot.store.models import iso, utcnow

log = logging.getLogger(__name__)

FORMAT = "supportbot-personal-data/1"

ELSEWHERE = [
    "Channel providers keep their own copies of the messages (Telegram; Twilio for WhatsApp and SMS): ask them.",
    "Outgoing webhooks already delivered are held by their receivers (WEBHOOK_URLS).",
    "Database backups and logs shipped outside DATA_DIR/logs (journald, a log collector) are not reached by the hub.",
]


@dataclass(frozen=True)
class Subject:
    """A customer: their id on one channel, or the customer key agents linked their conversations with."""

    channel: str | None = None
    external_id: str | None = None
    customer_key: str | None = None
    include_linked: bool = True

    def __post_init__(self) -> None:
        if not ((self.channel and self.external_id) or self.customer_key):
            raise Invalid("name the customer: channel and external_id (their id on that channel), or customer_key")

    def lookup(self) -> dict[str, Any]:
        key = self.customer_key.strip().lower() if self.customer_key else None
        return {"channel": self.channel, "external_id": self.external_id, "customer_key": key,
                "include_linked": self.include_linked}

    def view(self) -> dict[str, Any]:
        return {k: v for k, v in self.lookup().items() if v is not None}


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


class Privacy:
    def __init__(self, db: Database, tracker: RasaTrackerStore, logs: LogFiles, *, retention_days: int = 0,
                 batch: int = 200, in_memory: list[Callable[[set[str]], int]] | None = None) -> None:
        self.db = db
        self.tracker = tracker
        self.logs = logs
        self.retention_days = retention_days
        self.batch = batch
        self.in_memory = in_memory or []  # drop copies held in memory, by conversation id; returns how many
        self.last_sweep: dict[str, Any] | None = None

    # -- export --------------------------------------------------------------------------------------------

    async def export(self, subject: Subject, who: Who, *, reference: str | None = None) -> dict[str, Any]:
        """Everything held about the customer, as one JSON document a data-protection officer can hand over."""
        def read(tx: Tx) -> tuple[personal_data.Held, dict[str, list[dict[str, Any]]]]:
            held = personal_data.locate(tx.conn, **subject.lookup())
            rows = personal_data.rows_of(tx.conn, held)
            audit.record(tx.conn, who, "privacy.export", reference=reference,
                         conversations=len(held.conversation_ids))
            return held, rows

        held, rows = await self.db.write(read)
        tracker = await anyio.to_thread.run_sync(self.tracker.events, held.conversation_ids)
        lines = await anyio.to_thread.run_sync(self.logs.lines, self._ids(held))
        by_conv: dict[str, list[dict[str, Any]]] = {}
        for m in rows.get("messages", []):
            by_conv.setdefault(m["conversation_id"], []).append(m)
        conversations = [{
            **_jsonable(c),
            "transcript": [{"at": iso(m["created_at"]), "from": m["sender"], "name": m["sender_name"],
                            "text": m["text"]} for m in sorted(by_conv.get(c["id"], []), key=lambda m: m["seq"])],
        } for c in rows.get("conversations", [])]
        return {
            "format": FORMAT, "generated_at": iso(utcnow()), "reference": reference, "subject": subject.view(),
            "summary": {"conversations": len(conversations),
                        "records": {name: len(r) for name, r in sorted(rows.items())},
                        "rasa_tracker_events": sum(len(e) for e in tracker.values()), "log_lines": len(lines)},
            "conversations": conversations,
            "records": {name: _jsonable(r) for name, r in sorted(rows.items())},
            "rasa_tracker": _jsonable(tracker),
            "logs": lines,
            "held_elsewhere": ELSEWHERE,
        }

    # -- erase ---------------------------------------------------------------------------------------------

    async def erase(self, subject: Subject, who: Who, *, reference: str | None = None) -> dict[str, Any]:
        """Delete everything held about the customer (irreversible; repeating it finds nothing more)."""
        before = await self.db.read(lambda conn: personal_data.locate(conn, **subject.lookup()))
        tracker_events = await anyio.to_thread.run_sync(self.tracker.delete, before.conversation_ids)

        def work(tx: Tx) -> tuple[personal_data.Held, dict[str, int]]:
            held = personal_data.locate(tx.conn, **subject.lookup())  # again: a conversation may have started
            counts = personal_data.delete_held(tx.conn, held)
            audit.record(tx.conn, who, "privacy.erase", reference=reference, conversations=len(held.conversation_ids),
                         records=counts, conversation_ids=held.conversation_ids)
            return held, counts

        held, counts = await self.db.write(work)
        ids = sorted(set(before.conversation_ids) | set(held.conversation_ids))
        tracker_events += await anyio.to_thread.run_sync(self.tracker.delete, ids)
        masked = await anyio.to_thread.run_sync(self.logs.mask, self._ids(held) | set(before.conversation_ids))
        memory = sum(drop(set(ids)) for drop in self.in_memory)
        log.info("erased %d conversations (%s)", len(ids), reference or "no reference")
        return {"erased": {"conversations": len(ids), "records": counts, "rasa_tracker_events": tracker_events,
                           "log_ids_masked": masked, "in_memory_copies": memory},
                "conversation_ids": ids, "reference": reference, "held_elsewhere": ELSEWHERE}

    # -- retention -----------------------------------------------------------------------------------------

    async def sweep(self, *, days: int | None = None, who: Who = audit.SYSTEM, now: datetime | None = None,
                    max_batches: int = 50) -> dict[str, Any]:
        """Delete conversations whose last activity is older than `days` (default RETENTION_DAYS; 0: keep
        everything), Rasa trackers included, in batches of one transaction each."""
        days = self.retention_days if days is None else days
        if days <= 0:
            return {"retention_days": 0, "conversations": 0}
        cutoff = (now or utcnow()).astimezone(timezone.utc) - timedelta(days=days)
        total, records, tracker_events = 0, {}, 0
        for _ in range(max_batches):
            ids = await self.db.read(personal_data.inactive_since, cutoff, self.batch)
            if not ids:
                break
            tracker_events += await anyio.to_thread.run_sync(self.tracker.delete, ids)

            def work(tx: Tx, ids: list[str] = ids) -> list[str]:
                held = personal_data.held_by(tx.conn, personal_data.still_inactive(tx.conn, ids, cutoff))
                gone = personal_data.contacts_without_other_conversations(tx.conn, held)
                counts = personal_data.delete_held(tx.conn, held, contacts=gone)
                for name, n in counts.items():
                    records[name] = records.get(name, 0) + n
                audit.record(tx.conn, who, "privacy.retention", retention_days=days, cutoff=iso(cutoff),
                             conversations=len(held.conversation_ids), records=counts)
                return held.conversation_ids

            done = await self.db.write(work)
            total += len(done)
            for drop in self.in_memory:
                drop(set(done))
            if len(ids) < self.batch:
                break
        tracker_events += await anyio.to_thread.run_sync(self.tracker.delete_inactive, cutoff)
        self.last_sweep = {"at": iso(utcnow()), "retention_days": days, "cutoff": iso(cutoff),
                           "conversations": total, "records": records, "rasa_tracker_events": tracker_events}
        if total or tracker_events:
            log.info("retention: %d conversations and %d tracker events older than %d days deleted", total,
                     tracker_events, days)
        return self.last_sweep

    @staticmethod
    def _ids(held: personal_data.Held) -> set[str]:
        return set(held.conversation_ids) | {ext for _, ext in held.contacts}


def forget_webhook_copies(deliveries: list[Any]) -> Callable[[set[str]], int]:
    """Drop recent webhook bodies (kept in memory for /api/admin/webhooks) that name these conversations."""
    def drop(conversation_ids: set[str]) -> int:
        needles = [cid.encode() for cid in conversation_ids]
        keep = [d for d in deliveries if not any(n in d.body for n in needles)]
        dropped = len(deliveries) - len(keep)
        deliveries[:] = keep
        return dropped
    return drop
