"""Reading the shape of a Meta webhook notification: a wrong shape is `BadNotification` (the webhook's 400)."""

from __future__ import annotations

from typing import Any


class BadNotification(ValueError):
    """Not a notification Meta sends (the webhook answers 400, nothing is stored)."""


def obj(value: Any, what: str) -> dict[str, Any]:
    """`value`, which must be a JSON object."""
    if not isinstance(value, dict):
        raise BadNotification(f"{what} must be an object")
    return value


def items(value: Any, what: str) -> list[Any]:
    """`value`, which must be a JSON list (missing: empty)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadNotification(f"{what} must be a list")
    return value
