"""HTTP client for the Rasa server(s): the REST channel for messages, the HTTP API for status and trackers.

Failures are mapped to `RasaUnavailable` in one place. A request that never reached Rasa (connection
refused, 502/503) is retried on the next replica with backoff; a request that timed out is not retried,
because Rasa may have processed it and a second post would make the bot answer twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import zlib
from dataclasses import dataclass
from typing import Any

import httpx

log = logging.getLogger(__name__)


class RasaUnavailable(Exception):
    """Rasa could not be reached or did not answer in time; `reason` says which."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


NLU_HEADER = "X-Rasa-Nlu"  # set by the hub's Rasa channel (nlu_components/hub_channel.py)


@dataclass
class BotTurn:
    """What Rasa answered to one customer message."""

    messages: list[dict[str, Any]]
    """The bot's messages (the REST channel's list)."""
    nlu: dict[str, Any] | None = None
    """The parse of the customer's message ({"intent": {"name", "confidence"}}), when Rasa sent it along."""
    latency_s: float = 0.0


class RasaClient:
    def __init__(
        self,
        urls: tuple[str, ...] | list[str],
        *,
        timeout_s: float = 10.0,
        retries: int = 2,
        backoff_s: float = 0.3,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not urls:
            raise ValueError("at least one Rasa URL is needed")
        self.urls = [u.rstrip("/") for u in urls]
        self.retries = retries
        self.backoff_s = backoff_s
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s, connect=2.0), transport=transport)

    async def aclose(self) -> None:
        await self._client.aclose()

    def _replicas_for(self, sender: str) -> list[str]:
        # A conversation sticks to one replica while it is up (fewer lock-store round trips).
        start = zlib.crc32(sender.encode()) % len(self.urls)
        return self.urls[start:] + self.urls[:start]

    async def _request(self, method: str, path: str, sender: str, **kwargs: Any) -> httpx.Response:
        replicas = self._replicas_for(sender)
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            base = replicas[attempt % len(replicas)]
            try:
                resp = await self._client.request(method, base + path, **kwargs)
            except httpx.TimeoutException as exc:
                if isinstance(exc, httpx.ConnectTimeout):
                    last = exc
                else:
                    raise RasaUnavailable("timeout", f"{base} took too long") from exc
            except httpx.TransportError as exc:
                last = exc
            else:
                if resp.status_code in (502, 503, 504):
                    last = RasaUnavailable("http_error", f"{base} answered {resp.status_code}")
                elif resp.status_code >= 400:
                    raise RasaUnavailable("http_error", f"{base}{path} answered {resp.status_code}: {resp.text[:200]}")
                else:
                    return resp
            if attempt < self.retries:
                log.warning("Rasa at %s unreachable (%s); retry %d/%d", base, last, attempt + 1, self.retries)
                await asyncio.sleep(self.backoff_s * 2**attempt)
        raise RasaUnavailable("unreachable", str(last))

    async def send(self, sender: str, text: str, metadata: dict[str, Any] | None = None) -> BotTurn:
        """Post a customer message; return the bot messages Rasa produced (and its parse, when sent along)."""
        started = time.perf_counter()
        resp = await self._request(
            "POST", "/webhooks/rest/webhook", sender,
            json={"sender": sender, "message": text, "metadata": metadata or {}},
        )
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
            resp = await self._request(
                "GET", f"/conversations/{sender}/tracker", sender, params={"include_events": "NONE"}
            )
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
        resp = await self._request("GET", "/status", "status")
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
