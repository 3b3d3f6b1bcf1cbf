"""E-mail through the hub: a real SMTP server on loopback (aiosmtpd) receives what aiosmtplib sends; the
inbound-parse webhook is posted as Mailgun (signed form), Postmark (JSON with Basic auth) and raw MIME post."""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient

from channel_support import AGENT, HubFactory, conversations, transcript, wait_until
from connectors.email.parse import parse_mime
from connectors.email.reply import latest_reply
from fakes.rasa import FakeRasa
from tests_support import free_port_dead

SECRET = "mailgun-signing-key"
SUPPORT = "support@brightcart.example"
HOOK = "/channels/email/inbound"


class Inbox:
    """An SMTP server that keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.changed = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's API
        with self.changed:
            self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
            self.changed.notify_all()
        return "250 OK"

    def wait(self, to: str, contains: str = "", timeout: float = 90.0) -> EmailMessage:
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for m in self.messages:
                    plain = m.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")
                    if to in str(m["To"]) and contains in plain:
                        return m
                if time.monotonic() > deadline:
                    seen = [m.get_body(preferencelist=("plain",)).get_content()[:200] for m in self.messages]
                    raise AssertionError(f"no e-mail to {to} containing {contains!r}: {seen}")
                self.changed.wait(0.2)


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    handler, port = Inbox(), free_port_dead()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


@pytest.fixture
def email_hub(make_hub: HubFactory, inbox: tuple[Inbox, int]) -> Any:
    def make(rasa_url: str | None = None, **overrides: Any) -> TestClient:
        return make_hub(rasa_url, **{"enabled_channels": ("web", "email"), "email_from": SUPPORT,
                                     "email_from_name": "Brightcart support", "smtp_host": "127.0.0.1",
                                     "smtp_port": inbox[1], "smtp_security": "none", "email_inbound_secret": SECRET,
                                     **overrides})
    return make


def mailgun(client: TestClient, *, sender: str, subject: str, text: str, message_id: str,
            in_reply_to: str | None = None, secret: str = SECRET, **extra: str) -> Any:
    timestamp, token = str(int(time.time())), f"tok{message_id}"
    form = {"sender": sender, "from": f"Ada Lovelace <{sender}>", "recipient": SUPPORT, "subject": subject,
            "body-plain": text, "Message-Id": message_id, "timestamp": timestamp, "token": token,
            "signature": hmac.new(secret.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest(),
            "X-Mailgun-Spf": "Pass", **extra}
    if in_reply_to:
        form["In-Reply-To"] = in_reply_to
        form["References"] = in_reply_to
    return client.post(HOOK, data=form)


def bot(sender: str, text: str) -> list[dict[str, Any]]:
    return [{"text": f"About **{text.splitlines()[0][:40]}**: see [the tracking page](https://brightcart.example/track).",
             "buttons": [{"title": "Talk to a person", "payload": "/request_human"}]}]


def test_an_email_gets_a_threaded_html_and_text_answer_and_the_reply_continues_the_conversation(
    email_hub: Any, inbox: tuple[Inbox, int]
) -> None:
    mails, _ = inbox
    with FakeRasa(bot) as rasa:
        client = email_hub(rasa.url)
        resp = mailgun(client, sender="ada@example.com", subject="Where is my order BC-1001?",
                       text="Hello, it has not arrived.\n\nAda", message_id="<first@mail.example.com>")
        assert resp.status_code == 200, resp.text
        answer = mails.wait("ada@example.com", "About")
        assert answer["Subject"] == "Re: Where is my order BC-1001?"
        assert answer["In-Reply-To"] == "<first@mail.example.com>"
        assert "<first@mail.example.com>" in answer["References"]
        assert answer["From"] == f"Brightcart support <{SUPPORT}>" and answer["Auto-Submitted"] == "auto-replied"
        plain = answer.get_body(preferencelist=("plain",)).get_content()
        html = answer.get_body(preferencelist=("html",)).get_content()
        assert "About Where is my order BC-1001?: see the tracking page: https://brightcart.example/track" in plain
        assert "1. Talk to a person" in plain
        assert "<strong>Where is my order BC-1001?</strong>" in html
        assert '<a href="https://brightcart.example/track" target="_blank"' in html
        unsubscribe = answer["List-Unsubscribe"].strip("<>")
        assert unsubscribe.startswith("https://support.example.test/unsubscribe?t=") and unsubscribe in plain
        assert answer["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

        reply = ("Thanks! Can you send it to my office instead?\n\n--\nAda Lovelace\nAnalytical Engines Ltd\n\n"
                 f"On Tue, 1 Dec 2026 at 10:00, Brightcart support <{SUPPORT}> wrote:\n> About Where is my order\n> see")
        mailgun(client, sender="ada@example.com", subject="Re: Where is my order BC-1001?", text=reply,
                message_id="<second@mail.example.com>", in_reply_to=answer["Message-ID"])
        rasa.wait_for(lambda calls: [c for c in calls if "office" in str(c.params.get("message"))], timeout=30)
        second = mails.wait("ada@example.com", "About Thanks!")
    assert second["In-Reply-To"] == "<second@mail.example.com>"
    assert answer["Message-ID"] in second["References"]
    assert len(conversations(client, "email", "ada@example.com")) == 1
    texts = [m["text"] for m in transcript(client, "email", "ada@example.com") if m["sender"] == "customer"]
    assert texts == ["Where is my order BC-1001?\n\nHello, it has not arrived.\n\nAda",
                     "Thanks! Can you send it to my office instead?"]  # quoted history and signature dropped


def test_replays_bad_signatures_and_malformed_posts(email_hub: Any, inbox: tuple[Inbox, int], rasa: FakeRasa) -> None:
    mails, _ = inbox
    client = email_hub(rasa.url)
    args = dict(sender="bob@example.com", subject="Hi", text="question", message_id="<same@mail.example.com>")
    assert mailgun(client, **args, secret="wrong").status_code == 403
    assert client.post(HOOK, data={"sender": "bob@example.com", "body-plain": "x"}).status_code == 403
    assert conversations(client, "email", "bob@example.com") == []
    assert mailgun(client, **args).status_code == 200
    assert mailgun(client, **args).status_code == 200  # the provider's retry
    mails.wait("bob@example.com", "You said")
    assert len([c for c in rasa.calls if c.path == "/webhooks/rest/webhook"]) == 1

    body = json.dumps({"Subject": "no sender"}).encode()
    basic = {"Authorization": "Basic " + base64.b64encode(f"inbound:{SECRET}".encode()).decode(),
             "Content-Type": "application/json"}
    bad = client.post(HOOK, content=body, headers=basic)
    assert bad.status_code == 400 and "not an e-mail" in bad.json()["detail"]
    assert client.post(HOOK, content=b"{not json", headers=basic).status_code == 400
    assert len(conversations(client, "email", "bob@example.com")) == 1


def test_postmark_json_with_an_attachment_and_raw_mime(email_hub: Any, inbox: tuple[Inbox, int], rasa: FakeRasa) -> None:
    mails, _ = inbox
    client = email_hub(rasa.url)
    basic = {"Authorization": "Basic " + base64.b64encode(f"postmark:{SECRET}".encode()).decode()}
    photo = b"\x89PNG\r\n\x1a\n" + b"\x01" * 500
    resp = client.post(HOOK, headers=basic, json={
        "FromFull": {"Email": "Carla@Example.com", "Name": "Carla"}, "Subject": "Broken item",
        "TextBody": "It arrived broken, photo attached.", "MessageID": "pm-1",
        "Headers": [{"Name": "Authentication-Results", "Value": "mx.example; dkim=pass header.d=example.com"}],
        "Attachments": [{"Name": "box.png", "ContentType": "image/png", "Content": base64.b64encode(photo).decode()}]})
    assert resp.status_code == 200, resp.text
    mails.wait("carla@example.com", "You said")
    [message] = [m for m in transcript(client, "email", "carla@example.com") if m["sender"] == "customer"]
    assert message["text"] == "Broken item\n\nIt arrived broken, photo attached."
    [item] = message["media"]
    assert client.get(f"/api/agent/media/{item['media_id']}", headers=AGENT).content == photo

    raw = EmailMessage()
    raw["From"], raw["To"], raw["Subject"], raw["Message-ID"] = "dan@example.com", SUPPORT, "Invoice", "<raw-1@x>"
    raw.set_content("Can I get an invoice?")
    raw.add_alternative("<p>Can I get an <b>invoice</b>?</p>", subtype="html")
    signature = "sha256=" + hmac.new(SECRET.encode(), raw.as_bytes(), hashlib.sha256).hexdigest()
    resp = client.post(HOOK, content=raw.as_bytes(), headers={"Content-Type": "message/rfc822",
                                                              "X-Webhook-Signature": signature})
    assert resp.status_code == 200
    mails.wait("dan@example.com", "You said: Can I get an invoice?")  # the subject is in the text already


def test_auto_replies_are_not_answered(email_hub: Any, inbox: tuple[Inbox, int], rasa: FakeRasa) -> None:
    client = email_hub(rasa.url)
    resp = mailgun(client, sender="eve@example.com", subject="Out of office", text="I am away until Monday.",
                   message_id="<ooo@x>", **{"message-headers": json.dumps([["Auto-Submitted", "auto-replied"]])})
    assert resp.json()["outcome"] == "ignored_auto_reply"
    assert conversations(client, "email", "eve@example.com") == []


def test_the_reply_parser_keeps_only_the_new_words() -> None:
    assert latest_reply("Sì, va bene.\n\nInviato da iPhone\n\nIl giorno lun 1 dic 2026 alle 10:00 Support "
                        "<s@x.com> ha scritto:\n> Vuole il rimborso?") == "Sì, va bene."
    assert latest_reply("> only a quote") == "> only a quote"  # nothing new: nothing lost either
    mail = EmailMessage()
    mail["From"] = "Zoe <ZOE@example.com>"
    mail["Subject"] = "x"
    mail.set_content("hi")
    assert parse_mime(mail.as_bytes()).sender == "zoe@example.com"


def test_imap_polling_takes_unseen_mail_once_and_marks_it_seen(email_hub: Any, inbox: tuple[Inbox, int],
                                                              rasa: FakeRasa) -> None:
    from fakes.imap_server import FakeImap

    mails, _ = inbox
    with FakeImap("support", "imap-pass") as imap:
        raw = EmailMessage()
        raw["From"], raw["To"], raw["Subject"], raw["Message-ID"] = "Fay <fay@example.com>", SUPPORT, "Hi", "<imap-1@x>"
        raw.set_content("Do you ship to Norway?\n\nOn Mon, Support wrote:\n> earlier")
        uid = imap.add(raw.as_bytes())
        client = email_hub(rasa.url, imap_host="127.0.0.1", imap_port=imap.port, imap_username="support",
                           imap_password="imap-pass", imap_security="none", imap_poll_s=0.2)
        mails.wait("fay@example.com", "You said: Hi\n\nDo you ship to Norway?")
        wait_until(lambda: imap.seen(uid))
        time.sleep(0.6)  # a few more polls: nothing is taken twice
    assert len([c for c in rasa.calls if c.path == "/webhooks/rest/webhook"]) == 1
    assert [m["text"] for m in transcript(client, "email", "fay@example.com") if m["sender"] == "customer"] == [
        "Hi\n\nDo you ship to Norway?"]
