"""What the customer is told when a person joins, leaves or closes their conversation (listeners)."""

from __future__ import annotations

from bot.agents.presence import Presence
from bot.conversations.outbound import Outbound
from bot.store.db import Event


class StatusNotices:
    def __init__(self, outbound: Outbound, presence: Presence) -> None:
        self.outbound = outbound
        self.presence = presence

    async def on_assigned(self, event: Event) -> None:
        await self.presence.assigned(event.data["agent"])
        if event.data.get("proactive"):  # the agent wrote first: their own message is the introduction
            return
        await self.outbound.notice(event.data["conversation_id"], "agent_joined", agent=event.data["agent_name"])

    async def on_handed_back(self, event: Event) -> None:
        await self.outbound.notice(event.data["conversation_id"], "handed_back")

    async def on_resolved(self, event: Event) -> None:
        await self.outbound.notice(event.data["conversation_id"], "resolved")
