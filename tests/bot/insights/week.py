"""A generated week of conversations, driven through the real hub (web chat sockets, the agent API, CSAT and
"Was this helpful?" buttons) with a scripted Rasa, then spread over the last seven days: every timestamp of a
conversation is moved back to its day and hour, and what happened after an agent took it is moved later still
(the wait for a person, the time between replies), so that times and business hours mean something.

`Week.log` is what the test did, conversation by conversation: the independent side of every comparison.
"""

from __future__ import annotations

import random
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from bot.store.models import Conversation, Csat, Feedback, Handoff, Message, utcnow
from core.settings import PROJECT_ROOT
from handoff_kit import (ADMIN, DEFAULT_SCRIPT, HANDOFF, Customer, admin_headers, agent_session, create_agent,
                         make_client)
from tests_support import action_server

HANDOFF_YML = """
default_team: support
teams:
  support: {name: Customer support, timezone: Europe/Rome, hours: {mon-fri: "09:00-17:00"}}
  care: {name: Customer care, timezone: Europe/Rome}
routing:
  reasons: {complaint: care}
"""

# the questions the bot cannot answer, each asked in several ways (content gaps group them by meaning)
ADDRESS = ("how do I change my address", "how can I update my delivery address",
           "I moved, where do I change the address on my account")
WARRANTY = ("is my gadget under warranty", "does the warranty cover my headphones")
KB = {"decision": "answer", "entry_id": "gift-cards", "score": 0.81}
SCRIPT = {
    **DEFAULT_SCRIPT,
    "what about gift cards": ([{"text": "Gift cards are sent by e-mail."}, {"custom": {"kb": KB}}], ("faq", 0.88)),
    "che ne dite delle carte regalo": ([{"text": "Le carte regalo arrivano per e-mail."},
                                        {"custom": {"kb": {**KB, "score": 0.74}}}], ("faq", 0.52)),
    "what about returns": ([{"text": "Which one do you mean?", "buttons": [
        {"title": "Returns policy", "payload": '/choose_kb_entry{"kb_entry_id":"returns-policy"}'},
        {"title": "Damaged items", "payload": '/choose_kb_entry{"kb_entry_id":"damaged-items"}'}]},
        {"custom": {"kb": {"decision": "choices", "choices": ["returns-policy", "damaged-items"],
                           "best_score": 0.5}}}], ("return_refund", 0.71)),
    **{text: ([{"text": "Sorry, I can't help with that."}], ("out_of_scope", 0.63)) for text in ADDRESS},
    **{text: ([{"text": "I couldn't find an answer to that."},
               {"custom": {"kb": {"decision": "none", "best_score": 0.21},
                           "handoff": {"reason": "no_confident_answer", "summary": "The bot found no confident answer.",
                                       "details": {}}}}], ("nlu_fallback", 0.31)) for text in WARRANTY},
    "person please": (HANDOFF["customer_request"], ("request_human", 0.97)),
}

# kind → (customer messages before any agent, expected outcome when the conversation is old enough)
KINDS = ("kb_yes", "kb_no", "kb_silent", "choices", "out_of_scope", "handoff_agent", "complaint", "bot_resolved",
         "miss_queued")
AGENTS = {"support": ("maria@example.com", "Maria"), "care": ("luca@example.com", "Luca")}
EDITOR = ("erin@example.com", "editor-password-1")


@dataclass
class Done:
    """One generated conversation, as the test made it."""

    id: str
    kind: str
    language_hint: str
    day: int  # days ago
    wait_min: int = 0
    reply_gap_min: int = 0
    csat: int | None = None
    agent: str | None = None
    helpful: bool | None = None
    texts: list[str] = field(default_factory=list)


@dataclass
class Week:
    client: TestClient
    tmp: Path
    log: list[Done]
    now: datetime
    editor: Any = None


def _shift(client: TestClient, cid: str, offset: timedelta, marks: list[tuple[datetime, timedelta]]) -> None:
    """Move every timestamp of the conversation by `offset`, plus each mark's delay for times at/after it."""
    def moved(value: datetime | None) -> datetime | None:
        if value is None:
            return None
        value = value if value.tzinfo else value.replace(tzinfo=utcnow().tzinfo)
        extra = sum((delay for at, delay in marks if value >= at), timedelta())
        return value + offset + extra

    def work(tx: Any) -> None:
        conn = tx.conn
        for table, key, columns in (
            (Conversation.__table__, "id", ("created_at", "updated_at", "queued_at", "assigned_at", "resolved_at")),
            (Message.__table__, "seq", ("created_at",)),
            (Handoff.__table__, "id", ("created_at", "claimed_at")),
            (Csat.__table__, "id", ("requested_at", "answered_at")),
            (Feedback.__table__, "id", ("asked_at", "answered_at")),
        ):
            where = table.c.id == cid if table is Conversation.__table__ else table.c.conversation_id == cid
            for row in list(conn.execute(select(table).where(where))):
                values = {col: moved(getattr(row, col)) for col in columns}
                conn.execute(update(table).where(table.c[key] == getattr(row, key)).values(**values))

    client.app.state.container.db.write_sync(work)


