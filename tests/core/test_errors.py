"""One error taxonomy and one retry loop for everything the stack calls out to."""

from __future__ import annotations

import time

import httpx
import pytest

from core.errors import (
    Permanent, RateLimited, Retryable, Unconfirmed, check_response, from_http_status, from_httpx_error, retrying,
)


def test_http_answers_map_to_one_taxonomy() -> None:
    assert isinstance(from_http_status(503, "x", service="rasa"), Retryable)
    assert isinstance(from_http_status(404, "x", service="rasa"), Permanent)
    limited = from_http_status(429, "slow down", service="twilio", retry_after="7")
    assert isinstance(limited, RateLimited) and limited.retry_after == 7.0 and limited.retryable
    request = httpx.Request("POST", "http://127.0.0.1:9/x")
    assert isinstance(from_httpx_error(httpx.ConnectError("refused", request=request), service="rasa"), Retryable)
    # A read timeout after the request went out may have acted: never blindly retried.
    timeout = from_httpx_error(httpx.ReadTimeout("slow", request=request), service="rasa")
    assert isinstance(timeout, Unconfirmed) and not timeout.retryable
    with pytest.raises(Permanent):
        check_response(httpx.Response(400, text="bad", request=request), service="shop")


async def test_retrying_retries_only_what_is_retryable_and_honours_retry_after() -> None:
    calls: list[float] = []

    async def flaky() -> str:
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise RateLimited("429", retry_after=0.2)
        if len(calls) == 2:
            raise Retryable("503")
        return "ok"

    async for attempt in retrying(attempts=3, base_s=0.01, max_s=1.0, what="test call"):
        with attempt:
            result = await flaky()
    assert result == "ok" and len(calls) == 3
    assert calls[1] - calls[0] >= 0.19  # the service's Retry-After, not the short backoff

    permanent_calls = 0

    async def refused() -> None:
        nonlocal permanent_calls
        permanent_calls += 1
        raise Permanent("403")

    with pytest.raises(Permanent):
        async for attempt in retrying(attempts=5, base_s=0.01, what="test call"):
            with attempt:
                await refused()
    assert permanent_calls == 1
