"""The conversation store on real SQLite and a real PostgreSQL server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.db import make_engine, migrate
from bot.models import Sender, Status
from bot.store import ConversationStore, InvalidTransition, NewMessage, NotFound


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
def store(db_url: str) -> Iterator[ConversationStore]:
    engine = make_engine(db_url)
    migrate(engine)
    yield ConversationStore(engine)
    engine.dispose()


def _customer(store: ConversationStore, user: str = "u1", text: str = "hi", ext: str | None = None):  # type: ignore[no-untyped-def]
    conv = store.get_or_create("web", user, language="en")
    return conv, store.add_message(NewMessage(conv.id, Sender.CUSTOMER, text, external_id=ext))


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_same_customer_same_conversation_other_customer_new(store: ConversationStore) -> None:
    a = store.get_or_create("web", "alice", language="it")
    assert store.get_or_create("web", "alice", language="en").id == a.id
    assert store.get_or_create("web", "bob", language="en").id != a.id
    assert store.get_or_create("telegram", "alice", language="en").id != a.id
    assert store.get(a.id).language == "it"
    assert store.get(a.id).status == Status.BOT.value


def test_replayed_provider_message_is_stored_once(store: ConversationStore) -> None:
    conv, first = _customer(store, ext="update-42")
    _, again = _customer(store, ext="update-42")
    assert first is not None and again is None
    assert [m.text for m in store.messages(conv.id)] == ["hi"]


def test_lifecycle_bot_queued_assigned_resolved_and_back(store: ConversationStore) -> None:
    conv, _ = _customer(store)
    store.hand_off(conv.id, reason="customer_request", summary="wants a person", details={"intents": ["x"]})
    assert store.get(conv.id).status == "queued"
    assert store.handoffs(conv.id)[0].reason == "customer_request"
    assert store.claim(conv.id, "alice").assigned_agent == "alice"
    assert store.resolve(conv.id).status == "resolved"
    reopened = store.reopen(conv.id)
    assert (reopened.status, reopened.assigned_agent) == ("bot", None)


@pytest.mark.parametrize(
    ("setup", "action"),
    [
        ([], "claim"),  # a bot conversation cannot be claimed
        (["handoff"], "handoff"),  # already queued
        (["handoff", "claim", "resolve"], "claim"),
        ([], "hand_back"),
    ],
)
def test_invalid_transitions_change_nothing(store: ConversationStore, setup: list[str], action: str) -> None:
    conv, _ = _customer(store)
    for step in setup:
        {"handoff": lambda: store.hand_off(conv.id, reason="r"), "claim": lambda: store.claim(conv.id, "a"),
         "resolve": lambda: store.resolve(conv.id)}[step]()
    before = store.get(conv.id)
    with pytest.raises(InvalidTransition):
        {"claim": lambda: store.claim(conv.id, "b"), "handoff": lambda: store.hand_off(conv.id, reason="r"),
         "hand_back": lambda: store.hand_back(conv.id)}[action]()
    after = store.get(conv.id)
    assert (after.status, after.assigned_agent) == (before.status, before.assigned_agent)


def test_unknown_conversation(store: ConversationStore) -> None:
    with pytest.raises(NotFound):
        store.claim("no-such-id", "alice")


def test_two_agents_claiming_at_once_exactly_one_wins(store: ConversationStore) -> None:
    for round_ in range(5):
        conv, _ = _customer(store, user=f"race-{round_}")
        store.hand_off(conv.id, reason="customer_request")
        barrier = threading.Barrier(4)
        winners: list[str] = []
        losers: list[str] = []

        def claim(agent: str) -> None:
            barrier.wait()
            try:
                store.claim(conv.id, agent)
                winners.append(agent)
            except InvalidTransition:
                losers.append(agent)

        threads = [threading.Thread(target=claim, args=(f"agent-{i}",)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(winners) == 1 and len(losers) == 3
        assert store.get(conv.id).assigned_agent == winners[0]


def test_queue_orders_by_priority_then_arrival(store: ConversationStore) -> None:
    ids = {}
    for user, priority in [("first", 0), ("second", 0), ("angry", 10)]:
        conv, _ = _customer(store, user=user)
        store.hand_off(conv.id, reason="r", priority=priority)
        ids[user] = conv.id
    assert [c.id for c in store.queue()] == [ids["angry"], ids["first"], ids["second"]]
    assert [store.queue_position(ids[u]) for u in ("angry", "first", "second")] == [1, 2, 3]


def test_queue_and_transcript_survive_a_restart(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate(engine)
    store = ConversationStore(engine)
    conv, _ = _customer(store, text="my parcel is late")
    store.hand_off(conv.id, reason="customer_request")
    engine.dispose()

    engine = make_engine(db_url)
    migrate(engine)  # a second migrate on a current schema is a no-op
    again = ConversationStore(engine)
    assert [c.id for c in again.queue()] == [conv.id]
    assert [m.text for m in again.messages(conv.id)] == ["my parcel is late"]
    engine.dispose()
