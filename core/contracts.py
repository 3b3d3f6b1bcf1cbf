"""Names shared by the processes of the stack: handoff reasons, the NLU header, well-known intents.

Standard library only, so that Rasa's Python 3.10 runtime (`nlu_components/`) can import it too. The typed
custom-payload schema between the actions and the hub is `core.payloads` (pydantic).
"""

from __future__ import annotations

from enum import Enum


class HandoffReason(str, Enum):
    """Why a conversation went to a person (docs/architecture.md, "Hub ⇄ Rasa")."""

    CUSTOMER_REQUEST = "customer_request"  # the customer asked for a person
    COMPLAINT = "complaint"
    NO_CONFIDENT_ANSWER = "no_confident_answer"  # the knowledge base had nothing close enough
    REPEATED_FALLBACK = "repeated_fallback"  # two misses in a row (decided by the hub)
    ACTION_FAILED = "action_failed"  # a custom action or the knowledge base failed
    BOT_UNAVAILABLE = "bot_unavailable"  # Rasa could not be reached or timed out (set by the hub)
    BOT_NO_ANSWER = "bot_no_answer"  # Rasa answered nothing although the action server is up (set by the hub)

    def __str__(self) -> str:
        return self.value


#: Response header of the hub's Rasa channel (nlu_components/hub_channel.py): the parse of the customer's
#: message as JSON, `{"intent": {"name": ..., "confidence": ...}}`, sent along with the bot's answer.
NLU_HEADER = "X-Rasa-Nlu"

#: The shipped sentence encoders (encoders/): the KB's EMBEDDING_MODEL and the NLU featurizer's `model`, a profile
#: of encoders.specs.PROFILES: `classic`, all-MiniLM-L6-v2 + the multilingual USE (equal weights). `accurate`
#: (all-mpnet-base-v2 + multilingual-e5-small) and `fast` are opt-in until their targets are measured (README).
SHIPPED_ENCODER = "classic"

#: Encoder profiles whose knowledge-base thresholds are a measured fixed pair (answer, choices) rather than the
#: content's own (kb_index/self_calibration.py). `classic` scores are too flat for the content calibration: on
#: the starter FAQ it raised the answer threshold to 0.62-0.66 and answered 27 of 71 questions directly, where
#: 0.43 (make calibrate-kb, benchmarks/results/kb-quality.json) answers 59 with none wrong. `accurate` and `fast`
#: use the content's thresholds (leave-entries-out: benchmarks/results/kb-leave-out-*.md).
FIXED_KB_THRESHOLDS: dict[str, tuple[float, float]] = {"classic": (0.43, 0.43)}

#: The intent Rasa's FallbackClassifier predicts when no intent is confident enough.
FALLBACK_INTENT = "nlu_fallback"
#: The intent of messages the bot does not handle; the knowledge base is asked before the refusal (actions/kb.py).
OUT_OF_SCOPE_INTENT = "out_of_scope"
#: The intent of a pressed knowledge-base choice button (`/choose_kb_entry{"kb_entry_id": ...}`).
CHOOSE_KB_ENTRY_INTENT = "choose_kb_entry"
