"""A customer message the hub accepted is answered, or handed to a person with a reason — even when the hub
stops mid-turn; and concurrent first messages of a new customer never fork the conversation."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from bot.app import create_app
from bot.clients.rasa import RasaClient
from bot.store import conversations as conversation_store
from bot.store import messages as message_store
from bot.store.models import utcnow
from connectors.base import InboundMessage
from core.settings import HubSettings
from handoff_kit import DEFAULT_SCRIPT, scripted_rasa


def hanging_rasa() -> RasaClient:
    """A Rasa that takes the message and never answers (the hub is killed while it waits)."""
    async def handler(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")
    return RasaClient(["http://rasa.test"], transport=httpx.MockTransport(handler), retries=0, timeout_s=3600)


def settings(data_dir: Path, **extra: Any) -> HubSettings:
    return HubSettings.from_env(data_dir=data_dir, queue_tick_s=3600.0, outbox_poll_s=3600.0,
                                handoff_config=data_dir / "none.yml", **extra)


async def crash_mid_turn(data_dir: Path, texts: list[str]) -> None:
    """A hub that stores the customer's messages and is killed before Rasa answers any of them."""
    app = create_app(settings(data_dir), rasa=hanging_rasa())
    async with app.router.lifespan_context(app):
        hub = app.state.container
        tasks = [asyncio.create_task(hub.inbound.handle(InboundMessage("web", f"v{i}", t, external_id=f"c{i}")))
                 for i, t in enumerate(texts)]
        for _ in range(2400):  # up to two minutes: a shared machine under load
            await asyncio.sleep(0.05)
            if len(hub.db.read_sync(message_store.pending_turns)) == len(texts):
                break
        assert len(hub.db.read_sync(message_store.pending_turns)) == len(texts), "the messages were never stored"
        for task in tasks:  # the process dies: nothing after this point runs
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def resumed(hub: Any) -> None:
    """Wait for the restart's resumption of unanswered turns (it runs in the background after start)."""
    [task] = [t for t in hub._background if t.get_name() == "resume-turns"]
    await asyncio.wait_for(task, timeout=30)


def customer_view(hub: Any, visitor: str) -> list[tuple[str, str, str | None]]:
    conv = hub.db.read_sync(conversation_store.latest, "web", visitor)
    return [(m.sender, m.text, m.outcome) for m in hub.db.read_sync(message_store.listing, conv.id)]


async def test_turns_left_unanswered_by_a_killed_hub_are_answered_after_restart(tmp_path: Path) -> None:
    await crash_mid_turn(tmp_path, ["hi", "what about gift cards"])
    app = create_app(settings(tmp_path), rasa=scripted_rasa(DEFAULT_SCRIPT, nlu_header=True))
    async with app.router.lifespan_context(app):
        hub = app.state.container
        await resumed(hub)
        assert customer_view(hub, "v0") == [("customer", "hi", "answered"),
                                            ("bot", "Hello! I'm the Brightcart assistant.", None)]
        # the resumed knowledge-base answer, then its "Was this helpful?" question
        assert [m[:2] for m in customer_view(hub, "v1")[-2:]] == [("bot", "Gift cards are sent by e-mail."),
                                                                   ("system", "Was this helpful?")]


async def test_a_resend_of_an_unanswered_message_gets_the_answer_not_a_bare_ack(tmp_path: Path) -> None:
    await crash_mid_turn(tmp_path, ["hi"])
    app = create_app(settings(tmp_path), rasa=scripted_rasa(DEFAULT_SCRIPT, nlu_header=True))
    # Nothing resumed at start in this test: the widget's resend (same client id) arrives first.
    hub = app.state.container
    hub.inbound.stale_after_s = 0
    async with app.router.lifespan_context(app):
        for task in hub._background:
            if task.get_name() == "resume-turns":
                task.cancel()
        result = await hub.inbound.handle(InboundMessage("web", "v0", "hi", external_id="c0"))
        assert result.duplicate and result.message_id is not None
        assert customer_view(hub, "v0") == [("customer", "hi", "answered"),
                                            ("bot", "Hello! I'm the Brightcart assistant.", None)]
        again = await hub.inbound.handle(InboundMessage("web", "v0", "hi", external_id="c0"))
        assert again.duplicate and again.message_id is None  # answered now: a replay is only acknowledged
        assert len(customer_view(hub, "v0")) == 2


