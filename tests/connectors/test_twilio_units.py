"""Twilio without a hub: `parse.py` (form posts → messages) and `errors.py` (failures of the real twilio `Client`
and its httpx transport, against the fake Twilio API, → the `core.errors` taxonomy)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from twilio.rest import Client

from channel_support import TW_SID, TW_TOKEN, WA_FROM
from connectors.base import Button
from connectors.twilio.errors import from_twilio_error
from connectors.notices import chosen_button
from connectors.twilio.parse import BadForm, StatusUpdate, customer, parse_message, parse_status
from connectors.twilio.transport import HttpxTwilioClient
from core.errors import CallError, Permanent, RateLimited, Retryable, Unconfirmed
from fakes.twilio_api import FakeTwilio


def form(**fields: str) -> dict[str, str]:
    return {"MessageSid": "SM1", "From": "whatsapp:+393331112222", "To": WA_FROM, "NumMedia": "0", **fields}


# -- parse.py ---------------------------------------------------------------------------------------

def test_a_text_message_names_the_customer_without_the_whatsapp_prefix() -> None:
    msg = parse_message(form(Body="where is my order?", ProfileName="Bruno"), channel="whatsapp")
    assert msg is not None
    assert (msg.channel, msg.external_user_id, msg.external_id, msg.text, msg.kind, msg.customer_name) == \
        ("whatsapp", "+393331112222", "SM1", "where is my order?", "text", "Bruno")
    sms = parse_message({"SmsMessageSid": "SM2", "From": "+15551234567", "Body": "hi"}, channel="sms")
    assert sms is not None and (sms.external_user_id, sms.external_id, sms.customer_name) == ("+15551234567", "SM2", None)


def test_template_buttons_locations_and_media() -> None:
    button = parse_message(form(Body="Yes", ButtonPayload="/affirm", ButtonText="Yes please"), channel="whatsapp")
    assert button is not None and (button.kind, button.text, button.payload) == \
        ("button", "Yes please", {"payload": "/affirm"})
    where = parse_message(form(Latitude="45.4642", Longitude="9.19", Label="Home"), channel="whatsapp")
    assert where is not None and where.text == "[location 45.46420, 9.19000]"
    assert where.payload == {"latitude": 45.4642, "longitude": 9.19, "label": "Home"}
    assert parse_message(form(Latitude="north", Longitude="9.19"), channel="whatsapp") is None
    media = parse_message(form(NumMedia="2", MediaUrl0="https://m/1", MediaContentType0="image/jpeg",
                               MediaUrl1="https://m/2", MediaContentType1=""), channel="whatsapp")
    assert media is not None and media.kind == "media" and media.text == "[media: image/jpeg, file]"
    assert [m["url"] for m in media.payload["media"]] == ["https://m/1", "https://m/2"]


@pytest.mark.parametrize("bad", [{"Body": "no sid or sender"}, {"MessageSid": "SMx", "Body": "no sender"},
                                 {"MessageSid": "SMy", "From": "whatsapp:+1555", "NumMedia": "lots"}])
def test_forms_twilio_would_not_send_are_refused(bad: dict[str, str]) -> None:
    with pytest.raises(BadForm):
        parse_message(bad, channel="whatsapp")
    if "From" not in bad:
        with pytest.raises(BadForm):
            customer(bad)


def test_a_number_picks_a_button_of_the_last_list() -> None:
    offered = (Button("Track my order", "/track_order"), Button("Returns", "/returns"))
    assert chosen_button("2", offered) == offered[1]
    assert chosen_button(" 1. ", offered) == offered[0] and chosen_button("1)", offered) == offered[0]
    assert chosen_button("3", offered) is None and chosen_button("0", offered) is None
    assert chosen_button("2 please", offered) is None and chosen_button("2", ()) is None


def test_status_callbacks() -> None:
    assert parse_status({"MessageSid": "SM9", "MessageStatus": "Delivered"}) == StatusUpdate("SM9", "delivered")
    failed = parse_status({"SmsSid": "SM9", "SmsStatus": "failed", "ErrorCode": "63019", "ErrorMessage": "no"})
    assert failed == StatusUpdate("SM9", "failed", "63019", "no")
    with pytest.raises(BadForm):
        parse_status({"MessageSid": "SM9"})


# -- errors.py --------------------------------------------------------------------------------------

@pytest.fixture
def api() -> Iterator[FakeTwilio]:
    with FakeTwilio(TW_SID, TW_TOKEN) as fake:
        yield fake


async def failure(base_url: str, timeout_s: float = 5.0) -> Exception:
    http = HttpxTwilioClient(timeout_s=timeout_s)
    client = Client(TW_SID, TW_TOKEN, http_client=http)
    client.api.base_url = base_url
    try:
        await client.messages.create_async(to="whatsapp:+393331112222", from_=WA_FROM, body="hi")
    except Exception as exc:  # noqa: BLE001 - whatever the library raises is what is mapped
        return exc
    finally:
        await http.aclose()
    raise AssertionError("the call succeeded")


def mapped(exc: Exception) -> CallError:
    error = from_twilio_error(exc)
    assert error is not None and error.service == "twilio"
    return error


async def test_rate_limits_keep_twilios_retry_after(api: FakeTwilio) -> None:
    api.fail(429, retry_after=7, code=20429, message="Too Many Requests")
    error = mapped(await failure(api.url))
    assert isinstance(error, RateLimited) and error.retry_after == 7.0


async def test_5xx_is_retryable_and_4xx_is_permanent_with_twilios_error_code(api: FakeTwilio) -> None:
    api.fail(503)
    assert isinstance(mapped(await failure(api.url)), Retryable)
    api.fail(400, code=21211, message="Invalid 'To' Phone Number")
    error = mapped(await failure(api.url))
    assert isinstance(error, Permanent) and "21211" in error.detail and error.status == 400


async def test_transport_failures_say_whether_the_request_may_have_arrived() -> None:
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        assert isinstance(mapped(await failure(f"http://127.0.0.1:{port}", timeout_s=0.3)), Unconfirmed)
    assert isinstance(mapped(await failure(f"http://127.0.0.1:{port}")), Retryable)  # nobody listens now


def test_anything_else_is_not_a_call_failure() -> None:
    assert from_twilio_error(ValueError("a bug in the connector")) is None
