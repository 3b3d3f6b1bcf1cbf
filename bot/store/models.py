"""Database tables of the hub. Schema changes go through Alembic (`bot/store/migrations/versions/`)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC. SQLite hands back naive datetimes even for timezone-aware columns."""
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat()


def new_id() -> str:
    return uuid.uuid4().hex


class Base(DeclarativeBase):
    pass


class Status(str, enum.Enum):
    """Who owns a conversation. Only `bot` conversations are sent to Rasa."""

    BOT = "bot"
    QUEUED = "queued"
    ASSIGNED = "assigned"
    RESOLVED = "resolved"


class Sender(str, enum.Enum):
    CUSTOMER = "customer"
    BOT = "bot"
    AGENT = "agent"
    SYSTEM = "system"


class Conversation(Base):
    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    channel: Mapped[str] = mapped_column(String(32))
    external_user_id: Mapped[str] = mapped_column(String(255))
    customer_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    language: Mapped[str] = mapped_column(String(16), default="en")
    status: Mapped[str] = mapped_column(String(16), default=Status.BOT.value)
    assigned_agent: Mapped[str | None] = mapped_column(String(255), nullable=True)
    team: Mapped[str | None] = mapped_column(String(64), nullable=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    handoff_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    queued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    # 0003: agents and the console
    assigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(255), nullable=True)  # agent key, or "bot"
    agent_read_seq: Mapped[int] = mapped_column(Integer, default=0)  # the assigned agent read up to here
    customer_key: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)  # links channels
    wait_announced_s: Mapped[int | None] = mapped_column(Integer, nullable=True)  # last wait told the customer

    messages: Mapped[list["Message"]] = relationship(back_populates="conversation", order_by="Message.seq")

    __table_args__ = (
        Index("ix_conversations_user", "channel", "external_user_id", unique=True),  # 0006: one per customer
        Index("ix_conversations_queue", "status", "priority", "queued_at"),
        Index("ix_conversations_agent", "status", "assigned_agent"),
        Index("ix_conversations_updated", "updated_at"),  # 0009: retention by last activity
    )


class Message(Base):
    __tablename__ = "messages"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(32), unique=True, default=new_id)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    sender: Mapped[str] = mapped_column(String(16))
    sender_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    text: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # buttons, custom, media
    language: Mapped[str | None] = mapped_column(String(16), nullable=True)
    intent: Mapped[str | None] = mapped_column(String(128), nullable=True)
    confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    kb_entry_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    external_id: Mapped[str | None] = mapped_column(String(255), nullable=True)  # provider id: de-duplication
    delivery_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # 0005: what the bot did with a customer message (`bot.conversations.bot_turn.Outcome`)
    outcome: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # 0006: the customer message a bot message answers (one bot turn per customer message)
    reply_to: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # 0020: on the customer's message, what the knowledge base decided for it (answer / choices / none)
    kb_decision: Mapped[str | None] = mapped_column(String(16), nullable=True)
    kb_score: Mapped[float | None] = mapped_column(Float, nullable=True)  # the answer's score, else the best one
    kb_choices: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)

    conversation: Mapped[Conversation] = relationship(back_populates="messages")

    __table_args__ = (
        Index("ix_messages_conversation", "conversation_id", "seq"),
        Index("ix_messages_outcome", "outcome"),
        UniqueConstraint("conversation_id", "external_id", name="uq_messages_external"),
    )


class Handoff(Base):
    """One hand-over to humans, with what the agent needs to read first."""

    __tablename__ = "handoffs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(String(64))
    summary: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # 0003: where it was routed and when a person took it (wait estimates come from these)
    team: Mapped[str | None] = mapped_column(String(64), nullable=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(255), nullable=True)


class Role(str, enum.Enum):
    """What an account may do: agents answer customers; editors change the bot's content (intents, responses,
    FAQ) and read reports; admins do everything, including managing accounts."""

    AGENT = "agent"
    EDITOR = "editor"
    ADMIN = "admin"


