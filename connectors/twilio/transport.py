"""The httpx transport the twilio `Client` sends through (async, one verified TLS context, Retry-After kept)."""

from __future__ import annotations

import logging

import httpx
from twilio.http import AsyncHttpClient
from twilio.http.response import Response as TwilioResponse

from connectors.http import shared_ssl_context
from connectors.twilio.errors import TwilioRateLimited
from core.errors import parse_retry_after


class HttpxTwilioClient(AsyncHttpClient):
    """An async transport for the twilio `Client` built on httpx (keeps Retry-After, which twilio drops)."""

    def __init__(self, timeout_s: float = 15.0, transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(logger=logging.getLogger("twilio.http"), is_async=True, timeout=timeout_s)
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s, connect=5.0), transport=transport,
                                         verify=shared_ssl_context())

    @property
    def httpx(self) -> httpx.AsyncClient:
        """The underlying client (also used for customer media HEAD checks)."""
        return self._client

    async def request(self, method: str, uri: str, params: dict[str, object] | None = None,
                      data: dict[str, object] | None = None, headers: dict[str, str] | None = None,
                      auth: tuple[str, str] | None = None, timeout: float | None = None,
                      allow_redirects: bool = False) -> TwilioResponse:
        resp = await self._client.request(
            method.upper(), uri, params=params, data=data, headers=headers, auth=auth,  # type: ignore[arg-type]
            timeout=timeout or self.timeout, follow_redirects=allow_redirects,
        )
        if resp.status_code == 429:
            raise TwilioRateLimited(parse_retry_after(resp.headers.get("Retry-After")), resp.text)
        return TwilioResponse(resp.status_code, resp.text, resp.headers)

    async def aclose(self) -> None:
        await self._client.aclose()
