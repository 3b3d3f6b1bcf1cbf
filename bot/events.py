"""Events after commit: listeners do the side effects of a state change; sockets follow the stream.

`bot.store.db.Database` publishes the events a unit of work emitted once it has committed. Two kinds of
receivers:

- **listeners** (`bus.on("queued", handler)`): awaited in the order they were registered, each event at a
  time; a failing listener is logged and never fails the change that emitted the event, nor the listeners after
  it. Customer notices, auto-assignment, CSAT, metrics and outgoing webhooks are listeners (`bot.container`).
- **subscribers** (`async with bus.subscribe() as queue`): a bounded queue per subscriber (the console's live
  socket); a slow subscriber loses its oldest events, never blocks anyone.

Listeners run in the process whose transaction emitted the event (each side effect happens once). Subscribers
are fed from a `Broadcast`: in this process's memory by default, or Redis pub/sub (`RedisBroadcast`, with
`REDIS_URL`), so a console connected to any hub process sees what happened in all of them.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Awaitable, Callable

from bot.store.db import Event

log = logging.getLogger(__name__)

Listener = Callable[[Event], Awaitable[None]]


class RedisBroadcast:
    """Events to every hub process through one Redis pub/sub channel (JSON)."""

    CHANNEL = "supportbot:events"

    def __init__(self, redis: Any) -> None:
        self.redis = redis

    async def publish(self, event: dict[str, Any]) -> None:
        await self.redis.publish(self.CHANNEL, json.dumps(event, default=str))

    async def run(self, deliver: Callable[[dict[str, Any]], None]) -> None:
        """Feed `deliver` with every process's events until cancelled (reconnecting when Redis restarts)."""
        while True:
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.subscribe(self.CHANNEL)
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            deliver(json.loads(message["data"]))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis restarting: consoles miss pushes meanwhile, not data
                log.warning("event broadcast lost its Redis connection (%s); reconnecting", exc)
                await asyncio.sleep(1.0)


class EventBus:
    def __init__(self, max_backlog: int = 1000, broadcast: RedisBroadcast | None = None) -> None:
        self._listeners: dict[str, list[Listener]] = defaultdict(list)
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self.max_backlog = max_backlog
        self.broadcast = broadcast
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.broadcast is not None and self._task is None:
            self._task = asyncio.create_task(self.broadcast.run(self._fan_out), name="event-broadcast")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def on(self, *event_types: str) -> Callable[[Listener], Listener]:
        """Register a listener for these event types (decorator or call: `bus.on("queued")(handler)`)."""
        def register(handler: Listener) -> Listener:
            for event_type in event_types:
                self._listeners[event_type].append(handler)
            return handler
        return register

    async def publish(self, events: list[Event]) -> None:
        for event in events:
            if self.broadcast is None:
                self._fan_out(event.as_dict())
            else:
                try:
                    await self.broadcast.publish(event.as_dict())
                except Exception as exc:  # noqa: BLE001 - live pushes are a convenience; the data is committed
                    log.warning("could not broadcast a %s event (%s)", event.type, exc)
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
