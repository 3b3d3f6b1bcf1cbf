"""The web chat page in a real headless Chromium (Debian's package, driven by Playwright's Python package)."""

from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import Page, expect

from core.settings import PROJECT_ROOT
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


def test_a_knowledge_base_answer_is_rendered_with_a_clickable_link(stack: Stack, page: Page) -> None:
    """The FAQ's Markdown reaches the widget as HTML: bold, a list, and a link that opens in a new tab."""
    page.context.route("https://brightcart.example/**", lambda route: route.fulfill(
        status=200, content_type="text/html", body="<title>Gift cards</title><h1>Brightcart gift cards</h1>"))
    page.goto(f"{stack.hub}/chat")
    expect(page.locator(".sb-conn")).to_have_text("online", timeout=15_000)
    send(page, "do gift cards expire?")
    answer = page.locator(".sb-bot", has=page.locator("a[href='https://brightcart.example/gift-cards']")).last
    expect(answer).to_be_visible(timeout=30_000)
    expect(answer.locator("strong")).to_have_text("3 years")
    assert "**" not in answer.inner_text()
    link = answer.locator("a[href='https://brightcart.example/gift-cards']")
    assert link.get_attribute("target") == "_blank" and "noopener" in (link.get_attribute("rel") or "")
    # docs/widget-answer.png is refreshed on purpose (UPDATE_DOCS_SCREENSHOTS=1), never as a side effect.
    target = PROJECT_ROOT / "docs" if os.environ.get("UPDATE_DOCS_SCREENSHOTS") else stack.settings.data_dir
    page.screenshot(path=str(target / "widget-answer.png"))
    with page.expect_popup() as popup:
        link.click()
    expect(popup.value).to_have_title("Gift cards")
