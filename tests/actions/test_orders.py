"""Order status: form validation and the order-system lookup against a real local HTTP server."""

from __future__ import annotations


import time
from typing import Any

import pytest
from starlette.testclient import TestClient

from actions.common import find_order_number, normalize_order_number
from actions.orders import LOOKUP_ATTEMPTS, describe_order
from actions.server import create_app
from core.settings import ActionSettings
from tests.actions.support import Conversation, OrderServer, custom_of, slot_events


def run(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/webhook", json=body)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture()
def client(settings: ActionSettings, order_server: OrderServer, broken_holder: Any) -> TestClient:
    app = create_app(holder=broken_holder, settings=settings.replace(order_api_url=order_server.url), warm_up=False)
    with TestClient(app) as test_client:
        yield test_client


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("BC-123456", "BC-123456"),
        ("bc123456", "BC-123456"),
        ("BC 123456", "BC-123456"),
        ("#123456", "BC-123456"),
        ("# 123456", "BC-123456"),
        ("123456", "BC-123456"),
        (" BC-123456. ", "BC-123456"),
        ("BC-12345", None),
        ("1234567", None),
        ("BC-1234567", None),
        ("hello", None),
        (None, None),
    ],
)
def test_normalize_order_number(raw: str | None, expected: str | None) -> None:
    assert normalize_order_number(raw) == expected


def test_find_order_number_in_free_text() -> None:
    assert find_order_number("hi, my order is #554201 and it's late") == "BC-554201"
    assert find_order_number("it's bc-650981 thanks") == "BC-650981"
    assert find_order_number("call me on 0044123456789") is None
    assert find_order_number("no number here") is None


def test_happy_path_shipped_order(client: TestClient, domain: dict[str, Any], order_server: OrderServer) -> None:
    conv = Conversation().user("where is my order #123456?", "order_status", entities=[{"entity": "order_number", "value": "#123456"}])
    conv.slot("order_number", "BC-123456")
    result = run(client, conv.call("action_order_status", domain))
    assert order_server.requests == ["/api/orders/BC-123456"]
    [message] = result["responses"]
    assert "BC-123456" in message["text"] and "shipped with DHL" in message["text"]
    assert "Wednesday 25 November 2026" in message["text"]
    assert "https://track.example/DHL/00340434" in message["text"]
    assert "2 × USB-C cable" in message["text"]
    assert custom_of(result, "handoff") is None
    assert slot_events(result)["order_number"] == "BC-123456"


def test_order_number_is_normalised_before_lookup(client: TestClient, domain: dict[str, Any], order_server: OrderServer) -> None:
    conv = Conversation(slots={"order_number": "222222"}).user("222222", "inform")
    result = run(client, conv.call("action_order_status", domain))
    assert order_server.requests == ["/api/orders/BC-222222"]
    assert "being prepared" in result["responses"][0]["text"]


def test_unknown_order_says_so_and_forgets_the_number(client: TestClient, domain: dict[str, Any],
                                                     order_server: OrderServer) -> None:
    conv = Conversation(slots={"order_number": "BC-999999"}).user("BC-999999", "inform")
    result = run(client, conv.call("action_order_status", domain))
    assert order_server.requests == ["/api/orders/BC-999999"]  # an answer, not a failure: asked once
    [message] = result["responses"]
    assert message["response"] == "utter_order_not_found"
    assert message["order_number"] == "BC-999999"
    assert slot_events(result)["order_number"] is None
    assert custom_of(result, "handoff") is None


def test_order_system_error_hands_over(client: TestClient, domain: dict[str, Any]) -> None:
    conv = Conversation(slots={"order_number": "BC-500500"}).user("BC-500500", "inform")
    result = run(client, conv.call("action_order_status", domain))
    assert [r.get("response") for r in result["responses"]] == ["utter_order_system_down", "utter_handoff"]
    handoff = custom_of(result, "handoff")
    assert handoff["reason"] == "action_failed"
    assert handoff["details"]["order_number"] == "BC-500500"
    assert "500" in handoff["details"]["error"]


def test_a_blip_of_the_order_system_is_retried(client: TestClient, domain: dict[str, Any],
                                              order_server: OrderServer) -> None:
    conv = Conversation(slots={"order_number": "BC-503503"}).user("BC-503503", "inform")
    result = run(client, conv.call("action_order_status", domain))
    assert order_server.requests == ["/api/orders/BC-503503"] * 2  # 503, then the answer
    assert "BC-503503" in result["responses"][0]["text"] and custom_of(result, "handoff") is None


def test_a_failing_order_system_is_tried_a_few_times_then_handed_over(client: TestClient, domain: dict[str, Any],
                                                                      order_server: OrderServer) -> None:
    conv = Conversation(slots={"order_number": "BC-500500"}).user("BC-500500", "inform")
    result = run(client, conv.call("action_order_status", domain))
    assert order_server.requests == ["/api/orders/BC-500500"] * LOOKUP_ATTEMPTS
    assert custom_of(result, "handoff")["reason"] == "action_failed"


def test_order_system_timeout_hands_over(settings: ActionSettings, order_server: OrderServer, broken_holder: Any, domain: dict[str, Any]) -> None:
    app = create_app(
        holder=broken_holder,
        settings=settings.replace(order_api_url=order_server.url, order_api_timeout_s=0.3),
        warm_up=False,
    )
    conv = Conversation(slots={"order_number": "BC-777777"}).user("BC-777777", "inform")
    started = time.monotonic()
    with TestClient(app) as test_client:
        result = run(test_client, conv.call("action_order_status", domain))
    assert custom_of(result, "handoff")["reason"] == "action_failed"
    # The budget is for the whole lookup: no second wait once it is spent (the server takes 3 s).
    assert order_server.requests == ["/api/orders/BC-777777"] and time.monotonic() - started < 2.5


