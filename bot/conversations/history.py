"""A web visitor's conversation as the widget shows it when it (re)connects."""

from __future__ import annotations

from typing import Any

from bot.store import conversations as conversation_store
from bot.store import messages as message_store
from bot.store.db import Database
from bot.views import conversation_view, message_view
from connectors.webchat import rendered_html


class WebHistory:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def __call__(self, visitor: str, after_seq: int) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """The visitor's latest conversation and its messages after `after_seq`."""
        def read(conn: Any) -> tuple[Any, list[Any]]:
            conv = conversation_store.latest(conn, "web", visitor)
            return conv, (message_store.listing(conn, conv.id, after_seq=after_seq) if conv else [])

        conv, messages = await self.db.read(read)
        return (conversation_view(conv) if conv else None), [
            {**message_view(m), "html": rendered_html(m.sender, m.text)} for m in messages]