def generate(tmp: Path, *, per_day: int = 6, seed: int = 15) -> Week:
    rng = random.Random(seed)
    content = tmp / "content"
    shutil.copytree(PROJECT_ROOT / "nlu_data", content / "nlu_data")
    shutil.copytree(PROJECT_ROOT / "kb_index" / "content", content / "kb")
    shutil.copy(PROJECT_ROOT / "domain.yml", content / "domain.yml")
    # the review inbox changes content through the studio: on this copy, never the project's own files
    # the real action server in-process: content gaps embed the questions with its encoder
    client = make_client(tmp, script=SCRIPT, handoff_yml=HANDOFF_YML, rasa_data_dir=content / "nlu_data",
                         rasa_domain=content / "domain.yml", kb_content_dir=content / "kb", studio_git=False,
                         actions=action_server)
    client.__enter__()
    for team, (email, name) in AGENTS.items():
        create_agent(client, email, display_name=name, teams=[team], max_concurrent=50)
    create_agent(client, EDITOR[0], EDITOR[1], role="editor", display_name="Erin")
    agents = {team: agent_session(client, email) for team, (email, _) in AGENTS.items()}
    now = utcnow()
    log: list[Done] = []
    n = 0
    for day in range(6, -1, -1):
        for slot in range(per_day):
            kind = KINDS[n % len(KINDS)]
            n += 1
            hint = "it" if n % 4 == 0 else "en"
            customer = Customer(client, language=hint)
            done = Done("", kind, hint, day)
            marks: list[tuple[datetime, timedelta]] = []

            def say(text: str, button: str | None = None) -> list[dict[str, Any]]:
                done.texts.append(text)
                return customer.say(text, button=button)

            def feedback_button(frames: list[dict[str, Any]], helpful: bool) -> str:
                asked = next(f for f in frames if f.get("event") == "feedback_question")
                return asked["buttons"][0 if helpful else 1]["payload"]

            question = "che ne dite delle carte regalo" if hint == "it" else "what about gift cards"
            if kind in ("kb_yes", "kb_no"):
                say("hi")
                frames = say(question)
                done.helpful = kind == "kb_yes"
                say("Yes" if done.helpful else "No", button=feedback_button(frames, done.helpful))
            elif kind == "kb_silent":
                say(question)
            elif kind == "choices":
                say("what about returns")
            elif kind == "out_of_scope":
                say(ADDRESS[(n // len(KINDS)) % len(ADDRESS)])
            elif kind == "bot_resolved":
                say("hi")
                say("thanks, solved")
                done.csat = rng.choice([5, 3])
                say(str(done.csat), button=f'/csat{{"score": {done.csat}}}')
            elif kind == "miss_queued":
                say(WARRANTY[(n // len(KINDS)) % len(WARRANTY)])
            else:  # handed to a person, who answers twice and resolves; the customer rates them
                team = "care" if kind == "complaint" else "support"
                if kind == "complaint":
                    say("this is outrageous")
                else:
                    say(question)
                    say("person please")
                agent = agents[team]
                done.agent = AGENTS[team][0]
                done.wait_min = rng.choice([7, 25, 95, 240])
                done.reply_gap_min = rng.choice([3, 12, 45])
                marks.append((utcnow(), timedelta(minutes=done.wait_min)))
                cid = customer.conversation_id
                assert agent.conv(cid, "claim").status_code == 200
                assert agent.conv(cid, "reply", {"text": "Hi, I'm looking into it."}).status_code == 200
                say("it's about order BC-123456")
                marks.append((utcnow(), timedelta(minutes=done.reply_gap_min)))
                assert agent.conv(cid, "reply", {"text": "Your gift card was resent to your e-mail."}).status_code == 200
                assert agent.conv(cid, "resolve").status_code == 200
                done.csat = rng.choice([5, 4, 2])
                say(str(done.csat), button=f'/csat{{"score": {done.csat}}}')
            done.id = customer.conversation_id or ""
            start = now - timedelta(days=day, hours=1 + (slot * 37) % 11, minutes=(slot * 13) % 60)
            first = client.app.state.container.db.read_sync(
                lambda conn: conn.execute(select(Conversation.__table__.c.created_at)
                                          .where(Conversation.__table__.c.id == done.id)).scalar())
            first = first if first.tzinfo else first.replace(tzinfo=now.tzinfo)
            _shift(client, done.id, start - first, marks)
            log.append(done)
    client.app.state.container.facts.rebuild_sync()
    return Week(client, tmp, log, now)


__all__ = ["ADMIN", "EDITOR", "Week", "admin_headers", "generate"]
