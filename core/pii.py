"""Rule-based extraction of order numbers, e-mail addresses and phone numbers, and PII redaction.

Built on `spacy.blank(lang)` with an EntityRuler: no model download, language-aware tokenisation
(Chinese is segmented per character by spaCy's default, so patterns still match inside unspaced text).
Used by the hub to redact stored transcripts and logs and by the actions to find order numbers in free text.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from functools import lru_cache

import spacy
from spacy.language import Language

log = logging.getLogger(__name__)

SUPPORTED_LANGUAGES = ("en", "it", "ro", "zh")

# Order numbers: "BC-123456", "bc 123456", "#123456" or a bare 6-digit number. This is THE definition of the
# shop's order-number format (the actions use it too; nlu_data/nlu.yml's `order_number` regex mirrors it for
# Rasa's RegexEntityExtractor). No word-character lookbehind: Chinese text puts letters right before digits.
ORDER_NUMBER_RE = re.compile(r"(?:(?<![A-Za-z0-9])[Bb][Cc][-\s]?|#\s?|(?<![\dA-Za-z+#-]))(\d{6})(?![\d-])")
_EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# International or national phone numbers: at least 8 digits, separators allowed, optional leading +.
_PHONE_RE = re.compile(r"(?<![0-9A-Za-z+])\+?\d[\d\s().-]{6,18}\d(?![0-9A-Za-z])")
# Card-like digit runs (13–19 digits, spaces or dashes allowed) are never stored.
_CARD_RE = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")

REDACTIONS = {"EMAIL": "[email]", "PHONE": "[phone]", "CARD": "[card number]"}


@dataclass(frozen=True)
class Span:
    label: str  # ORDER_NUMBER, EMAIL, PHONE, CARD
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
    spans += _regex_spans(_CARD_RE, "CARD", text, spans)
    # "BC-…"/"#…" are order numbers for sure; then phone numbers; then bare 6-digit numbers not inside a phone number.
    spans += [s for s in _regex_spans(ORDER_NUMBER_RE, "ORDER_NUMBER", text, spans) if not s.text[0].isdigit()]
    spans += [s for s in _regex_spans(_PHONE_RE, "PHONE", text, spans) if len(re.sub(r"\D", "", s.text)) >= 8]
    spans += _regex_spans(ORDER_NUMBER_RE, "ORDER_NUMBER", text, spans)
    return sorted(spans, key=lambda s: s.start)


def _regex_spans(pattern: re.Pattern[str], label: str, text: str, taken: list[Span]) -> list[Span]:
    out = []
    for m in pattern.finditer(text):
        if any(m.start() < s.end and s.start < m.end() for s in taken):
            continue
        out.append(Span(label, m.group(0).strip(), m.start(), m.start() + len(m.group(0).rstrip())))
    return out


def extract_order_numbers(text: str, lang: str = "en") -> list[str]:
    """Normalised order numbers (`BC-123456`) mentioned in `text`."""
    return ["BC-" + re.sub(r"\D", "", s.text) for s in find_entities(text, lang) if s.label == "ORDER_NUMBER"]


def redact(text: str, lang: str = "en") -> str:
    """Replace e-mail addresses, phone and card numbers with placeholders. Order numbers are kept:
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
