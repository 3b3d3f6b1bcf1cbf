"""A hub message as an e-mail: HTML and plain-text parts from the same Markdown, threaded into the customer's
conversation, with an unsubscribe link.

Threading: `In-Reply-To` names the customer's latest e-mail and `References` the thread so far, and the subject
is theirs with "Re: " — mail clients file the answer under the customer's message, and the customer's next
reply names ours, so it lands in the same conversation. `Auto-Submitted: auto-replied` keeps auto-responders
from answering the bot's answers (RFC 3834); `List-Unsubscribe` (+ one-click, RFC 8058) lets mail clients
offer the unsubscribe button.
"""

from __future__ import annotations

import html
import uuid
from email.message import EmailMessage
from email.utils import formataddr, formatdate

from connectors.base import OutboundMessage
from connectors.notices import channel_text, numbered_options
from core.i18n import t
from core.markdown import to_html, to_plain

MAX_REFERENCES = 20


def new_message_id(domain: str) -> str:
    return f"<{uuid.uuid4().hex}@{domain}>"


def reply_subject(subject: str | None, language: str | None) -> str:
    subject = (subject or "").strip()
    if not subject:
        return t("email_subject", language)
    return subject if subject.lower().startswith(("re:", "r:", "aw:", "回复")) else f"Re: {subject}"


def compose(message: OutboundMessage, *, sender: str, sender_name: str, to: str, subject: str | None,
            in_reply_to: str | None, references: list[str], unsubscribe_url: str, message_id: str) -> EmailMessage:
    """The e-mail for one hub message (see the module doc)."""
    language = message.language
    markdown = message.signed_text()
    plain_parts = [to_plain(markdown)] if markdown else []
    html_parts = [to_html(markdown)] if markdown else []
    if message.buttons:
        plain_parts.append(numbered_options(message.buttons, language))
        items = "".join(f"<li>{html.escape(b.title)}</li>" for b in message.buttons)
        html_parts.append(f"<ol>{items}</ol><p>{html.escape(channel_text('reply_with_number', language))}</p>")
    for url in message.media_urls:
        plain_parts.append(url)
        html_parts.append(f'<p><a href="{html.escape(url, quote=True)}" target="_blank">{html.escape(url)}</a></p>')
    hint, unsubscribe = t("email_reply_hint", language), t("email_unsubscribe", language)
    plain_parts.append(f"--\n{hint}\n{unsubscribe}: {unsubscribe_url}")
    html_parts.append(f'<hr><p style="color:#5c6b85;font-size:12px">{html.escape(hint)}<br>'
                      f'<a href="{html.escape(unsubscribe_url, quote=True)}">{html.escape(unsubscribe)}</a></p>')

    mail = EmailMessage()
    mail["From"] = formataddr((sender_name, sender))
    mail["To"] = to
    mail["Subject"] = reply_subject(subject, language)
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = message_id
    if in_reply_to:
        mail["In-Reply-To"] = in_reply_to
    thread = [r for r in references if r][-MAX_REFERENCES:]
    if thread:
        mail["References"] = " ".join(thread)
    mail["Auto-Submitted"] = "auto-replied"
    mail["List-Unsubscribe"] = f"<{unsubscribe_url}>"
    mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    if language:
        mail["Content-Language"] = language
    mail.set_content("\n\n".join(plain_parts))
    body = "".join(html_parts)
    mail.add_alternative(f'<!doctype html><html lang="{html.escape(language or "en")}"><body style="font-family:'
                         f'system-ui,sans-serif;line-height:1.5;color:#1d2330">{body}</body></html>', subtype="html")
    return mail
