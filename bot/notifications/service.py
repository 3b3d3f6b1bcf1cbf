"""Proactive notifications: the business writes first ("your order BC-1 will arrive on Friday").

`create()` checks a send (the template and its parameters, each customer's channel, consent, the time) and
stores one `notifications` row per customer — nothing is sent yet, so a bulk send of thousands commits at once.
`deliver()` sends one row in **one transaction**: take it (a conditional UPDATE), check consent again, find or
open the customer's conversation (a resolved one reopens to the bot; `reply_to="agent"`: the sender owns it,
`ownership.engage`), render the template in the customer's language and store the message with its outbox row
through `Outbound.stage` — so every notification is in the conversation with its delivery status, and a reply
from the customer continues that conversation, with the bot or the agent who sent it. The scheduler
(`bot.notifications.scheduler`) calls `deliver()` when a row is due, within each channel's rate limit.

What the channel does outside the customer's 24-hour window is the connector's: the message carries the
template's approved WhatsApp template / Messenger tag (`extra["template"]`) and `extra["proactive"]`, so a
connector with no template that fits fails it with the reason instead of sending free text.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from bot.conversations import ownership
from bot.conversations.outbound import Outbound, Staged
from bot.errors import DomainError, NotFound
from bot.notifications import consent, store, templates
from bot.store import conversations as conversation_store
from bot.store.db import Database, Event, Tx
from bot.store.models import Status
from connectors.base import OutboundMessage
from core.languages import normalize_language

log = logging.getLogger(__name__)

TEMPLATE_CHANNELS = {"whatsapp": "twilio", "whatsapp_cloud": "whatsapp_cloud", "messenger": "messenger"}


class SendError(DomainError):
    status_code = 422
    code = "bad_notification"


@dataclass(frozen=True)
class Recipient:
    channel: str | None = None
    customer: str | None = None
    conversation_id: str | None = None  # instead of channel + customer
    params: dict[str, Any] = field(default_factory=dict)
    language: str | None = None


@dataclass(frozen=True)
class Sender:
    key: str
    display_name: str


class NotificationService:
    def __init__(self, db: Database, outbound: Outbound, *, channels: Callable[[], Collection[str]],
                 default_language: str, max_recipients: int) -> None:
        self.db = db
        self.outbound = outbound
        self.channels = channels
        self.default_language = default_language
        self.max_recipients = max_recipients

    # -- a send ------------------------------------------------------------------------------------

    async def create(self, *, recipients: list[Recipient], sender: Sender, template: str | None = None,
                     text: str | None = None, params: dict[str, Any] | None = None, send_at: datetime | None = None,
                     reply_to: str = "bot") -> dict[str, Any]:
        """Schedule a notification to each recipient; what was scheduled, skipped (opted out) and refused."""
        if (template is None) == (text is None or not text.strip()):
            raise SendError("name a template, or give a text (not both)")
        if not recipients:
            raise SendError("name at least one recipient")
        if len(recipients) > self.max_recipients:
            raise SendError(f"{len(recipients)} recipients; one send names at most {self.max_recipients} "
                            f"(NOTIFY_MAX_RECIPIENTS): split the list")
        if reply_to not in ("bot", "agent"):
            raise SendError("reply_to is bot or agent")
        if send_at is not None and send_at.tzinfo is None:
            raise SendError("send_at needs a time zone, e.g. 2026-12-02T09:00:00+01:00")
        when = max(send_at or datetime.now(timezone.utc), datetime.now(timezone.utc)).astimezone(timezone.utc)
        common = dict(params or {})
        enabled = set(self.channels())
        batch = uuid.uuid4().hex

        def work(tx: Tx) -> dict[str, Any]:
            chosen = templates.get(tx.conn, template) if template is not None else None
            rows: list[dict[str, Any]] = []
            refused: list[dict[str, Any]] = []
            warnings: list[str] = []
            seen: set[tuple[str, str]] = set()
            for r in recipients:
                target = self._target(tx, r, enabled)
                if isinstance(target, str):
                    refused.append({"channel": r.channel, "customer": r.customer,
                                    "conversation_id": r.conversation_id, "error": target})
                    continue
                channel, user, conv_language = target
                if (channel, user) in seen:
                    continue
                seen.add((channel, user))
                values = {**common, **r.params}
                language = normalize_language(r.language) or conv_language or self.default_language
                row: dict[str, Any] = {
                    "id": uuid.uuid4().hex, "batch_id": batch, "template_key": template, "channel": channel,
                    "external_user_id": user, "language": language, "params": values,
                    "text": text.strip() if text else None, "send_at": when, "state": store.SCHEDULED,
                    "reply_to": reply_to, "created_by": sender.key, "created_by_name": sender.display_name}
                if chosen is not None:
                    missing = templates.missing_parameters(chosen, values)
                    if missing:
                        refused.append({"channel": channel, "customer": user,
                                        "error": f"missing parameters: {', '.join(missing)}"})
                        continue
                    rendered = templates.render(chosen, language, values, default_language=self.default_language)
                    row["language"] = rendered.language
                    needs = TEMPLATE_CHANNELS.get(channel)
                    if needs and needs not in rendered.channel_templates:
                        warnings.append(f"{channel} {user}: template {template!r} has no approved {needs} template "
                                        f"for {rendered.language}; it is only delivered if the customer wrote in "
                                        f"the last 24 hours")
                if consent.opted_out(tx.conn, channel, user):
                    row.update(state=store.SKIPPED, error=f"the customer opted out of messages on {channel}")
                rows.append(row)
            store.add(tx.conn, rows)
            return {"batch_id": batch, "send_at": when.isoformat(), "warnings": warnings, "refused": refused,
                    "notifications": [store.notification_view(_Row(r)) for r in rows]}

        result = await self.db.write(work)
        log.info("notification batch %s by %s: %d scheduled, %d refused", batch, sender.key,
                 len(result["notifications"]), len(result["refused"]))
        return result

    def _target(self, tx: Tx, r: Recipient, enabled: set[str]) -> tuple[str, str, str | None] | str:
        """(channel, customer, their conversation's language) or why the recipient cannot be reached."""
        if r.conversation_id:
            conv = conversation_store.find(tx.conn, r.conversation_id)
            if conv is None:
                return f"no conversation {r.conversation_id}"
            channel, user = conv.channel, conv.external_user_id
        else:
            channel, user = (r.channel or "").strip().lower(), (r.customer or "").strip()
            if not channel or not user:
                return "name the channel and the customer (or a conversation_id)"
        if channel not in enabled:
            return f"channel {channel!r} is not enabled (enabled: {', '.join(sorted(enabled))})"
        latest = conversation_store.latest(tx.conn, channel, user)
        if latest is None and channel == "web":
            return "a web visitor is reached only through an existing conversation"
        return channel, user, latest.language if latest is not None else None

    # -- sending one -------------------------------------------------------------------------------

    async def deliver(self, notification_id: str) -> str | None:
        """Send one due notification (one transaction, then the outbox sends it); its state after, or None
        when it was not there to take (already sent, cancelled)."""
        staged = await self.db.write(self._deliver, notification_id)
        if isinstance(staged, Staged):
            await self.outbound.flush(staged)
            return store.SENT
        return staged

    def _deliver(self, tx: Tx, notification_id: str) -> Staged | str | None:
        n = store.claim(tx.conn, notification_id)
        if n is None:
            return None
        if consent.opted_out(tx.conn, n.channel, n.external_user_id):
            store.finish(tx.conn, n.id, store.SKIPPED, error=f"the customer opted out of messages on {n.channel}")
            return store.SKIPPED
        try:
            text, language, channel_templates = self._content(tx, n)
        except (NotFound, DomainError) as exc:
            store.finish(tx.conn, n.id, store.FAILED, error=str(exc))
            return store.FAILED
        conv = conversation_store.latest(tx.conn, n.channel, n.external_user_id)
        if conv is None:
            conv = ownership.open_conversation(tx, n.channel, n.external_user_id, language=language,
                                               customer_name=None)
        if n.reply_to == "agent":
            if conv.status in (Status.BOT.value, Status.RESOLVED.value):
                conv = ownership.engage(tx, conv.id, agent=n.created_by, agent_name=n.created_by_name)
        elif conv.status == Status.RESOLVED.value:
            conv = ownership.reopen(tx, conv.id)
        out = OutboundMessage(
            text=text, sender="agent" if n.reply_to == "agent" else "bot",
            sender_name=n.created_by_name if n.reply_to == "agent" else None, language=language,
            extra={"event": "notification", "notification_id": n.id, "template_key": n.template_key,
                   "proactive": True, "template": channel_templates})
        staged = self.outbound.stage(tx, conv, out)
        store.finish(tx.conn, n.id, store.SENT, conversation_id=conv.id, message_id=out.message_id, error=None)
        tx.emit("notification", notification_id=n.id, conversation_id=conv.id, channel=n.channel, state=store.SENT)
        return staged

    def _content(self, tx: Tx, n: Any) -> tuple[str, str, dict[str, Any]]:
        if n.template_key is None:
            return n.text or "", n.language, {}
        rendered = templates.render(templates.get(tx.conn, n.template_key), n.language, dict(n.params or {}),
                                    default_language=self.default_language)
        return rendered.text, rendered.language, rendered.channel_templates

    # -- listeners ---------------------------------------------------------------------------------

    async def on_delivery(self, event: Event) -> None:
        """A notification the channel refused (no template fits the closed window, a blocked customer …) or
        gave up on is `failed`, with the channel's reason."""
        status = event.data.get("status")
        message_id = event.data.get("message_id")
        if status not in ("failed", "dead", "undelivered") or not message_id:
            return
        detail = event.data.get("detail") or (f"provider error {event.data['error_code']}"
                                               if event.data.get("error_code") else status)

        def work(tx: Tx) -> None:
            n = store.by_message(tx.conn, str(message_id))
            if n is not None and n.state == store.SENT:
                store.finish(tx.conn, n.id, store.FAILED, error=str(detail))

        await self.db.write(work)

    async def cancel(self, notification_id: str) -> dict[str, Any]:
        def work(tx: Tx) -> Any:
            row = store.get(tx.conn, notification_id)
            if row is None:
                raise NotFound(f"no notification {notification_id}")
            if not store.cancel(tx.conn, notification_id):
                raise SendError(f"notification {notification_id} is {row.state}: only scheduled ones can be cancelled")
            return store.get(tx.conn, notification_id)

        return store.notification_view(await self.db.write(work))


class _Row:
    """A dict read like a row (for the view of rows just inserted)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update({"error": None, "conversation_id": None, "message_id": None, "created_at": None,
                              "updated_at": None, "delivery_status": None, **values})
