"""Language codes: the one place that reads them (`it-IT`, `zh_Hans`, `RO` …). Standard library only."""

from __future__ import annotations

import re
from collections.abc import Iterable

DEFAULT_LANGUAGE = "en"
SUPPORTED_LANGUAGES = ("en", "it", "zh", "ro")

_CODE_RE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


def normalize_language(value: object) -> str | None:
    """`value` as a BCP 47-style code with a lower-case primary subtag (`pt_BR` → `pt-BR`), or None."""
    if not isinstance(value, str):
        return None
    code = value.strip().replace("_", "-")
    if not code:
        return None
    primary, _, rest = code.partition("-")
    code = primary.lower() + (f"-{rest}" if rest else "")
    return code if _CODE_RE.match(code) else None


def base_language(value: object) -> str:
    """The primary language of a code: `it-IT` → `it`, `zh_Hans` → `zh`; "" when there is none."""
    code = normalize_language(value)
    return code.partition("-")[0] if code else ""


def pick_language(value: object, supported: Iterable[str], default: str = DEFAULT_LANGUAGE) -> str:
    """The supported language `value` names (by its primary subtag), else `default`."""
    lang = base_language(value)
    return lang if lang and lang in set(supported) else default