def test_order_system_down_hands_over(settings: ActionSettings, order_server: OrderServer, broken_holder: Any, domain: dict[str, Any]) -> None:
    url = order_server.url
    order_server.stop()  # nothing listens on that port any more
    app = create_app(holder=broken_holder, settings=settings.replace(order_api_url=url), warm_up=False)
    conv = Conversation(slots={"order_number": "BC-123456"}).user("where is BC-123456", "order_status")
    with TestClient(app) as test_client:
        result = run(test_client, conv.call("action_order_status", domain))
    first = result["responses"][0]
    assert first["response"] == "utter_order_system_down" and first["order_number"] == "BC-123456"
    handoff = custom_of(result, "handoff")
    assert handoff["reason"] == "action_failed"
    assert "order system" in handoff["summary"]
    assert slot_events(result)["order_number"] == "BC-123456"


# --- the form ------------------------------------------------------------------------------------------


def form_turn(conv: Conversation) -> Conversation:
    conv.active_loop = {"name": "order_status_form"}
    conv.slots["requested_slot"] = "order_number"
    return conv


def test_form_accepts_entity_and_normalises(client: TestClient, domain: dict[str, Any]) -> None:
    conv = form_turn(Conversation()).user("#123456", "inform", entities=[{"entity": "order_number", "value": "#123456"}])
    result = run(client, conv.call("validate_order_status_form", domain))
    assert slot_events(result) == {"order_number": "BC-123456"}
    assert result["responses"] == []


def test_form_finds_number_in_free_text(client: TestClient, domain: dict[str, Any]) -> None:
    conv = form_turn(Conversation()).user("oh sure it's bc 654321 I think", "inform")
    result = run(client, conv.call("validate_order_status_form", domain))
    assert slot_events(result) == {"order_number": "BC-654321"}


def test_form_reasks_clearly_for_an_invalid_number(client: TestClient, domain: dict[str, Any]) -> None:
    conv = form_turn(Conversation()).user("BC-12345", "inform")
    result = run(client, conv.call("validate_order_status_form", domain))
    assert slot_events(result) == {"order_number": None}
    [message] = result["responses"]
    assert message["response"] == "utter_order_number_invalid"
    assert message["value"] == "BC-12345"


def test_form_leaves_unrelated_text_to_the_rules(client: TestClient, domain: dict[str, Any]) -> None:
    conv = form_turn(Conversation()).user("I don't know it, can I talk to someone", "request_human")
    result = run(client, conv.call("validate_order_status_form", domain))
    assert slot_events(result) == {}
    assert result["responses"] == []


def test_describe_order_unknown_status_and_missing_fields() -> None:
    text = describe_order({"order_number": "123456", "status": "On Hold"})
    assert text == "Order BC-123456 has the status \u201cOn Hold\u201d."


# --- languages -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "language, status_line, date_line, tracking_line",
    [
        ("it", "Buone notizie: l'ordine BC-123456 è stato spedito con DHL.", "Consegna prevista: mercoledì 25 novembre 2026.", "Puoi seguire il tuo pacco qui: https://track.example/DHL/00340434"),
        ("zh", "好消息：您的订单 BC-123456 已发货（承运商：DHL）。", "预计送达时间：2026年11月25日 星期三。", "您可以在此查询包裹物流：https://track.example/DHL/00340434"),
        ("ro", "Vești bune: comanda BC-123456 a fost expediată prin DHL.", "Data estimată de livrare: miercuri, 25 noiembrie 2026.", "Puteți urmări coletul aici: https://track.example/DHL/00340434"),
        ("xx", "Good news: order BC-123456 has shipped with DHL.", "Expected delivery: Wednesday 25 November 2026.", "Track your parcel here: https://track.example/DHL/00340434"),
    ],
)
def test_order_status_is_told_in_the_conversation_language(
    client: TestClient, domain: dict[str, Any], language: str, status_line: str, date_line: str, tracking_line: str
) -> None:
    conv = Conversation(slots={"order_number": "BC-123456"}).user("BC-123456", "order_status", metadata={"language": language})
    result = run(client, conv.call("action_order_status", domain))
    [message] = result["responses"]
    lines = message["text"].split("\n")
    assert lines[0] == status_line
    assert lines[1] == date_line
    assert lines[2] == tracking_line


@pytest.mark.parametrize(
    "language, expected",
    [
        ("it", "L'ordine BC-654321 è stato consegnato con GLS.\nData di consegna: domenica 1 marzo 2026."),
        ("zh-CN", "您的订单 BC-654321 已送达（承运商：GLS）。\n送达时间：2026年3月1日 星期日。"),
        ("ro", "Comanda BC-654321 a fost livrată prin GLS.\nData livrării: duminică, 1 martie 2026."),
        ("de", "Order BC-654321 was delivered with GLS.\nDelivered on Sunday 1 March 2026."),
    ],
)
def test_describe_delivered_order_per_language(language: str, expected: str) -> None:
    order = {"order_number": "654321", "status": "delivered", "carrier": "GLS", "delivered_at": "2026-03-01T10:12:00Z"}
    assert describe_order(order, language) == expected


def test_describe_order_items_and_unknown_status_per_language() -> None:
    order = {"order_number": "123456", "status": "processing", "items": [{"name": "Mug", "quantity": 2}, "Tea"]}
    assert describe_order(order, "zh").endswith("商品：2 × Mug、Tea。")
    assert describe_order(order, "it").endswith("Articoli: 2 × Mug, Tea.")
    assert describe_order({"order_number": "123456", "status": "On Hold"}, "ro") == "Comanda BC-123456 are statusul \u201eOn Hold\u201d."
