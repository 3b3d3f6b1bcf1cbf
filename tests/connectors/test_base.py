"""The connector base class owns retries (tenacity, through `core.errors.retrying`): backoff on retryable
errors, the provider's Retry-After honoured, a permanent refusal tried once, and `deliver()` never raises;
`keep_trying()` repeats start-up and polling calls until they work, the connector stops, or a refusal is final."""

from __future__ import annotations

import asyncio
import time

import pytest

from connectors.base import Connector, DeliveryResult, InboundMessage, OutboundMessage
from core.errors import CallError, Permanent, RateLimited, Retryable, Unconfirmed


class ProviderError(Exception):
    """What a channel's own library raises; the channel maps it in `call_error()`."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class FlakyChannel(Connector):
    """A channel whose API fails a given number of times before it accepts a message."""

    name = "flaky"
    backoff_base_s = 0.01
    backoff_max_s = 1.0

    def __init__(self, failures: list[Exception]) -> None:
        async def ignore(_: InboundMessage) -> None:
            return None

        super().__init__(ignore)
        self.failures = failures
        self.sent: list[str] = []
        self.attempt_times: list[float] = []

    def call_error(self, exc: Exception) -> CallError | None:
        if isinstance(exc, ProviderError):
            return Retryable(str(exc)) if exc.status >= 500 else Permanent(str(exc), status=exc.status)
        return super().call_error(exc)

    async def send(self, recipient: str, message: OutboundMessage) -> DeliveryResult:
        return DeliveryResult("sent", provider_id=await self.call_api(message.text))

    async def call_api(self, text: str) -> str:
        self.attempt_times.append(time.monotonic())
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(text)
        return f"p{len(self.sent)}"


async def test_retryable_failures_are_retried_then_delivered_once() -> None:
    ch = FlakyChannel([Retryable("500"), ProviderError(502)])  # the library's own error is mapped too
    result = await ch.deliver("u", OutboundMessage("hello"))
    assert result.status == "sent" and ch.sent == ["hello"]
    assert len(ch.attempt_times) == 3


async def test_retry_after_is_honoured() -> None:
    ch = FlakyChannel([RateLimited("429", retry_after=0.3)])
    await ch.deliver("u", OutboundMessage("hi"))
    assert ch.attempt_times[1] - ch.attempt_times[0] >= 0.29


async def test_permanent_failure_is_not_retried() -> None:
    ch = FlakyChannel([ProviderError(403)])
    result = await ch.deliver("u", OutboundMessage("hi"))
    assert result.status == "failed" and "403" in result.detail and not result.retryable
    assert len(ch.attempt_times) == 1


async def test_a_message_that_may_have_gone_out_is_sent_again() -> None:
    ch = FlakyChannel([Unconfirmed("read timeout after sending")])
    assert (await ch.deliver("u", OutboundMessage("hi"))).status == "sent"
    assert len(ch.attempt_times) == 2


async def test_gives_up_after_max_attempts_and_a_bug_never_escapes() -> None:
    ch = FlakyChannel([Retryable("500")] * 10)
    result = await ch.deliver("u", OutboundMessage("hi"))
    assert result.status == "failed" and result.retryable  # the delivery queue tries again in a later round
    assert len(ch.attempt_times) == ch.max_attempts
    buggy = FlakyChannel([RuntimeError("bug")])
    result = await buggy.deliver("u", OutboundMessage("hi"))
    assert result.status == "failed" and not result.retryable and len(buggy.attempt_times) == 1


async def test_parts_already_accepted_are_not_sent_again_on_retry() -> None:
    class TwoParts(FlakyChannel):
        async def send(self, recipient: str, message: OutboundMessage) -> DeliveryResult:
            last = await self.send_parts(message, ["part 1", "part 2"], self.call_api)
            return DeliveryResult("sent", provider_id=last)

    ch = TwoParts([])
    real = ch.call_api
    calls = 0

    async def fail_second_once(text: str) -> str:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise Retryable("503 on the second part")
        return await real(text)

    ch.call_api = fail_second_once  # type: ignore[method-assign]
    result = await ch.deliver("u", OutboundMessage("two parts", message_id="m1"))
    assert result.status == "sent" and result.provider_id == "p2"
    assert ch.sent == ["part 1", "part 2"]


async def test_keep_trying_backs_off_honours_rate_limits_and_returns_the_result() -> None:
    ch = FlakyChannel([ProviderError(500), RateLimited("slow down", retry_after=0.3), Unconfirmed("timeout")])
    assert await ch.keep_trying("getMe", lambda: ch.call_api("getMe")) == "p1"
    times = ch.attempt_times
    assert len(times) == 4 and times[2] - times[1] >= 0.29


async def test_keep_trying_stops_on_a_permanent_refusal() -> None:
    ch = FlakyChannel([Retryable("500"), ProviderError(401)])
    with pytest.raises(Permanent):
        await ch.keep_trying("getMe", lambda: ch.call_api("getMe"))
    assert len(ch.attempt_times) == 2


async def test_keep_trying_ends_when_the_connector_stops() -> None:
    ch = FlakyChannel([RateLimited("flood", retry_after=30)] * 3)
    ch.backoff_max_s = 60.0
    await ch.start()
    task = asyncio.create_task(ch.keep_trying("setWebhook", lambda: ch.call_api("setWebhook")))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    await ch.stop()
    assert await asyncio.wait_for(task, timeout=2) is None  # woke up from the 30 s wait at once
    assert time.monotonic() - started < 1 and len(ch.attempt_times) == 1
