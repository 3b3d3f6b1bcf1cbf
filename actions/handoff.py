"""`action_handoff`: hand the conversation to a person.

The action tells the customer what happens next (``utter_handoff``) and, in the same bot message, sends
the hub a ``custom.handoff`` object; the hub then moves the conversation to the agent queue and stops
posting to Rasa until an agent hands it back (docs/architecture.md).
"""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import conversation_language, language_events, latest_intent, previous_user_text, send_handoff
from actions.kb import KnowledgeBaseAccess
from core.contracts import CHOOSE_KB_ENTRY_INTENT, HandoffReason
from core.settings import ActionSettings

logger = logging.getLogger(__name__)

#: Intents that are about the handoff itself, not the customer's issue.
_META_INTENTS = ("request_human", "affirm", "deny", "greet", "thanks", "goodbye", "bot_challenge", CHOOSE_KB_ENTRY_INTENT)


class ActionHandoff(Action):
    """Hand over on request (``customer_request``) or after a complaint (``complaint``).

    The reason follows the latest intent. For the agent, the payload lists the last intents with their
    confidences and the knowledge-base entries closest to the customer's issue: the latest message that
    is about the issue, not the "let me talk to a person" itself.
    """

    def __init__(self, settings: ActionSettings, kb: KnowledgeBaseAccess | None = None) -> None:
        self.settings = settings
        self.kb = kb

    def name(self) -> str:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[dict[str, Any]]:
        language = conversation_language(tracker, self.settings.default_language)
        intent = latest_intent(tracker)
        reason = HandoffReason.COMPLAINT if intent == "complaint" else HandoffReason.CUSTOMER_REQUEST
        issue_text = previous_user_text(tracker, skip_intents=_META_INTENTS)
        candidates = await self.kb.candidates(issue_text, language) if (self.kb and issue_text) else []
        send_handoff(dispatcher, tracker, reason, language=language, kb_candidates=candidates, text=issue_text)
        return language_events(tracker, language)
