"""A fake Meta Graph API: WhatsApp Cloud's `POST /{version}/{phone-number-id}/messages`, Messenger's
`POST /{version}/me/messages`, media lookups `GET /{version}/{media-id}` and the files behind them, and signed
webhook bodies as Meta posts them (`notify()`)."""

from __future__ import annotations

import itertools
import json
from collections import deque
from typing import Any

from connectors.meta.webhook import signature
from fakes.server import Call, FakeServer, Reply

VERSION = "v21.0"


class FakeGraph(FakeServer):
    def __init__(self, token: str, *, phone_number_id: str = "1098765432") -> None:
        super().__init__()
        self.token = token
        self.phone_number_id = phone_number_id
        self.failures: deque[Reply] = deque()
        self.media: dict[str, tuple[bytes, str]] = {}  # media id → (bytes, content type)
        self.public_files: dict[str, tuple[bytes, str]] = {}  # name → (bytes, content type), no token needed
        self._ids = itertools.count(1)

    # -- programming ---------------------------------------------------------------------------

    def fail(self, status: int = 500, *, code: int = 2, message: str = "Service temporarily unavailable",
             times: int = 1, subcode: int | None = None) -> None:
        """The next `times` sends fail with Graph's error JSON."""
        error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "Afake"}
        if subcode is not None:
            error["error_subcode"] = subcode
        for _ in range(times):
            self.failures.append(Reply(status, {"error": error}))

    def add_media(self, media_id: str, data: bytes, content_type: str = "image/jpeg") -> None:
        self.media[media_id] = (data, content_type)

    def add_public_file(self, name: str, data: bytes, content_type: str = "image/png") -> str:
        self.public_files[name] = (data, content_type)
        return f"{self.url}/cdn/{name}"

    # -- reading -------------------------------------------------------------------------------

    def sent(self, to: str | None = None, *, ok_only: bool = True) -> list[dict[str, Any]]:
        """The message bodies posted (WhatsApp Cloud and Messenger alike), oldest first."""
        out = []
        for c in list(self.calls):
            if not c.path.endswith("/messages") or (ok_only and c.params.get("_status") != 200):
                continue
            recipient = c.params.get("to") or (c.params.get("recipient") or {}).get("id")
            if to is None or recipient == to:
                out.append(c.params)
        return out

    def wait_sent(self, to: str, predicate: Any = lambda body: True, timeout: float = 60.0) -> dict[str, Any]:
        def found(calls: list[Call]) -> dict[str, Any] | None:
            return next((b for b in self.sent(to) if predicate(b)), None)
        return self.wait_for(found, timeout)

    # -- the API -------------------------------------------------------------------------------

    def handle(self, call: Call) -> Reply:
        if call.path.startswith("/cdn/"):
            found = self.public_files.get(call.path[len("/cdn/"):])
            if found is None:
                return Reply(404, {"error": {"message": "not found", "code": 100}})
            return Reply(200, found[0], {"Content-Type": found[1]})
        if call.headers.get("authorization") != f"Bearer {self.token}":
            call.params["_status"] = 401
            return Reply(401, {"error": {"message": "Invalid OAuth access token.", "type": "OAuthException",
                                         "code": 190}})
        if call.path.startswith("/files/"):
            data, ctype = self.media[call.path[len("/files/"):]]
            return Reply(200, data, {"Content-Type": ctype})
        prefix = f"/{VERSION}/"
        if not call.path.startswith(prefix):
            return Reply(404, {"error": {"message": "Unknown path", "code": 100}})
        rest = call.path[len(prefix):]
        if call.method == "GET" and rest in self.media:
            data, ctype = self.media[rest]
            return Reply(200, {"url": f"{self.url}/files/{rest}", "mime_type": ctype, "file_size": len(data),
                               "id": rest, "messaging_product": "whatsapp"})
        if call.method != "POST" or rest not in (f"{self.phone_number_id}/messages", "me/messages"):
            call.params["_status"] = 404
            return Reply(404, {"error": {"message": "Unsupported post request", "code": 100}})
        if self.failures:
            failure = self.failures.popleft()
            call.params["_status"] = failure.status
            return failure
        call.params["_status"] = 200
        n = next(self._ids)
        if rest == "me/messages":
            return Reply(200, {"recipient_id": (call.params.get("recipient") or {}).get("id"), "message_id": f"m_{n:06d}"})
        return Reply(200, {"messaging_product": "whatsapp", "contacts": [{"input": call.params.get("to"),
                                                                          "wa_id": call.params.get("to")}],
                           "messages": [{"id": f"wamid.OUT{n:06d}"}]})


def signed_body(app_secret: str, notification: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """A webhook body and the headers Meta sends with it (`X-Hub-Signature-256` over the raw bytes)."""
    body = json.dumps(notification).encode()
    return body, {"Content-Type": "application/json", "X-Hub-Signature-256": signature(app_secret, body)}


def whatsapp_notification(*, messages: list[dict[str, Any]] = (), statuses: list[dict[str, Any]] = (),  # type: ignore[assignment]
                          name: str = "Kerry", phone_number_id: str = "1098765432") -> dict[str, Any]:
    value: dict[str, Any] = {"messaging_product": "whatsapp",
                             "metadata": {"display_phone_number": "15550001234", "phone_number_id": phone_number_id}}
    if messages:
        value["contacts"] = [{"profile": {"name": name}, "wa_id": m["from"]} for m in messages]
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    return {"object": "whatsapp_business_account",
            "entry": [{"id": "WABA1", "changes": [{"value": value, "field": "messages"}]}]}


def messenger_notification(*events: dict[str, Any], page_id: str = "PAGE1") -> dict[str, Any]:
    return {"object": "page", "entry": [{"id": page_id, "time": 1_700_000_000_000, "messaging": list(events)}]}
