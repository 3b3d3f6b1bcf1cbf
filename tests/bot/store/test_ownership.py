"""Ownership changes and the conversation store, on real SQLite and a real PostgreSQL server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from bot.conversations import ownership
from bot.errors import InvalidTransition, NotFound
from bot.store import conversations as conversation_store
from bot.store import messages as message_store
from bot.store.db import Database, Tx, make_engine, migrate
from bot.store.messages import NewMessage
from bot.store.models import Sender, Status
from core.contracts import HandoffReason


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hub.db'}"
        return
    url = request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    with engine.begin() as conn:  # a clean schema for every test
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    yield url


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    engine = make_engine(db_url)
    migrate(engine)
    yield Database(engine)
    engine.dispose()


def open_with_message(db: Database, user: str = "u1", say: str = "hi", ext: str | None = None) -> Any:
    def work(tx: Tx) -> Any:
        conv = conversation_store.latest(tx.conn, "web", user) or ownership.open_conversation(
            tx, "web", user, language="en", customer_name=None)
        message_store.insert_message(tx.conn, NewMessage(conv.id, Sender.CUSTOMER, say, external_id=ext))
        return conv
    return db.write_sync(work)


def do(db: Database, step: str, conversation_id: str, agent: str = "alice", priority: int = 0) -> Any:
    actions = {
        "handoff": lambda tx: ownership.hand_off(tx, conversation_id, reason=HandoffReason.CUSTOMER_REQUEST,
                                                 summary="wants a person", details={"intents": ["x"]},
                                                 priority=priority, team=None),
        "claim": lambda tx: ownership.claim(tx, conversation_id, agent=agent, agent_name=agent),
        "resolve": lambda tx: ownership.resolve(tx, conversation_id, by=agent, rated_agent=agent),
        "hand_back": lambda tx: ownership.hand_back(tx, conversation_id),
        "reopen": lambda tx: ownership.reopen(tx, conversation_id),
    }
    return db.write_sync(actions[step])


def get(db: Database, conversation_id: str) -> Any:
    return db.read_sync(conversation_store.get, conversation_id)


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_a_provider_id_is_stored_once_per_conversation(db: Database) -> None:
    conv = open_with_message(db, ext="update-42")
    with pytest.raises(IntegrityError):
        open_with_message(db, ext="update-42")
    assert db.read_sync(message_store.by_external_id, conv.id, "update-42").text == "hi"
    assert [m.text for m in db.read_sync(message_store.listing, conv.id)] == ["hi"]  # the failed one left nothing


def test_lifecycle_bot_queued_assigned_resolved_and_back(db: Database) -> None:
    conv = open_with_message(db)
    assert conv.status == Status.BOT.value
    do(db, "handoff", conv.id)
    assert get(db, conv.id).status == "queued"
    assert db.read_sync(conversation_store.handoff_rows, conv.id)[0].reason == "customer_request"
    assert do(db, "claim", conv.id).assigned_agent == "alice"
    assert db.read_sync(conversation_store.handoff_rows, conv.id)[0].claimed_by == "alice"  # the wait is measured
    assert do(db, "resolve", conv.id).status == "resolved"
    reopened = do(db, "reopen", conv.id)
    assert (reopened.status, reopened.assigned_agent) == ("bot", None)


def test_each_change_emits_its_event_only_once_committed(db: Database) -> None:
    conv = open_with_message(db)
    published: list[str] = []

    class Recorder:
        async def publish(self, events: list[Any]) -> None:
            published.extend(e.type for e in events)

    import anyio

    recording = Database(db.engine, Recorder())

    async def run() -> None:
        await recording.write(lambda tx: ownership.hand_off(
            tx, conv.id, reason=HandoffReason.COMPLAINT, summary="", details={}, priority=10, team=None))
        with pytest.raises(InvalidTransition):  # already queued: nothing committed, nothing published
            await recording.write(lambda tx: ownership.hand_off(
                tx, conv.id, reason=HandoffReason.COMPLAINT, summary="", details={}, priority=10, team=None))

    anyio.run(run)
    assert published == ["queued"]


@pytest.mark.parametrize(
    ("setup", "action"),
    [
        ([], "claim"),  # a bot conversation cannot be claimed
        (["handoff"], "handoff"),  # already queued
        (["handoff", "claim", "resolve"], "claim"),
        ([], "hand_back"),
    ],
)
def test_invalid_transitions_change_nothing(db: Database, setup: list[str], action: str) -> None:
    conv = open_with_message(db)
    for step in setup:
        do(db, step, conv.id)
    before = get(db, conv.id)
    with pytest.raises(InvalidTransition):
        do(db, action, conv.id, agent="bob")
    after = get(db, conv.id)
    assert (after.status, after.assigned_agent) == (before.status, before.assigned_agent)


def test_unknown_conversation(db: Database) -> None:
    with pytest.raises(NotFound):
        do(db, "claim", "no-such-id")


def test_two_agents_claiming_at_once_exactly_one_wins(db: Database) -> None:
    for round_ in range(5):
        conv = open_with_message(db, user=f"race-{round_}")
        do(db, "handoff", conv.id)
        barrier = threading.Barrier(4)
        winners: list[str] = []
        losers: list[str] = []

        def claim(agent: str) -> None:
            barrier.wait()
            try:
                do(db, "claim", conv.id, agent=agent)
                winners.append(agent)
            except InvalidTransition:
                losers.append(agent)

        threads = [threading.Thread(target=claim, args=(f"agent-{i}",)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(winners) == 1 and len(losers) == 3
        assert get(db, conv.id).assigned_agent == winners[0]


def test_queue_orders_by_priority_then_arrival(db: Database) -> None:
    ids = {}
    for user, priority in [("first", 0), ("second", 0), ("angry", 10)]:
        conv = open_with_message(db, user=user)
        do(db, "handoff", conv.id, priority=priority)
        ids[user] = conv.id
    assert [c.id for c in db.read_sync(conversation_store.queue)] == [ids["angry"], ids["first"], ids["second"]]
    positions = [db.read_sync(lambda conn, u=u: conversation_store.queue_position(
        conn, conversation_store.get(conn, ids[u]))) for u in ("angry", "first", "second")]
    assert positions == [1, 2, 3]


def test_only_ownership_writes_the_status(db: Database) -> None:
    conv = open_with_message(db)
    with pytest.raises(AssertionError):
        db.write_sync(lambda tx: conversation_store.set_fields(tx.conn, conv.id, status="resolved"))
    assert get(db, conv.id).status == "bot"


def test_queue_and_transcript_survive_a_restart(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate(engine)
    db = Database(engine)
    conv = open_with_message(db, say="my parcel is late")
    do(db, "handoff", conv.id)
    engine.dispose()

    engine = make_engine(db_url)
    migrate(engine)  # a second migrate on a current schema is a no-op
    again = Database(engine)
    assert [c.id for c in again.read_sync(conversation_store.queue)] == [conv.id]
    assert [m.text for m in again.read_sync(message_store.listing, conv.id)] == ["my parcel is late"]
    engine.dispose()
