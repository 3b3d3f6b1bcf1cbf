"""What the hub itself says to customers (not Rasa's responses): the catalogs of `core.i18n`."""

from __future__ import annotations

from core.i18n import format_when as when
from core.i18n import t as text

__all__ = ["text", "when"]
