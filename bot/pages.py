"""The hub's own pages for staff (console, studio, reports, notifications): static HTML from `bot/static`, never
cached, never framed, and allowed to load nothing but the hub itself (vendor assets are served by the hub)."""

from __future__ import annotations

from pathlib import Path

from fastapi.responses import HTMLResponse

STATIC_DIR = Path(__file__).resolve().parent / "static"

STAFF_PAGE_HEADERS = {
    "Cache-Control": "no-store", "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; "
                               "frame-ancestors 'none'",
}


def staff_page(name: str) -> HTMLResponse:
    """`bot/static/<name>` with the staff pages' headers."""
    return HTMLResponse((STATIC_DIR / name).read_text(encoding="utf-8"), headers=STAFF_PAGE_HEADERS)
