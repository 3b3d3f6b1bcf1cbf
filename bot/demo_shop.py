"""A demo order system for the fictional Brightcart shop, so `make run` works out of the box.

Real deployments point ORDER_API_URL at their own order system, which answers
`GET /orders/<order number>` with the same JSON shape (404 for unknown orders). Disable with DEMO_SHOP=false.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path

from bot.errors import responses

shop = APIRouter(prefix="/demo-shop/api", tags=["demo shop"])


def _orders() -> dict[str, dict[str, Any]]:
    today = date.today()
    return {
        "BC-100001": {"status": "processing", "carrier": None, "tracking_url": None,
                      "eta": str(today + timedelta(days=4)), "items": ["Linen duvet cover (double)"]},
        "BC-100002": {"status": "shipped", "carrier": "DHL", "tracking_url": "https://tracking.example/DHL/JD0146000",
                      "eta": str(today + timedelta(days=2)), "items": ["USB-C charging cable 2 m", "Phone stand"]},
        "BC-100003": {"status": "delivered", "carrier": "UPS", "tracking_url": "https://tracking.example/UPS/1Z999",
                      "eta": str(today - timedelta(days=3)), "items": ["Merino wool sweater (M)"]},
        "BC-100004": {"status": "cancelled", "carrier": None, "tracking_url": None, "eta": None,
                      "items": ["Ceramic pour-over coffee set"]},
    }


@shop.get("/orders/{order_number}", responses=responses(404, 422))
async def order(order_number: Annotated[str, Path(max_length=64)]) -> dict[str, Any]:
    key = order_number.upper()
    if not key.startswith("BC-"):
        key = "BC-" + "".join(ch for ch in key if ch.isdigit())
    found = _orders().get(key)
    if found is None:
        raise HTTPException(404, f"no order {order_number}")
    return {"order_number": key, **found}
