"""Language codes are read in one place."""

from __future__ import annotations

from core.languages import base_language, normalize_language, pick_language


def test_codes_are_normalised() -> None:
    assert normalize_language(" pt_BR ") == "pt-BR"
    assert normalize_language("IT") == "it"
    assert normalize_language("") is None and normalize_language(None) is None
    assert normalize_language("not a code!") is None
    assert base_language("zh_Hans") == "zh" and base_language("it-IT") == "it" and base_language(None) == ""


def test_pick_a_supported_language() -> None:
    assert pick_language("it-IT", ("en", "it")) == "it"
    assert pick_language("de-DE", ("en", "it")) == "en"
    assert pick_language(None, ("en", "it"), default="it") == "it"
