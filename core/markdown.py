"""Render answer Markdown for each channel.

- `to_plain`: SMS and e-mail's plain-text part — readable text, lists as "• item", links as "title: url".
- `to_whatsapp`: WhatsApp's own formatting — `*bold*`, `_italic_`, `~strike~`, ```` ```code``` ````, bare links
  (WhatsApp makes them clickable itself).
- `to_telegram_html`: Telegram's HTML parse mode — only b, i, s, a, code, pre; everything else escaped.
- `to_html`: the web widget and e-mail's HTML part — CommonMark with raw HTML disabled (it is shown as text),
  bare URLs made links (linkify), unsafe link schemes (javascript:, vbscript:, file:, most data:) dropped;
  links open in a new tab.

Every function takes an optional `base_url` that relative links ("/help/returns") are resolved against.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import urljoin

from markdown_it import MarkdownIt
from markdown_it.token import Token

log = logging.getLogger(__name__)

SAFE_SCHEMES = ("http://", "https://", "mailto:", "tel:", "tg://")

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("strikethrough")
# The web page's renderer also turns bare URLs into links (linkify-it-py); the text renderers keep them as text.
_web = MarkdownIt("commonmark", {"html": False, "linkify": True, "typographer": False}).enable(
    ["strikethrough", "linkify"])


def _link_open(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: dict[str, Any]) -> str:
    token = tokens[idx]
    href = _resolve(str(token.attrGet("href") or ""), env.get("base_url"))
    token.attrSet("href", href)
    if href.startswith(("http://", "https://")):
        token.attrSet("target", "_blank")
        token.attrSet("rel", "noopener noreferrer nofollow")
    return self.renderToken(tokens, idx, options, env)


_web.add_render_rule("link_open", _link_open)

_BLOCK = "\x00block"  # paragraph break (blank line)
_LINE = "\x00line"  # line break


def to_html(md: str, *, base_url: str | None = None) -> str:
    """Safe HTML for the web widget and e-mail."""
    return _web.render(md or "", {"base_url": base_url}).strip()


def to_plain(md: str, *, base_url: str | None = None) -> str:
    """Plain text for SMS and e-mail's text part."""
    return _Renderer("plain", base_url=base_url).render(md)


def to_whatsapp(md: str, *, base_url: str | None = None) -> str:
    """Text in WhatsApp's formatting (`*bold*`, `_italic_`, `~strike~`, monospace), links bare."""
    return _Renderer("whatsapp", base_url=base_url).render(md)


def to_telegram_html(md: str, *, base_url: str | None = None) -> str:
    """HTML for Telegram's ``parse_mode="HTML"`` (tags: b, i, s, a, code, pre)."""
    return _Renderer("telegram", base_url=base_url).render(md)


def _resolve(href: str, base_url: str | None) -> str:
    if base_url and not href.startswith(SAFE_SCHEMES) and ":" not in href.split("/")[0]:
        return urljoin(base_url.rstrip("/") + "/", href.lstrip("/") if href.startswith("/") else href)
    return href


# WhatsApp's markers for the tags the renderer writes (pre is a block of ``` lines).
_WHATSAPP = {"b": ("*", "*"), "i": ("_", "_"), "s": ("~", "~"), "code": ("```", "```"), "pre": ("```\n", "\n```")}


