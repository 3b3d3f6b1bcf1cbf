"""SMS text within segment limits: GSM-7 or UCS-2, and how many segments a text costs.

An SMS segment carries 160 GSM-7 characters (153 when the message is split into several, the rest is the
concatenation header) or 70 UCS-2 characters (67). One character outside GSM-7 — a curly quote pasted from a
word processor, a bullet, an emoji — turns the whole message into UCS-2 and more than doubles its cost, so
`to_gsm()` first replaces the typographic characters that have a GSM-7 equivalent. Text that is still too long
for `max_segments` is split into several messages on line or word boundaries (`split_sms()`).
"""

from __future__ import annotations

from dataclasses import dataclass

from connectors.base import split_text

# GSM 03.38 basic character set, and the extension table (each costs two septets: ESC + character).
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = frozenset("^{}\\[~]|€\f")
# Typographic characters customers never miss, and their GSM-7 spelling.
GSM_EQUIVALENTS = {
    "‘": "'", "’": "'", "‚": "'", "‛": "'", "“": '"', "”": '"', "„": '"', "«": '"', "»": '"',
    "–": "-", "—": "-", "−": "-", "‐": "-", "…": "...", "•": "-", "·": "-", "\u00a0": " ", "\u2009": " ",
    "\u202f": " ", "→": "->", "←": "<-", "×": "x", "\t": " ",
}

SINGLE = {"gsm7": 160, "ucs2": 70}
CONCATENATED = {"gsm7": 153, "ucs2": 67}


@dataclass(frozen=True)
class Segments:
    encoding: str  # gsm7 | ucs2
    count: int
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)


def to_gsm(text: str) -> str:
    """`text` with typographic characters replaced by their GSM-7 spelling (the rest is left as it is)."""
    return "".join(GSM_EQUIVALENTS.get(ch, ch) for ch in text)


def is_gsm(text: str) -> bool:
    return all(ch in GSM_BASIC or ch in GSM_EXTENDED for ch in text)


def segments(text: str) -> Segments:
    """How `text` travels: its encoding and the number of segments it costs."""
    if is_gsm(text):
        encoding, units = "gsm7", sum(2 if ch in GSM_EXTENDED else 1 for ch in text)
    else:
        encoding, units = "ucs2", len(text.encode("utf-16-le")) // 2
    if units <= SINGLE[encoding]:
        return Segments(encoding, 1 if text else 0, units)
    return Segments(encoding, -(-units // CONCATENATED[encoding]), units)


def split_sms(text: str, max_segments: int) -> list[str]:
    """`text` as messages of at most `max_segments` segments each, split on line or word boundaries."""
    text = to_gsm(text)
    if segments(text).count <= max_segments:
        return [text] if text else []
    encoding = segments(text).encoding
    limit = SINGLE[encoding] if max_segments == 1 else CONCATENATED[encoding] * max_segments
    out: list[str] = []
    for chunk in split_text(text, limit):
        while segments(chunk).count > max_segments:  # extension characters or surrogate pairs cost double
            head = split_text(chunk, max(1, int(len(chunk) * 0.9)))
            out.extend(split_sms(head[0], max_segments))
            chunk = chunk[len(head[0]):].lstrip()
        if chunk:
            out.append(chunk)
    return out
