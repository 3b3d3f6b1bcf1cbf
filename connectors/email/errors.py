"""The one place that maps SMTP failures (aiosmtplib) to the `core.errors` taxonomy: a server that cannot be
reached or answers 4xx (greylisting, a full queue) → `Retryable`; a timeout after the message data went out →
`Unconfirmed`; 5xx (an unknown mailbox, a refused sender) and bad credentials → `Permanent`."""

from __future__ import annotations

import aiosmtplib

from core.errors import CallError, Permanent, Retryable, Unconfirmed

SERVICE = "email"


def from_smtp_error(exc: Exception) -> CallError | None:
    """The taxonomy error for an SMTP failure; None for anything else (a bug)."""
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return Permanent(f"the SMTP server refused SMTP_USERNAME / SMTP_PASSWORD ({exc.code} {exc.message})",
                         service=SERVICE, status=exc.code)
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        refused = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        return Permanent(f"the SMTP server refused the recipient ({refused})", service=SERVICE)
    if isinstance(exc, (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPConnectTimeoutError)):
        return Retryable(f"the SMTP server is unreachable: {exc}", service=SERVICE)
    if isinstance(exc, aiosmtplib.SMTPTimeoutError):
        return Unconfirmed(f"the SMTP server took too long: {exc}", service=SERVICE)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        detail = f"the SMTP server answered {exc.code}: {exc.message}"
        return Retryable(detail, service=SERVICE, status=exc.code) if 400 <= exc.code < 500 else \
            Permanent(detail, service=SERVICE, status=exc.code)
    if isinstance(exc, aiosmtplib.SMTPException):
        return Permanent(f"SMTP error: {exc}", service=SERVICE)
    if isinstance(exc, OSError):
        return Retryable(f"the SMTP server is unreachable: {exc}", service=SERVICE)
    return None
