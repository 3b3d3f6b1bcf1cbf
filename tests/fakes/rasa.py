"""A fake Rasa REST channel: answers every message with `reply(sender, text)` (echo by default).

It also speaks `PUT /model` as Rasa 3.6 does (measured: docs/studio.md): the model file must exist (else 400 and
the old model stays), and while it loads nothing else is answered — Rasa's event loop is blocked — for `load_s`.
With `token`, its HTTP API (not the REST channel) answers 401 without `?token=`, as `rasa run --auth-token`.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable

from fakes.server import Call, FakeServer, Reply


class FakeRasa(FakeServer):
    def __init__(self, reply: Callable[[str, str], list[dict[str, Any]]] | None = None, *, load_s: float = 0.0,
                 answer_s: float = 0.0, token: str = "") -> None:
        super().__init__()
        self.reply = reply or (lambda sender, text: [{"text": f"You said: {text}"}])
        self.model_file = "fake.tar.gz"
        self.load_s = load_s
        self.answer_s = answer_s
        self.token = token
        self.loop = threading.Lock()  # Rasa's single event loop: a model load blocks every request

    def handle(self, call: Call) -> Reply:
        with self.loop:
            return self._handle(call)

    def _handle(self, call: Call) -> Reply:
        if call.path == "/webhooks/rest/webhook":
            time.sleep(self.answer_s)
            return Reply(200, self.reply(str(call.params.get("sender")), str(call.params.get("message"))))
        if call.path == "/webhooks/rest/parse":  # nlu_components.hub_channel: the parse alone, with metadata
            return Reply(200, {"text": call.params.get("text"), "intent": {"name": "greet", "confidence": 0.9}})
        if self.token and call.params.get("token") != self.token:
            return Reply(401, {"status": "failure", "reason": "NotAuthenticated", "message": "User is not authenticated."})
        if call.path == "/model/parse":
            return Reply(200, {"text": call.params.get("text"), "intent": {"name": "greet", "confidence": 0.9}})
        if call.path.endswith("/tracker"):
            return Reply(200, {"latest_message": {"intent": {"name": "greet", "confidence": 0.99}}})
        if call.path == "/status":
            return Reply(200, {"model_file": self.model_file})
        if call.path == "/model" and call.method == "PUT":
            path = str(call.params.get("model_file") or "")
            if not os.path.isfile(path):
                return Reply(400, {"status": "failure", "reason": "BadRequest",
                                   "message": f"Agent with name '{path}' could not be loaded."})
            time.sleep(self.load_s)
            self.model_file = os.path.basename(path)
            return Reply(204, "")
        return Reply(404, {"error": "not found"})
