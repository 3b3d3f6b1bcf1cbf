"""The Starlette action server: routing, error mapping, health and the knowledge-base endpoints."""

from __future__ import annotations

import json
import logging
import warnings
import zlib
from typing import Any

from rasa_sdk import Action
from rasa_sdk.executor import ActionExecutor
from rasa_sdk.interfaces import ActionExecutionRejection
from starlette.testclient import TestClient

from actions.server import create_app
from core.contracts import HandoffReason
from core.settings import ActionSettings
from tests.actions.support import Conversation, bot_custom, slot_events


class RejectingAction(Action):
    def name(self) -> str:
        return "action_reject"

    async def run(self, dispatcher: Any, tracker: Any, domain: Any) -> list[dict[str, Any]]:
        raise ActionExecutionRejection(self.name(), "cannot run now")


class CrashingAction(Action):
    def name(self) -> str:
        return "action_crash"

    def run(self, dispatcher: Any, tracker: Any, domain: Any) -> list[dict[str, Any]]:
        raise RuntimeError("boom")


def test_unknown_action_is_404(settings: ActionSettings, broken_holder: Any, domain: dict[str, Any]) -> None:
    with TestClient(create_app(holder=broken_holder, settings=settings, warm_up=False)) as client:
        response = client.post("/webhook", json=Conversation().user("hi", "greet").call("action_nope", domain))
    assert response.status_code == 404
    assert response.json()["action_name"] == "action_nope"


def test_malformed_bodies_are_400(settings: ActionSettings, broken_holder: Any) -> None:
    with TestClient(create_app(holder=broken_holder, settings=settings, warm_up=False)) as client:
        assert client.post("/webhook", content=b"{not json", headers={"content-type": "application/json"}).status_code == 400
        assert client.post("/webhook", json=[1, 2]).status_code == 400
        assert client.post("/webhook", json={"next_action": "action_handoff"}).status_code == 400
        assert client.post("/webhook", json={"tracker": {}}).status_code == 400


def test_rejection_is_400_and_crash_is_500(settings: ActionSettings, domain: dict[str, Any]) -> None:
    executor = ActionExecutor()
    executor.register_action(RejectingAction())
    executor.register_action(CrashingAction())
    conv = Conversation().user("hi", "greet")
    with TestClient(create_app(executor=executor, holder=None, settings=settings, warm_up=False)) as client:
        rejected = client.post("/webhook", json=conv.call("action_reject", domain))
        crashed = client.post("/webhook", json=conv.call("action_crash", domain))
    assert rejected.status_code == 400 and rejected.json() == {"error": "cannot run now", "action_name": "action_reject"}
    assert crashed.status_code == 500 and crashed.json()["action_name"] == "action_crash"


def test_missing_domain_is_449_then_cached_domain_is_used(settings: ActionSettings, broken_holder: Any, domain: dict[str, Any]) -> None:
    conv = Conversation().user("hi", "greet", metadata={"language": "ro"})
    with TestClient(create_app(holder=broken_holder, settings=settings, warm_up=False)) as client:
        assert client.post("/webhook", json=conv.call("action_session_start", None)).status_code == 449
        with_domain = conv.call("action_session_start", domain) | {"domain_digest": "d1"}
        assert client.post("/webhook", json=with_domain).status_code == 200
        digest_only = conv.call("action_session_start", None) | {"domain_digest": "d1"}
        assert client.post("/webhook", json=digest_only).status_code == 200


def test_deflated_action_call(settings: ActionSettings, broken_holder: Any, domain: dict[str, Any]) -> None:
    body = zlib.compress(json.dumps(Conversation().user("agent", "request_human").call("action_handoff", domain)).encode())
    with TestClient(create_app(holder=broken_holder, settings=settings, warm_up=False)) as client:
        response = client.post("/webhook", content=body, headers={"content-type": "application/json", "content-encoding": "deflate"})
    assert response.status_code == 200
    assert bot_custom(response.json()).handoff.reason == HandoffReason.CUSTOMER_REQUEST


