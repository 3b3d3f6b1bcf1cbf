"""A real stack for integration tests: a trained Rasa model, the Rasa server, the action server and the hub,
each its own process on free loopback ports, with private data folders. Started once per test session.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from bot.ops import secrets
from core.settings import PROJECT_ROOT, HubSettings
from tests.integration.studio_support import StudioStack
from tests.integration.support import ADMIN_TOKEN, AGENT_TOKEN, CHROMIUM_ARGS, Chat, Stack, chromium, chromium_path, started
from tests_support import TEST_EMBEDDINGS, free_port_dead as free_port
from tools.launcher import child_env, ensure_model, services, write_endpoints


@pytest.fixture(scope="session")
def trained_model() -> Path:
    """The shipped config, domain and data, trained once and reused while they do not change."""
    return ensure_model(config=PROJECT_ROOT / "config.yml", out_dir=PROJECT_ROOT / "var" / "test-models", name="test")


@pytest.fixture(scope="session")
def kb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("kb")
    subprocess.run([sys.executable, "-m", "kb_index", "build", "--out", str(out), "--cache-dir", str(TEST_EMBEDDINGS)],
                   check=True, cwd=PROJECT_ROOT,
                   env=child_env())
    return out


@pytest.fixture(scope="session")
def stack(trained_model: Path, kb_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data = tmp_path_factory.mktemp("stack")
    hub_port, third_party_port = free_port(), free_port()
    settings = secrets.resolve(HubSettings.from_env(
        data_dir=data, hub_port=hub_port, rasa_port=free_port(), action_port=free_port(),
        web_allowed_origins=(f"http://127.0.0.1:{hub_port}", f"http://127.0.0.1:{third_party_port}"),
        kb_index_dir=kb_dir, agent_api_token=AGENT_TOKEN, admin_api_token=ADMIN_TOKEN, rasa_timeout_s=20.0,
    ))  # the generated Rasa token and session secret, as the launcher does
    procs = services(settings, trained_model, write_endpoints(settings))
    try:
        with started(procs):
            yield Stack(settings, procs, third_party_port)
    finally:
        for svc in procs.values():  # leave the logs where a failing run can be read
            if os.environ.get("CI"):
                print(f"\n---- {svc.name} log (tail) ----\n{svc.tail(60)}")


@pytest.fixture
def chat(stack: Stack) -> Iterator[Chat]:
    c = Chat(stack.hub)
    yield c
    c.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Module-scoped on purpose: a sync Playwright left running keeps an event loop in the main thread, and every
    asyncio test that follows (tests/studio …) would fail to start its own."""
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 420, "height": 800})  # a phone-sized screen
    pg = context.new_page()
    yield pg
    context.close()


@pytest.fixture(scope="session")
def studio_stack(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StudioStack]:
    """A stack whose studio edits and publishes a private copy of the content (its own git repository)."""
    from tests.integration.studio_support import prepare, running

    root = tmp_path_factory.mktemp("studio")
    settings, project = prepare(root, trained_model)
    with running(settings, project) as studio:
        yield studio
        if os.environ.get("CI"):
            for svc in studio.services.values():
                print(f"\n---- studio {svc.name} log (tail) ----\n{svc.tail(60)}")