async def test_a_turn_left_long_ago_goes_to_a_person_with_a_reason(tmp_path: Path) -> None:
    await crash_mid_turn(tmp_path, ["where is my parcel?"])
    app = create_app(settings(tmp_path), rasa=scripted_rasa(DEFAULT_SCRIPT, nlu_header=True))
    hub = app.state.container
    with hub.engine.begin() as conn:
        conn.execute(text("UPDATE messages SET created_at = :t"), {"t": utcnow() - timedelta(hours=2)})
    async with app.router.lifespan_context(app):
        await resumed(hub)
        conv = hub.db.read_sync(conversation_store.latest, "web", "v0")
        assert (conv.status, conv.handoff_reason) == ("queued", "bot_unavailable")
        view = customer_view(hub, "v0")
        assert view[0] == ("customer", "where is my parcel?", "bot_unavailable")
        assert any("queue" in t for s, t, _ in view if s == "system")  # the customer is told


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_concurrent_first_messages_of_a_new_customer_never_fork(tmp_path: Path, backend: str,
                                                                      request: pytest.FixtureRequest) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    if backend == "postgres":
        from bot.store.db import make_engine
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
    # Two hubs on one database (two processes behind a load balancer), each getting a copy of the webhook.
    apps = [create_app(settings(tmp_path / f"h{i}", database_url=url),
                       rasa=scripted_rasa(DEFAULT_SCRIPT, nlu_header=True)) for i in range(2)]
    async with apps[0].router.lifespan_context(apps[0]), apps[1].router.lifespan_context(apps[1]):
        hubs = [a.state.container for a in apps]
        for n in range(10):
            msg = InboundMessage("whatsapp", f"+3933300000{n:02d}", "hi", external_id=f"SM{n:032d}")
            results = await asyncio.gather(*(h.inbound.handle(msg) for h in hubs for _ in range(2)))
            assert len({r.conversation_id for r in results}) == 1
            assert sum(not r.duplicate for r in results) == 1
        convs = hubs[0].db.read_sync(lambda conn: conn.execute(text("SELECT channel, external_user_id FROM conversations")).all())
        assert len(convs) == 10
        replies = hubs[0].db.read_sync(lambda conn: conn.execute(text("SELECT count(*) FROM messages WHERE sender = 'bot'")).scalar())
        assert replies == 10  # each customer answered once


async def test_a_message_is_answered_by_one_turn_even_when_two_race(tmp_path: Path) -> None:
    """A resumed turn and a late original (or two hub processes) racing for one message: one answer."""
    await crash_mid_turn(tmp_path, ["hi"])
    app = create_app(settings(tmp_path), rasa=scripted_rasa(DEFAULT_SCRIPT, nlu_header=True))
    hub = app.state.container
    async with app.router.lifespan_context(app):
        for task in hub._background:
            if task.get_name() == "resume-turns":
                task.cancel()
        [pending] = hub.db.read_sync(message_store.pending_turns)
        conv = hub.db.read_sync(conversation_store.get, pending.conversation_id)
        await asyncio.gather(*(hub.bot_turns.run(conv, pending, "hi", []) for _ in range(3)))
        replies = [m for m in hub.db.read_sync(message_store.listing, conv.id) if m.sender == "bot"]
        assert [(m.text, m.reply_to) for m in replies] == [("Hello! I'm the Brightcart assistant.", pending.id)]
