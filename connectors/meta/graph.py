"""Meta's Graph API over httpx, with the one mapper from its answers to the `core.errors` taxonomy.

Graph errors come as `{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}`. Rate limits
(codes 4, 17, 32, 613, 80007, 130429, 131048, 131056) → `RateLimited`; temporary trouble (1, 2, 131000,
131016) and 5xx → `Retryable`; everything else (a bad token, a closed 24-hour window, an unknown recipient) →
`Permanent`, with Meta's code kept (`GraphError.code`) so a connector can tell why.
"""

from __future__ import annotations

from typing import Any

import httpx

from connectors.http import shared_ssl_context
from connectors.media import MediaTooLarge
from core.errors import CallError, Permanent, RateLimited, Retryable, from_httpx_error, parse_retry_after

DEFAULT_BASE_URL = "https://graph.facebook.com"
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, 80007, 130429, 131048, 131056})
TEMPORARY_CODES = frozenset({1, 2, 131000, 131016})
WINDOW_CLOSED_CODES = frozenset({131047, 10})  # WhatsApp re-engagement; Messenger "outside the allowed window"


class GraphError(Permanent):
    """Meta refused the request for good; `code` is Meta's error code."""

    def __init__(self, detail: str, *, service: str, status: int | None, code: int | None) -> None:
        super().__init__(detail, service=service, status=status)
        self.code = code


def from_graph_response(resp: httpx.Response, *, service: str) -> CallError:
    """The taxonomy error for a Graph API answer that is not a success."""
    try:
        error = (resp.json() or {}).get("error") or {}
    except ValueError:
        error = {}
    code = error.get("code") if isinstance(error.get("code"), int) else None
    detail = f"{service}: Graph API answered {resp.status_code}"
    if code is not None:
        detail += f" (error {code}{'/' + str(error['error_subcode']) if error.get('error_subcode') else ''})"
    if error.get("message"):
        detail += f": {error['message']}"
    if resp.status_code == 429 or code in RATE_LIMIT_CODES:
        return RateLimited(detail, retry_after=parse_retry_after(resp.headers.get("retry-after")), service=service,
                           status=resp.status_code)
    if resp.status_code >= 500 or code in TEMPORARY_CODES or error.get("is_transient") is True:
        return Retryable(detail, service=service, status=resp.status_code)
    return GraphError(detail, service=service, status=resp.status_code, code=code)


class GraphClient:
    """The calls a connector makes to the Graph API (`{base}/{version}/...`), authenticated with `token`."""

    def __init__(self, *, token: str, service: str, base_url: str | None = None, version: str = "v21.0",
                 timeout_s: float = 15.0, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.service = service
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.version = version.strip("/")
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s, connect=5.0), transport=transport,
                                      verify=shared_ssl_context())
        self._auth = {"Authorization": f"Bearer {token}"}  # per request: never sent to a public media URL

    def url(self, path: str) -> str:
        return f"{self.base_url}/{self.version}/{path.lstrip('/')}"

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST JSON; the answer's JSON, or the taxonomy error."""
        return await self._call("POST", self.url(path), json=body)

    async def get(self, path: str) -> dict[str, Any]:
        return await self._call("GET", self.url(path))

    async def download(self, url: str, *, max_bytes: int, authenticated: bool = True) -> tuple[bytes, str]:
        """A file behind a media URL: its bytes and content type. `MediaTooLarge` past `max_bytes` (read no
        further)."""
        headers = self._auth if authenticated else None
        try:
            async with self.http.stream("GET", url, follow_redirects=True, headers=headers) as resp:
                if not resp.is_success:
                    await resp.aread()
                    raise from_graph_response(resp, service=self.service)
                declared = resp.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise MediaTooLarge(int(declared))
                data = bytearray()
                async for chunk in resp.aiter_bytes():
                    data.extend(chunk)
                    if len(data) > max_bytes:
                        raise MediaTooLarge(len(data))
                return bytes(data), resp.headers.get("content-type", "application/octet-stream")
        except httpx.HTTPError as exc:
            raise from_httpx_error(exc, service=self.service, sent=False) from exc

    async def _call(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        try:
            resp = await self.http.request(method, url, headers=self._auth, **kwargs)
        except httpx.HTTPError as exc:
            raise from_httpx_error(exc, service=self.service) from exc
        if not resp.is_success:
            raise from_graph_response(resp, service=self.service)
        try:
            data = resp.json()
        except ValueError:
            raise Retryable(f"{self.service}: Graph API answered something that is not JSON", service=self.service,
                            status=resp.status_code) from None
        return data if isinstance(data, dict) else {"data": data}

    async def aclose(self) -> None:
        await self.http.aclose()
