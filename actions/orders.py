"""Order status: the ``order_status_form`` validation and ``action_order_status``.

The form collects one slot, ``order_number``. Customers write it as ``BC-123456``, ``#123456`` or
``123456``, in a sentence or alone; the validator normalises every accepted spelling to ``BC-123456``
and re-asks precisely when something that looks like an attempt is not a valid number.

``action_order_status`` asks the order system, ``GET {Settings.order_api}/orders/{order_number}``:

- 200: ``{"order_number", "status", "carrier", "tracking_url", "eta", "items": [...]}`` → a status line;
- 404: the number is unknown → says so and forgets the number, so the next request asks again;
- anything else (connection refused, timeout, 5xx, unreadable JSON) → the order system is unreachable:
  an apology and a handoff (``action_failed``) so a person can look the order up.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any
from urllib.parse import quote

import requests
from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import (
    ORDER_NUMBER_SLOT,
    REASON_ACTION_FAILED,
    conversation_language,
    entity_values,
    find_order_number,
    find_order_number_attempt,
    language_events,
    normalize_order_number,
    send_handoff,
)
from bot.config import Settings

logger = logging.getLogger(__name__)

# Customer-facing lines by language (a missing language or key falls back to English).
_STATUS_LINES: dict[str, dict[str, str]] = {
    "en": {
        "pending": "Order {order_number} has been received and is waiting for payment confirmation.",
        "processing": "Order {order_number} is being prepared in our warehouse and hasn't shipped yet.",
        "packed": "Order {order_number} is packed and will be handed to the carrier shortly.",
        "shipped": "Good news: order {order_number} has shipped{carrier}.",
        "in_transit": "Order {order_number} is on its way{carrier}.",
        "out_for_delivery": "Order {order_number} is out for delivery today{carrier}.",
        "delivered": "Order {order_number} was delivered{carrier}.",
        "cancelled": "Order {order_number} has been cancelled. If you paid, the refund goes back to your original payment method.",
        "returned": "Order {order_number} has been returned to us.",
        "unknown": "Order {order_number} has the status \u201c{status}\u201d.",
        "carrier": " with {carrier}",
        "eta": "Expected delivery: {eta}.",
        "delivered_on": "Delivered on {eta}.",
        "tracking": "Track your parcel here: {tracking_url}",
        "items": "Items: {items}.",
        "item_separator": ", ",
    },
    "it": {
        "pending": "L'ordine {order_number} è stato ricevuto ed è in attesa della conferma del pagamento.",
        "processing": "L'ordine {order_number} è in preparazione nel nostro magazzino e non è ancora stato spedito.",
        "packed": "L'ordine {order_number} è stato imballato e verrà affidato a breve al corriere.",
        "shipped": "Buone notizie: l'ordine {order_number} è stato spedito{carrier}.",
        "in_transit": "L'ordine {order_number} è in viaggio{carrier}.",
        "out_for_delivery": "L'ordine {order_number} è in consegna oggi{carrier}.",
        "delivered": "L'ordine {order_number} è stato consegnato{carrier}.",
        "cancelled": "L'ordine {order_number} è stato annullato. Se hai già pagato, riceverai il rimborso sul metodo di pagamento che hai usato.",
        "returned": "L'ordine {order_number} ci è stato restituito.",
        "unknown": "L'ordine {order_number} è nello stato \u201c{status}\u201d.",
        "carrier": " con {carrier}",
        "eta": "Consegna prevista: {eta}.",
        "delivered_on": "Data di consegna: {eta}.",
        "tracking": "Puoi seguire il tuo pacco qui: {tracking_url}",
        "items": "Articoli: {items}.",
    },
    "zh": {
        "pending": "您的订单 {order_number} 已收到，正在等待付款确认。",
        "processing": "您的订单 {order_number} 正在我们的仓库中备货，尚未发货。",
        "packed": "您的订单 {order_number} 已打包完毕，即将交给承运商。",
        "shipped": "好消息：您的订单 {order_number} 已发货{carrier}。",
        "in_transit": "您的订单 {order_number} 正在运输途中{carrier}。",
        "out_for_delivery": "您的订单 {order_number} 今天正在派送{carrier}。",
        "delivered": "您的订单 {order_number} 已送达{carrier}。",
        "cancelled": "您的订单 {order_number} 已取消。如果您已付款，退款将退回到您原来的付款方式。",
        "returned": "您的订单 {order_number} 已退回给我们。",
        "unknown": "您的订单 {order_number} 的状态为\u201c{status}\u201d。",
        "carrier": "（承运商：{carrier}）",
        "eta": "预计送达时间：{eta}。",
        "delivered_on": "送达时间：{eta}。",
        "tracking": "您可以在此查询包裹物流：{tracking_url}",
        "items": "商品：{items}。",
        "item_separator": "、",
    },
    "ro": {
        "pending": "Comanda {order_number} a fost primită și așteaptă confirmarea plății.",
        "processing": "Comanda {order_number} este în curs de pregătire în depozitul nostru și nu a fost încă expediată.",
        "packed": "Comanda {order_number} a fost ambalată și va fi predată în curând curierului.",
        "shipped": "Vești bune: comanda {order_number} a fost expediată{carrier}.",
        "in_transit": "Comanda {order_number} este în tranzit{carrier}.",
        "out_for_delivery": "Comanda {order_number} va fi livrată astăzi{carrier}.",
        "delivered": "Comanda {order_number} a fost livrată{carrier}.",
        "cancelled": "Comanda {order_number} a fost anulată. Dacă ați plătit deja, suma vă va fi rambursată prin metoda de plată folosită inițial.",
        "returned": "Comanda {order_number} ne-a fost returnată.",
        "unknown": "Comanda {order_number} are statusul \u201e{status}\u201d.",
        "carrier": " prin {carrier}",
        "eta": "Data estimată de livrare: {eta}.",
        "delivered_on": "Data livrării: {eta}.",
        "tracking": "Puteți urmări coletul aici: {tracking_url}",
        "items": "Produse: {items}.",
    },
}

# Dates by language, independent of the system locale: (pattern, weekdays Monday first, months January first).
_DATE_FORMATS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "en": (
        "{weekday} {day} {month} {year}",
        ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
        ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"),
    ),
    "it": (
        "{weekday} {day} {month} {year}",
        ("lunedì", "martedì", "mercoledì", "giovedì", "venerdì", "sabato", "domenica"),
        ("gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto", "settembre", "ottobre", "novembre", "dicembre"),
    ),
    "zh": (
        "{year}年{month}月{day}日 {weekday}",
        ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日"),
        tuple(str(month) for month in range(1, 13)),
    ),
    "ro": (
        "{weekday}, {day} {month} {year}",
        ("luni", "marți", "miercuri", "joi", "vineri", "sâmbătă", "duminică"),
        ("ianuarie", "februarie", "martie", "aprilie", "mai", "iunie", "iulie", "august", "septembrie", "octombrie", "noiembrie", "decembrie"),
    ),
}
_STATUSES = frozenset(
    {"pending", "processing", "packed", "shipped", "in_transit", "out_for_delivery", "delivered", "cancelled", "returned"}
)
_ETA_STATUSES = frozenset({"pending", "processing", "packed", "shipped", "in_transit", "out_for_delivery"})
_CARRIER_STATUSES = frozenset({"shipped", "in_transit", "out_for_delivery", "delivered"})


class OrderLookupError(Exception):
    """The order system could not be asked or gave an unusable answer."""


class OrderNotFound(Exception):
    """The order system does not know the order number."""


def _language_key(language: str | None) -> str:
    """The `_STATUS_LINES` key for a language code (``it``, ``zh-CN``, ``ro_RO``…); English if unknown."""
    code = (language or "").strip().lower().replace("_", "-")
    for key in (code, code.partition("-")[0]):
        if key in _STATUS_LINES:
            return key
    return "en"


def _format_date(value: Any, language: str = "en") -> str:
    """``2026-11-25`` → ``Wednesday 25 November 2026`` (or the `language` form); unparsable text is returned unchanged."""
    text = str(value or "").strip()
    try:
        day = dt.date.fromisoformat(text[:10])
    except ValueError:
        return text
    pattern, weekdays, months = _DATE_FORMATS.get(_language_key(language), _DATE_FORMATS["en"])
    return pattern.format(weekday=weekdays[day.weekday()], day=day.day, month=months[day.month - 1], year=day.year)


def _item_names(items: Any, separator: str = ", ") -> str:
    names: list[str] = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            name = item.get("name") or item.get("title") or item.get("sku")
            quantity = item.get("quantity") or item.get("qty")
            if name:
                names.append(f"{quantity} × {name}" if quantity and quantity != 1 else str(name))
        elif isinstance(item, str):
            names.append(item)
    return separator.join(names)


def describe_order(order: dict[str, Any], language: str = "en") -> str:
    """The customer-facing status text for an order record from the order system."""
    language = _language_key(language)
    lines = {**_STATUS_LINES["en"], **_STATUS_LINES[language]}
    number = normalize_order_number(order.get("order_number")) or str(order.get("order_number") or "")
    status = str(order.get("status") or "unknown").strip().lower().replace(" ", "_").replace("-", "_")
    carrier = str(order.get("carrier") or "").strip()
    carrier_part = lines["carrier"].format(carrier=carrier) if carrier and status in _CARRIER_STATUSES else ""
    template = lines[status] if status in _STATUSES else lines["unknown"]
    parts = [template.format(order_number=number, carrier=carrier_part, status=order.get("status"))]
    eta = order.get("eta") or order.get("delivered_at")
    if eta and status in _ETA_STATUSES:
        parts.append(lines["eta"].format(eta=_format_date(eta, language)))
    elif order.get("delivered_at") and status == "delivered":
        parts.append(lines["delivered_on"].format(eta=_format_date(order["delivered_at"], language)))
    tracking_url = str(order.get("tracking_url") or "").strip()
    if tracking_url and status in _CARRIER_STATUSES:
        parts.append(lines["tracking"].format(tracking_url=tracking_url))
    items = _item_names(order.get("items"), lines["item_separator"])
    if items:
        parts.append(lines["items"].format(items=items))
    return "\n".join(parts)


class OrderClient:
    """A small client for the order system's ``GET /orders/{order_number}``."""

    def __init__(self, settings: Settings, session: requests.Session | None = None) -> None:
        self.base_url = settings.order_api.rstrip("/")
        self.timeout_s = settings.order_api_timeout_s
        self.session = session or requests.Session()

    def get_order(self, order_number: str) -> dict[str, Any]:
        """The order record; `OrderNotFound` for 404, `OrderLookupError` for anything unusable."""
        url = f"{self.base_url}/orders/{quote(order_number, safe='')}"
        try:
            response = self.session.get(url, timeout=self.timeout_s, headers={"Accept": "application/json"})
        except requests.RequestException as exc:
            raise OrderLookupError(f"GET {url} failed: {exc.__class__.__name__}: {exc}") from exc
        if response.status_code == 404:
            raise OrderNotFound(order_number)
        if response.status_code != 200:
            raise OrderLookupError(f"GET {url} answered {response.status_code}")
        try:
            data = response.json()
        except ValueError as exc:
            raise OrderLookupError(f"GET {url} answered with invalid JSON") from exc
        if not isinstance(data, dict):
            raise OrderLookupError(f"GET {url} answered with {type(data).__name__}, not an object")
        return data


