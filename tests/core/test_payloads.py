"""The custom payload between the action server and the hub."""

from __future__ import annotations

from core.contracts import HandoffReason
from core.payloads import BotCustom, HandoffRequest, KBOutcome


def test_round_trip_and_tolerant_parsing() -> None:
    custom = BotCustom(handoff=HandoffRequest(reason=HandoffReason.COMPLAINT, summary="angry"),
                       kb=KBOutcome(decision="none", best_score=0.2))
    parsed = BotCustom.parse(custom.dump())
    assert parsed == custom and parsed.handoff.reason is HandoffReason.COMPLAINT
    # A malformed part is dropped, the rest kept; an unknown reason still hands off (as a customer request).
    odd = BotCustom.parse({"kb": {"score": "high"}, "handoff": {"reason": "moon_phase"}, "resolve": True})
    assert odd.kb is None and odd.resolve is True and odd.handoff.reason is HandoffReason.CUSTOMER_REQUEST
    assert BotCustom.parse("nonsense") == BotCustom()
