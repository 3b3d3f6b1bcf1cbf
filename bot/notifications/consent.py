"""Customers' consent to proactive messages, per channel: opting out and in again.

How customers say it: STOP / STOP ALL / UNSUBSCRIBE / ANNULLA (and, on SMS, Twilio's own CANCEL / END / QUIT)
on SMS, WhatsApp and Messenger, `/stop` on Telegram, the unsubscribe link of an e-mail; START / UNSTOP, or
`/start`, opts in again. The words are taken by an inbound claim (`take_consent`, registered with
`InboundService`): the message is stored with outcome `opt_out` / `opt_in` and never reaches the bot; the
`consent` event's listener confirms it to the customer (except on SMS, where Twilio answers STOP and START
itself). Agents can record either through the API. Notifications check the record when they are sent.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Connection, insert, select, update

from bot.conversations.outbound import Outbound
from bot.store.db import Event, Tx
from bot.store.models import OptOut, utcnow
from connectors.base import InboundMessage

log = logging.getLogger(__name__)

opt_outs = OptOut.__table__

OPT_OUT, OPT_IN = "opt_out", "opt_in"
STOP_WORDS = frozenset({"STOP", "STOP ALL", "STOPALL", "UNSUBSCRIBE", "ANNULLA"})
SMS_STOP_WORDS = STOP_WORDS | {"CANCEL", "END", "QUIT"}  # Twilio's Advanced Opt-Out blocks these anyway
START_WORDS = frozenset({"START", "UNSTOP"})
SMS_START_WORDS = START_WORDS | {"YES"}
KEYWORD_CHANNELS = frozenset({"sms", "whatsapp", "whatsapp_cloud", "messenger"})
# Twilio confirms STOP and START on SMS itself (and refuses our messages after a STOP).
SELF_CONFIRMING = frozenset({"sms"})


def opted_out(conn: Connection, channel: str, user: str) -> bool:
    row = conn.execute(select(opt_outs).where(opt_outs.c.channel == channel,
                                              opt_outs.c.external_user_id == user)).first()
    if row is None or row.opted_out_at is None:
        return False
    return row.opted_in_at is None or row.opted_in_at < row.opted_out_at


def record(conn: Connection, channel: str, user: str, *, out: bool, source: str) -> bool:
    """Opt the customer out (`out`) or in again; False when that was already their choice."""
    if opted_out(conn, channel, user) == out:
        return False
    values = {"opted_out_at" if out else "opted_in_at": utcnow(), "source": source[:255]}
    done = conn.execute(update(opt_outs).where(opt_outs.c.channel == channel, opt_outs.c.external_user_id == user)
                        .values(**values)).rowcount
    if not done:
        conn.execute(insert(opt_outs).values(channel=channel, external_user_id=user, **values))
    log.info("%s %s opted %s (%s)", channel, user, "out" if out else "in", source)
    return True


def status(conn: Connection, channel: str, user: str) -> dict[str, Any]:
    row = conn.execute(select(opt_outs).where(opt_outs.c.channel == channel,
                                              opt_outs.c.external_user_id == user)).first()
    return {"channel": channel, "customer": user, "opted_out": opted_out(conn, channel, user),
            "opted_out_at": row.opted_out_at.isoformat() if row is not None and row.opted_out_at else None,
            "opted_in_at": row.opted_in_at.isoformat() if row is not None and row.opted_in_at else None,
            "source": row.source if row is not None else None}


def keyword(msg: InboundMessage) -> tuple[bool, str] | None:
    """(opting out?, the word) when the message is just an opt-out or opt-in word for its channel."""
    if msg.kind != "text":
        return None
    word = " ".join(msg.text.split()).upper().rstrip(".!")
    if msg.channel == "telegram":
        command = word.split("@")[0]
        return {"/STOP": (True, "/stop"), "/START": (False, "/start")}.get(command)
    if msg.channel not in KEYWORD_CHANNELS:
        return None
    if word in (SMS_STOP_WORDS if msg.channel == "sms" else STOP_WORDS):
        return True, word
    if word in (SMS_START_WORDS if msg.channel == "sms" else START_WORDS):
        return False, word
    return None


def take_consent(tx: Tx, conv: Any, msg: InboundMessage) -> str | None:
    """An inbound claim: an opt-out word is recorded (and so is an opt-in word from someone opted out); a
    `consent` event asks for the confirmation. `/start` and START from anyone else go to the bot as usual."""
    found = keyword(msg)
    if found is None:
        return None
    out, word = found
    if not out and not opted_out(tx.conn, msg.channel, msg.external_user_id):
        return None  # "/start" of a new Telegram user, or "START" meaning something else: the bot's
    record(tx.conn, msg.channel, msg.external_user_id, out=out, source=f"keyword {word}")
    tx.emit("consent", conversation_id=conv.id, channel=msg.channel, customer=msg.external_user_id, opted_out=out)
    return OPT_OUT if out else OPT_IN


class ConsentNotices:
    """Listener: confirm an opt-out or opt-in to the customer, saying how to change their mind."""

    def __init__(self, outbound: Outbound) -> None:
        self.outbound = outbound

    async def on_consent(self, event: Event) -> None:
        channel = event.data["channel"]
        if channel in SELF_CONFIRMING or not event.data.get("conversation_id"):
            return
        telegram = channel == "telegram"
        if event.data["opted_out"]:
            await self.outbound.notice(event.data["conversation_id"], "optout_confirmed",
                                       keyword="/start" if telegram else "START")
        else:
            await self.outbound.notice(event.data["conversation_id"], "optin_confirmed",
                                       keyword="/stop" if telegram else "STOP")
