"""The one place that maps Twilio failures (and those of its httpx transport) to the `core.errors` taxonomy:
429 → `RateLimited` (its Retry-After), 5xx and network trouble → `Retryable`, a timeout after the request
went out → `Unconfirmed`, other 4xx (an invalid number, a refused sender) → `Permanent`."""

from __future__ import annotations

import httpx
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException

from core.errors import CallError, Permanent, RateLimited, Retryable, from_http_status, from_httpx_error

SERVICE = "twilio"


class TwilioRateLimited(TwilioException):
    """Twilio answered 429 (raised by the transport, which still sees the Retry-After header twilio drops)."""

    def __init__(self, retry_after: float | None, body: str) -> None:
        super().__init__(f"Twilio rate limit (429): {body[:200]}")
        self.retry_after = retry_after


def from_twilio_error(exc: Exception) -> CallError | None:
    """The taxonomy error for a failure of the twilio library or its transport; None for anything else (a bug)."""
    if isinstance(exc, TwilioRateLimited):
        return RateLimited(str(exc), retry_after=exc.retry_after, service=SERVICE)
    if isinstance(exc, (TwilioRestException, TwilioServiceException)):
        status = int(getattr(exc, "status", 0) or 0)
        code = getattr(exc, "code", None)
        text = getattr(exc, "msg", None) or getattr(exc, "detail", None) or getattr(exc, "title", "")
        detail = f"Twilio answered {status} (error {code}): {text}"
        if status == 0:  # no HTTP answer behind it
            return Retryable(detail, service=SERVICE)
        return from_http_status(status, detail, service=SERVICE)
    if isinstance(exc, httpx.HTTPError):
        return from_httpx_error(exc, service=SERVICE)
    if isinstance(exc, TwilioException):
        return Permanent(f"Twilio error: {exc!r}", service=SERVICE)
    return None
