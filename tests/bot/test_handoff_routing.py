"""Routing config (teams, hours, holidays, time zones, intent/KB-tag mapping) and auto-assignment."""

from __future__ import annotations

import asyncio
from typing import Any

from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.agents.presence import MemoryPresence, RedisPresence
from bot.handoff.queue import estimate_wait_s
from bot.handoff.teams import ConfigError, HandoffConfig
from handoff_kit import Customer, admin_headers, agent_session, create_agent, make_client, texts

ROME = ZoneInfo("Europe/Rome")

CONFIG = {
    "default_team": "support",
    "teams": {
        "support": {"timezone": "Europe/Rome", "hours": {"mon-fri": "09:00-13:00, 14:00-18:00", "sat": "10:00-12:00"},
                    "holidays": ["2025-12-25"]},
        "billing": {"name": "Billing", "skills": ["payments"], "timezone": "Asia/Shanghai"},
        "care": {},
    },
    "routing": {"reasons": {"complaint": "care"}, "intents": {"payment_problem": "billing"},
                "kb_tags": {"refunds": "billing"}},
}


def test_routing_order_reason_skill_intent_kb_tag_default() -> None:
    cfg = HandoffConfig.from_dict(CONFIG)
    assert cfg.team_for(reason="complaint", details={"intents": [{"intent": "payment_problem"}]}) == "care"
    assert cfg.team_for(reason="customer_request", details={"skill": "payments"}) == "billing"
    intents = [{"intent": "payment_problem", "confidence": 0.8}, {"intent": "greet", "confidence": 0.99}]
    assert cfg.team_for(reason="customer_request", details={"intents": intents}) == "billing"
    cands = [{"entry_id": "x", "team": None, "tags": ["refunds"]}]
    assert cfg.team_for(reason="no_confident_answer", details={"kb_candidates": cands}) == "billing"
    assert cfg.team_for(reason="customer_request", details={}) == "support"
    assert cfg.team_for(reason="customer_request", named="care") == "care"
    assert cfg.team_for(reason="customer_request", named="made-up") == "support"
    assert cfg.priority("complaint") > cfg.priority("repeated_fallback") > cfg.priority("customer_request") == 0