class ValidateOrderStatusForm(FormValidationAction):
    """Validates ``order_number`` for ``order_status_form`` and finds it in free text."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def name(self) -> str:
        return "validate_order_status_form"

    async def extract_order_number(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """While the form asks for the number, take it from the text when the NLU found no entity.

        A number-like attempt that is not valid ("BC-12345") is passed on too, so that validation can say
        precisely what is wrong; text without any attempt leaves the slot alone (the form then lets the
        rules handle the message, e.g. "I want a person").
        """
        if tracker.get_slot("requested_slot") != ORDER_NUMBER_SLOT:
            return {}
        if entity_values(tracker, ORDER_NUMBER_SLOT):
            return {}
        text = (tracker.latest_message or {}).get("text") or ""
        if text.startswith("/"):
            return {}
        found = find_order_number(text) or find_order_number_attempt(text)
        return {ORDER_NUMBER_SLOT: found} if found else {}

    def validate_order_number(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """Normalise to ``BC-123456``, or reject with a clear explanation."""
        if isinstance(slot_value, list):  # several entities in one message: take the first valid one
            slot_value = next((v for v in slot_value if normalize_order_number(v)), slot_value[0] if slot_value else None)
        normalized = normalize_order_number(slot_value) or find_order_number(str(slot_value or ""))
        if normalized:
            return {ORDER_NUMBER_SLOT: normalized}
        dispatcher.utter_message(response="utter_order_number_invalid", value=str(slot_value or "").strip()[:40])
        return {ORDER_NUMBER_SLOT: None}


class ActionOrderStatus(Action):
    """Looks the order up in the order system and tells the customer where it is."""

    def __init__(self, settings: Settings, client: OrderClient | None = None, session: requests.Session | None = None) -> None:
        self.settings = settings
        self.client = client or OrderClient(settings, session)

    def name(self) -> str:
        return "action_order_status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[dict[str, Any]]:
        language = conversation_language(tracker, self.settings.default_language)
        events: list[dict[str, Any]] = list(language_events(tracker, language))
        raw = tracker.get_slot(ORDER_NUMBER_SLOT)
        order_number = normalize_order_number(raw) or find_order_number(str(raw or ""))
        if not order_number:
            dispatcher.utter_message(response="utter_ask_order_number")
            return events + [SlotSet(ORDER_NUMBER_SLOT, None)]
        try:
            order = await asyncio.to_thread(self.client.get_order, order_number)
        except OrderNotFound:
            logger.info("order %s not found (sender %s)", order_number, tracker.sender_id)
            dispatcher.utter_message(response="utter_order_not_found", order_number=order_number)
            return events + [SlotSet(ORDER_NUMBER_SLOT, None)]
        except Exception as exc:  # noqa: BLE001 - OrderLookupError or anything unexpected: hand over
            logger.warning("order lookup for %s failed: %s", order_number, exc)
            dispatcher.utter_message(response="utter_order_system_down", order_number=order_number)
            send_handoff(
                dispatcher,
                tracker,
                REASON_ACTION_FAILED,
                language=language,
                note=f"The order system could not be reached to look up {order_number}.",
                extra={"order_number": order_number, "error": str(exc)[:300]},
            )
            return events + [SlotSet(ORDER_NUMBER_SLOT, order_number)]
        dispatcher.utter_message(text=describe_order(order, language))
        events.append(SlotSet(ORDER_NUMBER_SLOT, order_number))
        return events

