"""A fake Twilio REST API: `POST /2010-04-01/Accounts/{sid}/Messages.json` (Basic auth, form body), plus
`/media/<name>` files of a chosen size for inbound-media checks."""

from __future__ import annotations

import base64
import itertools
from collections import deque
from datetime import datetime, timezone
from email.utils import format_datetime

from fakes.server import Call, FakeServer, Reply


class FakeTwilio(FakeServer):
    def __init__(self, account_sid: str, auth_token: str) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.failures: deque[Reply] = deque()
        self.media_sizes: dict[str, int] = {}
        self._ids = itertools.count(1)

    def fail(self, status: int = 500, *, times: int = 1, retry_after: float | None = None, code: int = 20500,
             message: str = "Internal error") -> None:
        """The next `times` message creations fail with Twilio's error JSON (429 may carry Retry-After)."""
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        body = {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
                "status": status}
        for _ in range(times):
            self.failures.append(Reply(status, body, headers))

    def add_media(self, name: str, size: int) -> str:
        self.media_sizes[name] = size
        return f"{self.url}/media/{name}"

    def messages(self, to: str | None = None, *, ok_only: bool = True) -> list[Call]:
        return [c for c in list(self.calls) if c.path.endswith("/Messages.json")
                and (to is None or c.params.get("To") == to) and (not ok_only or c.params.get("_status") == 201)]

    def wait_message(self, to: str, contains: str = "", timeout: float = 10.0, **params: str) -> Call:
        def found(calls: list[Call]) -> Call | None:
            for c in self.messages(to):
                if contains in str(c.params.get("Body", "")) and all(c.params.get(k) == v for k, v in params.items()):
                    return c
            return None
        return self.wait_for(found, timeout)

    def handle(self, call: Call) -> Reply:
        if call.path.startswith("/media/"):
            size = self.media_sizes.get(call.path[len("/media/"):])
            if size is None:
                return Reply(404, {"message": "not found"})
            return Reply(200, "x" * size if call.method == "GET" else "",
                         {"Content-Type": "image/jpeg", "Content-Length": str(size)})
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if call.headers.get("authorization") != expected:
            call.params["_status"] = 401
            return Reply(401, {"code": 20003, "message": "Authenticate", "status": 401})
        if call.method != "POST" or call.path != f"/2010-04-01/Accounts/{self.account_sid}/Messages.json":
            call.params["_status"] = 404
            return Reply(404, {"code": 20404, "message": "not found", "status": 404})
        if self.failures:
            failure = self.failures.popleft()
            call.params["_status"] = failure.status
            return failure
        p = call.params
        if not p.get("To") or not p.get("From") or not (p.get("Body") or p.get("MediaUrl") or p.get("ContentSid")):
            call.params["_status"] = 400
            return Reply(400, {"code": 21619, "message": "A text message body or media urls must be specified.",
                               "status": 400})
        call.params["_status"] = 201
        sid = f"SM{next(self._ids):032x}"
        now = format_datetime(datetime.now(timezone.utc))
        media = p.get("MediaUrl") or []
        return Reply(201, {
            "sid": sid, "account_sid": self.account_sid, "to": p["To"], "from": p["From"], "body": p.get("Body", ""),
            "status": "queued", "num_media": str(len(media) if isinstance(media, list) else 1), "num_segments": "1",
            "direction": "outbound-api", "api_version": "2010-04-01", "date_created": now, "date_updated": now,
            "date_sent": None, "price": None, "price_unit": "USD", "error_code": None, "error_message": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json", "subresource_uris": {},
        })
