"""Helpers for the handoff and console tests: a hub on a private SQLite file with a scripted Rasa (a real
`RasaClient` over an httpx mock transport), logged-in console clients, and web chat customers."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

import bot.agents.accounts as accounts_module
from bot.app import create_app
from core.settings import HubSettings
from bot.agents.auth import COOKIE
from bot.clients.rasa import RasaClient

accounts_module.BCRYPT_ROUNDS = 4  # fast hashes in tests only

AGENT_TOKEN = "test-agent-token"
ADMIN_TOKEN = "test-admin-token"
ADMIN = ("boss@example.com", "admin-password-1")

# text the customer sends → (bot replies, (intent, confidence))
Script = dict[str, tuple[list[dict[str, Any]], tuple[str, float]]]

HANDOFF = {
    "customer_request": [{"text": "Let me find a person for you."},
                         {"custom": {"handoff": {"reason": "customer_request", "summary": "Customer asked for a person.",
                                                 "details": {"intents": [{"intent": "human_handoff", "confidence": 0.97}],
                                                             "kb_candidates": [{"entry_id": "gift-cards", "score": 0.41,
                                                                                "question": "Gift cards?"}]}}}}],
    "complaint": [{"text": "I'm sorry to hear that."},
                  {"custom": {"handoff": {"reason": "complaint", "summary": "Customer is complaining.",
                                          "details": {"intents": [{"intent": "complaint", "confidence": 0.91}]}}}}],
}

DEFAULT_SCRIPT: Script = {
    "hi": ([{"text": "Hello! I'm the Brightcart assistant."}], ("greet", 0.99)),
    "person please": (HANDOFF["customer_request"], ("human_handoff", 0.97)),
    "this is outrageous": (HANDOFF["complaint"], ("complaint", 0.91)),
    "blorp": ([{"text": "Sorry, I didn't get that. Could you rephrase?"}], ("nlu_fallback", 0.21)),
    "zzzk": ([{"text": "Sorry, I still don't understand."}], ("nlu_fallback", 0.18)),
    "what about gift cards": ([{"text": "Gift cards are sent by e-mail."}, {"custom": {"kb": {"entry_id": "gift-cards",
                                                                                           "score": 0.8}}}],
                              ("nlu_fallback", 0.3)),
    "thanks, solved": ([{"text": "Glad I could help!", "custom": {"resolve": True}}], ("thanks", 0.95)),
}


def scripted_rasa(script: Script, *, nlu_header: bool = False, calls: list[str] | None = None) -> RasaClient:
    """`nlu_header`: answer like the project's Rasa channel (the intent in `X-Rasa-Nlu`) instead of plain REST,
    where the hub reads the intent from the tracker. `calls` collects the paths requested."""
    last: dict[str, tuple[str, float]] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        if calls is not None:
            calls.append(request.url.path)
        if request.url.path == "/webhooks/rest/webhook":
            body = json.loads(request.content)
            replies, intent = script.get(body["message"], ([{"text": "I see."}], ("inform", 0.6)))
            last[body["sender"]] = intent
            headers = {"X-Rasa-Nlu": json.dumps({"intent": {"name": intent[0], "confidence": intent[1]}})}
            return httpx.Response(200, json=replies, headers=headers if nlu_header else None)
        if request.url.path.startswith("/conversations/") and request.url.path.endswith("/tracker"):
            sender = request.url.path.split("/")[2]
            name, conf = last.get(sender, ("greet", 0.9))
            return httpx.Response(200, json={"latest_message": {"intent": {"name": name, "confidence": conf}}})
        if request.url.path == "/status":
            return httpx.Response(200, json={"model_file": "fake.tar.gz"})
        return httpx.Response(404)

    return RasaClient(["http://rasa.test"], transport=httpx.MockTransport(handler), retries=0)


def make_client(tmp_path: Path, *, script: Script | None = None, handoff_yml: str | None = None,
                rasa: RasaClient | None = None, actions: Any = None,
                **overrides: Any) -> TestClient:
    cfg = tmp_path / "handoff.yml"
    cfg.write_text(handoff_yml if handoff_yml is not None else "default_team: support\nteams:\n  support: {}\n"
                   "  billing: {name: Billing}\n")
    # The studio's releases go to the test's folder, never the project's models/: a live release left there
    # by one run would be adopted by the next (its content revision then counts later changes as published).
    overrides.setdefault("rasa_model_dir", tmp_path / "models")
    settings = HubSettings.from_env(
        data_dir=tmp_path, agent_api_token=AGENT_TOKEN, admin_api_token=ADMIN_TOKEN,
        admin_email=ADMIN[0], admin_password=ADMIN[1], handoff_config=cfg, queue_tick_s=3600.0,
        **overrides,
    )
    if callable(actions):  # a factory of the hub's settings, e.g. tests_support.action_server (the real one)
        actions = actions(settings)
    return TestClient(create_app(settings, rasa=rasa or scripted_rasa(script if script is not None else DEFAULT_SCRIPT),
                                 actions=actions))


def login(client: TestClient, email: str, password: str) -> str:
    """Log the client in; returns the CSRF token (the cookie stays in the client's jar)."""
    resp = client.post("/api/auth/login", json={"email": email, "password": password})
    assert resp.status_code == 200, resp.text
    return resp.json()["csrf_token"]


def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def create_agent(client: TestClient, email: str, password: str = "agent-password-1", **extra: Any) -> dict[str, Any]:
    resp = client.post("/api/admin/agents", headers=admin_headers(),
                       json={"email": email, "password": password, **extra})
    assert resp.status_code == 201, resp.text
    return resp.json()["agent"]


@dataclass
class Agent:
    """A logged-in console agent sharing the app's TestClient (one event loop); its own session cookie."""

    client: TestClient
    csrf: str
    email: str
    cookie: str

    def _as_me(self) -> None:
        self.client.cookies.clear()
        self.client.cookies.set(COOKIE, self.cookie)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        self._as_me()
        try:
            return self.client.get(path, **kw)
        finally:
            self.client.cookies.clear()

    def post(self, path: str, json: Any = None, *, csrf: str | None = None, **kw: Any) -> httpx.Response:
        self._as_me()
        try:
            token = self.csrf if csrf is None else csrf
            return self.client.post(path, json=json, headers={"X-CSRF-Token": token} if token else {}, **kw)
        finally:
            self.client.cookies.clear()

    def patch(self, path: str, json: Any = None) -> httpx.Response:
        self._as_me()
        try:
            return self.client.patch(path, json=json, headers={"X-CSRF-Token": self.csrf})
        finally:
            self.client.cookies.clear()

    def conv(self, cid: str, action: str = "", json: Any = None) -> httpx.Response:
        path = f"/api/agent/conversations/{cid}" + (f"/{action}" if action else "")
        return self.post(path, json=json) if action else self.get(path)


def agent_session(client: TestClient, email: str, password: str = "agent-password-1") -> Agent:
    client.cookies.clear()
    csrf = login(client, email, password)
    cookie = client.cookies.get(COOKIE)
    client.cookies.clear()
    assert cookie
    return Agent(client, csrf, email, cookie)


@dataclass
class Customer:
    """A web chat visitor on a TestClient WebSocket."""

    client: TestClient
    language: str = "en"
    token: str | None = None
    frames: list[dict[str, Any]] = field(default_factory=list)
    conversation_id: str | None = None
    _n: int = 0

    def say(self, text: str, *, button: str | None = None) -> list[dict[str, Any]]:
        with self.client.websocket_connect("/channels/web/ws") as ws:
            ws.send_json({"type": "hello", "token": self.token, "language": self.language})
            welcome = ws.receive_json()
            self.token = welcome["token"]
            self._n += 1
            frame: dict[str, Any] = {"type": "message", "text": text, "client_id": f"c{self._n}"}
            if button is not None:
                frame = {"type": "button", "title": text, "payload": button, "client_id": f"c{self._n}"}
            ws.send_json(frame)
            out = []
            while True:
                f = ws.receive_json()
                if f["type"] == "ack":
                    self.conversation_id = f["conversation_id"]
                    return out
                out.append(f)

    def history(self) -> list[dict[str, Any]]:
        with self.client.websocket_connect("/channels/web/ws") as ws:
            ws.send_json({"type": "hello", "token": self.token})
            return ws.receive_json()["history"]


def events(frames: list[dict[str, Any]]) -> list[str | None]:
    return [f.get("event") for f in frames if f.get("type", "message") == "message"]


def texts(frames: list[dict[str, Any]], sender: str | None = None) -> list[str]:
    return [f["text"] for f in frames
            if f.get("type", "message") == "message" and (sender is None or f.get("sender") == sender)]


Check = Callable[[], bool]
