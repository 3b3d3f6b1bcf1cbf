"""Which agents are online: a console socket open (it pings every 25 s), or an API heartbeat in the last `ttl_s`.

Two back ends with one async interface: `MemoryPresence` (the embedded single-process default) and
`RedisPresence` (`REDIS_URL`: every hub process sees the same agents; an agent's entry expires `ttl_s` after
their last sign of life, so a hub process that dies with open sockets does not keep them online).
"""

from __future__ import annotations

import json
import time as clock
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass
class OnlineAgent:
    key: str
    display_name: str
    teams: tuple[str, ...] = ()
    max_concurrent: int = 3
    connections: int = 0
    last_seen: float = 0.0
    available: bool = True
    last_assigned: float = 0.0


def pick(agents: list[OnlineAgent], load: dict[str, int]) -> OnlineAgent | None:
    """The least-busy agent with room left; ties go to who waited longest for work."""
    free = [a for a in agents if load.get(a.key, 0) < a.max_concurrent]
    if not free:
        return None
    return min(free, key=lambda a: (load.get(a.key, 0) / a.max_concurrent, load.get(a.key, 0), a.last_assigned))


def serves(agent: OnlineAgent, team: str | None) -> bool:
    """An agent with no teams serves every team."""
    return team is None or not agent.teams or team in agent.teams


class Presence(Protocol):
    async def connect(self, key: str, display_name: str, teams: tuple[str, ...] = (), max_concurrent: int = 3) -> None:
        """A console socket of this agent opened."""

    async def disconnect(self, key: str) -> None:
        """One of the agent's console sockets closed."""

    async def heartbeat(self, key: str, display_name: str, teams: tuple[str, ...] = (), max_concurrent: int = 3,
                        available: bool | None = None) -> None:
        """A sign of life (an API client's heartbeat, a console ping); `available=False`: no auto-assignment."""

    async def is_online(self, key: str) -> bool: ...

    async def online(self, team: str | None = None) -> list[OnlineAgent]:
        """Online, available agents; with `team`, those who serve it."""

    async def assigned(self, key: str) -> None:
        """The agent just got a conversation (least-recently-assigned goes first on ties)."""

    async def pick(self, team: str | None, load: dict[str, int]) -> OnlineAgent | None: ...


class MemoryPresence:
    def __init__(self, ttl_s: float = 90.0) -> None:
        self.ttl_s = ttl_s
        self._agents: dict[str, OnlineAgent] = {}

    def _entry(self, key: str, display_name: str, teams: tuple[str, ...], max_concurrent: int) -> OnlineAgent:
        entry = self._agents.get(key)
        if entry is None:
            entry = self._agents[key] = OnlineAgent(key, display_name)
        entry.display_name, entry.teams, entry.max_concurrent = display_name, tuple(teams), max_concurrent
        entry.last_seen = clock.time()
        return entry

    async def connect(self, key: str, display_name: str, teams: tuple[str, ...] = (), max_concurrent: int = 3) -> None:
        self._entry(key, display_name, teams, max_concurrent).connections += 1

    async def disconnect(self, key: str) -> None:
        entry = self._agents.get(key)
        if entry is not None:
            entry.connections = max(0, entry.connections - 1)

    async def heartbeat(self, key: str, display_name: str, teams: tuple[str, ...] = (), max_concurrent: int = 3,
                        available: bool | None = None) -> None:
        entry = self._entry(key, display_name, teams, max_concurrent)
        if available is not None:
            entry.available = available

    def _online(self, entry: OnlineAgent | None) -> bool:
        return bool(entry and entry.available and (entry.connections > 0 or clock.time() - entry.last_seen < self.ttl_s))

    async def is_online(self, key: str) -> bool:
        return self._online(self._agents.get(key))

    async def online(self, team: str | None = None) -> list[OnlineAgent]:
        return [a for a in self._agents.values() if self._online(a) and serves(a, team)]

    async def assigned(self, key: str) -> None:
        entry = self._agents.get(key)
        if entry is not None:
            entry.last_assigned = clock.time()

    async def pick(self, team: str | None, load: dict[str, int]) -> OnlineAgent | None:
        return pick(await self.online(team), load)


class RedisPresence:
    """Agents in Redis hashes `presence:<key>` (refreshed by every sign of life, expiring after `ttl_s`)."""

    PREFIX = "supportbot:presence:"

    def __init__(self, redis: Any, ttl_s: float = 90.0) -> None:
        self.redis = redis
        self.ttl_s = ttl_s

    async def _touch(self, key: str, display_name: str, teams: tuple[str, ...], max_concurrent: int,
                     **extra: Any) -> None:
        name = self.PREFIX + key
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(name, mapping={"display_name": display_name, "teams": json.dumps(list(teams)),
                                     "max_concurrent": max_concurrent, "last_seen": clock.time(), **extra})
            pipe.expire(name, int(self.ttl_s))
            await pipe.execute()

    async def connect(self, key: str, display_name: str, teams: tuple[str, ...] = (), max_concurrent: int = 3) -> None:
        await self._touch(key, display_name, teams, max_concurrent)
        await self.redis.hincrby(self.PREFIX + key, "connections", 1)

    async def disconnect(self, key: str) -> None:
        if await self.redis.exists(self.PREFIX + key):
            left = await self.redis.hincrby(self.PREFIX + key, "connections", -1)
            if left < 0:
                await self.redis.hset(self.PREFIX + key, "connections", 0)

    async def heartbeat(self, key: str, display_name: str, teams: tuple[str, ...] = (), max_concurrent: int = 3,
                        available: bool | None = None) -> None:
        extra = {} if available is None else {"available": int(available)}
        await self._touch(key, display_name, teams, max_concurrent, **extra)

    async def _agent(self, key: str) -> OnlineAgent | None:
        raw = await self.redis.hgetall(self.PREFIX + key)
        if not raw:
            return None
        d = {k.decode() if isinstance(k, bytes) else k: v.decode() if isinstance(v, bytes) else v
             for k, v in raw.items()}
        return OnlineAgent(key=key, display_name=d.get("display_name", key), teams=tuple(json.loads(d.get("teams", "[]"))),
                           max_concurrent=int(d.get("max_concurrent", 3)), connections=int(d.get("connections", 0)),
                           last_seen=float(d.get("last_seen", 0)), available=d.get("available", "1") != "0",
                           last_assigned=float(d.get("last_assigned", 0)))

    def _online(self, agent: OnlineAgent | None) -> bool:
        return bool(agent and agent.available and (agent.connections > 0 or clock.time() - agent.last_seen < self.ttl_s))

    async def is_online(self, key: str) -> bool:
        return self._online(await self._agent(key))

    async def online(self, team: str | None = None) -> list[OnlineAgent]:
        found: list[OnlineAgent] = []
        async for name in self.redis.scan_iter(match=self.PREFIX + "*", count=200):
            key = (name.decode() if isinstance(name, bytes) else name)[len(self.PREFIX):]
            agent = await self._agent(key)
            if self._online(agent) and serves(agent, team):  # type: ignore[arg-type]
                found.append(agent)  # type: ignore[arg-type]
        return found

    async def assigned(self, key: str) -> None:
        if await self.redis.exists(self.PREFIX + key):
            await self.redis.hset(self.PREFIX + key, "last_assigned", clock.time())

    async def pick(self, team: str | None, load: dict[str, int]) -> OnlineAgent | None:
        return pick(await self.online(team), load)


__all__ = ["MemoryPresence", "OnlineAgent", "Presence", "RedisPresence", "pick"]
