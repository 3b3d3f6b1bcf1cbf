"""Bad input on the hub's web chat socket and agent API: clear errors, no crash, nothing stored lost.

Rasa is pointed at a loopback port where nothing listens — a real dead Rasa — so every customer message
takes the failure path: it is kept and the conversation is queued for a human.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bot.app import create_app
from core.settings import HubSettings

AGENT = {"Authorization": "Bearer test-agent-token", "X-Agent": "alice"}


@pytest.fixture
def client(dead_rasa_client: TestClient) -> TestClient:
    return dead_rasa_client


def _until(ws: Any, frame_type: str) -> list[dict[str, Any]]:
    frames = []
    while True:
        frame = ws.receive_json()
        frames.append(frame)
        if frame["type"] == frame_type:
            return frames


def test_malformed_frames_get_errors_and_the_socket_stays_usable(client: TestClient) -> None:
    with client.websocket_connect("/channels/web/ws") as ws:
        ws.send_text("{not json")
        assert ws.receive_json()["code"] == "bad_json"
        ws.send_text("[1, 2]")
        assert ws.receive_json()["code"] == "bad_json"
        ws.send_json({"type": "message", "text": "hi"})
        assert ws.receive_json()["code"] == "hello_first"
        ws.send_json({"type": "hello", "token": "forged.token"})  # a forged token gets a fresh visitor
        welcome = ws.receive_json()
        assert welcome["type"] == "welcome" and welcome["conversation"] is None
        ws.send_json({"type": "teleport"})
        assert ws.receive_json()["code"] == "unknown_type"
        ws.send_json({"type": "message", "text": 42})
        assert ws.receive_json()["code"] == "bad_frame"
        ws.send_json({"type": "message", "text": "   ", "client_id": "e"})
        assert ws.receive_json() == {"type": "error", "code": "empty_message", "message": "The message is empty.",
                                     "client_id": "e"}
        ws.send_json({"type": "message", "text": "x" * 5000, "client_id": "long"})
        err = ws.receive_json()
        assert err["code"] == "message_too_long" and "4096" in err["message"]
        ws.send_json({"type": "message", "text": "y" * (10 * 1024 * 1024), "client_id": "huge"})
        assert ws.receive_json()["code"] == "frame_too_large"
        # Still alive and still keeping messages.
        ws.send_json({"type": "message", "text": "is anyone there?", "client_id": "ok"})
        frames = _until(ws, "ack")
    assert frames[-1]["duplicate"] is False
    conv_id = frames[-1]["conversation_id"]
    detail = client.get(f"/api/agent/conversations/{conv_id}", headers=AGENT).json()
    customer = [m["text"] for m in detail["messages"] if m["sender"] == "customer"]
    assert customer == ["is anyone there?"]  # refused frames stored nothing


def test_dead_rasa_queues_the_conversation_and_keeps_the_message(client: TestClient) -> None:
    with client.websocket_connect("/channels/web/ws") as ws:
        ws.send_json({"type": "hello", "language": "it-IT"})
        token = ws.receive_json()["token"]
        ws.send_json({"type": "message", "text": "dov'è il mio ordine BC-100002?", "client_id": "m1"})
        frames = _until(ws, "ack")
    texts = [f["text"] for f in frames if f["type"] == "message"]
    assert texts[0].startswith("Mi dispiace, ho un problema tecnico")  # in the customer's language
    assert "numero 1 in coda" in texts[1]
    queue = client.get("/api/agent/queue", headers=AGENT).json()["conversations"]
    assert [(c["status"], c["handoff_reason"], c["language"]) for c in queue] == [("queued", "bot_unavailable", "it")]
    # The same visitor comes back (page reload): same conversation, full history, no duplicate on resend.
    with client.websocket_connect("/channels/web/ws") as ws:
        ws.send_json({"type": "hello", "token": token})
        welcome = ws.receive_json()
        assert welcome["conversation"]["id"] == queue[0]["id"]
        assert welcome["history"][0]["text"] == "dov'è il mio ordine BC-100002?"
        ws.send_json({"type": "message", "text": "dov'è il mio ordine BC-100002?", "client_id": "m1"})
        assert ws.receive_json()["duplicate"] is True


def test_agent_api_errors(client: TestClient) -> None:
    assert client.get("/api/agent/queue").status_code == 401
    assert client.get("/api/agent/queue", headers={**AGENT, "Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/api/agent/queue", headers={"Authorization": AGENT["Authorization"]}).status_code == 400
    for path in ("claim", "resolve", "hand-back"):
        resp = client.post(f"/api/agent/conversations/nope/{path}", headers=AGENT)
        assert resp.status_code == 404 and "nope" in resp.json()["detail"]
    assert client.get("/api/agent/conversations/nope", headers=AGENT).status_code == 404
    assert client.post("/api/agent/conversations/nope/reply", headers=AGENT, json={}).status_code == 422

    with client.websocket_connect("/channels/web/ws") as ws:
        ws.send_json({"type": "hello"})
        ws.receive_json()
        ws.send_json({"type": "message", "text": "help", "client_id": "a"})
        conv_id = _until(ws, "ack")[-1]["conversation_id"]
    url = f"/api/agent/conversations/{conv_id}"
    assert client.post(f"{url}/reply", headers=AGENT, json={"text": "hi"}).status_code == 409  # not claimed yet
    assert client.post(f"{url}/claim", headers=AGENT).status_code == 200
    second = client.post(f"{url}/claim", headers={**AGENT, "X-Agent": "bob"})
    assert second.status_code == 409 and second.json()["status"] == "assigned"
    assert client.post(f"{url}/reply", headers={**AGENT, "X-Agent": "bob"}, json={"text": "hi"}).status_code == 409
    assert client.post(f"{url}/reply", headers=AGENT, json={"text": "x" * 5000}).status_code == 413
    assert client.post(f"{url}/resolve", headers=AGENT).status_code == 200
    assert client.post(f"{url}/reply", headers=AGENT, json={"text": "late"}).status_code == 409
    senders = [m["sender"] for m in client.get(url, headers=AGENT).json()["messages"]]
    assert senders.count("agent") == 0 and senders[0] == "customer"


def test_health_reports_dead_rasa(client: TestClient) -> None:
    resp = client.get("/health", headers={"Authorization": "Bearer test-metrics-token"})  # an operator
    assert resp.status_code == 503
    body = resp.json()
    assert body["database"]["ok"] is True and body["rasa"]["ok"] is False
    assert client.get("/health").json() == {"ok": False}  # anyone else: only whether it is healthy
    assert client.get("/health/live").json() == {"ok": True}


def test_rasa_that_hangs_is_not_retried_and_the_customer_gets_a_person(tmp_path: Path) -> None:
    """A Rasa that accepts the connection but never answers: after RASA_TIMEOUT_S the conversation is queued
    (no retry, which could make the bot answer twice) and the message is kept."""
    import socket
    import threading
    import time

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept_and_stall() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    threading.Thread(target=accept_and_stall, daemon=True).start()
    settings = HubSettings.from_env(
        data_dir=tmp_path, rasa_url=f"http://127.0.0.1:{server.getsockname()[1]}", rasa_timeout_s=1.0,
        rasa_retries=2, agent_api_token="test-agent-token",
    )
    try:
        with TestClient(create_app(settings)) as c, c.websocket_connect("/channels/web/ws") as ws:
            ws.send_json({"type": "hello"})
            ws.receive_json()
            started = time.monotonic()
            ws.send_json({"type": "message", "text": "hello?", "client_id": "t1"})
            frames = _until(ws, "ack")
            elapsed = time.monotonic() - started
            conv = c.get(f"/api/agent/conversations/{frames[-1]['conversation_id']}", headers=AGENT).json()
    finally:
        stop.set()
        server.close()
        for s in accepted:
            s.close()
    assert [f.get("event") for f in frames if f["type"] == "message"] == ["bot_unavailable", "queued"]
    assert conv["conversation"]["handoff_reason"] == "bot_unavailable"
    assert "took too long" in conv["handoffs"][0]["summary"]
    assert len(accepted) == 1  # one POST, no retry after a timeout
    assert elapsed < 5
