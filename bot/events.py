"""Events after commit: listeners do the side effects of a state change; sockets follow the stream.

`bot.store.db.Database` publishes the events a unit of work emitted once it has committed. Two kinds of
receivers:

- **listeners** (`bus.on("queued", handler)`): awaited in the order they were registered, each event at a
  time; a failing listener is logged and never fails the change that emitted the event, nor the listeners after
  it. Customer notices, auto-assignment, CSAT, metrics and outgoing webhooks are listeners (`bot.container`).
- **subscribers** (`async with bus.subscribe() as queue`): a bounded queue per subscriber (the console's live
  socket); a slow subscriber loses its oldest events, never blocks anyone.

This bus lives in one process (the embedded default).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Awaitable, Callable

from bot.store.db import Event

log = logging.getLogger(__name__)

Listener = Callable[[Event], Awaitable[None]]


class EventBus:
    def __init__(self, max_backlog: int = 1000) -> None:
        self._listeners: dict[str, list[Listener]] = defaultdict(list)
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self.max_backlog = max_backlog

    def on(self, *event_types: str) -> Callable[[Listener], Listener]:
        """Register a listener for these event types (decorator or call: `bus.on("queued")(handler)`)."""
        def register(handler: Listener) -> Listener:
            for event_type in event_types:
                self._listeners[event_type].append(handler)
            return handler
        return register

    async def publish(self, events: list[Event]) -> None:
        for event in events:
            self._fan_out(event.as_dict())
            for handler in list(self._listeners.get(event.type, ())):
                try:
                    await handler(event)
                except Exception:  # noqa: BLE001 - a side effect must not undo or block the change itself
                    log.exception("listener %s failed on %s event", getattr(handler, "__qualname__", handler),
                                  event.type)

    async def emit(self, event_type: str, **data: Any) -> None:
        """Publish an event that no transaction produced (presence, delivery callbacks)."""
        await self.publish([Event(event_type, data)])

    def _fan_out(self, event: dict[str, Any]) -> None:
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
