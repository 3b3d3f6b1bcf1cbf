"""Order status: the ``order_status_form`` validation and ``action_order_status``.

The form collects one slot, ``order_number``. Customers write it as ``BC-123456``, ``#123456`` or
``123456``, in a sentence or alone; the validator normalises every accepted spelling to ``BC-123456``
and re-asks precisely when something that looks like an attempt is not a valid number.

``action_order_status`` asks the order system, ``GET {ActionSettings.order_api}/orders/{order_number}``:

- 200: ``{"order_number", "status", "carrier", "tracking_url", "eta", "items": [...]}`` → a status line;
- 404: the number is unknown → says so and forgets the number, so the next request asks again;
- anything else (connection refused, timeout, 5xx, unreadable JSON) → the order system is unreachable:
  an apology and a handoff (``action_failed``) so a person can look the order up.

A GET changes nothing, so temporary failures (`core.errors.Retryable`: connection refused, a timeout, 5xx) are
tried again a few times, quickly, within ``ORDER_API_TIMEOUT_S`` for the whole lookup: the customer is waiting
and the hub waits for Rasa only ``RASA_TIMEOUT_S``.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any
from urllib.parse import quote

import httpx
from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import (
    ORDER_NUMBER_SLOT,
    conversation_language,
    entity_values,
    find_order_number,
    find_order_number_attempt,
    language_events,
    normalize_order_number,
    send_handoff,
)
from core.contracts import HandoffReason
from core.errors import CallError, Retryable, check_response, from_httpx_error, retrying
from core.i18n import format_date, t
from core.settings import ActionSettings

logger = logging.getLogger(__name__)

# Customer-facing lines are the `order_*` texts of the catalogs (core/i18n); dates are formatted by Babel.
_STATUSES = frozenset(
    {"pending", "processing", "packed", "shipped", "in_transit", "out_for_delivery", "delivered", "cancelled", "returned"}
)
_ETA_STATUSES = frozenset({"pending", "processing", "packed", "shipped", "in_transit", "out_for_delivery"})
_CARRIER_STATUSES = frozenset({"shipped", "in_transit", "out_for_delivery", "delivered"})


class OrderLookupError(Exception):
    """The order system could not be asked or gave an unusable answer."""


class OrderNotFound(Exception):
    """The order system does not know the order number."""


def _format_date(value: Any, language: str = "en") -> str:
    """``2026-11-25`` → ``Wednesday 25 November 2026`` (or the `language` form); unparsable text is returned unchanged."""
    text = str(value or "").strip()
    try:
        day = dt.date.fromisoformat(text[:10])
    except ValueError:
        return text
    return format_date(day, language)


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
    def line(key: str, **values: object) -> str:
        return t(f"order_{key}", language, **values)

    number = normalize_order_number(order.get("order_number")) or str(order.get("order_number") or "")
    status = str(order.get("status") or "unknown").strip().lower().replace(" ", "_").replace("-", "_")
    carrier = str(order.get("carrier") or "").strip()
    carrier_part = line("carrier", carrier=carrier) if carrier and status in _CARRIER_STATUSES else ""
    parts = [line(status if status in _STATUSES else "unknown", order_number=number, carrier=carrier_part,
                  status=order.get("status"))]
    eta = order.get("eta") or order.get("delivered_at")
    if eta and status in _ETA_STATUSES:
        parts.append(line("eta", eta=_format_date(eta, language)))
    elif order.get("delivered_at") and status == "delivered":
        parts.append(line("delivered_on", eta=_format_date(order["delivered_at"], language)))
    tracking_url = str(order.get("tracking_url") or "").strip()
    if tracking_url and status in _CARRIER_STATUSES:
        parts.append(line("tracking", tracking_url=tracking_url))
    items = _item_names(order.get("items"), line("item_separator"))
    if items:
        parts.append(line("items", items=items))
    return "\n".join(parts)


#: Tries of one lookup in all, and the backoff between them (short: a customer is waiting for the answer).
LOOKUP_ATTEMPTS = 3
RETRY_BASE_S = 0.1
RETRY_MAX_S = 0.5
#: A retry is made only while at least this much of the lookup's time budget is left.
MIN_ATTEMPT_S = 0.2
SERVICE = "order system"


class OrderClient:
    """A small client for the order system's ``GET /orders/{order_number}`` (one pooled `httpx.AsyncClient`)."""

    def __init__(self, settings: ActionSettings, http: httpx.AsyncClient | None = None) -> None:
        self.base_url = settings.order_api.rstrip("/")
        self.timeout_s = settings.order_api_timeout_s
        self.http = http or httpx.AsyncClient(headers={"Accept": "application/json"})

    async def get_order(self, order_number: str) -> dict[str, Any]:
        """The order record; `OrderNotFound` for 404, `OrderLookupError` for anything unusable."""
        url = f"{self.base_url}/orders/{quote(order_number, safe='')}"
        deadline = time.monotonic() + self.timeout_s

        def worth_retrying(exc: BaseException) -> bool:
            return isinstance(exc, Retryable) and deadline - time.monotonic() >= MIN_ATTEMPT_S

        try:
            async for attempt in retrying(attempts=LOOKUP_ATTEMPTS, base_s=RETRY_BASE_S, max_s=RETRY_MAX_S,
                                          what=f"GET {url}", retry_on=worth_retrying):
                with attempt:
                    response = await self._get(url, order_number, timeout_s=max(deadline - time.monotonic(), MIN_ATTEMPT_S))
        except CallError as exc:
            raise OrderLookupError(f"GET {url} failed: {exc}") from exc
        try:
            data = response.json()
        except ValueError as exc:
            raise OrderLookupError(f"GET {url} answered with invalid JSON") from exc
        if not isinstance(data, dict):
            raise OrderLookupError(f"GET {url} answered with {type(data).__name__}, not an object")
        return data

    async def _get(self, url: str, order_number: str, *, timeout_s: float) -> httpx.Response:
        try:
            response = await self.http.get(url, timeout=timeout_s)
        except httpx.HTTPError as exc:
            # sent=False: a GET may be repeated, so even a read timeout is worth another try.
            raise from_httpx_error(exc, service=SERVICE, sent=False) from exc
        if response.status_code == 404:
            raise OrderNotFound(order_number)
        return check_response(response, service=SERVICE)

    async def aclose(self) -> None:
        await self.http.aclose()


class ValidateOrderStatusForm(FormValidationAction):
    """Validates ``order_number`` for ``order_status_form`` and finds it in free text."""

    def __init__(self, settings: ActionSettings) -> None:
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

    def __init__(self, settings: ActionSettings, client: OrderClient | None = None) -> None:
        self.settings = settings
        self.client = client or OrderClient(settings)

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
            order = await self.client.get_order(order_number)
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
                HandoffReason.ACTION_FAILED,
                language=language,
                note=f"The order system could not be reached to look up {order_number}.",
                extra={"order_number": order_number, "error": str(exc)[:300]},
            )
            return events + [SlotSet(ORDER_NUMBER_SLOT, order_number)]
        dispatcher.utter_message(text=describe_order(order, language))
        events.append(SlotSet(ORDER_NUMBER_SLOT, order_number))
        return events

