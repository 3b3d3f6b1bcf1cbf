"""What the stack says to customers in their language: gettext catalogs read with Babel.

The catalogs are `core/i18n/locale/<lang>/LC_MESSAGES/supportbot.po` (one per language; translators edit the
`msgstr` lines). Each `msgid` is a key the code asks for (`t("queue_position", "it", position=3)`); a key a
language lacks falls back to English. Dates and moments are formatted by Babel from CLDR patterns that are
themselves translatable (`format_date`, `format_when`), so "lunedì 1 dicembre 2026" needs no table in code.

The `.po` files are compiled in memory the first time a language is used (no `.mo` build step).
"""

from __future__ import annotations

import io
import threading
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_date as _babel_date
from babel.dates import format_datetime as _babel_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations

from core.languages import DEFAULT_LANGUAGE, base_language

DOMAIN = "supportbot"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"

_lock = threading.Lock()


def catalog_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@lru_cache(maxsize=1)
def languages() -> tuple[str, ...]:
    """The languages that have a catalog."""
    return tuple(sorted(p.name for p in LOCALE_DIR.iterdir() if catalog_path(p.name).exists()))


@lru_cache(maxsize=None)
def _messages(language: str) -> dict[str, str]:
    """The translated messages of one catalog (untranslated entries left out)."""
    path = catalog_path(language)
    if not path.exists():
        return {}
    with path.open("rb") as f:
        catalog = read_po(f, locale=language, domain=DOMAIN)
    return {str(m.id): str(m.string) for m in catalog if m.id and m.string and not m.fuzzy}


@lru_cache(maxsize=None)
def _translations(language: str) -> Translations:
    """gettext translations for `language`, falling back to English for missing keys."""
    with _lock:
        path = catalog_path(language)
        if path.exists():
            with path.open("rb") as f:
                catalog = read_po(f, locale=language, domain=DOMAIN)
            buf = io.BytesIO()
            write_mo(buf, catalog)
            buf.seek(0)
            translations = Translations(buf, domain=DOMAIN)
        else:
            translations = Translations(domain=DOMAIN)
    if language != DEFAULT_LANGUAGE:
        translations.add_fallback(_translations(DEFAULT_LANGUAGE))
    return translations


def keys() -> frozenset[str]:
    """Every key the English catalog defines (the complete set)."""
    return frozenset(_messages(DEFAULT_LANGUAGE))


def has(key: str, language: str | None) -> bool:
    """Whether `language` itself (not its fallback) translates `key`."""
    return key in _messages(base_language(language) or DEFAULT_LANGUAGE)


def t(key: str, language: str | None, **values: object) -> str:
    """The text `key` in `language` (English when the language lacks it), `{placeholders}` filled in."""
    if key not in keys():
        raise KeyError(f"no text {key!r} in {catalog_path(DEFAULT_LANGUAGE)}")
    text = _translations(base_language(language) or DEFAULT_LANGUAGE).gettext(key)
    return text.format(**values) if values else text


@lru_cache(maxsize=64)
def _locale(language: str) -> Locale:
    try:
        return Locale.parse(language)
    except (UnknownLocaleError, ValueError):
        return Locale.parse(DEFAULT_LANGUAGE)


def _catalog_language(language: str | None) -> str:
    """The language whose catalog (and CLDR data) speaks to a customer of `language`: itself, else English."""
    lang = base_language(language)
    return lang if lang in languages() else DEFAULT_LANGUAGE


def format_date(day: date, language: str | None) -> str:
    """A date for customers: "Monday 1 December 2026", "lunedì 1 dicembre 2026", "2026年12月1日 星期一" …"""
    lang = _catalog_language(language)
    return _babel_date(day, t("format_date", lang), locale=_locale(lang))


def format_when(moment: datetime, language: str | None) -> str:
    """A moment in its own time zone, for customers: "Monday 01/12 09:00 (Europe/Rome)"."""
    lang = _catalog_language(language)
    zone = getattr(moment.tzinfo, "key", None) or moment.strftime("%Z")
    text = _babel_datetime(moment, t("format_when", lang), tzinfo=moment.tzinfo, locale=_locale(lang))
    return f"{text} ({zone})" if zone else text


def format_number(value: float | int, language: str | None) -> str:
    """A number with the language's separators ("1,234.5", "1.234,5")."""
    lang = base_language(language) or DEFAULT_LANGUAGE
    return format_decimal(value, locale=_locale(lang))
