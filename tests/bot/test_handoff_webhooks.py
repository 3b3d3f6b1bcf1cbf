"""Outgoing webhooks: signed with HMAC-SHA256, retried on failures, one per lifecycle event."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bot.clients.webhooks import sign, verify_signature
from handoff_kit import Customer, agent_session, create_agent, make_client

SECRET = "whsec-test"


class Receiver:
    """A real HTTP server that answers 500 to the first attempt of every delivery, then 200."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.attempts: dict[str, int] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                delivery = self.headers["X-Supportbot-Delivery"]
                receiver.attempts[delivery] = receiver.attempts.get(delivery, 0) + 1
                if receiver.attempts[delivery] == 1:
                    self.send_response(500)
                    self.end_headers()
                    return
                receiver.received.append({"headers": dict(self.headers), "body": body})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, n: int, timeout_s: float = 10) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while len(self.received) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.received


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


def test_lifecycle_events_are_signed_retried_and_delivered_once_each(tmp_path: Path, receiver: Receiver) -> None:
    with make_client(tmp_path, webhook_urls=(receiver.url,), webhook_secret=SECRET) as client:
        client.app.state.container.webhooks.backoff_base_s = 0.05
        create_agent(client, "maria@example.com", display_name="Maria")
        customer = Customer(client)
        customer.say("person please")
        maria = agent_session(client, "maria@example.com")
        cid = customer.conversation_id
        maria.conv(cid, "claim")
        maria.conv(cid, "resolve")
        customer.say("5", button='/csat{"score": 5}')
        got = receiver.wait_for(4)

    assert len(got) == 4, receiver.attempts
    bodies = [json.loads(r["body"]) for r in got]
    assert [b["type"] for b in bodies] == ["conversation.queued", "conversation.assigned", "conversation.resolved",
                                           "csat.received"]
    assert all(b["data"]["conversation_id"] == cid for b in bodies)
    assert bodies[1]["data"]["agent"] == "maria@example.com" and bodies[3]["data"]["score"] == 5
    assert all(n == 2 for n in receiver.attempts.values())  # each failed once, then went through
    for r in got:
        h = r["headers"]
        assert verify_signature(SECRET, h["X-Supportbot-Timestamp"], r["body"], h["X-Supportbot-Signature"])
        assert not verify_signature("other-secret", h["X-Supportbot-Timestamp"], r["body"],
                                    h["X-Supportbot-Signature"])
        assert h["X-Supportbot-Event"] == json.loads(r["body"])["type"]


def test_signature_check_rejects_tampering_and_old_timestamps() -> None:
    body = b'{"type":"csat.received"}'
    ts = str(int(time.time()))
    sig = sign(SECRET, ts, body)
    assert verify_signature(SECRET, ts, body, sig)
    assert not verify_signature(SECRET, ts, body + b" ", sig)
    assert not verify_signature(SECRET, str(int(ts) - 3600), body, sign(SECRET, str(int(ts) - 3600), body))
    assert not verify_signature(SECRET, "yesterday", body, sig)


def test_client_errors_are_not_retried_and_server_errors_give_up(tmp_path: Path) -> None:
    import asyncio

    import httpx

    from bot.clients.webhooks import WebhookSender

    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(410 if request.url.path == "/gone" else 503)

    async def run() -> list[Any]:
        client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        sender = WebhookSender(("http://x/gone", "http://x/down"), SECRET, max_attempts=3, backoff_base_s=0.01,
                               client=client)
        deliveries = sender.emit("conversation.queued", {"conversation_id": "c1"})
        await sender.drain()
        await client.aclose()
        return deliveries

    gone, down = asyncio.run(run())
    assert (gone.attempts, gone.ok, gone.last_status) == (1, False, 410)
    assert (down.attempts, down.ok, down.done) == (3, False, True)
    assert calls.count("/down") == 3
