"""Everything the hub says to a customer: stored, put in the outbox in the same transaction, then sent.

`stage()` is the in-transaction half (compose it into a larger unit of work, as the bot turn does);
`send()` / `notice()` are the whole thing for one message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from bot.delivery import outbox
from bot.delivery.outbox import Queued
from bot.delivery.worker import DeliveryWorker, Outcome
from bot.store import conversations as conversation_store
from bot.store.db import Database, Tx
from bot.store.messages import NewMessage, insert_message
from bot.store.models import Sender
from bot.views import message_view
from connectors.base import Button, OutboundMessage
from core.i18n import t


@dataclass
class Staged:
    """Messages one transaction stored and queued; `blocked` when an older message was still unsent."""

    queued: list[Queued]
    views: dict[str, dict[str, Any]]  # message id → its view (delivery status filled in once sent)
    blocked: bool = False


def system_message(key: str, language: str, *, event: str | None = None, buttons: list[Button] | None = None,
                   extra: dict[str, Any] | None = None, **values: Any) -> OutboundMessage:
    """A hub notice (`core.i18n` text `key`) in the conversation's language."""
    return OutboundMessage(text=t(key, language, **values), sender="system", language=language,
                           buttons=list(buttons or []), extra={"event": event or key, **values, **(extra or {})})


class Outbound:
    def __init__(self, db: Database, delivery: DeliveryWorker) -> None:
        self.db = db
        self.delivery = delivery

    def stage(self, tx: Tx, conv: Any, out: OutboundMessage, *, kb_entry_id: str | None = None,
              staged: Staged | None = None, touch: bool = True, reply_to: str | None = None) -> Staged:
        """Store `out` and queue it, inside `tx` (emits the `message` event). `touch=False`: the caller bumps
        the conversation's `updated_at` once for several messages."""
        staged = staged or Staged([], {})
        payload: dict[str, Any] = {}
        if out.buttons:
            payload["buttons"] = [{"title": b.title, "payload": b.payload} for b in out.buttons]
        if out.media_urls:
            payload["media_urls"] = out.media_urls
        payload.update(out.extra)
        row = insert_message(tx.conn, NewMessage(
            conversation_id=conv.id, sender=Sender(out.sender), text=out.text, sender_name=out.sender_name,
            payload=payload or None, language=out.language or conv.language, kb_entry_id=kb_entry_id,
            delivery_status="pending", reply_to=reply_to), touch=touch)
        out.message_id = row.id
        out.language = out.language or conv.language
        queued = outbox.enqueue(tx.conn, conv.id, conv.channel, conv.external_user_id, out,
                                holder=self.delivery.holder, lease_s=self.delivery.lease_s)
        if not staged.queued:
            staged.blocked = outbox.blocked_before(tx.conn, conv.id, queued.row_id)
        staged.queued.append(queued)
        view = message_view(row)
        staged.views[row.id] = view
        tx.emit("message", conversation_id=conv.id, status=conv.status, channel=conv.channel, message=view)
        return staged

    async def flush(self, staged: Staged) -> dict[str, Outcome]:
        """Send what a transaction staged; the views get their delivery status."""
        outcomes = await self.delivery.send(staged.queued, blocked=staged.blocked)
        for message_id, outcome in outcomes.items():
            if message_id in staged.views:
                staged.views[message_id]["delivery_status"] = outcome.status
        return outcomes

    async def send(self, conversation_id: str, out: OutboundMessage | Callable[[Any], OutboundMessage], *,
                   kb_entry_id: str | None = None, after: Callable[[Tx, Any, Staged], None] | None = None,
                   ) -> dict[str, Any]:
        """Store, queue and send one message; returns its view with the delivery status. `out` may be built
        from the conversation as it is in the transaction (`out(conv)`: its current language);
        `after(tx, conv, staged)`: more work for the same transaction (e.g. marking the conversation read)."""
        def work(tx: Tx) -> Staged:
            conv = conversation_store.get(tx.conn, conversation_id)
            message = out(conv) if callable(out) else out
            staged = self.stage(tx, conv, message, kb_entry_id=kb_entry_id)
            if after is not None:
                after(tx, conv, staged)
            return staged

        staged = await self.db.write(work)
        await self.flush(staged)
        return next(iter(staged.views.values()))

    async def notice(self, conversation_id: str, key: str, *, event: str | None = None,
                     buttons: list[Button] | None = None, **values: Any) -> dict[str, Any]:
        """Send the hub notice `key` to the customer, in the conversation's language."""
        return await self.send(conversation_id, lambda conv: system_message(
            key, conv.language, event=event, buttons=buttons, **values))
