"""The console's notifications page in a real headless Chromium against the real stack: an agent sends a
template to a web visitor from the form; the visitor's widget shows it rendered; the page lists it with its
delivery status; the visitor's reply continues the same conversation with the bot."""

from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import Browser, expect

from core.settings import PROJECT_ROOT
from tests.integration.support import Stack, chromium_path
from tests.integration.support import in_own_thread
from tests.integration.test_console_browser import _log_in, _new_agent

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def test_an_agent_sends_a_notification_from_the_console(stack: Stack) -> None:
    chromium_path()
    in_own_thread(lambda browser: _scenario(stack, browser))


def _scenario(stack: Stack, browser: Browser) -> None:
    customer = browser.new_context(viewport={"width": 420, "height": 800}).new_page()
    customer.goto(f"{stack.hub}/chat")
    expect(customer.locator(".sb-conn")).to_have_text("online", timeout=15_000)
    customer.get_by_label("Your message").fill("hello")
    customer.keyboard.press("Enter")
    # a hub's first answer waits for the language model: tens of seconds on a busy machine
    expect(customer.locator(".sb-bot").first).to_be_visible(timeout=90_000)
    with stack.agent("observer") as api:
        conv = max(api.get("/api/agent/conversations").json()["conversations"], key=lambda c: c["created_at"])

    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    email, password = _new_agent(stack, "Sofia")
    _log_in(page, stack, email, password, "Sofia")
    page.get_by_role("link", name="Notifications").click()
    expect(page.locator("#template")).to_have_value("shipment_delayed", timeout=15_000)
    page.get_by_label("order number").fill("BC-2044")
    page.get_by_label("new date").fill("Friday 4 December")
    expect(page.locator("#preview")).to_contain_text("Your order BC-2044 is running late")
    page.locator("#recipients").fill(f"web {conv['customer']}")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#send-result")).to_contain_text("1 sent", timeout=15_000)

    bubble = customer.locator(".sb-bot", has_text="BC-2044")
    expect(bubble).to_be_visible(timeout=15_000)
    expect(bubble.locator("strong").first).to_have_text("BC-2044")
    row = page.locator("#sent tbody tr", has_text=conv["customer"]).first
    expect(row).to_contain_text(re.compile("delivered|stored"), timeout=15_000)
    target = PROJECT_ROOT / "docs" if os.environ.get("UPDATE_DOCS_SCREENSHOTS") else stack.settings.data_dir
    page.evaluate("() => { document.activeElement.blur(); window.scrollTo(0, 0); }")
    page.screenshot(path=str(target / "notifications.png"))

    customer.get_by_label("Your message").fill("thanks, can I still change the address?")
    customer.keyboard.press("Enter")
    expect(customer.locator(".sb-bot").last).not_to_contain_text("BC-2044", timeout=30_000)
    with stack.agent("observer") as api:
        mine = [c for c in api.get("/api/agent/conversations").json()["conversations"]
                if c["customer"] == conv["customer"]]
        messages = api.get(f"/api/agent/conversations/{conv['id']}").json()["messages"]
    assert len(mine) == 1 and mine[0]["status"] in ("bot", "queued")
    assert [m["sender"] for m in messages if m["seq"] > [x for x in messages if x["event"] == "notification"][0]["seq"]
            ][:2] == ["customer", "bot"]
