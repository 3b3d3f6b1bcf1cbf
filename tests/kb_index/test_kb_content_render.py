"""The starter FAQ's answers render cleanly for plain-text channels (WhatsApp, SMS)."""

from __future__ import annotations

from core.markdown import to_plain


def test_starter_answers_render_without_markdown_residue(starter_kb) -> None:  # type: ignore[no-untyped-def]
    for entry in starter_kb.entries:
        plain = to_plain(entry.answer)
        assert "**" not in plain and "](" not in plain, entry.id
