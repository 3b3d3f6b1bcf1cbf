"""The JSON shapes of conversations, messages and notes: one definition for the web chat, the agent API,
the console's live events and outgoing webhooks."""

from __future__ import annotations

from typing import Any

from bot.store.models import iso


def message_view(m: Any) -> dict[str, Any]:
    """A stored message (a `messages` row)."""
    payload = m.payload or {}
    return {
        "id": m.id,
        "seq": m.seq,
        "conversation_id": m.conversation_id,
        "sender": m.sender,
        "sender_name": m.sender_name,
        "text": m.text,
        "buttons": payload.get("buttons", []),
        "media": [m for m in payload.get("media") or [] if isinstance(m, dict)],  # a customer's files
        "media_urls": payload.get("media_urls", []),  # files the bot sent
        "event": payload.get("event"),
        "language": m.language,
        "intent": m.intent,
        "confidence": m.confidence,
        "kb_entry_id": m.kb_entry_id,
        "outcome": m.outcome,
        "kb_decision": getattr(m, "kb_decision", None),
        "kb_score": getattr(m, "kb_score", None),
        "kb_choices": getattr(m, "kb_choices", None) or [],
        "delivery_status": m.delivery_status,
        "created_at": iso(m.created_at),
    }


def conversation_view(c: Any) -> dict[str, Any]:
    """A conversation (a `conversations` row)."""
    return {
        "id": c.id,
        "channel": c.channel,
        "customer": c.external_user_id,
        "customer_name": c.customer_name,
        "language": c.language,
        "status": c.status,
        "assigned_agent": c.assigned_agent,
        "team": c.team,
        "priority": c.priority,
        "handoff_reason": c.handoff_reason,
        "queued_at": iso(c.queued_at),
        "assigned_at": iso(c.assigned_at),
        "resolved_at": iso(c.resolved_at),
        "resolved_by": c.resolved_by,
        "customer_key": c.customer_key,
        "created_at": iso(c.created_at),
        "updated_at": iso(c.updated_at),
    }


def note_view(n: Any) -> dict[str, Any]:
    return {"id": n.id, "conversation_id": n.conversation_id, "author": n.author, "author_name": n.author_name,
            "kind": n.kind, "text": n.text, "created_at": iso(n.created_at)}


def handoff_view(h: Any) -> dict[str, Any]:
    return {"reason": h.reason, "summary": h.summary, "details": h.details, "team": h.team, "priority": h.priority,
            "created_at": iso(h.created_at), "claimed_at": iso(h.claimed_at), "claimed_by": h.claimed_by}
