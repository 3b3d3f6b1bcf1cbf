"""`action_greet_or_goodbye`: a word that says both hello and goodbye ("ciao", Romanian "salut", "servus"),
read by its place in the conversation.

The NLU cannot tell them apart from the text alone (intent `greet_or_goodbye`): a customer who opens with
"ciao" is saying hello, one who writes "ciao" after being helped is leaving. So: nothing said yet in this
session by the customer → the greeting; otherwise → the goodbye.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import conversation_language, language_events
from core.settings import ActionSettings


def earlier_customer_messages(tracker: Tracker) -> int:
    """How many customer messages came before the latest one in the current session."""
    count = 0
    for event in reversed(tracker.events):
        kind = event.get("event")
        if kind == "session_started":
            break
        if kind == "user":
            count += 1
    return max(0, count - 1)


class ActionGreetOrGoodbye(Action):
    """Hello when the conversation starts, goodbye later (see the module doc)."""

    def __init__(self, settings: ActionSettings) -> None:
        self.settings = settings

    def name(self) -> str:
        return "action_greet_or_goodbye"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[dict[str, Any]]:
        language = conversation_language(tracker, self.settings.default_language)
        opening = earlier_customer_messages(tracker) == 0
        dispatcher.utter_message(response="utter_greet" if opening else "utter_goodbye")
        return list(language_events(tracker, language))
