"""One error taxonomy for everything the stack calls out to (channel APIs, Rasa, outgoing webhooks, the order
system), and one retry policy built on tenacity.

- `Retryable`: a temporary failure (connection refused, 5xx, a timeout before anything was sent); try again.
- `RateLimited`: the service asked us to slow down; try again after `retry_after` seconds when it said so.
- `Unconfirmed`: the request may have taken effect (a read timeout after sending): never retried blindly,
  since a second attempt could act twice (the bot would answer twice).
- `Permanent`: the service refused the request (4xx, bad credentials, a blocked customer); trying again would
  fail the same way.

Each client maps its library's exceptions to these in one function (`from_http_status`, `from_httpx_error` for
plain HTTP; Telegram and Twilio have their own mappers in `connectors/`); callers catch `CallError` and read
`retryable`. `retrying()` is the one retry loop: exponential backoff with jitter, `Retry-After` honoured.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Callable

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential_jitter

log = logging.getLogger(__name__)


class CallError(Exception):
    """A call to another service failed. `service` names it for logs and for the people reading them."""

    retryable = False

    def __init__(self, detail: str, *, service: str = "", status: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.service = service
        self.status = status


class Retryable(CallError):
    retryable = True


class RateLimited(Retryable):
    def __init__(self, detail: str, *, retry_after: float | None = None, service: str = "",
                 status: int | None = 429) -> None:
        super().__init__(detail, service=service, status=status)
        self.retry_after = retry_after


class Unconfirmed(CallError):
    """The request may have been processed; the caller decides what a safe next step is."""


class Permanent(CallError):
    pass


def parse_retry_after(value: str | None) -> float | None:
    """A `Retry-After` header (seconds, or an HTTP date) as seconds from now."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, (parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds())
        except (TypeError, ValueError):
            return None


def from_http_status(status: int, detail: str, *, service: str, retry_after: str | None = None) -> CallError:
    """The error for an HTTP answer that is not a success: 408/5xx retryable, 429 rate-limited, else permanent."""
    if status == 429:
        return RateLimited(detail, retry_after=parse_retry_after(retry_after), service=service)
    if status in (408, 425) or status >= 500:
        return Retryable(detail, service=service, status=status)
    return Permanent(detail, service=service, status=status)


def from_httpx_error(exc: httpx.HTTPError, *, service: str, sent: bool = True) -> CallError:
    """A transport failure of httpx. A read/write timeout after the request went out is `Unconfirmed` when
    `sent` (the caller may not repeat it safely); connection failures never reached the service: retryable."""
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return Retryable(f"{service} unreachable: {exc!r}", service=service)
    if isinstance(exc, httpx.TimeoutException):
        if sent:
            return Unconfirmed(f"{service} took too long: {exc!r}", service=service)
        return Retryable(f"{service} timed out: {exc!r}", service=service)
    if isinstance(exc, httpx.HTTPStatusError):
        resp = exc.response
        return from_http_status(resp.status_code, f"{service} answered {resp.status_code}", service=service,
                                retry_after=resp.headers.get("retry-after"))
    if isinstance(exc, httpx.TransportError):
        return Retryable(f"{service} unreachable: {exc!r}", service=service)
    return Permanent(f"{service} failed: {exc!r}", service=service)


def check_response(resp: httpx.Response, *, service: str) -> httpx.Response:
    """`resp` if it is a success, else raise its `CallError`."""
    if resp.is_success:
        return resp
    raise from_http_status(resp.status_code, f"{service} answered {resp.status_code}: {resp.text[:200]}",
                           service=service, retry_after=resp.headers.get("retry-after"))


class _WaitRetryAfter:
    """Wait what a `RateLimited` error asked for, otherwise exponential backoff with jitter."""

    def __init__(self, base_s: float, max_s: float) -> None:
        self.max_s = max_s
        self.backoff = wait_exponential_jitter(multiplier=base_s, max=max_s, jitter=base_s / 4 if base_s else 0)

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            return min(exc.retry_after, self.max_s)
        return float(self.backoff(state))


def retrying(*, attempts: int, base_s: float = 0.5, max_s: float = 60.0, what: str = "call",
             retry_on: Callable[[BaseException], bool] | None = None) -> AsyncRetrying:
    """The retry loop for outgoing calls: `async for attempt in retrying(...): with attempt: await call()`.

    Retries `Retryable` errors (or what `retry_on` accepts) up to `attempts` tries in all, then re-raises the
    last error itself (not tenacity's RetryError)."""

    def _log(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning("%s failed (attempt %d/%d: %s); retrying in %.1fs", what, state.attempt_number, attempts, exc,
                    wait)

    return AsyncRetrying(
        stop=stop_after_attempt(max(1, attempts)),
        wait=_WaitRetryAfter(base_s, max_s),
        retry=retry_if_exception(retry_on or (lambda exc: isinstance(exc, CallError) and exc.retryable)),
        before_sleep=_log,
        reraise=True,
    )


def describe(exc: BaseException) -> dict[str, Any]:
    """A JSON-able description of an error for logs and agents."""
    if isinstance(exc, CallError):
        return {"service": exc.service, "kind": type(exc).__name__, "detail": exc.detail, "status": exc.status}
    return {"kind": type(exc).__name__, "detail": str(exc)}
