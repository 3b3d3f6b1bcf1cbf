"""Meta's webhook rules, the same for Messenger and WhatsApp: the GET verification handshake and the
`X-Hub-Signature-256` check on the raw body (before anything in it is trusted)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hub-Signature-256"
MAX_BODY_BYTES = 1024 * 1024


def signature(app_secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` value Meta sends for `body`."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def signed(app_secret: str, body: bytes, header: str | None) -> bool:
    """Whether `header` is the body's signature with the app secret (constant-time comparison)."""
    return bool(header) and hmac.compare_digest(signature(app_secret, body).encode(), str(header).strip().encode())


def handshake(request: Request, verify_token: str, channel: str) -> Response:
    """Meta's GET verification: `hub.mode=subscribe` with our verify token → `hub.challenge` as plain text."""
    params = request.query_params
    token = params.get("hub.verify_token", "")
    if params.get("hub.mode") == "subscribe" and token and hmac.compare_digest(token.encode(), verify_token.encode()):
        log.info("%s: webhook verified by Meta", channel)
        return PlainTextResponse(params.get("hub.challenge", ""))
    log.warning("%s: webhook verification with a wrong or missing hub.verify_token", channel)
    return JSONResponse({"error": "forbidden", "detail": "wrong hub.verify_token"}, status_code=403)


async def signed_json(request: Request, app_secret: str, channel: str, expected_object: str) -> dict[str, Any] | Response:
    """The webhook's JSON body, once its signature is checked: 403 for a wrong or missing signature, 413 for a
    body too large, 400 for anything that is not a Meta notification of `expected_object` (nothing stored)."""
    if int(request.headers.get("content-length") or 0) > MAX_BODY_BYTES:
        return JSONResponse({"error": "too_large", "detail": "request body too large"}, status_code=413)
    body = await request.body()
    if not signed(app_secret, body, request.headers.get(SIGNATURE_HEADER)):
        log.warning("%s: webhook with a missing or wrong %s", channel, SIGNATURE_HEADER)
        return JSONResponse({"error": "forbidden", "detail": f"missing or wrong {SIGNATURE_HEADER}"}, status_code=403)
    try:
        data = json.loads(body)
    except ValueError:
        return JSONResponse({"error": "bad_request", "detail": "the body is not JSON"}, status_code=400)
    if not isinstance(data, dict) or data.get("object") != expected_object or not isinstance(data.get("entry"), list):
        return JSONResponse({"error": "bad_request",
                             "detail": f"not a Meta notification: expected object {expected_object!r} with an "
                                       f"entry list"}, status_code=400)
    return data
