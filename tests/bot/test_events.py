"""Events after commit: listeners in order, failures isolated, sockets never block."""

from __future__ import annotations

import asyncio

from bot.events import EventBus
from bot.store.db import Event


async def test_listeners_run_in_order_and_a_failing_one_stops_nothing(caplog) -> None:  # type: ignore[no-untyped-def]
    bus = EventBus()
    seen: list[str] = []

    async def first(event: Event) -> None:
        seen.append(f"first:{event.data['n']}")

    async def broken(event: Event) -> None:
        raise RuntimeError("a webhook receiver is down")

    async def last(event: Event) -> None:
        seen.append(f"last:{event.data['n']}")

    bus.on("queued")(first)
    bus.on("queued")(broken)
    bus.on("queued", "assigned")(last)
    await bus.publish([Event("queued", {"n": 1}), Event("assigned", {"n": 2}), Event("resolved", {"n": 3})])
    assert seen == ["first:1", "last:1", "last:2"]
    assert "a webhook receiver is down" in caplog.text


async def test_a_slow_subscriber_loses_its_oldest_events_and_blocks_nobody() -> None:
    bus = EventBus(max_backlog=2)
    async with bus.subscribe() as q:
        await asyncio.wait_for(bus.publish([Event("message", {"n": n}) for n in range(5)]), timeout=1)
        assert [q.get_nowait()["n"], q.get_nowait()["n"]] == [3, 4]