def test_session_start_sets_language_and_carries_slots(settings: ActionSettings, broken_holder: Any, domain: dict[str, Any]) -> None:
    conv = Conversation(slots={"order_number": "BC-123456", "requested_slot": "order_number", "language": "en"})
    conv.slots["session_started_metadata"] = {"language": "zh", "channel": "telegram"}
    with TestClient(create_app(holder=broken_holder, settings=settings, warm_up=False)) as client:
        result = client.post("/webhook", json=conv.call("action_session_start", domain)).json()
    events = result["events"]
    assert events[0]["event"] == "session_started"
    assert events[-1] == {"event": "action", "timestamp": None, "name": "action_listen", "policy": None, "confidence": None, "action_text": None, "hide_rule_turn": False} or events[-1]["name"] == "action_listen"
    slots = slot_events(result)
    assert slots["order_number"] == "BC-123456"
    assert slots["language"] == "zh"
    assert slots["session_started_metadata"] == {"language": "zh", "channel": "telegram"}
    assert "requested_slot" not in slots  # a form's question does not outlive the session


def test_health_and_kb_endpoints(settings: ActionSettings, kb_holder: Any) -> None:
    with TestClient(create_app(holder=kb_holder, settings=settings)) as client:
        health = client.get("/health")
        assert health.status_code == 200
        body = health.json()
        assert body["status"] == "ok"
        assert body["kb"]["entry_count"] == 4 and "model" in body["kb"]
        assert "action_answer_from_kb" in body["actions"]

        hits = client.post("/kb/search", json={"query": "click and collect", "language": "en", "k": 2}).json()["hits"]
        assert len(hits) == 2 and hits[0]["entry_id"] == "store-pickup"
        assert {"entry_id", "language", "score", "question", "answer", "tags", "team", "links"} <= set(hits[0])

        assert client.post("/kb/search", json={"query": ""}).status_code == 400
        assert client.post("/kb/search", json={"query": "x", "k": 0}).status_code == 400
        assert client.post("/kb/search", content=b"nope").status_code == 400

        tried = client.post("/kb/try", json={"query": "can I pick up my order in a store?", "language": "en"})
        assert tried.status_code == 200, tried.text
        tried = tried.json()  # the studio's "try a question": the decision at this server's thresholds
        assert tried["decision"] == "answer" and tried["hits"][0]["entry_id"] == "store-pickup"
        assert tried["hits"][0]["chosen"] and tried["hits"][0]["score"] >= tried["thresholds"]["answer"]
        assert tried["index"]["entries"] == 4
        assert client.post("/kb/try", json={"query": " "}).status_code == 400
        assert client.post("/kb/try", json={"query": "x" * 5000}).status_code == 400
        assert client.post("/kb/try", json={"query": "x", "language": 3}).status_code == 400

        reload = client.post("/kb/reload")
        assert reload.status_code == 200 and reload.json()["reloaded"] is True

        assert [a["name"] for a in client.get("/actions").json()].count("action_handoff") == 1


def test_health_is_503_without_a_usable_kb(settings: ActionSettings, broken_holder: Any) -> None:
    with TestClient(create_app(holder=broken_holder, settings=settings, warm_up=False)) as client:
        health = client.get("/health")
        assert health.status_code == 503
        assert health.json()["status"] == "degraded" and "error" in health.json()["kb"]
        assert client.post("/kb/search", json={"query": "gift cards"}).status_code == 503
        tried = client.post("/kb/try", json={"query": "gift cards"})
        assert tried.status_code == 503 and "knowledge base unavailable" in tried.json()["error"]
        assert client.post("/kb/reload").status_code == 503


def test_rasa_version_is_checked_once_not_on_every_call(settings: ActionSettings, broken_holder: Any,
                                                        domain: dict[str, Any], caplog: Any) -> None:
    """rasa-sdk 3.21 serving Rasa 3.6 (the tested pair) says so once at start; only an untested Rasa release
    is warned about, once."""
    call = Conversation().user("agent", "request_human").call("action_handoff", domain)
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.INFO, logger="actions.server"):
        warnings.simplefilter("always")
        with TestClient(create_app(holder=broken_holder, settings=settings, warm_up=False)) as client:
            for version in ("3.6.21", "3.6.21", "3.7.0", "3.7.1"):
                assert client.post("/webhook", json=call | {"version": version}).status_code == 200
    assert [str(w.message) for w in caught if "rasa" in str(w.message).lower()] == []
    records = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "actions.server"]
    assert [level for level, _ in records] == ["INFO", "WARNING"], records
    assert "Rasa 3.6" in records[0][1] and "3.7.0" in records[1][1]
