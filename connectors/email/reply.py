"""The customer's own words in a reply: quoted history ("On Mon … wrote:", "> …", Outlook's header block) and
signatures ("-- ", "Sent from my iPhone") removed by mail-parser-reply, in the languages it knows; HTML-only
mails read as text first."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

from mailparser_reply import EmailReplyParser

LANGUAGES = ["en", "it", "zh", "de", "fr", "es", "nl", "pl", "sv", "da", "cs", "ja", "ko"]
_parser = EmailReplyParser(languages=LANGUAGES)
_BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "blockquote", "table", "ul", "ol"}


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0
        self._quote = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "head"):
            self._skip += 1
        if tag == "blockquote":
            self._quote += 1
        if tag in _BLOCKS:
            self.parts.append("\n")
        if tag == "li":
            self.parts.append("- ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head"):
            self._skip = max(0, self._skip - 1)
        if tag == "blockquote":
            self._quote = max(0, self._quote - 1)
        if tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append("\n".join("> " + line for line in data.split("\n")) if self._quote else data)


def html_to_text(markup: str) -> str:
    """Readable text of an HTML mail (quoted blocks kept as "> " lines, so the reply parser drops them)."""
    parser = _Text()
    parser.feed(markup)
    text = html.unescape("".join(parser.parts))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(line.rstrip() for line in text.splitlines())).strip()


def latest_reply(text: str) -> str:
    """The newest part of an e-mail body, without quoted history or signature."""
    text = (text or "").replace("\r\n", "\n").strip()
    if not text:
        return ""
    try:
        replies = _parser.read(text=text).replies
    except Exception:  # noqa: BLE001 - a parser failure must not lose the customer's message
        replies = []
    body = replies[0].body.strip() if replies and replies[0].body else ""
    if body:
        return body
    kept = [line for line in text.split("\n") if not line.lstrip().startswith(">")]
    return "\n".join(kept).strip() or text
