"""The studio's view of the live knowledge base: "try a question" and per-channel previews of an answer.

The hub holds no sentence encoder and no index (an encoder profile costs 300 MB to 1 GB per process): the action
server, which answers customers from the live index, also answers the studio's questions (`POST /kb/try`), so
"try a question" shows exactly what the bot does, at the bot's own thresholds. A publish builds the index in a
child process (`kb_index.build_job`) and asks the action server to load it (`POST /kb/reload`).
"""

from __future__ import annotations

from typing import Any

from bot.clients.actions import ActionServerClient
from core.errors import CallError
from core.markdown import to_html, to_plain, to_telegram_html

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


class KnowledgeBaseUnreachable(Exception):
    """The action server could not say what the bot would do (not running, no index yet, no encoder)."""


class HubKnowledgeBase:
    """The live index as the studio sees it, through the action server (see the module doc)."""

    def __init__(self, actions: ActionServerClient) -> None:
        self.actions = actions

    async def try_question(self, text: str, language: str | None) -> dict[str, Any]:
        """The top entries for `text` with their scores, and the decision at the bot's thresholds
        (`kb_index.KnowledgeBase.explain`). Raises `KnowledgeBaseUnreachable` with what to do."""
        try:
            return await self.actions.kb_try(text, language)
        except CallError as exc:
            raise KnowledgeBaseUnreachable(_explain(exc)) from exc


def _explain(exc: CallError) -> str:
    """The action server's own reason when it gave one (no index: run `make kb`), else that it is not answering."""
    if exc.status is not None:
        return f"the action server cannot search the knowledge base: {exc.detail.split(': ', 1)[-1]}"
    return (f"the action server, which holds the knowledge base, is not answering ({exc.detail}): start it "
            "(`make run` starts everything) and try again")
