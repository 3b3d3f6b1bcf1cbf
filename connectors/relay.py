"""Web chat frames to the hub process that holds the visitor's socket.

With several hub processes behind a load balancer, the process that sends a message to a web visitor (an agent's
reply made on process B, the outbox worker on C) is often not the one whose WebSocket the visitor is connected
to (A). A `FrameRelay` carries the frame there: with `RedisFrameRelay` each process subscribes to the channel of
each visitor connected to it, and publishing tells how many processes took the frame (0: the visitor is offline;
the message waits in their history). Without a relay (one process) the connector sends to its own sockets.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

FrameHandler = Callable[[str, dict[str, Any]], Awaitable[None]]


class RedisFrameRelay:
    PREFIX = "supportbot:web:"

    def __init__(self, redis: Any) -> None:
        self.redis = redis
        self._pubsub: Any = None
        self._task: asyncio.Task[None] | None = None
        self._handler: FrameHandler | None = None
        self._visitors: Counter[str] = Counter()  # local sockets per visitor
        self._ready = asyncio.Event()
        self.origin = uuid.uuid4().hex  # frames this process already sent to its own sockets carry it

    async def start(self, handler: FrameHandler) -> None:
        self._handler = handler
        self._task = asyncio.create_task(self._run(), name="web-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                async with self.redis.pubsub() as pubsub:
                    self._pubsub = pubsub
                    await pubsub.subscribe(self.PREFIX + "__hub__")  # keeps the connection subscribed
                    visitors = [self.PREFIX + v for v in self._visitors]
                    if visitors:  # after a reconnect: the visitors connected here
                        await pubsub.subscribe(*visitors)
                    self._ready.set()
                    async for message in pubsub.listen():
                        if message.get("type") != "message":
                            continue
                        channel = message["channel"].decode() if isinstance(message["channel"], bytes) \
                            else message["channel"]
                        if self._handler is None or channel == self.PREFIX + "__hub__":
                            continue
                        envelope = json.loads(message["data"])
                        if envelope.get("sent_by") != self.origin:
                            await self._handler(channel[len(self.PREFIX):], envelope["frame"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis restarting: frames meanwhile wait in history
                self._ready.clear()
                log.warning("web chat relay lost its Redis connection (%s); reconnecting", exc)
                await asyncio.sleep(1.0)

    async def listen(self, visitor: str) -> None:
        """A socket of `visitor` opened in this process."""
        self._visitors[visitor] += 1
        if self._visitors[visitor] == 1:
            await asyncio.wait_for(self._ready.wait(), timeout=10)
            await self._pubsub.subscribe(self.PREFIX + visitor)

    async def forget(self, visitor: str) -> None:
        """A socket of `visitor` closed in this process."""
        self._visitors[visitor] -= 1
        if self._visitors[visitor] <= 0:
            del self._visitors[visitor]
            if self._pubsub is not None and self._ready.is_set():
                try:
                    await self._pubsub.unsubscribe(self.PREFIX + visitor)
                except Exception:  # noqa: BLE001 - the connection is being re-made; it will not resubscribe
                    pass

    def holds(self, visitor: str) -> bool:
        """Whether a socket of `visitor` is open in this process."""
        return self._visitors.get(visitor, 0) > 0

    async def publish(self, visitor: str, frame: dict[str, Any], *, sent_here: bool = False) -> int:
        """Send `frame` to every process holding a socket of `visitor`; returns how many did. With `sent_here`
        this process already gave it to its own sockets (no round trip through Redis on the way to the visitor):
        it is not handed to them again, nor counted."""
        envelope = {"sent_by": self.origin if sent_here else None, "frame": frame}
        taken = int(await self.redis.publish(self.PREFIX + visitor, json.dumps(envelope, default=str)))
        return taken - 1 if sent_here and self.holds(visitor) and taken > 0 else taken
