"""In-process publish/subscribe for live updates (agent queue, conversation views)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

log = logging.getLogger(__name__)


class EventBus:
    """Fan-out of event dicts to subscribers. A slow subscriber loses its oldest events, never blocks others."""

    def __init__(self, max_backlog: int = 1000) -> None:
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self.max_backlog = max_backlog

    def publish(self, event_type: str, **data: Any) -> None:
        event = {"type": event_type, **data}
        for q in list(self._subscribers):
            if q.full():
                q.get_nowait()
            q.put_nowait(event)

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self.max_backlog)
        self._subscribers.add(q)
        try:
            yield q
        finally:
            self._subscribers.discard(q)
