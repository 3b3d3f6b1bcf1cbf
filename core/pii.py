"""Rule-based extraction of order numbers, e-mail addresses and phone numbers, and PII redaction.

Built on `spacy.blank(lang)` with an EntityRuler: no model download, language-aware tokenisation
(Chinese is segmented per character by spaCy's default, so patterns still match inside unspaced text).
Used by the hub to redact stored transcripts and logs and by the actions to find order numbers in free text.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from dataclasses import dataclass
from functools import lru_cache

# spaCy's ML layer (thinc) imports torch whenever it is installed, for GPU arrays this module never uses: about
# 190 MB in every hub and action-server process for a tokenizer and a rule matcher. Hidden while spaCy loads (an
# import of it raises ImportError there); torch stays importable for whoever needs it afterwards.
_HIDE_TORCH = "torch" not in sys.modules
if _HIDE_TORCH:
    sys.modules["torch"] = None  # type: ignore[assignment]
try:
    import spacy
    from spacy.language import Language
finally:
    if _HIDE_TORCH and "torch" in sys.modules and sys.modules["torch"] is None:
        del sys.modules["torch"]

log = logging.getLogger(__name__)

SUPPORTED_LANGUAGES = ("en", "it", "ro", "zh")

# Order numbers: "BC-123456", "bc 123456", "#123456" or a bare 6-digit number. This is THE definition of the
# shop's order-number format (the actions use it too; nlu_data/nlu.yml's `order_number` regex mirrors it for
# Rasa's RegexEntityExtractor). No word-character lookbehind: Chinese text puts letters right before digits.
ORDER_NUMBER_RE = re.compile(r"(?:(?<![A-Za-z0-9])[Bb][Cc][-\s]?|#\s?|(?<![\dA-Za-z+#-]))(\d{6})(?![\d-])")
_EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# International or national phone numbers: at least 8 digits, separators allowed, optional leading +.
_PHONE_RE = re.compile(r"(?<![0-9A-Za-z+])\+?\d[\d\s().-]{6,18}\d(?![0-9A-Za-z])")
# Card-like digit runs (13–19 digits, spaces or dashes allowed) are never stored. Never inside a longer
# alphanumeric run: a hex id such as a conversation id is not a card number.
_CARD_RE = re.compile(r"(?<![0-9A-Za-z])(?:\d[ -]?){12,18}\d(?![0-9A-Za-z])")
# IBAN: two letters, two check digits, 11–30 alphanumerics (spaces allowed in groups); checked with mod 97.
_IBAN_RE = re.compile(r"(?<![0-9A-Za-z])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![0-9A-Za-z])", re.IGNORECASE)
# A card's security code, recognised by the words around it (the three or four digits alone are not evidence).
_CVV_RE = re.compile(
    r"(?i)(?:\b(?:cvv2?|cvc2?|cid|csc|security code|card code|codice (?:di sicurezza|cvv)|cod(?:ul)? (?:de )?securitate)"
    r"|安全码|验证码|安全碼)\s*(?:is|è|este|:|=|是|为)?\s*(\d{3,4})(?!\d)")

REDACTIONS = {"EMAIL": "[email]", "PHONE": "[phone]", "CARD": "[card number]", "IBAN": "[iban]", "CVV": "[security code]"}


@dataclass(frozen=True)
class Span:
    label: str  # ORDER_NUMBER, EMAIL, PHONE, CARD, IBAN, CVV
    text: str
    start: int  # character offsets in the input text
    end: int


_lock = threading.Lock()


@lru_cache(maxsize=8)
def _pipeline(lang: str) -> Language:
    """A blank spaCy pipeline for `lang` with an EntityRuler for e-mail addresses."""
    try:
        nlp = spacy.blank(lang)
    except Exception:  # an unsupported or unknown code: fall back to the multi-language tokenizer
        log.warning("spaCy has no tokenizer for %r; using the multi-language one", lang)
        nlp = spacy.blank("xx")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": "EMAIL", "pattern": [{"LIKE_EMAIL": True}]}])
    return nlp


def normalise_order_number(raw: str) -> str | None:
    """`#123456`, `bc123456`, ` BC-123456.` → `BC-123456`; None unless the whole value is one order number."""
    match = ORDER_NUMBER_RE.fullmatch(raw.strip().strip(".,;:!?()[]\"'"))
    return f"BC-{match.group(1)}" if match else None


def find_entities(text: str, lang: str = "en") -> list[Span]:
    """Order numbers, e-mail addresses, phone and card numbers in `text`, in order of appearance."""
    if not text:
        return []
    spans: list[Span] = []
    with _lock:  # spaCy pipelines are not guaranteed thread-safe
        doc = _pipeline(lang if lang in SUPPORTED_LANGUAGES else "xx")(text)
    for ent in doc.ents:
        spans.append(Span(ent.label_, ent.text, ent.start_char, ent.end_char))
    # Regex fallbacks: spaCy's LIKE_EMAIL needs token boundaries, which unspaced scripts lack.
    spans += _regex_spans(_EMAIL_RE, "EMAIL", text, spans)
    spans += [s for s in _regex_spans(_IBAN_RE, "IBAN", text, spans) if _iban_ok(s.text)]
    spans += _cvv_spans(text, spans)
    # Card numbers pass the Luhn check; a long digit run that fails it is more likely a phone number (below).
    cards = _regex_spans(_CARD_RE, "CARD", text, spans)
    spans += [s for s in cards if _luhn_ok(s.text)]
    # "BC-…"/"#…" are order numbers for sure; then phone numbers; then bare 6-digit numbers not inside a phone number.
    spans += [s for s in _regex_spans(ORDER_NUMBER_RE, "ORDER_NUMBER", text, spans) if not s.text[0].isdigit()]
    spans += [s for s in _regex_spans(_PHONE_RE, "PHONE", text, spans) if len(re.sub(r"\D", "", s.text)) >= 8]
    spans += _regex_spans(_CARD_RE, "CARD", text, spans)  # still never stored, whatever it is
    spans += _regex_spans(ORDER_NUMBER_RE, "ORDER_NUMBER", text, spans)
    return sorted(spans, key=lambda s: s.start)


def _regex_spans(pattern: re.Pattern[str], label: str, text: str, taken: list[Span]) -> list[Span]:
    out = []
    for m in pattern.finditer(text):
        if any(m.start() < s.end and s.start < m.end() for s in taken):
            continue
        out.append(Span(label, m.group(0).strip(), m.start(), m.start() + len(m.group(0).rstrip())))
    return out


def _luhn_ok(raw: str) -> bool:
    digits = [int(d) for d in re.sub(r"\D", "", raw)][::-1]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(digits))
    return total % 10 == 0


def _iban_ok(raw: str) -> bool:
    code = re.sub(r"\s", "", raw).upper()
    rearranged = code[4:] + code[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def _cvv_spans(text: str, taken: list[Span]) -> list[Span]:
    out = []
    for m in _CVV_RE.finditer(text):
        start, end = m.span(1)
        if not any(start < s.end and s.start < end for s in taken):
            out.append(Span("CVV", m.group(1), start, end))
    return out


def extract_order_numbers(text: str, lang: str = "en") -> list[str]:
    """Normalised order numbers (`BC-123456`) mentioned in `text`."""
    return ["BC-" + re.sub(r"\D", "", s.text) for s in find_entities(text, lang) if s.label == "ORDER_NUMBER"]


def redact(text: str, lang: str = "en") -> str:
    """Replace e-mail addresses, phone and card numbers, IBANs and card security codes with placeholders. Order
    numbers are kept:
    agents need them and they identify no person on their own."""
    spans = [s for s in find_entities(text, lang) if s.label in REDACTIONS]
    for span in reversed(spans):
        text = text[: span.start] + REDACTIONS[span.label] + text[span.end :]
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that redacts PII from log messages and their arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            try:
                record.msg = record.getMessage()
                record.args = None
            except Exception:
                return True
        if isinstance(record.msg, str) and any(c.isdigit() or c == "@" for c in record.msg):
            record.msg = redact(record.msg)
        return True
