"""What a queued customer is told: their place in the queue, the estimated wait (from recent waits and the
agents online) or, outside business hours, when the team is back; and, on each tick, an update when the wait
grew markedly since they were last told."""

from __future__ import annotations

import logging
import math
from datetime import datetime, timezone
from collections.abc import Sequence
from typing import Any

from bot.agents.presence import OnlineAgent, Presence, serves
from bot.conversations.outbound import Outbound, Staged, system_message
from bot.handoff.teams import HandoffConfig
from bot.store import conversations as conversation_store
from bot.store.db import Database, Tx
from connectors.base import OutboundMessage
from core.i18n import format_when, t

log = logging.getLogger(__name__)


def estimate_wait_s(recent_waits: list[float], position: int, agents_online: int) -> int | None:
    """A wait estimate from recent history: the median recent wait, scaled by the queue ahead per agent.

    None when there is no history to go on (the customer is then only told their position).
    """
    if not recent_waits:
        return None
    waits = sorted(recent_waits)
    mid = len(waits) // 2
    median = waits[mid] if len(waits) % 2 else (waits[mid - 1] + waits[mid]) / 2
    per_agent = max(1, agents_online)
    return int(max(60.0, median * max(1.0, position / per_agent)))


def _minutes(seconds: int) -> int:
    return max(1, math.ceil(seconds / 60))


class QueueNotices:
    def __init__(self, db: Database, outbound: Outbound, config: HandoffConfig, presence: Presence) -> None:
        self.db = db
        self.outbound = outbound
        self.config = config
        self.presence = presence

    def stage(self, tx: Tx, conversation_id: str, *, online: list[OnlineAgent], update: bool = False,
              before: Sequence[OutboundMessage] = ()) -> Staged | None:
        """Inside `tx`: the queue notice for one conversation (after the messages in `before`, e.g. "I'm passing
        you to our billing team"). With `update`, only when the estimate grew markedly since last told."""
        conv = conversation_store.get(tx.conn, conversation_id)
        staged = Staged([], {})
        for out in before:
            self.outbound.stage(tx, conv, out, staged=staged)
        notice = self._notice(tx, conv, update=update, online=online)
        if notice is not None:
            self.outbound.stage(tx, conv, notice, staged=staged)
        return staged if staged.queued else None

    def _notice(self, tx: Tx, conv: Any, *, update: bool, online: list[OnlineAgent]) -> OutboundMessage | None:
        position = conversation_store.queue_position(tx.conn, conv)
        if position is None:
            return None
        lang = conv.language
        team = self.config.team(conv.team)
        now = datetime.now(timezone.utc)
        if team is not None and not team.is_open(now):
            if update:
                return None
            opens = team.next_open(now)
            parts = [t("queue_position", lang, position=position)]
            values: dict[str, Any] = {"position": position, "team": conv.team}
            if opens is not None:
                parts.append(t("queue_closed", lang, when=format_when(opens, lang)))
                values["opens_at"] = opens.isoformat()
            return _text(" ".join(parts), lang, "queued", values)
        waits = conversation_store.recent_waits(tx.conn, team=conv.team)
        wait = estimate_wait_s(waits, position, sum(1 for a in online if serves(a, conv.team)))
        if update:
            told = conv.wait_announced_s
            if wait is None or told is None or wait < told * 1.5 or wait - told < 120:
                return None
            conversation_store.set_fields(tx.conn, conv.id, wait_announced_s=wait)
            return _text(t("queue_update", lang, position=position, minutes=_minutes(wait)), lang, "queue_update",
                         {"position": position, "wait_s": wait})
        parts = [t("queue_position", lang, position=position)]
        if wait is not None:
            parts.append(t("queue_wait", lang, minutes=_minutes(wait)))
        conversation_store.set_fields(tx.conn, conv.id, wait_announced_s=wait)
        return _text(" ".join(parts), lang, "queued", {"position": position, "wait_s": wait, "team": conv.team})

    async def announce(self, conversation_id: str, *, before: Sequence[OutboundMessage] = (),
                       update: bool = False) -> None:
        online = await self.presence.online()
        staged = await self.db.write(self.stage, conversation_id, update=update, before=before, online=online)
        if staged is not None:
            await self.outbound.flush(staged)

    async def on_queued(self, event: Any) -> None:
        """Listener: a conversation entered a queue (a handoff, or a transfer to a team)."""
        data = event.data
        before: list[OutboundMessage] = []
        lang = (data.get("conversation") or {}).get("language") or "en"
        if data.get("announce"):
            before.append(system_message(data["announce"], lang))
        if data.get("transferred_from") is not None or data.get("team_name"):
            before.append(system_message("transferred", lang, team=data.get("team_name")))
        await self.announce(data["conversation_id"], before=before)

    async def tick(self) -> None:
        """Tell customers whose estimated wait grew (every QUEUE_TICK_S)."""
        for conv in await self.db.read(conversation_store.queue, 500):
            try:
                await self.announce(conv.id, update=True)
            except Exception:  # one broken conversation must not stop the others
                log.exception("queue update for %s failed", conv.id)


def _text(text: str, language: str, event: str, values: dict[str, Any]) -> OutboundMessage:
    return OutboundMessage(text=text, sender="system", language=language, extra={"event": event, **values})
