"""The catalogs the hub, the channels and the actions speak from (core/i18n)."""

from __future__ import annotations

import re
import string
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from core import i18n


def test_every_supported_language_has_every_text() -> None:
    """A missing line would silently fall back to English for that language's customers."""
    for lang in ("it", "zh", "ro"):
        missing = sorted(k for k in i18n.keys() if not i18n.has(k, lang) and k != "order_item_separator")
        assert not missing, f"{lang} lacks {missing}"


def test_translations_use_the_same_placeholders_as_english() -> None:
    """A translator who renames {position} would crash the hub at run time; this catches it first."""
    fields = lambda text: {f for _, f, _, _ in string.Formatter().parse(text) if f}  # noqa: E731
    for lang in i18n.languages():
        for key in i18n.keys():
            if i18n.has(key, lang) and not key.startswith("format_"):
                assert fields(i18n.t(key, lang)) == fields(i18n.t(key, "en")), (lang, key)


def test_texts_in_the_customers_language_with_fallback() -> None:
    assert i18n.t("queue_position", "it-IT", position=3) == "Sei il numero 3 in coda."
    assert i18n.t("queue_position", "zh_Hans", position=3) == "您目前排在第 3 位。"
    assert i18n.t("queue_position", "de", position=3) == "You are number 3 in the queue."  # no German catalog
    assert i18n.t("order_item_separator", "it") == ", "  # Italian has no own separator: English's
    with pytest.raises(KeyError):
        i18n.t("no_such_text", "en")


def test_dates_and_moments_by_language() -> None:
    day = date(2026, 12, 1)
    assert i18n.format_date(day, "en") == "Tuesday 1 December 2026"
    assert i18n.format_date(day, "it") == "martedì 1 dicembre 2026"
    assert i18n.format_date(day, "ro") == "marți, 1 decembrie 2026"
    assert i18n.format_date(day, "zh") == "2026年12月1日 星期二"
    moment = datetime(2026, 12, 7, 9, 0, tzinfo=ZoneInfo("Europe/Rome"))
    assert i18n.format_when(moment, "en") == "Monday 07/12 09:00 (Europe/Rome)"
    assert i18n.format_when(moment, "it") == "lunedì 07/12 09:00 (Europe/Rome)"
    assert re.fullmatch(r"星期一 07/12 09:00 \(Europe/Rome\)", i18n.format_when(moment, "zh"))


def test_numbers_by_language() -> None:
    assert i18n.format_number(1234.5, "en") == "1,234.5"
    assert i18n.format_number(1234.5, "it") == "1.234,5"
