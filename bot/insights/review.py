"""The review inbox: customer messages of bot-kept conversations that need a look (`review_items`, kept by
`bot.insights.facts`), each with the bot's reasoning — the intent and its confidence, what the knowledge base
decided (the entry and score, the choices offered, or the best score of a miss), what the bot said, and what
happened next ("not helpful", a handoff, the agent's reply). One click turns the message into a new example of
an intent, a phrasing of an FAQ entry, or a draft of a new FAQ entry prefilled from the agent's reply; the
change goes through `ContentChanges` and is recorded in `content_changes`."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any, Callable

import anyio
from sqlalchemy import Connection, func, insert, select, update

from bot.errors import DomainError, NotFound
from bot.insights.content_changes import ContentChangeError, ContentChanges, Editor, Written
from bot.store.db import Database, Tx
from bot.insights.facts import conversations, feedback, handoffs, messages, review_items
from bot.store.models import ContentChange, Sender, iso, utcnow

changes_table = ContentChange.__table__

ACTIONS = ("example", "phrasing", "draft", "dismiss")
STATES = ("open", "done", "dismissed")


class ContentRejected(DomainError):
    status_code = 422
    code = "content_rejected"


def _following(conn: Connection, m: Any) -> dict[str, Any]:
    """What came after the customer's message: the bot's reply, the next customer message, the first agent
    reply, the feedback on the answer and a handoff."""
    later = list(conn.execute(select(messages).where(messages.c.conversation_id == m.conversation_id,
                                                     messages.c.seq > m.seq).order_by(messages.c.seq).limit(12)))
    bot_said: list[dict[str, Any]] = []
    for x in later:
        if x.sender == Sender.CUSTOMER.value:
            break
        if x.sender in (Sender.BOT.value, Sender.SYSTEM.value):
            bot_said.append({"sender": x.sender, "text": x.text, "kb_entry_id": x.kb_entry_id,
                             "buttons": [b.get("title") for b in (x.payload or {}).get("buttons", [])]})
    agent = conn.execute(select(messages.c.text, messages.c.sender_name, messages.c.created_at)
                         .where(messages.c.conversation_id == m.conversation_id, messages.c.seq > m.seq,
                                messages.c.sender == Sender.AGENT.value).order_by(messages.c.seq).limit(1)).first()
    helpful = conn.execute(select(feedback.c.helpful).where(feedback.c.customer_message_id == m.id)).scalar()
    handoff = conn.execute(select(handoffs.c.reason, handoffs.c.summary, handoffs.c.created_at)
                           .where(handoffs.c.conversation_id == m.conversation_id,
                                  handoffs.c.created_at >= m.created_at).order_by(handoffs.c.id).limit(1)).first()
    return {
        "bot_replies": bot_said,
        "agent_reply": {"text": agent.text, "by": agent.sender_name, "at": iso(agent.created_at)} if agent else None,
        "helpful": helpful,
        "handoff": {"reason": handoff.reason, "summary": handoff.summary, "at": iso(handoff.created_at)}
        if handoff else None,
    }


def inbox(conn: Connection, *, reason: str | None = None, language: str | None = None, state: str = "open",
          limit: int = 50, offset: int = 0) -> dict[str, Any]:
    where = [review_items.c.state == state]
    if reason:
        where.append(review_items.c.reason == reason)
    if language:
        where.append(review_items.c.language == language)
    total = int(conn.execute(select(func.count()).select_from(review_items).where(*where)).scalar() or 0)
    counts = {r: int(n) for r, n in conn.execute(
        select(review_items.c.reason, func.count()).where(review_items.c.state == state)
        .group_by(review_items.c.reason))}
    rows = list(conn.execute(
        select(review_items, messages.c.text, messages.c.intent, messages.c.confidence, messages.c.outcome,
               messages.c.kb_decision, messages.c.kb_score, messages.c.kb_choices, messages.c.kb_entry_id,
               messages.c.seq, messages.c.id.label("mid"), conversations.c.channel, conversations.c.status)
        .join(messages, messages.c.id == review_items.c.message_id)
        .join(conversations, conversations.c.id == review_items.c.conversation_id)
        .where(*where).order_by(review_items.c.created_at.desc()).limit(limit).offset(offset)))
    items = []
    for r in rows:
        m = SimpleNamespace(id=r.mid, conversation_id=r.conversation_id, seq=r.seq, created_at=r.created_at)
        items.append({
            "message_id": r.message_id, "conversation_id": r.conversation_id, "text": r.text,
            "language": r.language, "channel": r.channel, "conversation_status": r.status,
            "created_at": iso(r.created_at), "reason": r.reason, "reasons": r.reasons, "state": r.state,
            "action": r.action, "handled_by": r.handled_by,
            "reasoning": {"intent": r.intent, "confidence": r.confidence, "outcome": r.outcome,
                          "kb_decision": r.kb_decision, "kb_score": r.kb_score, "kb_entry_id": r.kb_entry_id,
                          "kb_choices": r.kb_choices or []},
            **_following(conn, m),
        })
    return {"total": total, "counts": counts, "items": items}


def _record(tx: Tx, message_id: str, action: str, actor: str, written: Written | None) -> dict[str, Any]:
    item = tx.conn.execute(select(review_items).where(review_items.c.message_id == message_id)).first()
    if item is None:
        raise NotFound(f"no review item for message {message_id}")
    now = utcnow()
    change_id = None
    if written is not None:
        change_id = tx.conn.execute(insert(changes_table).values(
            kind=written.kind, target=written.target, language=written.language, text=written.text,
            answer=written.answer, file=written.file, revision=written.revision, state="pending", source_message_id=message_id, author=actor,
            created_at=now).returning(changes_table.c.id)).scalar()
    tx.conn.execute(update(review_items).where(review_items.c.message_id == message_id).values(
        state="dismissed" if action == "dismiss" else "done", action=action, handled_by=actor, handled_at=now))
    tx.emit("reviewed", message_id=message_id, action=action, by=actor)
    return {"message_id": message_id, "action": action, "change_id": change_id,
            "change": written.__dict__ if written is not None else None}


class ReviewInbox:
    def __init__(self, db: Database, changes: ContentChanges,
                 published_revision: Callable[[], int | None] = lambda: None) -> None:
        self.db = db
        self.changes = changes
        self.published_revision = published_revision  # the last content revision the live release contains
        self._entries: tuple[float, dict[tuple[str, str], str]] | None = None

    def entry_questions(self) -> dict[tuple[str, str], str]:
        """(entry id, language) → question, cached for a few seconds (the inbox shows the entries' questions)."""
        if self._entries is None or time.monotonic() - self._entries[0] > 10:
            try:
                found = {(e["id"], e["language"]): e["question"] for e in self.changes.faq_entries()}
            except ContentChangeError:
                found = {}
            self._entries = (time.monotonic(), found)
        return self._entries[1]

    async def items(self, **kw: Any) -> dict[str, Any]:
        result = await self.db.read(inbox, **kw)
        questions = await anyio.to_thread.run_sync(self.entry_questions)
        for item in result["items"]:
            r, lang = item["reasoning"], item["language"]
            def question(entry: str | None) -> str | None:
                return questions.get((entry, lang)) or next((q for (e, _), q in questions.items() if e == entry), None)
            r["kb_entry_question"] = question(r["kb_entry_id"])
            r["kb_choice_questions"] = [question(e) or e for e in r["kb_choices"]]
        return result

    async def act(self, message_id: str, action: str, editor: Editor, *, intent: str | None = None,
                  entry_id: str | None = None, language: str | None = None, text: str | None = None,
                  question: str | None = None, answer: str | None = None) -> dict[str, Any]:
        """Carry out one inbox action on the message (see the module docstring)."""
        if action not in ACTIONS:
            raise ContentRejected(f"unknown action {action!r}: use one of {', '.join(ACTIONS)}")

        def original(conn: Connection) -> Any:
            return conn.execute(select(messages.c.text, review_items.c.language, review_items.c.state)
                                .join(review_items, review_items.c.message_id == messages.c.id)
                                .where(messages.c.id == message_id)).first()

        found = await self.db.read(original)
        if found is None:
            raise NotFound(f"no review item for message {message_id}")
        lang = language or found.language or "en"
        said = text if text and text.strip() else found.text
        written: Written | None = None
        try:
            if action == "example":
                if not intent:
                    raise ContentRejected("name the intent the message is an example of")
                written = await self.changes.add_intent_example(editor, intent, lang, said)
            elif action == "phrasing":
                if not entry_id:
                    raise ContentRejected("name the FAQ entry the message is a phrasing of")
                written = await self.changes.add_faq_phrasing(editor, entry_id, lang, said)
            elif action == "draft":
                written = await self.changes.draft_faq_entry(editor, question or said, answer or "", lang)
        except ContentChangeError as exc:
            raise ContentRejected(str(exc)) from None
        self._entries = None
        return await self.db.write(_record, message_id, action, editor.key, written)

    async def content_changes(self, limit: int = 100) -> list[dict[str, Any]]:
        def read(conn: Connection) -> list[dict[str, Any]]:
            rows = conn.execute(select(changes_table).order_by(changes_table.c.id.desc()).limit(limit))
            return [{**r._mapping, "created_at": iso(r.created_at)} for r in rows]

        live = self.published_revision()
        found = await self.db.read(read)
        for change in found:  # pending until a published release contains its revision
            rev = change.get("revision")
            change["state"] = "published" if rev is not None and live is not None and rev <= live else "pending"
        return found
