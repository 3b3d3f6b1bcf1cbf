"""What the integration tests share: the running stack, a web-chat customer, the browser to drive.

The fixtures that start them are in conftest.py; test modules import these names from here.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, sync_playwright
from websockets.sync.client import ClientConnection, connect

from core.settings import HubSettings
from tools.launcher import Service

AGENT_TOKEN = "integration-agent-token"
ADMIN_TOKEN = "integration-admin-token"


@contextlib.contextmanager
def started(procs: dict[str, Service], timeout_s: float = 240) -> Iterator[dict[str, Service]]:
    """The action server, Rasa and the hub started together and healthy; stopped in reverse on the way out."""
    running: list[Service] = []
    try:
        for name in ("actions", "rasa", "hub"):
            procs[name].start()
            running.append(procs[name])
        for name in ("actions", "rasa", "hub"):
            procs[name].wait_healthy(timeout_s)
        yield procs
    finally:
        for svc in reversed(running):
            svc.stop()


@dataclass
class Stack:
    settings: HubSettings
    services: dict[str, Service]
    third_party_port: int  # a website on this port may embed the chat widget (WEB_ALLOWED_ORIGINS)

    @property
    def hub(self) -> str:
        return self.settings.hub_url

    def agent(self, name: str = "alice") -> httpx.Client:
        return httpx.Client(base_url=self.hub, timeout=30,
                            headers={"Authorization": f"Bearer {AGENT_TOKEN}", "X-Agent": name})

    def kill(self, name: str) -> None:
        self.services[name].stop(timeout_s=5)

    def restart(self, name: str, timeout_s: float = 180) -> None:
        self.services[name].stop()
        self.services[name].start()
        self.services[name].wait_healthy(timeout_s)


class Chat:
    """A customer in the web chat: a real WebSocket client speaking the widget's protocol."""

    def __init__(self, hub: str, language: str = "en", token: str | None = None) -> None:
        self.ws: ClientConnection = connect(hub.replace("http", "ws") + "/channels/web/ws", open_timeout=10,
                                            max_size=None)
        self.ws.send(json.dumps({"type": "hello", "token": token, "language": language}))
        self.welcome = self.receive()
        assert self.welcome["type"] == "welcome", self.welcome
        self.token: str = self.welcome["token"]
        self.conversation_id: str | None = (self.welcome.get("conversation") or {}).get("id")
        self._n = 0

    def receive(self, timeout: float = 30) -> dict[str, Any]:
        return json.loads(self.ws.recv(timeout=timeout))

    def say(self, text: str, *, kind: str = "message", payload: str | None = None,
            timeout: float = 60) -> list[dict[str, Any]]:
        """Send a message; return the messages that came back before the hub acknowledged it."""
        self._n += 1
        client_id = f"{self.token[-12:]}-{self._n}-{time.monotonic_ns()}"
        frame: dict[str, Any] = {"type": kind, "client_id": client_id}
        frame.update({"text": text} if kind == "message" else {"title": text, "payload": payload})
        self.ws.send(json.dumps(frame))
        replies = []
        while True:
            f = self.receive(timeout)
            if f["type"] == "ack" and f["client_id"] == client_id:
                self.conversation_id = f["conversation_id"]
                return replies
            if f["type"] == "error":
                raise AssertionError(f"hub refused the message: {f}")
            replies.append(f)

    def close(self) -> None:
        self.ws.close()


def bot_texts(frames: list[dict[str, Any]]) -> list[str]:
    """The bot messages as the widget shows them: a message the hub pushed twice (same id) is shown once."""
    seen: set[str] = set()
    texts = []
    for f in frames:
        if f.get("type") == "message" and f.get("sender") == "bot" and f.get("id") not in seen:
            seen.add(f.get("id") or "")
            texts.append(f["text"])
    return texts


CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, through Playwright (never `playwright install`); closed on exit."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: `make test-deps` installs it")
        pytest.skip("chromium is not installed: run `make test-deps`")
    return path


def in_own_thread(scenario: Callable[[Browser], None], name: str = "browser-scenario") -> None:
    """Run `scenario` with its own Playwright in a fresh thread: Playwright's sync API refuses to start where
    another sync Playwright (test_chat_browser's session browser) already runs an event loop."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with chromium() as browser:
                scenario(browser)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            errors.append(exc)

    worker = threading.Thread(target=run, name=name)
    worker.start()
    worker.join()
    if errors:
        raise errors[0]
