"""Constants and helpers for the channel tests (importable from the test modules)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from twilio.request_validator import RequestValidator

from connectors.base import InboundMessage

HubFactory = Callable[..., TestClient]  # the `make_hub` fixture: settings overrides -> a started hub

TG_TOKEN = "123456:TEST-token_abc"
TG_SECRET = "tg-webhook-secret"
TW_SID = "AC" + "1" * 32
TW_TOKEN = "twilio-auth-token"
PUBLIC = "https://support.example.test"  # what Twilio and Telegram call; the TestClient's host differs
WA_FROM = "whatsapp:+14155238886"
SMS_FROM = "+15005550006"
AGENT_TOKEN = "connector-agent-token"
AGENT = {"Authorization": f"Bearer {AGENT_TOKEN}", "X-Agent": "alice"}


async def noop_handler(message: InboundMessage) -> None:
    return None


async def noop_history(visitor: str, after_seq: int) -> tuple[None, list[dict[str, Any]]]:
    return None, []


def conversations(client: TestClient, channel: str, customer: str) -> list[dict[str, Any]]:
    found = client.get("/api/agent/conversations", headers=AGENT).json()["conversations"]
    return [c for c in found if c["channel"] == channel and c["customer"] == customer]


def transcript(client: TestClient, channel: str, customer: str) -> list[dict[str, Any]]:
    convs = conversations(client, channel, customer)
    if not convs:
        return []
    return client.get(f"/api/agent/conversations/{convs[0]['id']}", headers=AGENT).json()["messages"]


def twilio_post(client: TestClient, path: str, form: dict[str, str], *, token: str = TW_TOKEN,
                url: str | None = None, signature: str | None = None) -> Any:
    """Post `form` the way Twilio does: signed with `RequestValidator` over the public URL."""
    sig = signature if signature is not None else RequestValidator(token).compute_signature(url or PUBLIC + path, form)
    headers = {"X-Twilio-Signature": sig} if sig else {}
    return client.post(path, data=form, headers=headers)
