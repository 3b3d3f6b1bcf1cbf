"""A real stack for integration tests: a trained Rasa model, the Rasa server, the action server and the hub,
each its own process on free loopback ports, with private data folders. Started once per test session.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shutil

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from websockets.sync.client import ClientConnection, connect

from core.settings import PROJECT_ROOT, HubSettings
from bot.launcher import Service, child_env, ensure_model, services, write_endpoints
from tests_support import free_port_dead as free_port

AGENT_TOKEN = "integration-agent-token"


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


@pytest.fixture(scope="session")
def trained_model() -> Path:
    """The shipped config, domain and data, trained once and reused while they do not change."""
    return ensure_model(config=PROJECT_ROOT / "config.yml", out_dir=PROJECT_ROOT / "var" / "test-models", name="test")


@pytest.fixture(scope="session")
def kb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("kb")
    subprocess.run([sys.executable, "-m", "kb_index", "build", "--out", str(out)], check=True, cwd=PROJECT_ROOT,
                   env=child_env())
    return out


@pytest.fixture(scope="session")
def stack(trained_model: Path, kb_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data = tmp_path_factory.mktemp("stack")
    hub_port, third_party_port = free_port(), free_port()
    settings = HubSettings.from_env(
        data_dir=data, hub_port=hub_port, rasa_port=free_port(), action_port=free_port(),
        web_allowed_origins=(f"http://127.0.0.1:{hub_port}", f"http://127.0.0.1:{third_party_port}"),
        kb_index_dir=kb_dir, agent_api_token=AGENT_TOKEN, rasa_timeout_s=20.0,
    )
    procs = services(settings, trained_model, write_endpoints(settings))
    started: list[Service] = []
    try:
        for name in ("actions", "rasa", "hub"):
            procs[name].start()
            started.append(procs[name])
        for name in ("actions", "rasa", "hub"):
            procs[name].wait_healthy(240)
        yield Stack(settings, procs, third_party_port)
    finally:
        for svc in reversed(started):
            svc.stop()
        for svc in procs.values():  # leave the logs where a failing run can be read
            if os.environ.get("CI"):
                print(f"\n---- {svc.name} log (tail) ----\n{svc.tail(60)}")


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


@pytest.fixture
def chat(stack: Stack) -> Iterator[Chat]:
    c = Chat(stack.hub)
    yield c
    c.close()


CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: `make test-deps` installs it")
        pytest.skip("chromium is not installed: run `make test-deps`")
    return path


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 420, "height": 800})  # a phone-sized screen
    pg = context.new_page()
    yield pg
    context.close()
