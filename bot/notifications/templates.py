"""Notification templates: a named message with a text per language (Markdown with `{parameter}` slots) and
what each channel needs to send it outside the customer's 24-hour window.

    channels = {
        "twilio": {"it": {"content_sid": "HX…", "variables": ["order_number", "new_date"]}},   # Content API
        "whatsapp_cloud": {"it": {"name": "shipment_delayed", "language": "it",
                                  "parameters": ["order_number", "new_date"]}},            # Meta template
        "messenger": {"tag": "POST_PURCHASE_UPDATE"},                                      # a message tag
    }

`TemplateBody` validates what editors save (placeholders only of declared parameters, SIDs and names in the
providers' formats); `render()` picks the customer's language (else the closest one there is) and fills in
the parameters, escaped so an order number never turns into Markdown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator
from sqlalchemy import Connection, Row, delete, insert, select, update

from bot.errors import DomainError, NotFound
from bot.store.models import NotificationTemplate, utcnow
from core.languages import base_language, normalize_language

templates = NotificationTemplate.__table__

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")
META_NAME = re.compile(r"^[a-z0-9_]{1,512}$")
MESSENGER_TAGS = ("ACCOUNT_UPDATE", "POST_PURCHASE_UPDATE", "CONFIRMED_EVENT_UPDATE")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>~|])")  # what can start inline markup


class TemplateError(DomainError):
    status_code = 422
    code = "bad_template"


class TwilioVariant(BaseModel):
    content_sid: str = Field(..., description="The approved Content template's SID (HX…).")
    variables: list[str] = Field(default_factory=list, description="Parameters for the template's {{1}}, {{2}} …")

    @field_validator("content_sid")
    @classmethod
    def _sid(cls, value: str) -> str:
        if not CONTENT_SID.match(value.strip()):
            raise ValueError("a Twilio Content SID is HX followed by 32 hexadecimal digits")
        return value.strip()


class MetaVariant(BaseModel):
    name: str = Field(..., description="The approved template's name in WhatsApp Manager.")
    language: str = Field(..., description="Its language code there (en, en_US, it …).")
    parameters: list[str] = Field(default_factory=list, description="Parameters for the body's {{1}}, {{2}} …")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not META_NAME.match(value):
            raise ValueError("a WhatsApp template name has lower-case letters, digits and underscores")
        return value


class Channels(BaseModel):
    twilio: dict[str, TwilioVariant] = Field(default_factory=dict, description="Per language: WhatsApp via Twilio.")
    whatsapp_cloud: dict[str, MetaVariant] = Field(default_factory=dict, description="Per language: WhatsApp Cloud.")
    messenger: dict[str, str] = Field(default_factory=dict, description='{"tag": "POST_PURCHASE_UPDATE"} …')

    @field_validator("messenger")
    @classmethod
    def _tag(cls, value: dict[str, str]) -> dict[str, str]:
        if value and value.get("tag") not in MESSENGER_TAGS:
            raise ValueError(f"Messenger's tag is one of {', '.join(MESSENGER_TAGS)}")
        return {"tag": value["tag"]} if value else {}


class TemplateBody(BaseModel):
    """A template as editors write it."""

    name: str = Field(..., min_length=1, max_length=255)
    description: str = Field("", max_length=2000)
    parameters: list[str] = Field(default_factory=list, description="Names of the {slots}, e.g. order_number.")
    variants: dict[str, str] = Field(..., description="Language code → text (Markdown, with {slots}).")
    channels: Channels = Field(default_factory=Channels)

    @field_validator("parameters")
    @classmethod
    def _parameter_names(cls, value: list[str]) -> list[str]:
        bad = [p for p in value if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", p)]
        if bad:
            raise ValueError(f"parameter names are letters, digits and _: {', '.join(bad)}")
        return list(dict.fromkeys(value))

    @field_validator("variants")
    @classmethod
    def _languages(cls, value: dict[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for code, text in value.items():
            language = normalize_language(code)
            if language is None:
                raise ValueError(f"{code!r} is not a language code")
            if not text.strip():
                raise ValueError(f"the {language} text is empty")
            if len(text) > 4000:
                raise ValueError(f"the {language} text is longer than 4000 characters")
            out[language] = text.strip()
        if not out:
            raise ValueError("a template needs a text in at least one language")
        return out

    @model_validator(mode="after")
    def _slots_are_parameters(self) -> "TemplateBody":
        declared = set(self.parameters)
        for language, text in self.variants.items():
            unknown = sorted(set(PLACEHOLDER.findall(text)) - declared)
            if unknown:
                raise ValueError(f"the {language} text uses {{{'}, {'.join(unknown)}}} which are not parameters")
        for where, variants in (("twilio", self.channels.twilio), ("whatsapp_cloud", self.channels.whatsapp_cloud)):
            for language, variant in variants.items():
                used = variant.variables if isinstance(variant, TwilioVariant) else variant.parameters
                unknown = sorted(set(used) - declared)
                if unknown:
                    raise ValueError(f"{where} ({language}) names {', '.join(unknown)}, which are not parameters")
        return self


@dataclass(frozen=True)
class Rendered:
    text: str  # Markdown
    language: str
    channel_templates: dict[str, Any]  # what `OutboundMessage.extra["template"]` carries to the connectors


def template_view(row: Any) -> dict[str, Any]:
    return {"key": row.key, "name": row.name, "description": row.description, "parameters": list(row.parameters),
            "variants": dict(row.variants), "channels": dict(row.channels), "updated_by": row.updated_by,
            "updated_at": row.updated_at.isoformat() if row.updated_at else None}


def all_templates(conn: Connection) -> list[Row[Any]]:
    return list(conn.execute(select(templates).order_by(templates.c.name)))


def get(conn: Connection, key: str) -> Row[Any]:
    row = conn.execute(select(templates).where(templates.c.key == key)).first()
    if row is None:
        raise NotFound(f"no notification template {key!r}")
    return row


def save(conn: Connection, key: str, body: TemplateBody, *, by: str) -> Row[Any]:
    """Create or replace the template `key`."""
    if not KEY.match(key):
        raise TemplateError("a template key has lower-case letters, digits, - and _ (at most 64)")
    values = {"name": body.name, "description": body.description, "parameters": body.parameters,
              "variants": body.variants, "channels": body.channels.model_dump(exclude_defaults=True),
              "updated_by": by, "updated_at": utcnow()}
    if conn.execute(update(templates).where(templates.c.key == key).values(**values)).rowcount == 0:
        conn.execute(insert(templates).values(key=key, created_at=utcnow(), **values))
    return get(conn, key)


def remove(conn: Connection, key: str) -> None:
    if conn.execute(delete(templates).where(templates.c.key == key)).rowcount == 0:
        raise NotFound(f"no notification template {key!r}")


def pick_variant(variants: dict[str, Any], language: str, default: str) -> str | None:
    """The variant language for a customer speaking `language`: theirs, its base language, the default, or any."""
    for candidate in (language, base_language(language), default, base_language(default)):
        if candidate in variants:
            return candidate
    return next(iter(variants), None)


def escape(value: str) -> str:
    """A parameter value as literal Markdown text."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", value)


