"""Outgoing webhooks, so a CRM or ticketing tool can follow conversations.

Events: `conversation.queued`, `conversation.assigned`, `conversation.resolved`, `csat.received`. Each is a
JSON POST to every URL in WEBHOOK_URLS:

    {"id": "<delivery id>", "type": "conversation.assigned", "created_at": "...", "data": {...}}

Headers: `X-Supportbot-Event`, `X-Supportbot-Delivery` (the same id on every retry: de-duplicate on it),
`X-Supportbot-Timestamp` (Unix seconds), and `X-Supportbot-Signature: sha256=<hex>`, the HMAC-SHA256 of
`"<timestamp>.<raw body>"` keyed with WEBHOOK_SECRET. Verify with `verify_signature()` (reject old timestamps).

Delivery: a 2xx answer is success. Connection errors, timeouts, 408, 429 and 5xx are retried with exponential
backoff (1 s, 2 s, 4 s … capped at 5 min, `Retry-After` honoured) up to WEBHOOK_MAX_ATTEMPTS; other 4xx
answers are not retried. Deliveries run in the background and never slow down a customer or an agent.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import httpx

from bot.store.db import Event
from core.errors import CallError, Retryable, check_response, retrying

log = logging.getLogger(__name__)

# EventBus event → webhook event
EVENT_TYPES = {
    "queued": "conversation.queued",
    "assigned": "conversation.assigned",
    "resolved": "conversation.resolved",
    "csat": "csat.received",
}


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(secret: str, timestamp: str, body: bytes, signature: str, *, tolerance_s: float = 300,
                     now: float | None = None) -> bool:
    """For receivers: the signature matches and the timestamp is recent."""
    try:
        age = abs((now if now is not None else time.time()) - int(timestamp))
    except ValueError:
        return False
    return age <= tolerance_s and hmac.compare_digest(sign(secret, timestamp, body), signature)


@dataclass
class Delivery:
    url: str
    event: str
    body: bytes
    delivery_id: str
    attempts: int = 0
    last_status: int | None = None
    last_error: str = ""
    done: bool = False
    ok: bool = False


@dataclass
class WebhookSender:
    urls: tuple[str, ...]
    secret: str
    max_attempts: int = 6
    backoff_base_s: float = 1.0
    backoff_max_s: float = 300.0
    timeout_s: float = 10.0
    client: httpx.AsyncClient | None = None
    deliveries: list[Delivery] = field(default_factory=list)  # the most recent ones, for /api/admin/webhooks
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._own_client = self.client is None
        if self.client is None:
            self.client = httpx.AsyncClient(timeout=self.timeout_s)

    @property
    def enabled(self) -> bool:
        return bool(self.urls)

    def emit(self, event: str, data: dict[str, Any]) -> list[Delivery]:
        """Queue one event for every URL; returns the deliveries (they run in the background)."""
        if not self.urls:
            return []
        delivery_id = uuid.uuid4().hex
        body = json.dumps({"id": delivery_id, "type": event, "created_at": datetime.now(timezone.utc).isoformat(),
                           "data": data}, separators=(",", ":"), default=str).encode("utf-8")
        out = []
        for url in self.urls:
            d = Delivery(url, event, body, delivery_id)
            self.deliveries.append(d)
            out.append(d)
            task = asyncio.create_task(self._deliver(d))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        del self.deliveries[:-200]
        return out

    async def _post(self, d: Delivery) -> None:
        """One attempt (fresh timestamp and signature each time); a non-2xx answer raises its `CallError`."""
        assert self.client is not None
        d.attempts += 1
        ts = str(int(time.time()))
        headers = {"Content-Type": "application/json", "User-Agent": "supportbot-webhooks/1",
                   "X-Supportbot-Event": d.event, "X-Supportbot-Delivery": d.delivery_id,
                   "X-Supportbot-Timestamp": ts, "X-Supportbot-Signature": sign(self.secret, ts, d.body)}
        try:
            resp = await self.client.post(d.url, content=d.body, headers=headers)
        except httpx.HTTPError as exc:
            d.last_error = f"{type(exc).__name__}: {exc}"
            # a receiver that timed out may have taken it: it de-duplicates on X-Supportbot-Delivery
            raise Retryable(d.last_error, service=d.url) from exc
        d.last_status = resp.status_code
        if not resp.is_success:
            d.last_error = f"HTTP {resp.status_code}"
        check_response(resp, service=f"webhook {d.url}")

    async def _deliver(self, d: Delivery) -> None:
        try:
            async for attempt in retrying(attempts=self.max_attempts, base_s=self.backoff_base_s,
                                          max_s=self.backoff_max_s, what=f"webhook {d.event} to {d.url}"):
                with attempt:
                    await self._post(d)
            d.ok = True
        except CallError as exc:
            if not exc.retryable:
                d.last_error = f"{d.last_error}: not retried"
                log.warning("webhook %s to %s refused: %s", d.event, d.url, d.last_error)
            else:
                log.error("webhook %s to %s given up after %d attempts: %s", d.event, d.url, d.attempts,
                          d.last_error)
        finally:
            d.done = True

    async def on_event(self, event: Event) -> None:
        """The bus listener: state changes become webhook deliveries (sent in the background)."""
        kind = EVENT_TYPES.get(event.type)
        if kind and self.urls:
            self.emit(kind, dict(event.data))

    async def drain(self, timeout_s: float = 10.0) -> None:
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout_s)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._own_client and self.client is not None:
            await self.client.aclose()
