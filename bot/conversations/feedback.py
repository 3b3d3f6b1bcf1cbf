""""Was this helpful?" after each knowledge-base answer, on every channel: two buttons (the widget's quick
replies, Telegram's inline keyboard, a numbered "1. Yes / 2. No" list on WhatsApp and SMS, where replying 1 or
2 presses them). The answer is an inbound claim (`take_answer`), stored per answer (`feedback` table) and never
sent to Rasa; a listener thanks the customer, or offers a person when the answer did not help."""

from __future__ import annotations

import json
import re
from typing import Any

from bot.conversations.outbound import Outbound, Staged, system_message
from bot.store import feedback as feedback_store
from bot.store.db import Event, Tx
from connectors.base import Button, InboundMessage
from core.i18n import t

FEEDBACK_OUTCOME = "feedback"
_PAYLOAD = re.compile(r"^/feedback(\{.*\})\s*$", re.DOTALL)


def payload(answer_message_id: str, helpful: bool) -> str:
    """The button payload that answers the question about the bot message `answer_message_id`."""
    return "/feedback" + json.dumps({"answer": answer_message_id, "helpful": helpful}, separators=(",", ":"))


def parse(msg: InboundMessage) -> tuple[str, bool] | None | bool:
    """(answer message id, helpful) for a feedback button press; False for a malformed one; None otherwise."""
    if msg.kind != "button":
        return None
    match = _PAYLOAD.match(str(msg.payload.get("payload") or "").strip())
    if not match:
        return None
    try:
        data = json.loads(match.group(1))
        return str(data["answer"]), bool(data["helpful"])
    except (ValueError, KeyError, TypeError):
        return False


def stage_question(tx: Tx, conv: Any, outbound: Outbound, staged: Staged, *, answer_message_id: str,
                   customer_message_id: str | None, kb_entry_id: str | None) -> None:
    """Ask about the answer just staged, in the same transaction (its row and its message)."""
    feedback_store.ask(tx.conn, conv.id, answer_message_id=answer_message_id, customer_message_id=customer_message_id,
                       kb_entry_id=kb_entry_id, language=conv.language)
    buttons = [Button(t("feedback_yes", conv.language), payload(answer_message_id, True)),
               Button(t("feedback_no", conv.language), payload(answer_message_id, False))]
    outbound.stage(tx, conv, system_message("feedback_question", conv.language, buttons=buttons,
                                            extra={"answer": answer_message_id}), staged=staged, touch=False)


def take_answer(tx: Tx, conv: Any, msg: InboundMessage) -> str | None:
    """An inbound claim: a "Was this helpful?" button press. It is recorded once (a second press, or one for
    another conversation's answer, is taken but changes nothing) and emits `feedback`."""
    parsed = parse(msg)
    if parsed is None:
        return None
    if parsed is False:
        return FEEDBACK_OUTCOME
    answer_id, helpful = parsed  # type: ignore[misc]
    row = feedback_store.answer(tx.conn, conv.id, answer_id, helpful)
    if row is not None:
        tx.emit("feedback", conversation_id=conv.id, helpful=helpful, kb_entry_id=row.kb_entry_id,
                channel=conv.channel, team=conv.team, status=conv.status)
    return FEEDBACK_OUTCOME


class FeedbackReplies:
    """Listener on `feedback`: thank the customer; when it did not help, offer a person."""

    def __init__(self, outbound: Outbound) -> None:
        self.outbound = outbound

    async def on_feedback(self, event: Event) -> None:
        cid = event.data["conversation_id"]
        if event.data.get("helpful") or event.data.get("status") != "bot":  # glad, or a person has it already
            await self.outbound.notice(cid, "feedback_thanks")
            return
        await self.outbound.send(cid, lambda c: system_message(
            "feedback_sorry", c.language, buttons=[Button(t("talk_to_person", c.language), "/request_human")]))
