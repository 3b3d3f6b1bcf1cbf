"""Which agents are online: a console socket open, or an API heartbeat in the last `ttl_s` seconds.

Kept in this process's memory (the embedded single-process default).
"""

from __future__ import annotations

import time as clock
from dataclasses import dataclass


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


class Presence:
    """Which agents are online (a console socket open, or an API heartbeat in the last `ttl_s` seconds)."""

    def __init__(self, ttl_s: float = 90.0) -> None:
        self.ttl_s = ttl_s
        self._agents: dict[str, OnlineAgent] = {}

    def _entry(self, key: str, display_name: str, teams: list[str] | tuple[str, ...], max_concurrent: int) -> OnlineAgent:
        entry = self._agents.get(key)
        if entry is None:
            entry = self._agents[key] = OnlineAgent(key, display_name)
        entry.display_name, entry.teams, entry.max_concurrent = display_name, tuple(teams), max_concurrent
        entry.last_seen = clock.monotonic()
        return entry

    def connect(self, key: str, display_name: str, teams: list[str] | tuple[str, ...] = (), max_concurrent: int = 3) -> None:
        self._entry(key, display_name, teams, max_concurrent).connections += 1

    def disconnect(self, key: str) -> None:
        entry = self._agents.get(key)
        if entry is not None:
            entry.connections = max(0, entry.connections - 1)

    def heartbeat(self, key: str, display_name: str, teams: list[str] | tuple[str, ...] = (), max_concurrent: int = 3,
                  available: bool | None = None) -> OnlineAgent:
        entry = self._entry(key, display_name, teams, max_concurrent)
        if available is not None:
            entry.available = available
        return entry

    def set_available(self, key: str, available: bool) -> None:
        entry = self._agents.get(key)
        if entry is not None:
            entry.available = available

    def is_online(self, key: str) -> bool:
        entry = self._agents.get(key)
        return bool(entry and entry.available and (entry.connections > 0 or clock.monotonic() - entry.last_seen < self.ttl_s))

    def online(self, team: str | None = None) -> list[OnlineAgent]:
        """Online, available agents; with `team`, those in that team (an agent with no teams serves all)."""
        return [a for a in self._agents.values()
                if self.is_online(a.key) and (team is None or not a.teams or team in a.teams)]

    def assigned(self, key: str) -> None:
        entry = self._agents.get(key)
        if entry is not None:
            entry.last_assigned = clock.monotonic()

    def pick(self, team: str | None, load: dict[str, int]) -> OnlineAgent | None:
        """The least-busy online agent of `team` with room left; ties go to who waited longest for work."""
        free = [a for a in self.online(team) if load.get(a.key, 0) < a.max_concurrent]
        if not free:
            return None
        return min(free, key=lambda a: (load.get(a.key, 0) / a.max_concurrent, load.get(a.key, 0), a.last_assigned))