class Agent(Base):
    """A person who logs in to the console. `email` is the key stored in `Conversation.assigned_agent`."""

    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    display_name: Mapped[str] = mapped_column(String(255))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default=Role.AGENT.value)
    teams: Mapped[list[str]] = mapped_column(JSON, default=list)
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    max_concurrent: Mapped[int] = mapped_column(Integer, default=3)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AgentSession(Base):
    """A console login. The cookie carries the signed token; only its SHA-256 is stored."""

    __tablename__ = "agent_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Note(Base):
    """A private note on a conversation (never sent to the customer); transfers leave one too."""

    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(255))
    author_name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16), default="note")  # note | transfer
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Csat(Base):
    """A satisfaction question after resolution, and its answer (1–5). `agent` is None for the bot."""

    __tablename__ = "csat"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    agent: Mapped[str | None] = mapped_column(String(255), nullable=True)
    score: Mapped[int | None] = mapped_column(Integer, nullable=True)
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class QueuedDelivery(Base):
    """One outbound message on its way to a channel: survives restarts, keeps per-conversation order,
    and ends `sent` or `dead` (a dead letter agents can see and retry)."""

    __tablename__ = "outbound_queue"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(32), unique=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(255))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)  # the OutboundMessage
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending | parked | sent | dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # rounds of `Connector.deliver()`
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    # 0007: the hub process sending the row, until when (another process takes it over after that)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (Index("ix_outbound_queue_due", "state", "next_attempt_at"),
                      Index("ix_outbound_queue_conversation", "conversation_id", "state", "id"))


