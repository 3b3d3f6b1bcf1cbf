"""The reports page and the review inbox in a real headless Chromium, against a hub served by uvicorn on the
generated week's database: an editor logs in, reads the figures, clicks a bar of a chart and gets exactly the
conversations behind it, then turns an inbox message into an intent example (it lands in the content file).
Screenshots go to docs/ (reports.png, review-inbox.png, content-gaps.png)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
import yaml

from bot.app import create_app
from core.settings import PROJECT_ROOT
from handoff_kit import scripted_rasa
from tests.integration.support import chromium_path, in_own_thread
from tests_support import action_server, free_port_dead
from week import EDITOR, SCRIPT, Week

pytestmark = pytest.mark.browser
DOCS = PROJECT_ROOT / "docs"


@pytest.fixture
def served(week: Week) -> Iterator[str]:
    """A second hub process-alike on the week's database, served over HTTP for the browser."""
    settings = week.client.app.state.container.settings
    port = free_port_dead()
    server = uvicorn.Server(uvicorn.Config(create_app(settings.replace(hub_port=port),
                                                      rasa=scripted_rasa(SCRIPT, nlu_header=True),
                                                      actions=action_server(settings)),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="reports-hub", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the hub did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=15)


def test_reports_and_review_inbox_in_chromium(week: Week, served: str) -> None:
    chromium_path()  # skips (or fails on CI) without a browser
    in_own_thread(lambda browser: _scenario(browser, served, week))


def _scenario(browser: Any, base: str, week: Week) -> None:
    from playwright.sync_api import expect

    page = browser.new_context(viewport={"width": 1440, "height": 1000}).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{base}/console/reports")
    page.fill("#login-email", EDITOR[0])
    page.fill("#login-password", EDITOR[1])
    page.keyboard.press("Enter")
    expect(page.locator("#me")).to_have_text("Erin (editor)", timeout=15_000)
    page.fill("#f-start", (week.now.date().fromordinal(week.now.date().toordinal() - 8)).isoformat())
    page.click("#filters button[type=submit]")
    report = week.editor.get("/api/reports", params={
        "start": week.now.date().fromordinal(week.now.date().toordinal() - 8).isoformat()}).json()
    expect(page.locator("#status")).to_have_text(f"{report['summary']['conversations']} conversations", timeout=15_000)
    tiles = page.locator("#tiles .tile")
    expect(tiles.nth(2).locator(".value")).to_have_text(f"{round(report['summary']['handoff_rate'] * 1000) / 10:g}%")
    assert page.evaluate("() => Object.keys(window.Chart.instances).length") == 10  # every chart drew
    page.wait_for_timeout(300)
    page.screenshot(path=str(DOCS / "reports.png"), full_page=True)

    # a real click on the "complaint" bar of the handoff-reasons chart drills down to those conversations
    reasons = [b["bucket"] for b in report["charts"]["handoff_reason"]]
    point = page.evaluate("""(i) => { const c = Object.values(window.Chart.instances)
        .find(ch => ch.canvas.id === 'c-handoff_reason'); const el = c.getDatasetMeta(0).data[i];
        const r = c.canvas.getBoundingClientRect(); return {x: r.left + (el.x + el.base) / 2, y: r.top + el.y}; }""",
                          reasons.index("complaint"))
    page.mouse.click(point["x"], point["y"])
    complaints = {d.id for d in week.log if d.kind == "complaint"}
    expect(page.locator("#drill-title")).to_contain_text(f"{len(complaints)} conversations", timeout=10_000)
    assert set(page.eval_on_selector_all("#drill-rows tr", "rows => rows.map(r => r.dataset.id)")) == complaints
    page.locator("#drill").screenshot(path=str(DOCS / "reports-drill-down.png"))

    # the review inbox: the bot's reasoning, and one click adds a message as an example of an intent
    page.click("[data-tab=review]")
    expect(page.locator("#review-list .item").first).to_be_visible(timeout=10_000)
    page.click("#reasons .chip:has-text('Choices offered')")
    expect(page.locator("#reasons .chip.on")).to_contain_text("Choices offered", timeout=10_000)
    expect(page.locator("#review-list .badge.reason:not(.choices)")).to_have_count(0)
    item = page.locator("#review-list .item").first
    expect(item.locator(".why")).to_contain_text("KB offered", timeout=10_000)
    page.screenshot(path=str(DOCS / "review-inbox.png"), full_page=False)
    item.locator("[data-act=example]").click()
    item.locator("select[name=intent]").select_option("return_refund")
    item.locator(".act-form button[type=submit]").click()
    expect(item.locator(".act-msg")).to_contain_text("Saved in the studio (change", timeout=10_000)
    nlu = yaml.safe_load((week.client.app.state.container.settings.rasa_data_dir / "nlu.yml").read_text())
    returns = next(i for i in nlu["nlu"] if i.get("intent") == "return_refund")["examples"]
    assert "- what about returns" in returns

    page.click("[data-tab=gaps]")
    expect(page.locator("#gaps-list .gap").first).to_be_visible(timeout=120_000)
    page.screenshot(path=str(DOCS / "content-gaps.png"), full_page=False)
    assert errors == []


def test_console_search_history_and_previews_in_chromium(week: Week, served: str) -> None:
    chromium_path()
    in_own_thread(lambda browser: _console(browser, served, week))


def _console(browser: Any, base: str, week: Week) -> None:
    from playwright.sync_api import expect

    page = browser.new_context(viewport={"width": 1366, "height": 768}).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(f"{base}/console")
    page.fill("#login-email", "maria@example.com")
    page.fill("#login-password", "agent-password-1")
    page.keyboard.press("Enter")
    expect(page.locator("#me")).to_have_text("Maria", timeout=15_000)
    queued = [d for d in week.log if d.kind == "miss_queued"]
    expect(page.locator("#list li[data-id]")).to_have_count(len(queued), timeout=10_000)
    expect(page.locator("#list li[data-id] .preview").first).to_have_text("Bot: I couldn't find an answer to that.")

    page.keyboard.press("h")  # history: resolved conversations, newest first
    resolved = {d.id for d in week.log if d.kind in ("handoff_agent", "complaint", "bot_resolved")}
    expect(page.locator("#list li[data-id]")).to_have_count(len(resolved), timeout=10_000)
    assert set(page.eval_on_selector_all("#list li[data-id]", "l => l.map(x => x.dataset.id)")) == resolved

    page.keyboard.press("f")
    page.keyboard.type("address")
    page.keyboard.press("Enter")
    found = {d.id for d in week.log if d.kind == "out_of_scope"}
    expect(page.locator("#tab-search")).to_have_attribute("aria-selected", "true", timeout=10_000)
    expect(page.locator("#list li[data-id]")).to_have_count(len(found))
    page.locator("#list li[data-id]").first.click()
    expect(page.locator("#transcript li.customer").first).to_contain_text("address", timeout=10_000)
    page.screenshot(path=str(DOCS / "console-search.png"))
    expect(page.locator("#action-error")).to_have_text("")
    assert [e for e in errors if "401" not in e and "404" not in e] == []  # 401: before login; 404: favicon
