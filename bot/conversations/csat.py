"""Customer satisfaction: after a resolution the customer is asked for a 1–5 rating (scored against the agent
who resolved it, or the bot), and their answer is recorded once and thanked for."""

from __future__ import annotations

import re
from typing import Any

from bot.conversations.outbound import Outbound, system_message
from bot.store import conversations as conversation_store
from bot.store import notes as note_store
from bot.store.db import Database, Event, Tx
from bot.views import conversation_view
from connectors.base import Button, InboundMessage

_CSAT_PAYLOAD = re.compile(r'^/csat\{\s*"score"\s*:\s*([1-5])\s*\}$')
CSAT_OUTCOME = "csat"


def csat_score(msg: InboundMessage) -> int | None:
    """A CSAT answer: the 1–5 quick-reply button, or the customer typing just the digit."""
    if msg.kind == "button":
        m = _CSAT_PAYLOAD.match(str(msg.payload.get("payload") or "").strip())
        if m:
            return int(m.group(1))
    stripped = msg.text.strip()
    return int(stripped) if stripped in {"1", "2", "3", "4", "5"} else None


def take_answer(tx: Tx, conv: Any, msg: InboundMessage) -> str | None:
    """An inbound claim: if `msg` answers the pending CSAT question of a resolved conversation, record it (once)
    and emit `csat` (its listener thanks the customer)."""
    if conv.status != "resolved":
        return None
    score = csat_score(msg)
    if score is None:
        return None
    pending = note_store.pending_csat(tx.conn, conv.id)
    if pending is None:
        return None
    answered = note_store.answer_csat(tx.conn, pending.id, score)
    if answered is None:
        return None
    tx.emit("csat", conversation_id=conv.id, score=score, agent=answered.agent, conversation=conversation_view(conv))
    return CSAT_OUTCOME


class CsatSurvey:
    def __init__(self, db: Database, outbound: Outbound, *, enabled: bool = True) -> None:
        self.db = db
        self.outbound = outbound
        self.enabled = enabled

    async def on_resolved(self, event: Event) -> None:
        """Listener: ask for a rating (the question and its pending row in one transaction)."""
        if not self.enabled:
            return
        conversation_id, agent = event.data["conversation_id"], event.data.get("rated_agent")

        def work(tx: Tx) -> Any:
            conv = conversation_store.get(tx.conn, conversation_id)
            note_store.request_csat(tx.conn, conversation_id, agent)
            buttons = [Button(str(n), f'/csat{{"score": {n}}}') for n in range(1, 6)]
            return self.outbound.stage(tx, conv, system_message("csat_question", conv.language, buttons=buttons))

        await self.outbound.flush(await self.db.write(work))

    async def on_answer(self, event: Event) -> None:
        """Listener: thank the customer for their rating."""
        await self.outbound.notice(event.data["conversation_id"], "csat_thanks")
