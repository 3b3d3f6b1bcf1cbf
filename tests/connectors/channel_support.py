"""Constants and helpers for the channel tests (imported by the test modules; no test module imports another)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from fastapi.testclient import TestClient
from twilio.request_validator import RequestValidator

from connectors.base import InboundMessage
from fakes.twilio_api import FakeTwilio

T = TypeVar("T")
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
ADMIN_TOKEN = "connector-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
HOOK = "/channels/whatsapp/webhook"
STATUS = "/channels/whatsapp/status"
_sids = itertools.count(1)


async def noop_handler(message: InboundMessage) -> None:
    return None


async def noop_history(visitor: str, after_seq: int) -> tuple[None, list[dict[str, Any]]]:
    return None, []


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine from a (synchronous) test, e.g. a `ChannelState` call on a running hub's connector."""
    return asyncio.run(coro)


def wait_until(check: Callable[[], Any], timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def conversations(client: TestClient, channel: str, customer: str) -> list[dict[str, Any]]:
    found = client.get("/api/agent/conversations", headers=AGENT).json()["conversations"]
    return [c for c in found if c["channel"] == channel and c["customer"] == customer]


def transcript(client: TestClient, channel: str, customer: str) -> list[dict[str, Any]]:
    convs = conversations(client, channel, customer)
    if not convs:
        return []
    return client.get(f"/api/agent/conversations/{convs[0]['id']}", headers=AGENT).json()["messages"]


def connector(client: TestClient, name: str = "whatsapp") -> Any:
    return client.app.state.container.connectors[name]


def twilio_post(client: TestClient, path: str, form: dict[str, str], *, token: str = TW_TOKEN,
                url: str | None = None, signature: str | None = None) -> Any:
    """Post `form` the way Twilio does: signed with `RequestValidator` over the public URL."""
    sig = signature if signature is not None else RequestValidator(token).compute_signature(url or PUBLIC + path, form)
    headers = {"X-Twilio-Signature": sig} if sig else {}
    return client.post(path, data=form, headers=headers)


def inbound(phone: str, body: str, sid: str | None = None, **extra: str) -> dict[str, str]:
    """Twilio's form for a WhatsApp message from `phone`."""
    return {"MessageSid": sid or f"SMin{next(_sids):030d}", "AccountSid": TW_SID,
            "From": f"whatsapp:{phone}", "To": WA_FROM, "Body": body, "NumMedia": "0", "ProfileName": "Bruno",
            **extra}


def bodies(api: FakeTwilio, phone: str) -> list[str]:
    """The texts the hub sent to a WhatsApp customer, in order."""
    return [str(c.params.get("Body", "")) for c in api.messages(f"whatsapp:{phone}")]


def handed_off(client: TestClient, twilio_api: FakeTwilio, phone: str) -> str:
    """A WhatsApp conversation with a dead Rasa: queued for a person, claimed by alice. Returns its id."""
    twilio_post(client, HOOK, inbound(phone, "help"))
    twilio_api.wait_message(f"whatsapp:{phone}", "technical trouble")
    conv = conversations(client, "whatsapp", phone)[0]["id"]
    assert client.post(f"/api/agent/conversations/{conv}/claim", headers=AGENT).status_code == 200
    twilio_api.wait_message(f"whatsapp:{phone}", "has joined")
    return conv


def close_window(client: TestClient, phone: str, hours: float = 30) -> None:
    """Make the customer's last message `hours` old: WhatsApp's 24-hour window is closed."""
    run(connector(client).state.touch_inbound("whatsapp", phone, datetime.now(timezone.utc) - timedelta(hours=hours)))
