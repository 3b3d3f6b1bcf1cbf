"""One measurement of the hub's own cost per bot-answered customer message (run by `bench_hub_path`).

Runs in a fresh process against whichever checkout is first on PYTHONPATH: this one, or the commit the hub
redesign started from (b3f5637), so both are measured by the same code. Rasa is stubbed in-process (httpx's
MockTransport answering like the project's Rasa channel: a knowledge-base answer plus the `X-Rasa-Nlu` header),
so what is measured is the hub: validation, language, storage, the bot turn, delivery and events.

Per message: process CPU time (all threads: the database work runs in worker threads), wall time, and the
number of database transactions (SQLAlchemy engine `begin` events: reads and writes alike). Prints one JSON
object on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event

QUESTIONS = [
    "do you sell gift cards?", "how long does shipping to Germany take?", "can I return shoes I wore once?",
    "what payment methods do you accept?", "my parcel has not arrived yet", "how do I reset my password?",
    "is there a warranty on headphones?", "can I change the delivery address?", "do you ship to Norway?",
    "how much does express delivery cost?", "where can I find my invoice?", "can I pay with PayPal?",
    "what is your returns policy for sale items?", "do you have a store in Milan?", "can I cancel my order?",
    "how do I use a discount code?", "the item arrived damaged", "when will the blue jacket be back in stock?",
    "do you offer student discounts?", "how can I contact customer service by phone?",
]
ANSWER = [{"text": "Yes! Gift cards are sent by e-mail within minutes and never expire. "
                   "[Buy one here](https://shop.example/gift-cards)."},
          {"custom": {"kb": {"entry_id": "gift-cards", "score": 0.81, "language": "en", "decision": "answer"}}}]
NLU = json.dumps({"intent": {"name": "faq", "confidence": 0.87}})


def _rasa_transport() -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/webhooks/rest/webhook"):
            return httpx.Response(200, json=ANSWER, headers={"X-Rasa-Nlu": NLU})
        if request.url.path == "/status":
            return httpx.Response(200, json={"model_file": "stub.tar.gz"})
        return httpx.Response(404)
    return httpx.MockTransport(handler)


def _build(data_dir: Path) -> tuple[Any, Any, Any, str]:
    """(app, engine, handle(message), flavour) for whichever hub is importable."""
    from bot.app import create_app

    try:
        from bot.config import Settings as SettingsClass  # the commit the redesign started from
        flavour = "b3f5637"
    except ImportError:
        from core.settings import HubSettings as SettingsClass  # type: ignore[no-redef]  # the redesigned hub
        flavour = "redesign"
    try:
        from bot.clients.rasa import RasaClient
    except ImportError:
        from bot.rasa_client import RasaClient  # type: ignore[no-redef]
    settings = SettingsClass.from_env(data_dir=data_dir, rasa_url="http://rasa.stub:5005", rasa_retries=0,
                                      queue_tick_s=3600.0, outbox_poll_s=3600.0)
    rasa = RasaClient(["http://rasa.stub:5005"], transport=_rasa_transport())
    app = create_app(settings, rasa=rasa)
    return app, settings, rasa, flavour


def _parts(app: Any) -> tuple[Any, Any, Any]:
    """(engine, inbound handler, language detector) of either hub."""
    state = app.state
    container = getattr(state, "container", None)
    if container is not None:
        return container.engine, container.inbound.handle, container.language_detector
    return state.engine, state.router.handle_inbound, state.router.language_detector


async def _measure(messages: int, conversations: int) -> dict[str, Any]:
    from connectors.base import InboundMessage

    data_dir = Path(tempfile.mkdtemp(prefix="hub-path-"))
    app, _settings, _rasa, flavour = _build(data_dir)
    async with app.router.lifespan_context(app):
        engine, handle, detector = _parts(app)
        begun = 0

        def on_begin(_conn: Any) -> None:
            nonlocal begun
            begun += 1

        event.listen(engine, "begin", on_begin)
        deadline = time.monotonic() + 180
        while not (detector.loaded and detector.wide_loaded) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        # Warm-up: first conversations, caches, lazily built pipelines (not counted).
        for i in range(10):
            await handle(InboundMessage("web", f"warm-{i % 3}", QUESTIONS[i % len(QUESTIONS)]))
        cpu_ms: list[float] = []
        wall_ms: list[float] = []
        transactions: list[int] = []
        for i in range(messages):
            msg = InboundMessage("web", f"visitor-{i % conversations}", QUESTIONS[(i * 7) % len(QUESTIONS)])
            before_tx, c0, w0 = begun, time.process_time(), time.perf_counter()
            result = await handle(msg)
            c1, w1 = time.process_time(), time.perf_counter()
            assert not getattr(result, "duplicate", False)
            cpu_ms.append((c1 - c0) * 1000)
            wall_ms.append((w1 - w0) * 1000)
            transactions.append(begun - before_tx)
        event.remove(engine, "begin", on_begin)
    q = statistics.quantiles
    return {
        "flavour": flavour,
        "messages": messages,
        "conversations": conversations,
        "hub_cpu_ms_p50": round(statistics.median(cpu_ms), 3),
        "hub_cpu_ms_p95": round(q(cpu_ms, n=20)[18], 3),
        "hub_cpu_ms_mean": round(statistics.fmean(cpu_ms), 3),
        "wall_ms_p50": round(statistics.median(wall_ms), 3),
        "wall_ms_p95": round(q(wall_ms, n=20)[18], 3),
        "transactions_per_bot_answer": round(statistics.fmean(transactions), 3),
        "transactions_max": max(transactions),
        "transactions_first_message": transactions[0] if conversations >= messages else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--conversations", type=int, default=30)
    args = parser.parse_args(argv)
    os.environ.setdefault("SUPPORTBOT_ENV_FILE", "/nonexistent/.env")  # never the developer's .env
    result = asyncio.run(_measure(args.messages, args.conversations))
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