class _Renderer:
    """Walks markdown-it tokens and writes plain text, WhatsApp's formatting or Telegram HTML."""

    def __init__(self, style: str, *, base_url: str | None):
        self.style = style
        self.telegram = style == "telegram"
        self.base_url = base_url

    def esc(self, text: str) -> str:
        return html.escape(text, quote=False) if self.telegram else text

    def tag(self, name: str, content: str) -> str:
        if not content.strip():
            return content
        if self.telegram:
            return f"<{name}>{content}</{name}>"
        if self.style == "whatsapp":
            # WhatsApp only formats a marker that touches a word: "*bold *" stays as typed.
            lead, core, trail = _split_space(content)
            before, after = _WHATSAPP[name]
            return f"{lead}{before}{core}{after}{trail}"
        return content

    def render(self, md: str) -> str:
        pieces: list[str] = []
        lists: list[list[Any]] = []  # [ordered, next number]
        prefix = ""
        heading = False
        for token in _md.parse(md or ""):
            kind = token.type
            if kind in ("bullet_list_open", "ordered_list_open"):
                start = token.attrGet("start")
                lists.append([kind == "ordered_list_open", int(start) if start is not None else 1])
                pieces.append(_LINE)
            elif kind in ("bullet_list_close", "ordered_list_close"):
                lists.pop()
                pieces.append(_BLOCK if not lists else _LINE)
            elif kind == "list_item_open":
                ordered, number = lists[-1]
                lists[-1][1] += 1
                marker = f"{number}." if ordered else "•"
                pieces.append(_LINE)
                prefix = "   " * (len(lists) - 1) + marker + " "
            elif kind == "heading_open":
                heading = True
            elif kind == "heading_close":
                heading = False
                pieces.append(_BLOCK)
            elif kind == "inline":
                text = self.inline(token.children or [])
                pieces.append(prefix + (self.tag("b", text) if heading else text))
                prefix = ""
            elif kind == "paragraph_close" and not token.hidden:
                pieces.append(_BLOCK)
            elif kind in ("fence", "code_block"):
                code = token.content.rstrip("\n")
                pieces.append(prefix + (self.tag("pre", self.esc(code)) if self.style != "plain" else code))
                prefix = ""
                pieces.append(_BLOCK)
            elif kind == "hr":
                pieces.extend([_BLOCK, "——————", _BLOCK])
        return _join(pieces)

    def inline(self, children: Sequence[Token]) -> str:
        stack: list[list[str]] = [[]]
        links: list[str] = []
        for child in children:
            kind = child.type
            out = stack[-1]
            if kind == "text":
                out.append(self.esc(child.content))
            elif kind == "code_inline":
                out.append(self.tag("code", self.esc(child.content)))
            elif kind == "softbreak":
                out.append(" ")
            elif kind == "hardbreak":
                out.append("\n")
            elif kind in ("strong_open", "em_open", "s_open"):
                stack.append([])
            elif kind in ("strong_close", "em_close", "s_close"):
                content = "".join(stack.pop())
                stack[-1].append(self.tag({"strong_close": "b", "em_close": "i", "s_close": "s"}[kind], content))
            elif kind == "link_open":
                links.append(_resolve(str(child.attrGet("href") or ""), self.base_url))
                stack.append([])
            elif kind == "link_close":
                content = "".join(stack.pop())
                stack[-1].append(self.link(content, links.pop()))
            elif kind == "image":
                alt = self.esc(child.content or "image")
                stack[-1].append(self.link(alt, _resolve(str(child.attrGet("src") or ""), self.base_url)))
            elif kind == "html_inline":  # not produced with html disabled; kept as text for safety
                out.append(self.esc(child.content))
        while len(stack) > 1:  # unbalanced markup: keep the text
            content = "".join(stack.pop())
            stack[-1].append(content)
        return "".join(stack[0])

    def link(self, text: str, href: str) -> str:
        safe = href.startswith(SAFE_SCHEMES)
        if self.telegram:
            if not safe:
                return text
            return f'<a href="{html.escape(href, quote=True)}">{text or html.escape(href)}</a>'
        shown = href.split(":", 1)[1] if href.startswith(("mailto:", "tel:")) else href
        if not href or not text:
            return text or shown
        if text.strip() in (href, shown) or not safe:
            return text if not safe else shown
        return f"{text}: {shown}"


def _split_space(text: str) -> tuple[str, str, str]:
    core = text.strip()
    start = text.index(core[0]) if core else 0
    return text[:start], core, text[start + len(core):]


def _join(pieces: list[str]) -> str:
    out: list[str] = []
    pending = ""
    for piece in pieces:
        if piece == _BLOCK:
            pending = "\n\n"
        elif piece == _LINE:
            pending = pending or "\n"
        elif piece:
            if out and pending:
                out.append(pending)
            pending = ""
            out.append(piece)
    return "".join(out).strip()
