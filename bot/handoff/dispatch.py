"""Auto-assignment: queued conversations (priority, then first come) go to the least-busy online agent of
their team, where the team has auto-assignment on and is open.

It runs when a conversation is queued, when an agent comes online, and on every queue tick (listeners and the
ticker in `bot.container`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from bot.agents.presence import Presence
from bot.conversations.agent_actions import AgentActions, AgentRef
from bot.errors import InvalidTransition, NotAllowed
from bot.handoff.teams import HandoffConfig
from bot.locks import KeyedLocks, Locks
from bot.store import conversations as conversation_store
from bot.store.db import Database

log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(self, db: Database, config: HandoffConfig, presence: Presence, agents: AgentActions,
                 locks: Locks | None = None) -> None:
        self.db = db
        self.config = config
        self.presence = presence
        self.agents = agents
        self._locks: Locks = locks or KeyedLocks()  # one dispatch at a time, across hub processes with Redis

    @property
    def enabled(self) -> bool:
        return self.config.auto_assign or any(t.auto_assign for t in self.config.teams.values())

    async def dispatch(self) -> list[tuple[str, str]]:
        """Assign what can be assigned now; returns the (conversation, agent) pairs."""
        assigned: list[tuple[str, str]] = []
        if not self.enabled:
            return assigned
        async with self._locks("dispatch"):
            queue, load = await self.db.read(lambda conn: (conversation_store.queue(conn, 500),
                                                           conversation_store.load(conn)))
            now = datetime.now(timezone.utc)
            for conv in queue:
                if not self.config.auto_assign_for(conv.team):
                    continue
                team = self.config.team(conv.team)
                if team is not None and not team.is_open(now):
                    continue
                agent = await self.presence.pick(conv.team, load)
                if agent is None:
                    continue
                try:
                    await self.agents.claim(conv.id, AgentRef(agent.key, agent.display_name), auto=True)
                except (InvalidTransition, NotAllowed):
                    continue
                load[agent.key] = load.get(agent.key, 0) + 1
                assigned.append((conv.id, agent.key))
        return assigned

    async def on_event(self, _event: object) -> None:
        """Listener: something was queued, or an agent came online."""
        await self.dispatch()