def missing_parameters(template: Any, params: dict[str, Any]) -> list[str]:
    return [p for p in template.parameters if not str(params.get(p, "")).strip()]


def render(template: Any, language: str, params: dict[str, Any], *, default_language: str) -> Rendered:
    """The text for a customer speaking `language`, and the channels' templates for the same language."""
    missing = missing_parameters(template, params)
    if missing:
        raise TemplateError(f"template {template.key!r} needs {', '.join(missing)}")
    chosen = pick_variant(template.variants, language, default_language)
    if chosen is None:
        raise TemplateError(f"template {template.key!r} has no text")
    values = {k: str(v) for k, v in params.items()}
    text = PLACEHOLDER.sub(lambda m: escape(values.get(m.group(1), m.group(0))), template.variants[chosen])
    channels: dict[str, Any] = {}
    twilio = (template.channels.get("twilio") or {}).get(chosen)
    if twilio:
        channels["twilio"] = {"content_sid": twilio["content_sid"],
                              "variables": {str(i): values[v] for i, v in enumerate(twilio.get("variables") or [], 1)}}
    meta = (template.channels.get("whatsapp_cloud") or {}).get(chosen)
    if meta:
        channels["whatsapp_cloud"] = {"name": meta["name"], "language": meta["language"],
                                      "parameters": [values[p] for p in meta.get("parameters") or []]}
    if (template.channels.get("messenger") or {}).get("tag"):
        channels["messenger"] = {"tag": template.channels["messenger"]["tag"]}
    return Rendered(text, chosen, channels)
