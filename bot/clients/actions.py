"""The hub's calls to the action server: knowledge-base suggestions for agents, and the reload a publish asks for."""

from __future__ import annotations

from typing import Any

import httpx

from core.errors import CallError, check_response, from_httpx_error


class ActionServerClient:
    def __init__(self, base_url: str, *, timeout_s: float = 8.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.AsyncClient(timeout=timeout_s, transport=transport)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def kb_search(self, query: str, language: str, k: int = 3) -> list[dict[str, Any]]:
        """The best knowledge-base hits for `query` (`POST /kb/search`); raises `CallError` when it fails."""
        try:
            resp = await self._client.post(f"{self.base_url}/kb/search",
                                           json={"query": query, "language": language, "k": k})
        except httpx.HTTPError as exc:
            raise from_httpx_error(exc, service="the action server") from exc
        check_response(resp, service="the action server")
        try:
            hits = resp.json().get("hits") or []
        except (ValueError, AttributeError) as exc:
            raise CallError(f"the action server's answer was not JSON: {exc}", service="the action server") from exc
        return [h for h in hits if isinstance(h, dict)]

    async def kb_reload(self) -> dict[str, Any]:
        """Make the action server serve the live index now (`POST /kb/reload`); raises `CallError`."""
        try:
            resp = await self._client.post(f"{self.base_url}/kb/reload", timeout=60.0)
        except httpx.HTTPError as exc:
            raise from_httpx_error(exc, service="the action server") from exc
        check_response(resp, service="the action server")
        try:
            return dict(resp.json())
        except (ValueError, TypeError) as exc:
            raise CallError(f"the action server's answer was not JSON: {exc}", service="the action server") from exc
