"""A fake Rasa REST channel: answers every message with `reply(sender, text)` (echo by default)."""

from __future__ import annotations

from typing import Any, Callable

from fakes.server import Call, FakeServer, Reply


class FakeRasa(FakeServer):
    def __init__(self, reply: Callable[[str, str], list[dict[str, Any]]] | None = None) -> None:
        super().__init__()
        self.reply = reply or (lambda sender, text: [{"text": f"You said: {text}"}])

    def handle(self, call: Call) -> Reply:
        if call.path == "/webhooks/rest/webhook":
            return Reply(200, self.reply(str(call.params.get("sender")), str(call.params.get("message"))))
        if call.path.endswith("/tracker"):
            return Reply(200, {"latest_message": {"intent": {"name": "greet", "confidence": 0.99}}})
        if call.path == "/status":
            return Reply(200, {"model_file": "fake.tar.gz"})
        return Reply(404, {"error": "not found"})
