"""The hub's own view of the live knowledge base: the studio's "try a question", per-channel previews of an
answer, and the sentence encoder the publish pipeline builds the index with.

It holds a `kb_index.KnowledgeBaseHolder` on the same index folder the action server answers from, loaded on
first use (the encoder takes seconds and a few hundred MB, so a hub nobody edits never loads it); a publish
swaps in the new build here and in the action server (`POST /kb/reload`).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from core.markdown import to_html, to_plain, to_telegram_html
from core.settings import HubSettings

log = logging.getLogger(__name__)

#: The characters of the GSM 03.38 default alphabet (an SMS of these is 160 per segment, else 70).
_GSM = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
           "¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€")


def with_links(answer: str, links: list[dict[str, str]] | None) -> str:
    """The answer's Markdown with its links after it, one per line (how the bot sends an entry)."""
    lines = [f"[{link.get('title') or link.get('url')}]({link.get('url')})" for link in links or [] if link.get("url")]
    return answer.strip() + ("\n\n" + "  \n".join(lines) if lines else "")


def sms_segments(text: str) -> int:
    if not text:
        return 0
    gsm = all(c in _GSM for c in text)
    single, multi = (160, 153) if gsm else (70, 67)
    return 1 if len(text) <= single else -(-len(text) // multi)


def previews(answer: str, links: list[dict[str, str]] | None = None, *, base_url: str | None = None) -> dict[str, Any]:
    """The answer as each channel shows it: the web widget (HTML), Telegram (its HTML subset), WhatsApp and SMS
    (plain text; SMS with its segment count)."""
    md = with_links(answer or "", links)
    plain = to_plain(md, base_url=base_url)
    return {"web": to_html(md, base_url=base_url), "telegram": to_telegram_html(md, base_url=base_url),
            "whatsapp": plain, "sms": plain, "sms_segments": sms_segments(plain), "characters": len(plain)}


class HubKnowledgeBase:
    """The live index as the hub sees it (see the module doc)."""

    def __init__(self, settings: HubSettings) -> None:
        self.settings = settings
        self._holder: Any = None
        self._lock = threading.Lock()
        self._warming: threading.Thread | None = None

    @property
    def holder(self) -> Any:
        """The `kb_index.KnowledgeBaseHolder` (made on first use: importing FAISS is not free)."""
        with self._lock:
            if self._holder is None:
                from encoders.loading import load_encoder
                from kb_index.holder import KnowledgeBaseHolder

                s = self.settings
                self._holder = KnowledgeBaseHolder(
                    s.kb_index_dir, lambda: load_encoder(s.embedding_model or None),
                    answer_threshold=s.kb_answer_threshold, suggest_threshold=s.kb_suggest_threshold,
                    default_language=s.default_language)
            return self._holder

    @property
    def encoder(self) -> Any:
        return self.holder.encoder

    def warm_up(self) -> None:
        """Load the encoder and the index in the background (once)."""
        if self._warming is None:
            self._warming = threading.Thread(target=self._warm, name="studio-kb", daemon=True)
            self._warming.start()

    def _warm(self) -> None:
        try:
            self.holder.get()
        except Exception as exc:  # noqa: BLE001 - reported when someone asks a question
            log.warning("the knowledge base is not loaded yet: %s", exc)

    @property
    def loaded(self) -> bool:
        return self._holder is not None and self._holder._kb is not None  # noqa: SLF001 - a look, no load

    def reload(self) -> bool:
        return self.holder.reload()

    def try_question(self, text: str, language: str | None) -> dict[str, Any]:
        """The top entries for `text` with their scores, and the decision at the bot's thresholds."""
        from kb_index.decision import DEFAULT_MARGIN, decide_from_hits

        hits = self.holder.search(text, k=5, language=language)
        kb = self.holder.get()
        # the bot's own thresholds for this language: KB_ANSWER_THRESHOLD / KB_SUGGEST_THRESHOLD when set, else
        # those the index calibrated from its content (settings alone would be None)
        answer_at, suggest_at = kb.thresholds(language)
        margin = getattr(kb, "margin", DEFAULT_MARGIN)
        decision = decide_from_hits(text, hits, answer_at, suggest_at, margin=margin)
        chosen = {h.entry_id for h in decision.hits}
        manifest = kb.manifest
        return {
            "query": text, "language": language, "decision": decision.kind,
            "thresholds": {"answer": answer_at, "suggest": suggest_at, "margin": margin},
            "hits": [{"entry_id": h.entry_id, "language": h.language, "question": h.question,
                      "score": round(h.score, 3), "matched": h.matched, "chosen": h.entry_id in chosen}
                     for h in hits],
            "index": {"version": manifest.version, "built_at": manifest.built_at, "entries": manifest.entry_count},
        }
