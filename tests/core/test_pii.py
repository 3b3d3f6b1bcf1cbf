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
