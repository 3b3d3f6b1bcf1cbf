"""What agents do to a conversation: claim, reply, resolve, hand back, transfer, note.

Each action checks that this agent may do it (ownership, capacity; admins may act on any conversation), then
makes the change in one transaction through `ownership` (status) and `outbound` (messages), with its audit-log
entry (`bot.audit`: who, what, from where; never the text). Customer notices ("Maria joined the conversation"), CSAT
questions, console pushes and webhooks follow from the events.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from bot import audit
from bot.audit import Who
from bot.conversations import ownership
from bot.conversations.outbound import Outbound, Staged
from bot.errors import NotAllowed, UnknownTarget
from bot.handoff.teams import HandoffConfig
from bot.locks import KeyedLocks, Locks
from bot.store import conversations as conversation_store
from bot.store import notes as note_store
from bot.store.db import Database, Tx
from bot.store.models import Status
from bot.views import note_view
from connectors.base import MessageRejected, OutboundMessage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AgentRef:
    """Who acts: `key` is stored as the assignee, `display_name` is what customers see."""

    key: str
    display_name: str
    max_concurrent: int | None = None  # None: no capacity limit (API callers that are not registered agents)
    is_admin: bool = False
    who: Who | None = None  # how the audit log records them (role, session or token, address)

    @classmethod
    def of(cls, agent: "str | AgentRef") -> "AgentRef":
        return agent if isinstance(agent, AgentRef) else cls(agent, agent)

    def audited(self, *, auto: bool = False) -> Who:
        if auto:
            return Who(self.key, via="auto")
        return self.who or Who(self.key)


def _check_owner(conv: Any, ref: AgentRef | None, action: str) -> None:
    if ref is None or ref.is_admin:
        return
    if conv.status == Status.ASSIGNED.value and conv.assigned_agent != ref.key:
        raise NotAllowed(f"conversation {conv.id} is assigned to {conv.assigned_agent}: only they or an admin "
                         f"can {action} it")


def _check_capacity(tx: Tx, ref: AgentRef, message: str) -> None:
    if ref.max_concurrent is None:
        return
    current = conversation_store.load(tx.conn).get(ref.key, 0)
    if current >= ref.max_concurrent:
        raise NotAllowed(message.format(name=ref.display_name, current=current, most=ref.max_concurrent))


class AgentActions:
    def __init__(self, db: Database, outbound: Outbound, config: HandoffConfig, *, max_message_chars: int,
                 locks: Locks | None = None) -> None:
        self.db = db
        self.outbound = outbound
        self.config = config
        self.max_message_chars = max_message_chars
        self._locks: Locks = locks or KeyedLocks()

    def _check_length(self, text: str, what: str, *, empty_code: str) -> None:
        """A reply or note must be non-empty and within MAX_MESSAGE_CHARS (`MessageRejected` → 422/413)."""
        if not text.strip():
            raise MessageRejected(empty_code, f"The {what} is empty.")
        if len(text) > self.max_message_chars:
            raise MessageRejected("message_too_long", f"A {what} can be at most {self.max_message_chars} characters.")

    async def claim(self, conversation_id: str, agent: "str | AgentRef", *, auto: bool = False) -> Any:
        ref = AgentRef.of(agent)

        def work(tx: Tx) -> Any:
            if not auto:
                conversation_store.get(tx.conn, conversation_id)  # an unknown id is a 404, not a capacity error
                _check_capacity(tx, ref, "{name} already has {current} conversations (the most at once is {most}): "
                                         "resolve or transfer one first")
            audit.record(tx.conn, ref.audited(auto=auto), "conversation.claim", conversation_id=conversation_id)
            return ownership.claim(tx, conversation_id, agent=ref.key, agent_name=ref.display_name, auto=auto)

        return await self.db.write(work)

    async def reply(self, conversation_id: str, agent: "str | AgentRef", text: str) -> dict[str, Any]:
        ref = AgentRef.of(agent)
        self._check_length(text, "reply", empty_code="empty_message")

        def check_and_read(tx: Tx, conv: Any, staged: Staged) -> None:
            if conv.status != Status.ASSIGNED.value:
                raise NotAllowed(f"conversation {conversation_id} is {conv.status}: claim it before replying")
            if conv.assigned_agent != ref.key:
                raise NotAllowed(f"conversation {conversation_id} is assigned to {conv.assigned_agent}")
            view = next(iter(staged.views.values()))
            conversation_store.mark_read(tx.conn, conversation_id, view["seq"])
            audit.record(tx.conn, ref.audited(), "conversation.reply", conversation_id=conversation_id,
                         message_id=view["id"])

        async with self._locks(f"conversation:{conversation_id}"):
            return await self.outbound.send(
                conversation_id, lambda conv: OutboundMessage(text=text, sender="agent", sender_name=ref.display_name,
                                                              language=conv.language),
                after=check_and_read)

    async def resolve(self, conversation_id: str, agent: "str | AgentRef | None" = None) -> Any:
        ref = AgentRef.of(agent) if agent is not None else None

        def work(tx: Tx) -> Any:
            conv = conversation_store.get(tx.conn, conversation_id)
            _check_owner(conv, ref, "resolve")
            was_bot = conv.status == Status.BOT.value
            rated = None if was_bot else (conv.assigned_agent or (ref.key if ref else None))
            if ref is not None:
                audit.record(tx.conn, ref.audited(), "conversation.resolve", conversation_id=conversation_id)
            return ownership.resolve(tx, conversation_id, by="bot" if was_bot else (ref.key if ref else rated),
                                     rated_agent=rated)

        return await self.db.write(work)

    async def hand_back(self, conversation_id: str, agent: "str | AgentRef | None" = None) -> Any:
        ref = AgentRef.of(agent) if agent is not None else None

        def work(tx: Tx) -> Any:
            _check_owner(conversation_store.get(tx.conn, conversation_id), ref, "hand back")
            if ref is not None:
                audit.record(tx.conn, ref.audited(), "conversation.hand_back", conversation_id=conversation_id)
            return ownership.hand_back(tx, conversation_id)

        return await self.db.write(work)

    async def transfer(self, conversation_id: str, agent: "str | AgentRef", *, team: str | None = None,
                       to_agent: AgentRef | None = None, note: str = "") -> Any:
        """Move a conversation to another team's queue or straight to another agent, leaving a private note."""
        ref = AgentRef.of(agent)
        if (team is None) == (to_agent is None):
            raise NotAllowed("transfer to either a team or an agent")
        if team is not None and self.config.teams and team not in self.config.teams:
            raise UnknownTarget(f"no team {team!r}; teams: {', '.join(sorted(self.config.teams))}")

        def work(tx: Tx) -> Any:
            conv = conversation_store.get(tx.conn, conversation_id)
            _check_owner(conv, ref, "transfer")
            owner = conv.assigned_agent if conv.status == Status.ASSIGNED.value else None
            if to_agent is not None:
                if to_agent.key == owner:
                    raise NotAllowed(f"conversation {conversation_id} is assigned to {owner} already")
                _check_capacity(tx, to_agent, "{name} is at capacity ({current} conversations)")
                target = to_agent.display_name
            else:
                target = self.config.teams[team].name if team in self.config.teams else str(team)
            text = f"Transferred by {ref.display_name} to {target}" + (f": {note.strip()}" if note.strip() else ".")
            saved = note_store.add_note(tx.conn, conversation_id, author=ref.key, author_name=ref.display_name,
                                        text=text, kind="transfer")
            tx.emit("note", conversation_id=conversation_id, note=note_view(saved))
            audit.record(tx.conn, ref.audited(), "conversation.transfer", conversation_id=conversation_id,
                         **({"team": team} if to_agent is None else {"to_agent": to_agent.key}))
            if to_agent is None:
                return ownership.transfer(tx, conversation_id, team=team, team_name=target, by_agent=owner)
            if conv.status == Status.ASSIGNED.value:
                return ownership.reassign(tx, conversation_id, to_agent=to_agent.key,
                                          to_agent_name=to_agent.display_name, by_agent=owner)
            return ownership.claim(tx, conversation_id, agent=to_agent.key, agent_name=to_agent.display_name)

        return await self.db.write(work)

    async def add_note(self, conversation_id: str, agent: "str | AgentRef", text: str) -> Any:
        ref = AgentRef.of(agent)
        self._check_length(text, "note", empty_code="empty_note")

        def work(tx: Tx) -> Any:
            conversation_store.get(tx.conn, conversation_id)
            note = note_store.add_note(tx.conn, conversation_id, author=ref.key, author_name=ref.display_name,
                                       text=text.strip())
            tx.emit("note", conversation_id=conversation_id, note=note_view(note))
            audit.record(tx.conn, ref.audited(), "conversation.note", conversation_id=conversation_id, note_id=note.id)
            return note

        return await self.db.write(work)