def test_business_hours_holidays_and_time_zones() -> None:
    support = HandoffConfig.from_dict(CONFIG).teams["support"]
    monday_10 = datetime(2025, 6, 2, 10, 0, tzinfo=ROME)
    assert support.is_open(monday_10)
    assert support.is_open(monday_10.astimezone(timezone.utc))  # the team's zone decides, not the server's
    lunch = datetime(2025, 6, 2, 13, 30, tzinfo=ROME)
    assert not support.is_open(lunch) and support.next_open(lunch) == datetime(2025, 6, 2, 14, 0, tzinfo=ROME)
    saturday_late = datetime(2025, 6, 7, 12, 30, tzinfo=ROME)
    assert support.next_open(saturday_late) == datetime(2025, 6, 9, 9, 0, tzinfo=ROME)  # Sunday is closed
    christmas = datetime(2025, 12, 25, 10, 0, tzinfo=ROME)  # a Thursday, but a holiday
    assert not support.is_open(christmas)
    assert support.next_open(christmas) == datetime(2025, 12, 26, 9, 0, tzinfo=ROME)
    assert HandoffConfig.from_dict(CONFIG).teams["care"].is_open(christmas)  # no hours: always open


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"teams": {"a": {"timezone": "Mars/Base"}}}, "unknown time zone"),
        ({"teams": {"a": {"hours": {"funday": "09:00-10:00"}}}}, "bad day"),
        ({"teams": {"a": {"hours": {"mon": "18:00-09:00"}}}}, "end before they start"),
        ({"teams": {"a": {"holidays": ["25/12/2025"]}}}, "bad holiday"),
        ({"teams": {"a": {}}, "routing": {"intents": {"x": "b"}}}, "unknown team 'b'"),
        ({"teams": {"a": {}}, "default_team": "zzz"}, "default_team"),
    ],
)
def test_config_errors_name_the_problem(bad: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        HandoffConfig.from_dict(bad)


def test_the_shipped_handoff_yml_is_valid() -> None:
    from core.settings import PROJECT_ROOT

    cfg = HandoffConfig.load(PROJECT_ROOT / "handoff.yml")
    assert cfg.default_team in cfg.teams and cfg.canned_for("it") and cfg.canned_for("zh")


def test_wait_estimate_scales_with_position_and_agents() -> None:
    assert estimate_wait_s([], 3, 1) is None
    assert estimate_wait_s([300, 600, 900], 1, 1) == 600
    assert estimate_wait_s([300, 600, 900], 4, 2) == 1200
    assert estimate_wait_s([5], 1, 1) == 60  # never promise less than a minute


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_least_busy_online_agent_with_room_is_picked(backend: str, request: pytest.FixtureRequest) -> None:
    if backend == "redis":
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(request.getfixturevalue("redis_url"))
        await client.flushdb()
        p: Any = RedisPresence(client, ttl_s=1.0)
    else:
        p = MemoryPresence(ttl_s=1.0)
    await p.connect("a", "A", ("billing",), max_concurrent=2)
    await p.connect("b", "B", (), max_concurrent=4)  # no teams: serves every team
    await p.connect("c", "C", ("care",), max_concurrent=1)
    assert (await p.pick("billing", {"a": 1, "b": 1})).key == "b"  # 1/4 busy beats 1/2
    assert (await p.pick("billing", {"a": 0, "b": 1})).key == "a"
    assert await p.pick("billing", {"a": 2, "b": 4}) is None  # everyone full
    await p.disconnect("b")
    await asyncio.sleep(1.3)  # and b's last sign of life is gone (c's socket is still open)
    await p.heartbeat("c", "C", ("care",), 1)
    assert (await p.pick("care", {"c": 0})).key == "c" and await p.pick("support", {}) is None
    await p.heartbeat("c", "C", ("care",), 1, available=False)
    assert await p.pick("care", {}) is None


def test_auto_assign_to_online_agents_and_capacity(tmp_path: Path) -> None:
    yml = "auto_assign: true\ndefault_team: support\nteams:\n  support: {}\n"
    with make_client(tmp_path, handoff_yml=yml) as client:
        create_agent(client, "maria@example.com", display_name="Maria", max_concurrent=1)
        create_agent(client, "li@example.com", display_name="Li", max_concurrent=1)
        first = Customer(client)
        first.say("person please")
        assert client.get("/api/agent/queue", headers=admin_headers()).json()["conversations"]  # nobody online
        maria = agent_session(client, "maria@example.com")
        resp = maria.post("/api/agent/presence", {"available": True})
        assert resp.json()["assigned"] == [first.conversation_id]  # waiting work goes to whoever comes online
        assert "Maria from our support team has joined" in texts(first.history(), "system")[-1]

        second = Customer(client)
        second.say("person please")  # Maria is full; it waits
        queue = client.get("/api/agent/queue", headers=admin_headers()).json()["conversations"]
        assert [c["id"] for c in queue] == [second.conversation_id]
        li = agent_session(client, "li@example.com")
        li.post("/api/agent/presence", {"available": False})  # logged in but away: gets nothing
        assert client.get("/api/agent/queue", headers=admin_headers()).json()["conversations"]
        assert li.post("/api/agent/presence", {"available": True}).json()["assigned"] == [second.conversation_id]


def test_outside_hours_the_customer_is_told_when_to_expect_a_reply(tmp_path: Path) -> None:
    today = datetime.now(ROME).date()
    holidays = ", ".join(f'"{today + timedelta(days=i)}"' for i in range(2))
    yml = (f"default_team: support\nteams:\n  support:\n    timezone: Europe/Rome\n"
           f"    hours: {{mon-sun: \"09:00-17:00\"}}\n    holidays: [{holidays}]\n")
    with make_client(tmp_path, handoff_yml=yml) as client:
        customer = Customer(client)
        said = texts(customer.say("person please"), "system")[-1]
        opens = today + timedelta(days=2)
        assert said.startswith("You are number 1 in the queue. Our team is offline right now; expect a reply from ")
        assert f"{opens:%d/%m} 09:00 (Europe/Rome)" in said
        conv = client.get(f"/api/agent/conversations/{customer.conversation_id}", headers=admin_headers()).json()
        assert conv["conversation"]["status"] == "queued"  # it waits for the team


def test_italian_customers_get_italian_queue_texts(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        customer = Customer(client, language="it-IT")
        assert texts(customer.say("person please"), "system")[-1] == "Sei il numero 1 in coda."
