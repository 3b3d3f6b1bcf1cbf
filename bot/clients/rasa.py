"""HTTP client for the Rasa server(s): the REST channel for messages, the HTTP API for status, trackers, parses
and model swaps.

Failures are mapped to the `core.errors` taxonomy in one place and surface as `RasaUnavailable(reason)`:
a request that never reached Rasa (connection refused, 502/503/504) is retried on the next replica with
backoff (tenacity, `core.errors.retrying`); a request that timed out is `Unconfirmed` and never retried, because
Rasa may have processed it and a second post would make the bot answer twice.

`load_model` swaps the model of one replica (`PUT /model`) without dropping a message: new messages for that
replica go to another one, or wait when there is no other; the messages it is answering are finished first;
then the model loads (Rasa's event loop is blocked for the load, about 1-2 s for the starter bot) and the
waiting messages are sent to the new model.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import zlib
from collections import Counter
from collections.abc import AsyncIterator
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
        self._held: dict[str, asyncio.Event] = {}  # replicas loading a model: set when released
        self._inflight: Counter[str] = Counter()
        self._idle: dict[str, asyncio.Event] = {}

    async def aclose(self) -> None:
        await self._client.aclose()

    def _replicas_for(self, sender: str) -> list[str]:
        # A conversation sticks to one replica while it is up (fewer lock-store round trips).
        start = zlib.crc32(sender.encode()) % len(self.urls)
        return self.urls[start:] + self.urls[:start]

    async def _pick(self, order: list[str]) -> str:
        """The first replica of `order` that is not loading a model; waits while all of them are."""
        while True:
            for url in order:
                if url not in self._held:
                    return url
            await next(iter(self._held[u] for u in order if u in self._held)).wait()

    async def _once(self, method: str, replica: str, path: str, **kwargs: Any) -> httpx.Response:
        url = replica + path
        self._inflight[replica] += 1
        self._idle.setdefault(replica, asyncio.Event()).clear()
        try:
            resp = await self._client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise from_httpx_error(exc, service=f"Rasa at {url}") from exc
        finally:
            self._inflight[replica] -= 1
            if self._inflight[replica] <= 0:
                self._idle[replica].set()
        if resp.status_code in (500, 501):  # Rasa failed while handling it (maybe after answering): no retry
            raise Permanent(f"Rasa at {url} answered {resp.status_code}: {resp.text[:200]}", status=resp.status_code)
        return check_response(resp, service=f"Rasa at {url}")

    async def _request(self, method: str, path: str, sender: str, **kwargs: Any) -> httpx.Response:
        order = self._replicas_for(sender)
        tried = 0
        try:
            async for attempt in retrying(attempts=self.retries + 1, base_s=self.backoff_s, max_s=5.0,
                                          what="Rasa request"):
                with attempt:
                    rotated = order[tried % len(order):] + order[:tried % len(order)]
                    tried += 1
                    return await self._once(method, await self._pick(rotated), path, **kwargs)
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

    async def replica_status(self, url: str) -> dict[str, Any]:
        """`/status` of one replica (`model_file`, `model_id`); raises `RasaUnavailable`."""
        try:
            return (await self._once("GET", url.rstrip("/"), "/status", timeout=5.0, params=self._api_params)).json()
        except CallError as exc:
            raise RasaUnavailable(_reason(exc), exc.detail) from exc
        except ValueError as exc:
            raise RasaUnavailable("bad_response", "Rasa's /status was not JSON") from exc

    async def parse(self, text: str, language: str | None = None) -> dict[str, Any]:
        """The live model's parse of `text` in `language` as a customer's message would be parsed (intent,
        ranking, entities), touching no conversation (`POST /webhooks/rest/parse`, nlu_components.hub_channel)."""
        metadata = {"language": language} if language else {}
        resp = await self._request("POST", "/webhooks/rest/parse", "parse", json={"text": text, "metadata": metadata})
        try:
            return resp.json()
        except ValueError as exc:
            raise RasaUnavailable("bad_response", "Rasa's parse was not JSON") from exc

    @contextlib.asynccontextmanager
    async def holding(self, url: str) -> AsyncIterator[None]:
        """While inside: no new request goes to replica `url` (they use another replica or wait), and the ones
        it is serving are finished before the body runs."""
        url = url.rstrip("/")
        released = asyncio.Event()
        while url in self._held:  # one swap of a replica at a time
            await self._held[url].wait()
        self._held[url] = released
        try:
            if self._inflight[url] > 0:
                await self._idle.setdefault(url, asyncio.Event()).wait()
            yield
        finally:
            del self._held[url]
            released.set()

    async def load_model(self, url: str, model_file: str, *, timeout_s: float = 120.0) -> dict[str, Any]:
        """Load the model at `model_file` (a path the Rasa server can read) into replica `url` with
        `PUT /model`, holding its traffic meanwhile (see the module doc); its `/status` afterwards.

        Raises `RasaUnavailable` when the replica cannot be reached or refuses the model (it then keeps
        serving the model it had)."""
        url = url.rstrip("/")
        async with self.holding(url):
            try:
                resp = await self._client.put(f"{url}/model", json={"model_file": model_file},
                                              params=self._api_params, timeout=timeout_s)
            except httpx.HTTPError as exc:
                err = from_httpx_error(exc, service=f"Rasa at {url}")
                raise RasaUnavailable(_reason(err), err.detail) from exc
            if resp.status_code >= 300:
                try:
                    detail = str(resp.json().get("message") or resp.text)
                except ValueError:
                    detail = resp.text
                raise RasaUnavailable("http_error", f"Rasa at {url} did not load {model_file}: {detail[:300]}")
            return await self.replica_status(url)


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
