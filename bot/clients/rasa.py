"""HTTP client for the Rasa server(s): the REST channel for messages, the HTTP API for status and trackers.

Failures are mapped to the `core.errors` taxonomy in one place and surface as `RasaUnavailable(reason)`:
a request that never reached Rasa (connection refused, 502/503/504) is retried on the next replica with
backoff (tenacity, `core.errors.retrying`); a request that timed out is `Unconfirmed` and never retried, because
Rasa may have processed it and a second post would make the bot answer twice.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
import zlib
from dataclasses import dataclass
from typing import Any

import httpx

from core.contracts import NLU_HEADER
from core.errors import CallError, Permanent, Retryable, Unconfirmed, check_response, from_httpx_error, retrying

log = logging.getLogger(__name__)


class RasaUnavailable(Exception):
    """Rasa could not be reached or did not answer usably; `reason` says which
    (unreachable | timeout | http_error | bad_response)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass
class BotTurn:
    """What Rasa answered to one customer message."""

    messages: list[dict[str, Any]]
    """The bot's messages (the REST channel's list)."""
    nlu: dict[str, Any] | None = None
    """The parse of the customer's message ({"intent": {"name", "confidence"}}), when Rasa sent it along."""
    latency_s: float = 0.0


def _reason(exc: CallError) -> str:
    if isinstance(exc, Unconfirmed):
        return "timeout"
    if isinstance(exc, Retryable):
        return "unreachable"
    return "http_error"


class RasaClient:
    def __init__(
        self,
        urls: tuple[str, ...] | list[str],
        *,
        timeout_s: float = 10.0,
        retries: int = 2,
        backoff_s: float = 0.3,
        transport: httpx.AsyncBaseTransport | None = None,
        auth_token: str = "",
    ) -> None:
        if not urls:
            raise ValueError("at least one Rasa URL is needed")
        self.urls = [u.rstrip("/") for u in urls]
        self._api_params = {"token": auth_token} if auth_token else {}  # Rasa's HTTP API (not the channel)
        self.retries = retries
        self.backoff_s = backoff_s
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s, connect=2.0), transport=transport)

    async def aclose(self) -> None:
        await self._client.aclose()

    def _replicas_for(self, sender: str) -> list[str]:
        # A conversation sticks to one replica while it is up (fewer lock-store round trips).
        start = zlib.crc32(sender.encode()) % len(self.urls)
        return self.urls[start:] + self.urls[:start]

    async def _once(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            resp = await self._client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise from_httpx_error(exc, service=f"Rasa at {url}") from exc
        if resp.status_code in (500, 501):  # Rasa failed while handling it (maybe after answering): no retry
            raise Permanent(f"Rasa at {url} answered {resp.status_code}: {resp.text[:200]}", status=resp.status_code)
        return check_response(resp, service=f"Rasa at {url}")

    async def _request(self, method: str, path: str, sender: str, **kwargs: Any) -> httpx.Response:
        replicas = itertools.cycle(self._replicas_for(sender))
        try:
            async for attempt in retrying(attempts=self.retries + 1, base_s=self.backoff_s, max_s=5.0,
                                          what="Rasa request"):
                with attempt:
                    return await self._once(method, next(replicas) + path, **kwargs)
        except CallError as exc:
            raise RasaUnavailable(_reason(exc), exc.detail) from exc
        raise RasaUnavailable("unreachable", "no attempt made")  # pragma: no cover - retrying always attempts

    async def send(self, sender: str, text: str, metadata: dict[str, Any] | None = None) -> BotTurn:
        """Post a customer message; return the bot messages Rasa produced (and its parse, when sent along)."""
        started = time.perf_counter()
        resp = await self._request("POST", "/webhooks/rest/webhook", sender,
                                   json={"sender": sender, "message": text, "metadata": metadata or {}})
        latency = time.perf_counter() - started
        try:
            data = resp.json()
        except ValueError as exc:
            raise RasaUnavailable("bad_response", "Rasa's answer was not JSON") from exc
        if not isinstance(data, list):
            raise RasaUnavailable("bad_response", f"expected a list of messages, got {type(data).__name__}")
        return BotTurn([m for m in data if isinstance(m, dict)], _nlu_header(resp), latency)

    async def latest_parse(self, sender: str) -> dict[str, Any] | None:
        """The NLU result of the last customer message (intent, confidence, entities), best effort."""
        try:
            resp = await self._request("GET", f"/conversations/{sender}/tracker", sender,
                                       params={"include_events": "NONE", **self._api_params})
            latest = resp.json().get("latest_message") or {}
        except (RasaUnavailable, ValueError, AttributeError) as exc:
            log.debug("no tracker for %s: %s", sender, exc)
            return None
        return latest if latest.get("intent") else None

    async def probe(self, url: str) -> bool:
        """Does `url` answer 2xx within two seconds? (Used to tell which service failed.)"""
        try:
            resp = await self._client.get(url, timeout=2.0)
        except httpx.HTTPError:
            return False
        return resp.is_success

    async def status(self) -> dict[str, Any]:
        """`/status` of the first replica that answers."""
        resp = await self._request("GET", "/status", "status", params=self._api_params)
        return resp.json()


def _nlu_header(resp: httpx.Response) -> dict[str, Any] | None:
    raw = resp.headers.get(NLU_HEADER)
    if not raw:
        return None
    try:
        parse = json.loads(raw)
    except ValueError:
        log.warning("ignoring a malformed %s header from Rasa: %.200s", NLU_HEADER, raw)
        return None
    return parse if isinstance(parse, dict) and isinstance(parse.get("intent"), dict) else None
