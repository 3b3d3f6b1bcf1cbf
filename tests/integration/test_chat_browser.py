"""The web chat page in a real headless Chromium (Debian's package, driven by Playwright's Python package)."""

from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import Page, expect

from tests.integration.support import Stack

pytestmark = pytest.mark.browser


def send(page: Page, text: str) -> None:
    page.get_by_label("Your message").fill(text)
    page.keyboard.press("Enter")


def queued_conversation_saying(agent, text: str) -> str:  # type: ignore[no-untyped-def]
    for c in agent.get("/api/agent/queue").json()["conversations"]:
        messages = agent.get(f"/api/agent/conversations/{c['id']}").json()["messages"]
        if any(m["sender"] == "customer" and m["text"] == text for m in messages):
            return c["id"]
    raise AssertionError(f"no queued conversation says {text!r}")


def test_customer_chats_in_the_browser_and_gets_an_agent(stack: Stack, page: Page) -> None:
    page.goto(f"{stack.hub}/chat")
    expect(page.locator(".sb-conn")).to_have_text("online", timeout=15_000)

    send(page, "hello")
    expect(page.locator(".sb-bot").first).to_contain_text("Brightcart", timeout=30_000)

    send(page, "do you offer gift cards?")
    expect(page.locator(".sb-bot", has_text=re.compile("gift card", re.I)).first).to_be_visible(timeout=30_000)

    send(page, "I'd like to speak to a human please")
    expect(page.locator(".sb-system").last).to_contain_text("in the queue", timeout=30_000)

    with stack.agent("maria") as agent:
        conv = queued_conversation_saying(agent, "I'd like to speak to a human please")
        assert agent.post(f"/api/agent/conversations/{conv}/claim").status_code == 200
        expect(page.locator(".sb-system").last).to_contain_text("maria", timeout=15_000)
        agent.post(f"/api/agent/conversations/{conv}/reply", json={"text": "Hi, Maria here. How can I help?"})
    agent_bubble = page.locator(".sb-agent").last
    expect(agent_bubble).to_contain_text("Hi, Maria here", timeout=15_000)
    expect(agent_bubble.locator(".sb-name")).to_have_text("maria")

    # A reload keeps the conversation and shows the history.
    page.reload()
    expect(page.locator(".sb-agent").last).to_contain_text("Hi, Maria here", timeout=15_000)
    os.makedirs(stack.settings.data_dir / "screenshots", exist_ok=True)
    page.screenshot(path=str(stack.settings.data_dir / "screenshots" / "chat.png"))
