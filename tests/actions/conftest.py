"""Fixtures for the action-server tests: realistic Rasa action calls, a tiny real knowledge base, and a
real local order system (an HTTP server in a thread)."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests_support import TEST_EMBEDDINGS
import yaml

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # running pytest without installing the project
    sys.path.insert(0, str(ROOT))

from core.settings import PROJECT_ROOT, ActionSettings  # noqa: E402
from tests.actions.support import OrderServer  # noqa: E402

DOMAIN_FILE = PROJECT_ROOT / "domain.yml"

TINY_FAQ = """
- id: gift-cards
  language: en
  question: How do gift cards work?
  phrasings:
    - do gift cards expire
    - can I buy a gift card
    - how do I redeem a gift voucher
  answer: |
    Brightcart gift cards are valid for **2 years** and can be used for any product.

    Enter the code at checkout.
  links:
    - title: Gift cards
      url: https://brightcart.example/gift-cards
  tags: [payments]
  team: payments

- id: warranty
  language: en
  question: What warranty do your products have?
  phrasings:
    - how long is the warranty on headphones
    - my charger broke after six months, is it covered
  answer: Electronics accessories have a **2-year warranty** from the delivery date.
  team: support

- id: store-pickup
  language: en
  question: Can I pick up my order in a store?
  phrasings:
    - do you have click and collect
    - collect my order in person
  answer: Brightcart is online only, so there is no store pickup.
  team: logistics

- id: gift-cards
  language: it
  question: Come funzionano le carte regalo?
  answer: Le carte regalo Brightcart sono valide **2 anni**.
  team: payments
"""


@pytest.fixture(scope="session")
def domain() -> dict[str, Any]:
    """The bot's domain as Rasa sends it to the action server (close enough: the parsed domain.yml)."""
    return yaml.safe_load(DOMAIN_FILE.read_text(encoding="utf-8"))


@pytest.fixture()
def settings(tmp_path: Path) -> ActionSettings:
    """ActionSettings pointing at nothing real; tests replace what they need."""
    return ActionSettings.from_env(
        order_api_url="http://127.0.0.1:9/api",
        order_api_timeout_s=2.0,
        kb_index_dir=tmp_path / "no-index",
        default_language="en",
    )


# --- a tiny real knowledge base ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def kb_index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A knowledge-base index built with the real kb_index and encoder from `TINY_FAQ`."""
    from encoders import SHIPPED_MODEL
    from kb_index import build_index, load_encoder

    root = tmp_path_factory.mktemp("kb")
    content = root / "content"
    content.mkdir()
    (content / "faq.yml").write_text(TINY_FAQ, encoding="utf-8")
    build_index(content, root / "index", load_encoder(SHIPPED_MODEL), progress=False, cache_dir=TEST_EMBEDDINGS)
    return root / "index"


@pytest.fixture(scope="session")
def kb_holder(kb_index_dir: Path) -> Any:
    """A `KnowledgeBaseHolder` on the tiny index (shared: loading the encoder once is what costs)."""
    from encoders import SHIPPED_MODEL
    from kb_index import KnowledgeBaseHolder, load_encoder

    holder = KnowledgeBaseHolder(kb_index_dir, lambda: load_encoder(SHIPPED_MODEL))
    holder.get()
    return holder


@pytest.fixture()
def broken_holder(tmp_path: Path) -> Any:
    """A holder whose index directory is empty: every use raises `KBIndexError`."""
    from encoders import SHIPPED_MODEL
    from kb_index import KnowledgeBaseHolder, load_encoder

    return KnowledgeBaseHolder(tmp_path / "empty-index", lambda: load_encoder(SHIPPED_MODEL))


# --- a real order system -------------------------------------------------------------------------------

ORDERS: dict[str, dict[str, Any]] = {
    "BC-123456": {
        "order_number": "BC-123456",
        "status": "shipped",
        "carrier": "DHL",
        "tracking_url": "https://track.example/DHL/00340434",
        "eta": "2026-11-25",
        "items": [{"name": "Linen duvet cover", "quantity": 1}, {"name": "USB-C cable", "quantity": 2}],
    },
    "BC-222222": {"order_number": "BC-222222", "status": "processing", "eta": "2026-12-01", "items": []},
    "BC-503503": {"order_number": "BC-503503", "status": "packed", "items": []},
}


def _handler(requests_seen: list[str]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server API
            requests_seen.append(self.path)
            number = self.path.rsplit("/", 1)[-1]
            if number == "BC-500500":
                self._send(500, {"error": "database unavailable"})
            elif number == "BC-503503" and requests_seen.count(self.path) == 1:
                self._send(503, {"error": "restarting"})  # a blip: the next request is answered
            elif number == "BC-777777":
                time.sleep(3)  # longer than the client's timeout
                self._send(200, {})
            elif self.path.startswith("/api/orders/") and number in ORDERS:
                self._send(200, ORDERS[number])
            else:
                self._send(404, {"error": "not found"})

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                self.wfile.write(data)
            except OSError:
                pass

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet test output
            pass

    return Handler


@pytest.fixture()
def order_server() -> Iterator[OrderServer]:
    """The order system at ``<url>/orders/{number}``, stopped after the test."""
    seen: list[str] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(seen))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    running = OrderServer(url=f"http://127.0.0.1:{server.server_address[1]}/api", server=server, requests=seen)
    try:
        yield running
    finally:
        running.stop()
        thread.join(timeout=5)
