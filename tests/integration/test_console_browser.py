"""The agent console in a real headless Chromium against the real stack (trained Rasa, action server, hub):
an agent logs in, a customer asks for a person in the web chat (a second browser page), the conversation
arrives live, the agent claims it, replies, resolves, and the customer is asked for a rating."""

from __future__ import annotations

import os

import re
import threading
import uuid

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from core.settings import PROJECT_ROOT
from tests.integration.support import AGENT_TOKEN, Chat, Stack, chromium_path, in_own_thread

pytestmark = pytest.mark.integration


def _admin(stack: Stack) -> httpx.Client:
    return httpx.Client(base_url=stack.hub, timeout=30,
                        headers={"Authorization": f"Bearer {stack.settings.admin_api_token.get_secret_value()}"})


def _new_agent(stack: Stack, name: str) -> tuple[str, str]:
    email, password = f"{name.lower()}-{uuid.uuid4().hex[:6]}@example.com", "console-password-1"
    with _admin(stack) as admin:
        resp = admin.post("/api/admin/agents", json={"email": email, "password": password, "display_name": name})
    assert resp.status_code == 201, resp.text
    return email, password


def _log_in(page: Page, stack: Stack, email: str, password: str, name: str) -> None:
    """Sign in on the console's login form as the agent `name`."""
    page.goto(f"{stack.hub}/console")
    page.fill("#login-email", email)
    page.fill("#login-password", password)
    page.keyboard.press("Enter")
    expect(page.locator("#me")).to_have_text(name, timeout=15_000)


@pytest.mark.browser
def test_agent_takes_a_conversation_from_the_live_queue_in_the_console(stack: Stack) -> None:
    chromium_path()  # skips (or fails on CI) without a browser
    in_own_thread(lambda browser: _console_scenario(stack, browser))


