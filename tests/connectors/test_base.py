"""The connector base class owns retries: backoff on retryable errors, Retry-After honoured, never raises."""

from __future__ import annotations

import time

from connectors.base import Connector, DeliveryError, DeliveryResult, InboundMessage, OutboundMessage


class FlakyChannel(Connector):
    """A channel whose API fails a given number of times before it accepts a message."""

    name = "flaky"
    backoff_base_s = 0.01

    def __init__(self, failures: list[DeliveryError | Exception]) -> None:
        async def ignore(_: InboundMessage) -> None:
            return None

        super().__init__(ignore)
        self.failures = failures
        self.sent: list[str] = []
        self.attempt_times: list[float] = []

    async def send(self, recipient: str, message: OutboundMessage) -> DeliveryResult:
        self.attempt_times.append(time.monotonic())
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message.text)
        return DeliveryResult("sent", provider_id="p1")


async def test_retryable_failures_are_retried_then_delivered_once() -> None:
    ch = FlakyChannel([DeliveryError("500"), DeliveryError("502")])
    result = await ch.deliver("u", OutboundMessage("hello"))
    assert result.status == "sent" and ch.sent == ["hello"]
    assert len(ch.attempt_times) == 3


async def test_retry_after_is_honoured() -> None:
    ch = FlakyChannel([DeliveryError("429", retry_after=0.3)])
    await ch.deliver("u", OutboundMessage("hi"))
    assert ch.attempt_times[1] - ch.attempt_times[0] >= 0.29


async def test_permanent_failure_is_not_retried() -> None:
    ch = FlakyChannel([DeliveryError("blocked by user", retryable=False)])
    result = await ch.deliver("u", OutboundMessage("hi"))
    assert result.status == "failed" and "blocked" in result.detail and len(ch.attempt_times) == 1


async def test_gives_up_after_max_attempts_and_a_bug_never_escapes() -> None:
    ch = FlakyChannel([DeliveryError("500")] * 10)
    assert (await ch.deliver("u", OutboundMessage("hi"))).status == "failed"
    assert len(ch.attempt_times) == ch.max_attempts
    buggy = FlakyChannel([RuntimeError("bug")])
    assert (await buggy.deliver("u", OutboundMessage("hi"))).status == "failed"
