"""The widget embedded with one <script> tag on a plain third-party web page (another origin), in headless Chromium:
it chats with the bot on a phone-sized screen, keeps the conversation across page loads, and refuses politely on
a website that is not on the hub's allow-list."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.integration.support import Stack
from tests_support import free_port_dead as free_port

pytestmark = pytest.mark.browser

SHOP_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Acme Garden Supplies</title></head>
<body>
  <h1>Acme Garden Supplies</h1>
  <p>Seeds, tools and everything for your garden.</p>
  <script src="{hub}/static/widget.js" data-title="Acme help" defer></script>
</body></html>
"""


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def serve(folder: Path, port: int) -> http.server.ThreadingHTTPServer:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(_Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def third_party_site(stack: Stack, tmp_path: Path) -> Iterator[str]:
    (tmp_path / "index.html").write_text(SHOP_PAGE.format(hub=stack.hub))
    allowed = serve(tmp_path, stack.third_party_port)
    yield f"http://127.0.0.1:{stack.third_party_port}/index.html"
    allowed.shutdown()


def test_widget_embedded_on_another_site_chats_and_resumes(third_party_site: str, page: Page) -> None:
    page.goto(third_party_site)
    expect(page.get_by_role("heading", name="Acme Garden Supplies")).to_be_visible()
    panel = page.get_by_role("dialog", name="Support chat")
    expect(panel).to_be_hidden()
    page.get_by_role("button", name="Open chat").click()
    expect(panel).to_be_visible()
    expect(page.locator(".sb-conn")).to_have_text("online", timeout=15_000)

    page.get_by_label("Your message").fill("hello")
    page.keyboard.press("Enter")
    expect(page.locator(".sb-bot").first).to_contain_text("Brightcart", timeout=30_000)
    expect(page.locator(".sb-typing")).to_be_hidden()  # the typing dots go once the answer is in

    box = panel.bounding_box()
    assert box is not None and box["width"] <= 420 - 32 + 1  # fits a phone-width screen with margins

    page.reload()  # same visitor, same conversation
    page.get_by_role("button", name="Open chat").click()
    expect(page.locator(".sb-customer").first).to_have_text("hello", timeout=15_000)
    expect(page.locator(".sb-bot").first).to_contain_text("Brightcart")


def test_widget_on_a_site_not_on_the_allow_list_says_so(stack: Stack, page: Page, tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text(SHOP_PAGE.format(hub=stack.hub))
    other = serve(tmp_path, free_port())
    try:
        page.goto(f"http://127.0.0.1:{other.server_address[1]}/index.html")
        page.get_by_role("button", name="Open chat").click()
        expect(page.locator(".sb-error")).to_have_text("Chat is not available on this website.", timeout=15_000)
        expect(page.locator(".sb-conn")).to_have_text("unavailable")
    finally:
        other.shutdown()