def _console_scenario(stack: Stack, browser: Browser) -> None:
    console = browser.new_context(viewport={"width": 1366, "height": 768}).new_page()  # a laptop screen
    customer = browser.new_context(viewport={"width": 420, "height": 800}).new_page()  # a phone
    email, password = _new_agent(stack, "Maria")

    _log_in(console, stack, email, password, "Maria")
    expect(console.locator("#conn")).to_have_text("live", timeout=15_000)
    console.keyboard.press("m")  # looking at my own conversations when the customer arrives
    expect(console.locator("#tab-mine")).to_have_attribute("aria-selected", "true")

    customer.goto(f"{stack.hub}/chat")
    expect(customer.locator(".sb-conn")).to_have_text("online", timeout=15_000)
    customer.get_by_label("Your message").fill("do you sell gift cards?")
    customer.keyboard.press("Enter")
    expect(customer.locator(".sb-bot").first).to_contain_text(re.compile("gift card", re.I), timeout=30_000)
    customer.get_by_label("Your message").fill("I want to talk to a real person")
    customer.keyboard.press("Enter")
    expect(customer.locator(".sb-system").last).to_contain_text("in the queue", timeout=30_000)

    with stack.agent("observer") as api:
        queued = api.get("/api/agent/queue").json()["conversations"]
    cid = max(queued, key=lambda c: c["queued_at"])["id"]

    # It arrives in the open console without a reload; the title tells an agent who is looking elsewhere.
    expect(console).to_have_title("(1) Agent console", timeout=15_000)
    expect(console.locator("#count-queue")).to_have_text(str(len(queued)))
    console.keyboard.press("q")
    item = console.locator(f'#list li[data-id="{cid}"]')
    expect(item).to_be_visible(timeout=15_000)
    expect(console).to_have_title("Agent console")  # seen
    item.click()
    expect(console.locator("#handoff .reason")).to_contain_text("customer request")
    expect(console.locator("#handoff .summary")).to_contain_text("asked to talk to a person")
    expect(console.locator("#transcript li.customer").first).to_contain_text("gift cards")
    # Bot turns show the intent (with confidence) they answered and the knowledge-base entry used.
    expect(console.locator("#transcript li.bot .nlu").first).to_contain_text(re.compile(r"answering \w+ · [01]\.\d\d"))
    expect(console.locator("#transcript li.bot .nlu", has_text="KB gift-cards")).to_have_count(1)
    expect(console.locator("#profile")).to_contain_text("web")
    expect(console.locator("#reply")).to_be_disabled()

    console.keyboard.press("c")  # claim from the keyboard
    expect(customer.locator(".sb-system").last).to_contain_text("Maria from our support team has joined",
                                                                timeout=15_000)
    expect(console.locator("#reply")).to_be_enabled()
    console.locator("#reply").fill("Hi, I'm Maria. How can I help?")
    console.keyboard.press("Enter")
    bubble = customer.locator(".sb-agent").last
    expect(bubble).to_contain_text("Hi, I'm Maria. How can I help?", timeout=15_000)
    expect(bubble.locator(".sb-name")).to_have_text("Maria")

    customer.get_by_label("Your message").fill("my gift card code does not work")
    customer.keyboard.press("Enter")
    expect(console.locator("#transcript li.customer").last).to_contain_text("gift card code", timeout=15_000)
    expect(console.locator("#suggestions li").first).to_contain_text("(", timeout=20_000)  # KB hits with scores
    console.locator("#note").fill("Customer tried the code twice; check the card batch.")
    console.locator("#note-form button").click()
    expect(console.locator("#notes li").last).to_contain_text("card batch", timeout=10_000)
    console.locator("#side").evaluate("el => { el.scrollTop = 0; }")
    console.locator("#note").blur()
    # docs/console.png is refreshed on purpose (UPDATE_DOCS_SCREENSHOTS=1), never as a side effect of a test run.
    target = (PROJECT_ROOT / "docs" if os.environ.get("UPDATE_DOCS_SCREENSHOTS") else stack.settings.data_dir)
    console.screenshot(path=str(target / "console.png"))

    console.locator("#act-resolve").click()
    expect(customer.locator(".sb-system").filter(has_text="How satisfied")).to_be_visible(timeout=15_000)
    customer.locator(".sb-buttons button", has_text="5").click()
    expect(customer.locator(".sb-system").last).to_contain_text("Thank you for your feedback", timeout=15_000)
    assert "card batch" not in customer.locator(".sb-log").inner_text()  # private notes stay private

    with stack.agent("observer") as api:
        detail = api.get(f"/api/agent/conversations/{cid}").json()
    assert detail["conversation"]["status"] == "resolved"
    assert [(c["score"], c["agent"]) for c in detail["csat"]] == [(5, email)]


def test_two_agents_claiming_at_once_over_http_exactly_one_wins(stack: Stack) -> None:
    for _ in range(3):
        chat = Chat(stack.hub)
        try:
            chat.say("I want to talk to a real person")
            cid = chat.conversation_id
            barrier = threading.Barrier(2)
            codes: dict[str, int] = {}

            def claim(agent: str) -> None:
                with httpx.Client(base_url=stack.hub, timeout=30,
                                  headers={"Authorization": f"Bearer {AGENT_TOKEN}", "X-Agent": agent}) as c:
                    barrier.wait()
                    codes[agent] = c.post(f"/api/agent/conversations/{cid}/claim").status_code

            threads = [threading.Thread(target=claim, args=(a,)) for a in ("ann", "bob")]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert sorted(codes.values()) == [200, 409], codes
            winner = next(a for a, code in codes.items() if code == 200)
            joined = chat.receive()
            assert joined["event"] == "agent_joined" and winner in joined["text"]
            with stack.agent(winner) as api:
                assert api.get(f"/api/agent/conversations/{cid}").json()["conversation"]["assigned_agent"] == winner
                api.post(f"/api/agent/conversations/{cid}/resolve")
        finally:
            chat.close()