class AuditEntry(Base):
    """One agent or admin action: who, what, on which conversation or account, when, from which address.
    Never message content or passwords. No foreign key to conversations: the record outlives their erasure."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    action: Mapped[str] = mapped_column(String(64))  # bot.audit.ACTIONS
    actor: Mapped[str | None] = mapped_column(String(255), nullable=True)  # agent key; None: an unknown account
    role: Mapped[str | None] = mapped_column(String(16), nullable=True)
    via: Mapped[str | None] = mapped_column(String(16), nullable=True)  # session | token | auto | cli | system
    client: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the caller's address
    conversation_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    target: Mapped[str | None] = mapped_column(String(255), nullable=True)  # an account, a dead letter …
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    __table_args__ = (Index("ix_audit_log_at", "at"), Index("ix_audit_log_actor", "actor", "at"),
                      Index("ix_audit_log_action", "action", "at"),
                      Index("ix_audit_log_conversation", "conversation_id"))
class StudioRevision(Base):
    """One save in the studio: who, when, what (its items, below), which files, and the git commit if any."""

    __tablename__ = "studio_revisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    author: Mapped[str] = mapped_column(String(255))
    author_name: Mapped[str] = mapped_column(String(255))
    summary: Mapped[str] = mapped_column(Text)
    files: Mapped[list[str]] = mapped_column(JSON, default=list)  # relative to the project
    commit: Mapped[str | None] = mapped_column(String(64), nullable=True)  # git commit, in a git work tree
    reverts: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the revision this one undoes


class StudioRevisionItem(Base):
    """One item a revision changed (an FAQ entry in one language, a response, an intent's examples in one
    language, an intent), with its value before and after: per-item history and one-click revert read these."""

    __tablename__ = "studio_revision_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    revision_id: Mapped[int] = mapped_column(ForeignKey("studio_revisions.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(255), index=True)  # faq:<id>:<lang> | response:<name> | examples:<intent>:<lang> | intent:<name>
    label: Mapped[str] = mapped_column(Text)
    before: Mapped[Any] = mapped_column(JSON, nullable=True)
    after: Mapped[Any] = mapped_column(JSON, nullable=True)


class StudioAudit(Base):
    """The audit log of content changes and publishes (admins read it in the studio)."""

    __tablename__ = "studio_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(255))
    actor_name: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(32))  # save | revert | publish | publish_refused | publish_failed | rollback
    summary: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    revision_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    release: Mapped[str | None] = mapped_column(String(64), nullable=True)
class NotificationTemplate(Base):
    """A named message the business sends first ("your shipment is late"): its text per language (Markdown with
    {parameters}) and, per channel, what the channel needs outside the customer's 24-hour window (an approved
    Twilio Content SID or Meta template per language; a Messenger message tag)."""

    __tablename__ = "notification_templates"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    parameters: Mapped[list[str]] = mapped_column(JSON, default=list)
    variants: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # language → text
    channels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # twilio / whatsapp_cloud / messenger
    updated_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Notification(Base):
    """One proactive message to one customer, now or at `send_at`: scheduled → sent (handed to the outbox in
    the same transaction that stores it in the conversation) | skipped (opted out) | cancelled | failed."""

    __tablename__ = "notifications"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    batch_id: Mapped[str] = mapped_column(String(32), index=True)
    template_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    channel: Mapped[str] = mapped_column(String(32))
    external_user_id: Mapped[str] = mapped_column(String(255))
    language: Mapped[str] = mapped_column(String(16))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    text: Mapped[str | None] = mapped_column(Text, nullable=True)  # a one-off text instead of a template
    send_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(String(16), default="scheduled")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    reply_to: Mapped[str] = mapped_column(String(16), default="bot")  # bot | agent (the one who sent it)
    created_by: Mapped[str] = mapped_column(String(255))
    created_by_name: Mapped[str] = mapped_column(String(255))
    conversation_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    message_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (Index("ix_notifications_due", "state", "send_at"),)


class OptOut(Base):
    """A customer's word on proactive messages on one channel: out since `opted_out_at`, unless they opted in
    again later (`opted_in_at`). Both moments and how they said it are kept."""

    __tablename__ = "opt_outs"

    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    external_user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    opted_out_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    opted_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    source: Mapped[str] = mapped_column(String(255), default="")  # "keyword STOP", "unsubscribe link", "agent x"
class Feedback(Base):
    """"Was this helpful?" after a knowledge-base answer, and the customer's yes / no (None: not answered)."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    answer_message_id: Mapped[str] = mapped_column(String(32), unique=True)
    customer_message_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    kb_entry_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    language: Mapped[str | None] = mapped_column(String(16), nullable=True)
    helpful: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    asked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ConversationFacts(Base):
    """One outcome record per conversation, derived from its messages, handoffs, CSAT and feedback
    (`bot.insights.facts`): what the reports, the search and the Prometheus figures read. docs/metrics.md."""

    __tablename__ = "conversation_facts"

    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"),
                                                 primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    team: Mapped[str | None] = mapped_column(String(64), nullable=True)
    agent: Mapped[str | None] = mapped_column(String(255), nullable=True)
    intent: Mapped[str | None] = mapped_column(String(128), nullable=True)
    customer_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    external_user_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    customer_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    order_numbers: Mapped[str | None] = mapped_column(String(255), nullable=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_message_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_customer_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_text: Mapped[str | None] = mapped_column(String(300), nullable=True)
    last_sender: Mapped[str | None] = mapped_column(String(16), nullable=True)
    customer_messages: Mapped[int] = mapped_column(Integer, default=0)
    bot_turns: Mapped[int] = mapped_column(Integer, default=0)
    bot_answers: Mapped[int] = mapped_column(Integer, default=0)
    kb_answers: Mapped[int] = mapped_column(Integer, default=0)
    kb_choices: Mapped[int] = mapped_column(Integer, default=0)
    kb_misses: Mapped[int] = mapped_column(Integer, default=0)
    fallbacks: Mapped[int] = mapped_column(Integer, default=0)
    out_of_scope: Mapped[int] = mapped_column(Integer, default=0)
    low_confidence: Mapped[int] = mapped_column(Integer, default=0)
    last_turn_outcome: Mapped[str | None] = mapped_column(String(32), nullable=True)
    handoffs: Mapped[int] = mapped_column(Integer, default=0)
    handoff_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    first_handoff_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    first_assigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    first_human_reply_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    human_replies: Mapped[int] = mapped_column(Integer, default=0)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    time_to_assignment_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    time_to_assignment_bh_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    first_response_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    first_response_bh_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    reply_time_sum_s: Mapped[float] = mapped_column(Float, default=0.0)
    reply_time_bh_sum_s: Mapped[float] = mapped_column(Float, default=0.0)
    reply_time_n: Mapped[int] = mapped_column(Integer, default=0)
    resolution_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    resolution_bh_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    csat_score: Mapped[int | None] = mapped_column(Integer, nullable=True)
    csat_agent: Mapped[str | None] = mapped_column(String(255), nullable=True)
    feedback_yes: Mapped[int] = mapped_column(Integer, default=0)
    feedback_no: Mapped[int] = mapped_column(Integer, default=0)
    last_feedback: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    bot_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    bot_assumable: Mapped[bool] = mapped_column(Boolean, default=False)
    search_text: Mapped[str] = mapped_column(Text, default="")
    search_key: Mapped[int] = mapped_column(BigInteger)  # its row in SQLite's full-text index (facts_search)
    refreshed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReviewItem(Base):
    """A customer message of a bot-kept conversation that an editor should look at (`bot.insights.review`)."""

    __tablename__ = "review_items"

    message_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(32))
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    language: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(String(16), default="open")
    action: Mapped[str | None] = mapped_column(String(32), nullable=True)
    handled_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    handled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ContentChange(Base):
    """A change to the bot's content made from the review inbox (`bot.insights.content_changes`), held by studio
    revision `revision` (pending until a release contains it)."""

    __tablename__ = "content_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(128))
    language: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    file: Mapped[str] = mapped_column(String(500))
    state: Mapped[str] = mapped_column(String(16))
    source_message_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    revision: Mapped[int | None] = mapped_column(Integer, nullable=True)
    author: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
