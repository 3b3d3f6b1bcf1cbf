"""Order numbers, e-mail addresses and phone numbers found (spaCy + rules) and redacted, in several languages."""

from __future__ import annotations

import logging

import pytest

from core.pii import RedactingFilter, extract_order_numbers, find_entities, redact


@pytest.mark.parametrize(
    ("text", "lang", "orders"),
    [
        ("where is my order BC-123456?", "en", ["BC-123456"]),
        ("ordine #123456 non arrivato", "it", ["BC-123456"]),
        ("comanda mea bc123456 a întârziat", "ro", ["BC-123456"]),
        ("我的订单123456还没到", "zh", ["BC-123456"]),
        ("I ordered 2 items for 35 euros", "en", []),
        ("call me on +39 333 123 4567", "en", []),  # a phone number is not an order number
        ("ring +39 333 123456 about BC-100002", "en", ["BC-100002"]),
    ],
)
def test_order_numbers(text: str, lang: str, orders: list[str]) -> None:
    assert extract_order_numbers(text, lang) == orders


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("mail me at jane.doe@example.com please", "en", "mail me at [email] please"),
        ("scrivimi a mario.rossi@libero.it o al +39 333 123 4567", "it", "scrivimi a [email] o al [phone]"),
        ("邮箱li@qq.com电话13812345678", "zh", "邮箱[email]电话[phone]"),
        ("card 4111 1111 1111 1111 was charged twice for BC-123456", "en",
         "card [card number] was charged twice for BC-123456"),
        ("nothing personal here", "en", "nothing personal here"),
        ("", "en", ""),
        ("🙂🙂", "ro", "🙂🙂"),
    ],
)
def test_redaction_keeps_order_numbers_and_removes_contact_details(text: str, lang: str, expected: str) -> None:
    assert redact(text, lang) == expected


def test_unknown_language_still_works() -> None:
    assert [s.label for s in find_entities("write to a@b.co", "xx-unknown")] == ["EMAIL"]


def test_log_records_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tests.pii")
    handler_filter = RedactingFilter()
    record = logger.makeRecord("tests.pii", logging.INFO, __file__, 1, "customer %s wrote from %s",
                               ("bob@example.com", "+44 20 7946 0958"), None)
    assert handler_filter.filter(record)
    assert record.getMessage() == "customer [email] wrote from [phone]"


def test_ibans_and_card_security_codes_are_never_stored() -> None:
    assert redact("my IBAN is IT60 X054 2811 1010 0000 0123 456, thanks") == "my IBAN is [iban], thanks"
    assert redact("iban GB82WEST12345698765432") == "iban [iban]"
    assert redact("GB00WEST12345698765432 is not a valid one") == "GB00WEST12345698765432 is not a valid one"
    assert redact("card 4111 1111 1111 1111, CVV 123") == "card [card number], CVV [security code]"
    assert redact("il codice di sicurezza è 321") == "il codice di sicurezza è [security code]"
    assert redact("安全码 889") == "安全码 [security code]"
    assert redact("I ordered 123 items") == "I ordered 123 items"  # three digits alone are no security code


def test_ids_in_log_lines_are_never_mangled() -> None:
    line = "conversation 2a7cd4cd6287443f83d12345678901234e9: handoff -> queued"
    assert redact(line) == line
    record = logging.LogRecord("bot", logging.INFO, __file__, 1, "conversation %s", ("cd6287443f83d1234567890123456789",), None)
    RedactingFilter().filter(record)
    assert record.getMessage() == "conversation cd6287443f83d1234567890123456789"


def test_phone_numbers_are_not_order_numbers() -> None:
    for text in ("call me on +44 7700 900123 please", "my number is 07700 900123", "tel 0039 333 1234567"):
        assert extract_order_numbers(text) == [], text
        assert "[phone]" in redact(text), text
    assert extract_order_numbers("order 900123, phone +44 7700 900124") == ["BC-900123"]


def test_the_hub_and_the_actions_do_not_carry_torch_for_spacy() -> None:
    """spaCy's thinc imports torch whenever it is installed (about 250 MB per process for nothing here): the hub
    app built and a message redacted load no torch, and torch still imports afterwards for whoever needs it."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys; from core.pii import redact; "
            "assert redact('write to anna@example.com', 'it') == 'write to [email]'; "
            "from bot.app import create_app; "
            "print('torch' in sys.modules); import torch; print(torch.tensor([1]).item())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=str(Path(__file__).resolve().parents[2]), env={**os.environ, "DEV_MODE": "true"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["False", "1"]
