"""A fake Telegram Bot API: `/bot<token>/<method>` with JSON or form-urlencoded parameters, as PTB sends them."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import defaultdict, deque
from typing import Any
from urllib.parse import unquote

from fakes.server import Call, FakeServer, Reply

BOT_USER = {"id": 777000111, "is_bot": True, "first_name": "Support", "username": "support_test_bot"}


class FakeTelegram(FakeServer):
    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token
        self.failures: dict[str, deque[Reply]] = defaultdict(deque)
        self.updates: list[dict[str, Any]] = []
        self._ids = itertools.count(1000)
        self._new_update = threading.Event()
        self.files: dict[str, tuple[str, bytes]] = {}  # file_id → (file_path, bytes)

    @property
    def base_url(self) -> str:
        """What `TELEGRAM_API_BASE_URL` should be set to."""
        return f"{self.url}/bot"

    # -- programming ---------------------------------------------------------------------------

    def fail(self, method: str, status: int = 500, *, times: int = 1, retry_after: int | None = None,
             description: str | None = None) -> None:
        """The next `times` calls of `method` fail like Telegram does (429 carries parameters.retry_after)."""
        body: dict[str, Any] = {"ok": False, "error_code": status,
                                "description": description or {500: "Internal Server Error", 429: "Too Many Requests",
                                                               403: "Forbidden: bot was blocked by the user",
                                                               400: "Bad Request: chat not found"}.get(status, "Error")}
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
        for _ in range(times):
            self.failures[method].append(Reply(status, body))

    def add_file(self, file_id: str, data: bytes, file_path: str = "photos/file_0.jpg") -> None:
        """A file a customer sent, for getFile and the file download URL."""
        self.files[file_id] = (file_path, data)

    def push_update(self, update: dict[str, Any]) -> None:
        """Queue an update for getUpdates (long polling)."""
        with self.lock:
            self.updates.append(update)
        self._new_update.set()

    # -- reading -------------------------------------------------------------------------------

    def api_calls(self, method: str) -> list[Call]:
        return [c for c in list(self.calls) if c.path.endswith("/" + method)]

    def sent_texts(self, chat_id: int | str | None = None) -> list[str]:
        return [str(c.params.get("text")) for c in self.api_calls("sendMessage")
                if chat_id is None or str(c.params.get("chat_id")) == str(chat_id)]

    def wait_text(self, chat_id: int | str, contains: str, timeout: float = 10.0) -> Call:
        def found(calls: list[Call]) -> Call | None:
            for c in calls:
                if c.path.endswith("/sendMessage") and str(c.params.get("chat_id")) == str(chat_id) \
                        and contains in str(c.params.get("text")) and self._ok(c):
                    return c
            return None
        return self.wait_for(found, timeout)

    @staticmethod
    def _ok(call: Call) -> bool:
        return call.params.get("_status", 200) == 200

    # -- the API -------------------------------------------------------------------------------

    def handle(self, call: Call) -> Reply:
        files, path = f"/file/bot{self.token}/", unquote(call.path)  # httpx sends the token's ":" as %3A
        if path.startswith(files):
            found = [data for file_path, data in self.files.values() if file_path == path[len(files):]]
            return Reply(200, found[0], {"Content-Type": "application/octet-stream"}) if found else \
                Reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
        prefix = f"/bot{self.token}/"
        if not call.path.startswith(prefix):
            return Reply(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        method = call.path[len(prefix):]
        with self.lock:
            failure = self.failures[method].popleft() if self.failures[method] else None
        if failure is not None:
            call.params["_status"] = failure.status
            return failure
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return Reply(404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"})
        return Reply(200, {"ok": True, "result": handler(call.params)})

    def _message(self, params: dict[str, Any], **extra: Any) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        msg = {"message_id": next(self._ids), "date": int(time.time()), "from": BOT_USER,
               "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"}, **extra}
        if "reply_markup" in params:
            markup = params["reply_markup"]
            msg["reply_markup"] = json.loads(markup) if isinstance(markup, str) else markup
        return msg

    def _m_getFile(self, params: dict[str, Any]) -> Any:
        path, data = self.files[str(params["file_id"])]
        return {"file_id": params["file_id"], "file_unique_id": f"u-{params['file_id']}", "file_size": len(data),
                "file_path": path}

    def _m_getMe(self, params: dict[str, Any]) -> Any:
        return BOT_USER

    def _m_sendMessage(self, params: dict[str, Any]) -> Any:
        return self._message(params, text=params.get("text", ""))

    def _m_sendPhoto(self, params: dict[str, Any]) -> Any:
        return self._message(params, photo=[{"file_id": "p1", "file_unique_id": "u1", "width": 1, "height": 1}])

    def _m_sendDocument(self, params: dict[str, Any]) -> Any:
        return self._message(params, document={"file_id": "d1", "file_unique_id": "u2"})

    def _m_sendChatAction(self, params: dict[str, Any]) -> Any:
        return True

    def _m_answerCallbackQuery(self, params: dict[str, Any]) -> Any:
        return True

    def _m_setWebhook(self, params: dict[str, Any]) -> Any:
        return True

    def _m_deleteWebhook(self, params: dict[str, Any]) -> Any:
        return True

    def _m_getUpdates(self, params: dict[str, Any]) -> Any:
        offset = int(params.get("offset") or 0)
        deadline = time.monotonic() + min(float(params.get("timeout") or 0), 1.0)
        while True:
            with self.lock:
                ready = [u for u in self.updates if u["update_id"] >= offset]
                self._new_update.clear()
            if ready or time.monotonic() >= deadline:
                return ready
            self._new_update.wait(max(0.0, deadline - time.monotonic()))
