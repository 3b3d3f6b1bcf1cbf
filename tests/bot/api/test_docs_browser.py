"""The API documentation pages (/docs: Swagger UI, /redoc: ReDoc) in a real Chromium with no internet: they render
every operation, and every request they make goes to the hub itself (no CDN)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Route

from core.settings import PROJECT_ROOT
from handoff_kit import make_client
from live_hub import serve
from tests.integration.support import chromium

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    client = make_client(tmp_path_factory.mktemp("docs"))
    schema = client.app.openapi()
    operations = sum(len(ops) for ops in schema["paths"].values())
    with serve(client.app) as url:
        yield url, operations


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Module-scoped on purpose: a sync Playwright left running would break the asyncio tests that follow."""
    with chromium() as b:
        yield b


def _open(browser: Browser, url: str) -> tuple[Page, list[str]]:
    """The page at `url`, and every request it sends to the network (anything not for the hub is cut off, as on
    a network without internet; what the page's Content-Security-Policy blocks never gets that far)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sent: list[str] = []
    hub_netloc = urlsplit(url).netloc

    def network(route: Route) -> None:
        sent.append(route.request.url)
        if urlsplit(route.request.url).netloc == hub_netloc:
            route.continue_()
        else:
            route.abort()

    page.route("**/*", network)
    page.goto(url)
    return page, sent


def _only_the_hub(requested: list[str], base: str) -> None:
    outside = [u for u in requested if not u.startswith(base)]
    assert outside == [], f"the page asked other sites for: {outside}"


def test_swagger_ui_renders_every_operation_offline(hub: tuple[str, int], browser: Browser) -> None:
    base, operations = hub
    page, requested = _open(browser, f"{base}/docs")
    page.wait_for_selector(".opblock", timeout=20_000)
    assert page.locator(".opblock").count() == operations
    assert page.locator(".opblock-summary-path", has_text="/api/agent/conversations/{conversation_id}/claim").count()
    # The error answers are documented: open one operation and read its responses.
    page.locator(".opblock-summary", has_text="/api/agent/dead-letters/{letter_id}/retry").first.click()
    table = page.locator(".opblock.is-open .responses-table").first
    table.wait_for(timeout=10_000)
    codes = [c.strip() for c in table.locator("td.response-col_status").all_inner_texts()]
    assert {"200", "401", "403", "404", "409", "422"} <= {c.split()[0] for c in codes if c}
    table.scroll_into_view_if_needed()
    page.screenshot(path=str(PROJECT_ROOT / "docs" / "api-docs.png"))
    _only_the_hub(requested, base)
    assert any(u.endswith("/openapi.json") for u in requested)


def test_redoc_renders_every_operation_offline(hub: tuple[str, int], browser: Browser) -> None:
    base, operations = hub
    page, requested = _open(browser, f"{base}/redoc")
    page.wait_for_selector("[data-section-id^='tag/']", timeout=30_000)
    page.wait_for_selector("h2", timeout=30_000)
    assert page.locator("[data-section-id^='operation/']").count() == operations
    assert page.get_by_text("Every 4xx answer is").count() >= 1
    page.screenshot(path=str(PROJECT_ROOT / "docs" / "api-redoc.png"))
    _only_the_hub(requested, base)
