"""The agent console in a real headless Chromium against the real stack (trained Rasa, action server, hub):
an agent logs in, a customer asks for a person in the web chat (a second browser page), the conversation
arrives live, the agent claims it, replies, resolves, and the customer is asked for a rating."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from bot.config import PROJECT_ROOT
from conftest import AGENT_TOKEN, Chat, Stack
from test_chat_browser import CHROMIUM_ARGS, chromium_path

pytestmark = pytest.mark.integration


def _admin(stack: Stack) -> httpx.Client:
    return httpx.Client(base_url=stack.hub, timeout=30,
                        headers={"Authorization": f"Bearer {stack.settings.admin_api_token}"})


def _new_agent(stack: Stack, name: str) -> tuple[str, str]:
    email, password = f"{name.lower()}-{uuid.uuid4().hex[:6]}@example.com", "console-password-1"
    with _admin(stack) as admin:
        resp = admin.post("/api/admin/agents", json={"email": email, "password": password, "display_name": name})
    assert resp.status_code == 201, resp.text
    return email, password


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def console(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 768})  # a laptop screen
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def customer(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 420, "height": 800})
    page = context.new_page()
    yield page
    context.close()


@pytest.mark.browser
def test_agent_takes_a_conversation_from_the_live_queue_in_the_console(stack: Stack, console: Page,
                                                                       customer: Page) -> None:
    email, password = _new_agent(stack, "Maria")

    console.goto(f"{stack.hub}/console")
    console.fill("#login-email", email)
    console.fill("#login-password", password)
    console.keyboard.press("Enter")
    expect(console.locator("#me")).to_have_text("Maria", timeout=15_000)
    expect(console.locator("#conn")).to_have_text("live", timeout=15_000)

    customer.goto(f"{stack.hub}/chat")
    expect(customer.locator(".sb-conn")).to_have_text("online", timeout=15_000)
    customer.get_by_label("Your message").fill("do you sell gift cards?")
    customer.keyboard.press("Enter")
    expect(customer.locator(".sb-bot").last).to_contain_text("gift card", timeout=30_000)
    customer.get_by_label("Your message").fill("I want to talk to a real person")
    customer.keyboard.press("Enter")
    expect(customer.locator(".sb-system").last).to_contain_text("in the queue", timeout=30_000)

    with stack.agent("observer") as api:
        queued = api.get("/api/agent/queue").json()["conversations"]
    cid = max(queued, key=lambda c: c["queued_at"])["id"]

    # It arrives in the open console without a reload, and the title tells an agent looking elsewhere.
    item = console.locator(f'#list li[data-id="{cid}"]')
    expect(item).to_be_visible(timeout=15_000)
    expect(console).to_have_title("(1) Agent console", timeout=5_000) if len(queued) == 1 else None
    item.click()
    expect(console.locator("#handoff .reason")).to_contain_text("customer request")
    expect(console.locator("#handoff .summary")).to_contain_text("asked to talk to a person")
    expect(console.locator("#transcript li.customer").first).to_contain_text("gift cards")
    expect(console.locator("#transcript li.bot .nlu").first).to_contain_text("KB gift-cards", timeout=10_000)
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
    console.screenshot(path=str(PROJECT_ROOT / "docs" / "console.png"))

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
