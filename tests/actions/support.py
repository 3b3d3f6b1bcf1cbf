"""Helpers for the action-server tests: Rasa action calls built turn by turn, and result accessors."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any

from core.payloads import BotCustom


@dataclass
class OrderServer:
    """A running local order system; `requests` lists the paths it was asked for."""

    url: str
    server: ThreadingHTTPServer
    requests: list[str] = field(default_factory=list)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- Rasa action calls ---------------------------------------------------------------------------------


class Conversation:
    """Builds the tracker of a conversation turn by turn and the action call Rasa would send for it."""

    def __init__(self, sender_id: str = "conv-1", slots: dict[str, Any] | None = None) -> None:
        self.sender_id = sender_id
        self.events: list[dict[str, Any]] = [
            {"event": "action", "name": "action_session_start", "timestamp": 1.0},
            {"event": "session_started", "timestamp": 1.0},
            {"event": "action", "name": "action_listen", "timestamp": 1.0},
        ]
        self.slots: dict[str, Any] = {
            "order_number": None,
            "language": None,
            "requested_slot": None,
            "session_started_metadata": None,
        }
        self.slots.update(slots or {})
        self.latest_message: dict[str, Any] = {}
        self.active_loop: dict[str, Any] = {}

    def user(
        self,
        text: str,
        intent: str,
        confidence: float = 0.93,
        entities: list[dict[str, Any]] | None = None,
        metadata: dict[str, Any] | None = None,
        ranking: list[tuple[str, float]] | None = None,
    ) -> "Conversation":
        """A user message with its NLU result (entities: ``[{"entity", "value"}]``)."""
        parse_data = {
            "intent": {"name": intent, "confidence": confidence},
            "entities": [
                {"entity": e["entity"], "value": e["value"], "start": 0, "end": 0, "extractor": "RegexEntityExtractor", **e}
                for e in entities or []
            ],
            "text": text,
            "message_id": f"m{len(self.events)}",
            "metadata": metadata if metadata is not None else {"language": "en", "channel": "web"},
            "intent_ranking": [{"name": n, "confidence": c} for n, c in (ranking or [(intent, confidence)])],
        }
        self.latest_message = parse_data
        self.events.append(
            {
                "event": "user",
                "timestamp": time.time(),
                "text": text,
                "parse_data": parse_data,
                "input_channel": "rest",
                "message_id": parse_data["message_id"],
                "metadata": parse_data["metadata"],
            }
        )
        for entity in parse_data["entities"]:
            if entity["entity"] in self.slots:
                self.slot(entity["entity"], entity["value"])
        return self

    def bot(self, text: str, buttons: list[dict[str, str]] | None = None, action: str = "utter_x") -> "Conversation":
        self.events.append({"event": "action", "name": action, "timestamp": time.time()})
        self.events.append({"event": "bot", "timestamp": time.time(), "text": text, "data": {"buttons": buttons}, "metadata": {}})
        return self

    def slot(self, name: str, value: Any) -> "Conversation":
        self.slots[name] = value
        self.events.append({"event": "slot", "timestamp": time.time(), "name": name, "value": value})
        return self

    def action(self, name: str) -> "Conversation":
        self.events.append({"event": "action", "name": name, "timestamp": time.time()})
        return self

    def call(self, next_action: str, domain: dict[str, Any] | None) -> dict[str, Any]:
        """The body of Rasa's ``POST /webhook`` for running `next_action` now."""
        tracker = {
            "sender_id": self.sender_id,
            "slots": dict(self.slots),
            "latest_message": self.latest_message,
            "latest_event_time": time.time(),
            "followup_action": None,
            "paused": False,
            "events": list(self.events),
            "latest_input_channel": "rest",
            "active_loop": self.active_loop,
            "latest_action": {"action_name": "action_listen"},
            "latest_action_name": "action_listen",
        }
        body: dict[str, Any] = {"next_action": next_action, "sender_id": self.sender_id, "tracker": tracker, "version": "3.6.21"}
        if domain is not None:
            body["domain"] = domain
        return body


def custom_of(result: dict[str, Any], key: str) -> dict[str, Any] | None:
    """The ``custom[key]`` object of the first response that has one."""
    for response in result["responses"]:
        custom = response.get("custom") or {}
        if key in custom:
            return custom[key]
    return None


def bot_custom(result: dict[str, Any]) -> BotCustom:
    """The `custom` parts of the action's responses, read as the hub reads them (`BotCustom.parse`)."""
    merged: dict[str, Any] = {}
    for response in result["responses"]:
        merged.update(response.get("custom") or {})
    return BotCustom.parse(merged)


def slot_events(result: dict[str, Any]) -> dict[str, Any]:
    """The slots the action set, by name (last value wins)."""
    return {e["name"]: e["value"] for e in result["events"] if e.get("event") == "slot"}
