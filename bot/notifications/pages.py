"""Pages: the console's notifications page (`/console/notifications`) and the unsubscribe page an e-mail's
link opens (`/unsubscribe?t=…`: a button to confirm, since mail scanners open links; `POST` records it, and
also answers RFC 8058 one-click requests from mail clients)."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from bot.notifications import consent
from bot.store import conversations as conversation_store
from bot.pages import staff_page
from connectors.unsubscribe import read_unsubscribe_token
from core.i18n import t

if TYPE_CHECKING:
    from bot.container import Container

PAGE_HEADERS = {"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                "Content-Security-Policy": "default-src 'self'; connect-src 'self'; frame-ancestors 'none'"}
STYLE = ("body{font:16px/1.5 system-ui,sans-serif;max-width:34em;margin:4em auto;padding:0 1em;color:#1d2330}"
         "button{font:inherit;padding:.5em 1.2em;border-radius:6px;border:1px solid #2357d9;background:#2357d9;"
         "color:#fff;cursor:pointer}button.alt{background:#fff;color:#2357d9}")


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(f'<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" '
                        f'content="width=device-width, initial-scale=1"><title>{html.escape(title)}</title>'
                        f"<style>{STYLE}</style></head><body>{body}</body></html>", status_code=status,
                        headers=PAGE_HEADERS | {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                                                "form-action 'self'; frame-ancestors 'none'"})


def build_notification_pages(c: "Container") -> APIRouter:
    pages = APIRouter(include_in_schema=False)
    secret = c.settings.session_secret.get_secret_value()

    @pages.get("/console/notifications")
    async def console_page() -> HTMLResponse:
        return staff_page("notifications.html")

    async def language_of(channel: str, user: str) -> str:
        conv = await c.db.read(conversation_store.latest, channel, user)
        return conv.language if conv is not None else c.settings.default_language

    @pages.get("/unsubscribe")
    async def unsubscribe_form(request: Request) -> HTMLResponse:
        token = request.query_params.get("t", "")
        who = read_unsubscribe_token(secret, token)
        if who is None:
            return _page("Unsubscribe", "<p>This unsubscribe link is not valid (it may be cut short). Reply to "
                                        "one of our e-mails with the word STOP instead.</p>", 400)
        channel, user = who
        language = await language_of(channel, user)
        out = await c.db.read(consent.opted_out, channel, user)
        key, action, css = ("email_resubscribe", "in", "alt") if out else ("email_unsubscribe", "out", "")
        return _page(t(key, language),
                     f"<h1>{html.escape(t(key, language))}</h1><p>{html.escape(user)}</p>"
                     f'<form method="post" action="/unsubscribe?t={html.escape(token)}">'
                     f'<button name="action" value="{action}" class="{css}">{html.escape(t(key, language))}</button>'
                     f"</form>")

    @pages.post("/unsubscribe")
    async def unsubscribe(request: Request) -> HTMLResponse:
        form = await request.form()
        token = str(form.get("t") or request.query_params.get("t", ""))
        who = read_unsubscribe_token(secret, token)
        if who is None:
            return _page("Unsubscribe", "<p>This unsubscribe link is not valid.</p>", 400)
        channel, user = who
        out = form.get("action", "out") != "in"  # RFC 8058 one-click posts List-Unsubscribe=One-Click: out
        source = "one-click unsubscribe" if form.get("List-Unsubscribe") == "One-Click" else "unsubscribe link"
        await c.db.write(lambda tx: consent.record(tx.conn, channel, user, out=out, source=source))
        language = await language_of(channel, user)
        key = "email_unsubscribed_page" if out else "email_resubscribed_page"
        return _page(t("email_unsubscribe", language), f"<p>{html.escape(t(key, language, address=user))}</p>")

    return pages
