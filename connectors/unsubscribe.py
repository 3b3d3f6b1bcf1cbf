"""Unsubscribe links: a signed token naming one customer on one channel, so the link itself is the proof
(`PUBLIC_URL/unsubscribe?t=<token>`). The e-mail connector puts it in every message (and in the
`List-Unsubscribe` header); the hub's page reads it back and records the customer's choice."""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeSerializer

SALT = "unsubscribe"


def unsubscribe_token(secret: str, channel: str, user: str) -> str:
    return URLSafeSerializer(secret, salt=SALT).dumps([channel, user])


def read_unsubscribe_token(secret: str, token: str) -> tuple[str, str] | None:
    """(channel, customer) the token names; None for a forged or mangled one."""
    try:
        value = URLSafeSerializer(secret, salt=SALT).loads(token)
    except BadSignature:
        return None
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) and v for v in value):
        return value[0], value[1]
    return None


def unsubscribe_url(public_base_url: str, secret: str, channel: str, user: str) -> str:
    return f"{public_base_url.rstrip('/')}/unsubscribe?t={unsubscribe_token(secret, channel, user)}"
