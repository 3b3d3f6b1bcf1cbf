"""The notifications API (OpenAPI at /docs): send now or later, follow what was sent, manage templates and
customers' consent. Agents and admins send (`agent_actor`); editors and admins change templates
(`editor_actor`). Authentication as the rest of the agent API (`bot.agents.auth`)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from bot.agents.auth import Actor
from bot.errors import AUTHENTICATED, NotFound, described, responses
from bot.notifications import consent, store, templates
from bot.notifications.service import Recipient, Sender
from bot.notifications.templates import TemplateBody, template_view

if TYPE_CHECKING:
    from bot.container import Container

NotificationId = Annotated[str, Path(min_length=1, max_length=64, description="The notification's id")]

# -- the errors the notifications API answers, as the OpenAPI schema documents them (every body is `ErrorBody`) --

NO_NOTIFICATION = described(404, "No such notification", {"error": "not_found", "detail": "no notification 3f2a…"})
NO_TEMPLATE = described(404, "No such template", {"error": "not_found",
                                                  "detail": "no notification template 'order_shipped'"})
BAD_SEND = described(422, "The send cannot be made (`bad_notification`: `detail` says why), or invalid input "
                          "(`detail` lists the problems)",
                     {"error": "bad_notification", "detail": "name a template, or give a text (not both)"})
NOT_CANCELLED = described(422, "Only scheduled notifications can be cancelled (`bad_notification`), or invalid "
                               "input (`detail` lists the problems)",
                          {"error": "bad_notification",
                           "detail": "notification 3f2a… is sent: only scheduled ones can be cancelled"})
BAD_TEMPLATE = described(422, "The template cannot be saved (`bad_template`: `detail` says why), or invalid input "
                              "(`detail` lists the problems)",
                         {"error": "bad_template",
                          "detail": "a template key has lower-case letters, digits, - and _ (at most 64)"})


class RecipientBody(BaseModel):
    channel: str | None = Field(None, description="sms, whatsapp, telegram, messenger, whatsapp_cloud, email, web")
    customer: str | None = Field(None, description="Who, as the channel names them: +39333…, a chat id, an address")
    conversation_id: str | None = Field(None, description="Instead of channel + customer: that conversation's customer")
    params: dict[str, str] = Field(default_factory=dict, description="This customer's template parameters")
    language: str | None = Field(None, description="Default: the language of the customer's conversation")


class SendBody(BaseModel):
    template: str | None = Field(None, description="A template key (GET /api/notifications/templates)")
    text: str | None = Field(None, max_length=4000, description="Or a one-off Markdown text instead of a template")
    params: dict[str, str] = Field(default_factory=dict, description="Parameters for every recipient")
    recipients: list[RecipientBody] = Field(..., min_length=1)
    send_at: datetime | None = Field(None, description="When (ISO 8601 with a time zone); default: now")
    reply_to: Literal["bot", "agent"] = Field("bot", description="Who answers the customer's reply: the bot, or "
                                                                  "the agent sending this (they own the conversation)")


class ConsentBody(BaseModel):
    channel: str
    customer: str
    opted_out: bool = Field(..., description="True: no more notifications on this channel; False: opted in again")


def build_notifications_router(c: "Container") -> APIRouter:
    db, service, scheduler = c.db, c.notifications, c.notification_scheduler
    agent = Depends(c.auth.agent_actor)
    editor = Depends(c.auth.editor_actor)
    api = APIRouter(prefix="/api/notifications", tags=["notifications"], responses=responses(*AUTHENTICATED))

    @api.post("", status_code=202, summary="Send a notification to one customer or many, now or at send_at",
              responses={**NO_TEMPLATE, **BAD_SEND})
    async def send(body: SendBody, actor: Actor = agent) -> dict[str, Any]:
        result = await service.create(
            recipients=[Recipient(**r.model_dump()) for r in body.recipients], sender=Sender(actor.key, actor.display_name),
            template=body.template, text=body.text, params=body.params, send_at=body.send_at, reply_to=body.reply_to)
        due = [n for n in result["notifications"] if n["state"] == store.SCHEDULED and body.send_at is None]
        if len(due) == 1:  # one customer, now: sent before answering, so the caller sees its delivery status
            await scheduler.send_now(due[0]["id"], due[0]["channel"])
            result["notifications"] = [store.notification_view(await db.read(store.get, due[0]["id"]))]
        else:
            scheduler.wake()
        return result

    @api.get("", summary="Notifications, newest first, with each message's delivery status")
    async def listing(batch_id: str | None = None, state: str | None = None, channel: str | None = None,
                      customer: str | None = None, limit: int = 100, actor: Actor = agent) -> dict[str, Any]:
        rows = await db.read(lambda conn: store.listing(conn, batch_id=batch_id, state=state, channel=channel,
                                                        customer=customer, limit=min(max(limit, 1), 1000)))
        return {"notifications": [store.notification_view(r) for r in rows]}

    @api.get("/templates", summary="The notification templates")
    async def list_templates(actor: Actor = agent) -> dict[str, Any]:
        return {"templates": [template_view(t) for t in await db.read(templates.all_templates)]}

    @api.get("/templates/{key}", summary="One template", responses=NO_TEMPLATE)
    async def get_template(key: str, actor: Actor = agent) -> dict[str, Any]:
        return {"template": template_view(await db.read(templates.get, key))}

    @api.put("/templates/{key}", summary="Create or replace a template (editors and admins)",
             responses={**NO_TEMPLATE, **BAD_TEMPLATE})
    async def put_template(key: str, body: TemplateBody, actor: Actor = editor) -> dict[str, Any]:
        return {"template": template_view(await db.write(lambda tx: templates.save(tx.conn, key, body, by=actor.key)))}

    @api.delete("/templates/{key}", summary="Delete a template (scheduled sends of it then fail)",
                responses=NO_TEMPLATE)
    async def delete_template(key: str, actor: Actor = editor) -> dict[str, Any]:
        await db.write(lambda tx: templates.remove(tx.conn, key))
        return {"deleted": key}

    @api.get("/consent", summary="Whether a customer opted out of notifications on a channel")
    async def get_consent(channel: str, customer: str, actor: Actor = agent) -> dict[str, Any]:
        return await db.read(consent.status, channel, customer)

    @api.post("/consent", summary="Record a customer's opt-out or opt-in (e.g. asked on the phone)")
    async def set_consent(body: ConsentBody, actor: Actor = agent) -> dict[str, Any]:
        def work(tx: Any) -> dict[str, Any]:
            consent.record(tx.conn, body.channel, body.customer, out=body.opted_out, source=f"agent {actor.key}")
            return consent.status(tx.conn, body.channel, body.customer)

        return await db.write(work)

    @api.get("/{notification_id}", summary="One notification and its delivery status",
             responses=NO_NOTIFICATION)
    async def get_one(notification_id: NotificationId, actor: Actor = agent) -> dict[str, Any]:
        row = await db.read(store.get, notification_id)
        if row is None:
            raise NotFound(f"no notification {notification_id}")
        return {"notification": store.notification_view(row)}

    @api.post("/{notification_id}/cancel", summary="Cancel a scheduled notification",
              responses={**NO_NOTIFICATION, **NOT_CANCELLED})
    async def cancel(notification_id: NotificationId, actor: Actor = agent) -> dict[str, Any]:
        return {"notification": await service.cancel(notification_id)}

    return api
