"""`action_session_start`: start a session in the customer's language.

Replaces Rasa's built-in action so that the ``language`` slot is set from the metadata of the message
that opened the session (the hub sends ``{"language": "en", "channel": "web"}`` with every message; Rasa
puts it in the ``session_started_metadata`` slot before running this action). Otherwise it does what the
built-in does: start the session, carry the slots over (per ``session_config``) and listen.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import LANGUAGE_SLOT, SESSION_METADATA_SLOT, metadata_language
from core.languages import DEFAULT_LANGUAGE, normalize_language
from core.settings import ActionSettings

logger = logging.getLogger(__name__)

#: Slots that describe one session only and start fresh in the next.
SESSION_ONLY_SLOTS = frozenset({"requested_slot", SESSION_METADATA_SLOT, LANGUAGE_SLOT})


class ActionSessionStart(Action):
    """Start a session: ``SessionStarted``, carried-over slots, the session metadata, the language."""

    def __init__(self, settings: ActionSettings) -> None:
        self.settings = settings

    def name(self) -> str:
        return "action_session_start"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = [SessionStarted()]
        session_config = domain.get("session_config") or {}
        if session_config.get("carry_over_slots_to_new_session", True):
            events.extend(
                SlotSet(name, value)
                for name, value in tracker.slots.items()
                if value is not None and name not in SESSION_ONLY_SLOTS
            )
        metadata = tracker.get_slot(SESSION_METADATA_SLOT)
        if metadata:
            events.append(SlotSet(SESSION_METADATA_SLOT, metadata))
        language = (
            metadata_language(metadata)
            or normalize_language(tracker.get_slot(LANGUAGE_SLOT))
            or normalize_language(self.settings.default_language)
            or DEFAULT_LANGUAGE
        )
        events.append(SlotSet(LANGUAGE_SLOT, language))
        events.append(ActionExecuted("action_listen"))
        logger.debug("session started: sender=%s language=%s", tracker.sender_id, language)
        return events
