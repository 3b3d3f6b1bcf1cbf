"""The `custom` object of a bot message: what the action server tells the hub besides the text.

    {"handoff": {"reason": "customer_request", "summary": "…", "details": {...}, "team": null}}
    {"kb": {"decision": "answer", "entry_id": "gift-cards", "score": 0.83, "language": "en"}}
    {"kb": {"decision": "choices", "choices": ["a", "b"], "best_score": 0.51}}
    {"kb": {"decision": "none", "best_score": 0.21}}
    {"resolve": true}

The actions build these models (`BotCustom(...).dump()`); the hub reads them with `BotCustom.parse()`, which
never raises: a malformed part is dropped with a warning, so a bad payload cannot stop a conversation.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.contracts import HandoffReason

log = logging.getLogger(__name__)

KBDecisionKind = Literal["answer", "choices", "none"]


class HandoffRequest(BaseModel):
    """The bot asks the hub to hand the conversation to a person."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    reason: HandoffReason = HandoffReason.CUSTOMER_REQUEST
    summary: str = ""
    details: dict[str, Any] = Field(default_factory=dict)
    team: str | None = None

    @field_validator("reason", mode="before")
    @classmethod
    def _known_reason(cls, value: Any) -> Any:
        if value in (None, ""):
            return HandoffReason.CUSTOMER_REQUEST
        try:
            return HandoffReason(value)
        except ValueError:
            log.warning("unknown handoff reason %r from the bot: treated as customer_request", value)
            return HandoffReason.CUSTOMER_REQUEST


class KBOutcome(BaseModel):
    """What the knowledge base decided for this turn, and the entry the answer came from."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    decision: KBDecisionKind = "answer"
    entry_id: str | None = None
    score: float | None = None
    best_score: float | None = None
    language: str | None = None
    choices: list[str] = Field(default_factory=list)


class BotCustom(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    handoff: HandoffRequest | None = None
    kb: KBOutcome | None = None
    resolve: bool = False

    def dump(self) -> dict[str, Any]:
        """The JSON object the action puts in `json_message` (only the parts that are set)."""
        return self.model_dump(mode="json", exclude_none=True, exclude_unset=True)

    @classmethod
    def parse(cls, raw: Any) -> "BotCustom":
        """Read a bot message's `custom`; parts that do not fit the schema are dropped (and logged)."""
        if not isinstance(raw, dict):
            return cls()
        parts: dict[str, Any] = {}
        for name, model in (("handoff", HandoffRequest), ("kb", KBOutcome)):
            value = raw.get(name)
            if value is None:
                continue
            try:
                parts[name] = model.model_validate(value)
            except ValidationError as exc:
                log.warning("ignoring a malformed custom.%s from the bot: %s", name, exc.errors()[:2])
        parts["resolve"] = raw.get("resolve") is True
        return cls(**parts)
