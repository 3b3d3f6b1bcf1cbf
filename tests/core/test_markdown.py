"""Rendering answers for each channel."""

from __future__ import annotations

from core.markdown import to_html, to_plain, to_telegram_html, to_whatsapp

ANSWER = """Orders placed before **14:00** ship the *same* day:

- **EU:** 2–4 days
- **UK:** see [delivery info](https://shop.example/delivery)

1. Open `Account → Orders`
2. Choose **Return items**

Questions? [Write to us](mailto:help@shop.example) or read [the policy](/help/returns)."""


def test_plain_text_is_readable_and_keeps_links() -> None:
    text = to_plain(ANSWER, base_url="https://shop.example")
    assert text == (
        "Orders placed before 14:00 ship the same day:\n\n"
        "• EU: 2–4 days\n"
        "• UK: see delivery info: https://shop.example/delivery\n\n"
        "1. Open Account → Orders\n"
        "2. Choose Return items\n\n"
        "Questions? Write to us: help@shop.example or read the policy: https://shop.example/help/returns."
    )


def test_plain_text_does_not_repeat_bare_urls() -> None:
    assert to_plain("See <https://shop.example/a>.") == "See https://shop.example/a."


def test_telegram_html_uses_only_supported_tags_and_escapes_the_rest() -> None:
    html = to_telegram_html(ANSWER + "\n\nTom & Jerry <script>alert(1)</script>", base_url="https://shop.example")
    assert "<b>14:00</b>" in html and "<i>same</i>" in html and "<code>Account → Orders</code>" in html
    assert '<a href="https://shop.example/delivery">delivery info</a>' in html
    assert '<a href="https://shop.example/help/returns">the policy</a>' in html
    assert "Tom &amp; Jerry &lt;script&gt;alert(1)&lt;/script&gt;" in html
    import re

    assert set(re.findall(r"</?([a-z]+)", html)) <= {"b", "i", "a", "code", "pre", "s"}
    assert "• <b>EU:</b> 2–4 days" in html


def test_telegram_drops_links_it_cannot_open() -> None:
    assert to_telegram_html("[policy](/help/returns)") == "policy"  # relative without base_url


def test_web_html_is_safe() -> None:
    html = to_html('Hi <img src=x onerror="alert(1)"> [x](javascript:alert(1)) [ok](https://shop.example)')
    assert "<img" not in html and "&lt;img" in html
    assert 'href="javascript' not in html
    assert '<a href="https://shop.example" target="_blank" rel="noopener noreferrer nofollow">ok</a>' in html
    assert to_html("**bold**\n\n- a\n- b") == "<p><strong>bold</strong></p>\n<ul>\n<li>a</li>\n<li>b</li>\n</ul>"



def test_whatsapp_formatting() -> None:
    text = to_whatsapp(ANSWER, base_url="https://shop.example")
    assert text.startswith("Orders placed before *14:00* ship the _same_ day:")
    assert "• *EU:* 2–4 days" in text
    assert "• *UK:* see delivery info: https://shop.example/delivery" in text  # bare links: WhatsApp links them
    assert "1. Open ```Account → Orders```" in text
    assert to_whatsapp("~~gone~~ **bold** x") == "~gone~ *bold* x"


def test_web_html_links_bare_urls() -> None:
    html = to_html("Track it at https://track.example/DHL/1 today.")
    assert '<a href="https://track.example/DHL/1" target="_blank" rel="noopener noreferrer nofollow">' in html
