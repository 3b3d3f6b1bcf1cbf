"""The hub's calls to the action server: knowledge-base suggestions for agents, the studio's "try a question",
the reload a publish asks for. The action server holds the sentence encoder and the index: the hub holds neither."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import numpy as np

from core.errors import CallError, check_response, from_http_status, from_httpx_error


class ActionServerClient:
    #: Texts per ``/kb/embed`` call: the action server's ``MAX_EMBED_TEXTS``.
    EMBED_BATCH = 2048
    #: Per batch: a full batch takes about a minute on one core, and the first call loads the encoder.
    EMBED_TIMEOUT_S = 120.0

    def __init__(self, base_url: str, *, timeout_s: float = 8.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.AsyncClient(timeout=timeout_s, transport=transport)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _post(self, path: str, body: Any, *, timeout_s: float | None = None) -> httpx.Response:
        """POST `body` as JSON to `path`; a successful response, else `CallError` (transport failures and HTTP
        statuses mapped in one place, with the server's own ``error`` in full when it gave one)."""
        options: dict[str, Any] = {} if timeout_s is None else {"timeout": timeout_s}
        try:
            resp = await self._client.post(f"{self.base_url}{path}", json=body, **options)
        except httpx.HTTPError as exc:
            raise from_httpx_error(exc, service="the action server") from exc
        if not resp.is_success:  # its reason in full (no index yet: what to run), not the body's first 200 bytes
            reason = _error_of(resp)
            if reason:
                raise from_http_status(resp.status_code, f"the action server answered {resp.status_code}: {reason}",
                                       service="the action server")
        return check_response(resp, service="the action server")

    async def kb_search(self, query: str, language: str, k: int = 3) -> list[dict[str, Any]]:
        """The best knowledge-base hits for `query` (`POST /kb/search`); raises `CallError` when it fails."""
        resp = await self._post("/kb/search", {"query": query, "language": language, "k": k})
        try:
            hits = resp.json().get("hits") or []
        except (ValueError, AttributeError) as exc:
            raise CallError(f"the action server's answer was not JSON: {exc}", service="the action server") from exc
        return [h for h in hits if isinstance(h, dict)]

    async def kb_try(self, query: str, language: str | None) -> dict[str, Any]:
        """What the bot would do with `query` (`POST /kb/try`: the top entries, their scores, the decision at the
        bot's thresholds, the index version); raises `CallError` when it fails (503: no index, no encoder)."""
        # 60 s: the first question loads the encoder (seconds)
        resp = await self._post("/kb/try", {"query": query, "language": language}, timeout_s=60.0)
        try:
            return dict(resp.json())
        except (ValueError, TypeError) as exc:
            raise CallError(f"the action server's answer was not JSON: {exc}", service="the action server") from exc

    async def kb_reload(self) -> dict[str, Any]:
        """Make the action server serve the live index now (`POST /kb/reload`); raises `CallError`."""
        resp = await self._post("/kb/reload", None, timeout_s=60.0)
        try:
            return dict(resp.json())
        except (ValueError, TypeError) as exc:
            raise CallError(f"the action server's answer was not JSON: {exc}", service="the action server") from exc

    async def kb_embed(self, texts: list[str]) -> np.ndarray:
        """`texts` embedded as queries by the knowledge base's encoder on the action server (`POST /kb/embed`,
        in batches of `EMBED_BATCH`): a float32 array of shape (len(texts), dimension), rows L2-normalised, so the
        hub never loads an encoder itself. No texts: shape (0, 0). Raises `CallError` when a batch fails."""
        batches = [await self._embed_batch(texts[i:i + self.EMBED_BATCH])
                   for i in range(0, len(texts), self.EMBED_BATCH)]
        if not batches:
            return np.zeros((0, 0), dtype=np.float32)
        if len({b.shape[1] for b in batches}) > 1:  # the encoder changed between batches (a publish swapped it)
            raise CallError("the action server's encoder changed while embedding: try again",
                            service="the action server")
        return np.concatenate(batches)

    async def _embed_batch(self, texts: list[str]) -> np.ndarray:
        resp = await self._post("/kb/embed", {"texts": texts}, timeout_s=self.EMBED_TIMEOUT_S)
        try:
            return _vectors(resp.json(), len(texts))
        except (ValueError, TypeError, KeyError) as exc:
            raise CallError(f"the action server's vectors were unreadable: {exc}", service="the action server") from exc


def _vectors(body: Any, count: int) -> np.ndarray:
    """The (count, dimension) float32 array of a ``/kb/embed`` answer; ValueError when it does not hold that."""
    dimension = int(body["dimension"])
    flat = np.frombuffer(base64.b64decode(body["vectors"], validate=True), dtype="<f4")
    if int(body["count"]) != count or dimension < 1 or flat.size != count * dimension:
        raise ValueError(f"expected {count} vectors, got count={body['count']}, dimension={dimension}, "
                         f"{flat.size} numbers")
    return flat.reshape(count, dimension).astype(np.float32)


def _error_of(resp: httpx.Response) -> str | None:
    """The ``error`` of a JSON error body, if it has one."""
    try:
        body = resp.json()
    except ValueError:
        return None
    return str(body["error"]) if isinstance(body, dict) and body.get("error") else None
