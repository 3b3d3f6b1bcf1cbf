"""Prometheus metrics of the hub (`/metrics`), with prometheus_client.

Most are counted by a listener on the event bus (`on_event`): messages in and out, handoffs by reason, dead
letters. The few that no state change carries (Rasa latency and failures, replays, language switches) are
counted where they happen. One registry per app, so several hubs in one process (tests) never mix counts.

Several hub processes (`make run-scale`) set `PROMETHEUS_MULTIPROC_DIR`: prometheus_client then keeps each
process's values in files there, and `/metrics` of any process reports the sums over all of them.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from bot.store.db import Event

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.messages_in = Counter("supportbot_messages_in", "Customer messages stored", ["channel"], registry=r)
        self.messages_out = Counter("supportbot_messages_out", "Messages to customers, by delivery outcome",
                                    ["channel", "sender", "status"], registry=r)
        self.inbound_duplicates = Counter("supportbot_inbound_duplicates", "Replayed customer messages ignored",
                                          ["channel"], registry=r)
        self.handoffs = Counter("supportbot_handoffs", "Conversations handed to people", ["reason"], registry=r)
        self.dead_letters = Counter("supportbot_dead_letters", "Messages that could not be delivered", registry=r)
        self.rasa_failures = Counter("supportbot_rasa_failures", "Bot turns Rasa could not answer", ["reason"],
                                     registry=r)
        self.rasa_latency = Histogram("supportbot_rasa_roundtrip_seconds", "Rasa's answer time per message",
                                      buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=r)
        self.language_switches = Counter("supportbot_language_switches", "Conversations that changed language",
                                         ["reason"], registry=r)
        self.unsupported_language = Counter("supportbot_unsupported_language",
                                            "Messages in a language the bot does not speak", ["language"], registry=r)

    # -- counted where they happen -----------------------------------------------------------------

    def rasa_roundtrip(self, seconds: float) -> None:
        self.rasa_latency.observe(seconds)

    def rasa_failure(self, reason: str) -> None:
        self.rasa_failures.labels(reason=reason).inc()

    def duplicate(self, channel: str) -> None:
        self.inbound_duplicates.labels(channel=channel).inc()

    def language_switch(self, reason: str) -> None:
        self.language_switches.labels(reason=reason).inc()

    def unsupported(self, language: str) -> None:
        self.unsupported_language.labels(language=language).inc()

    # -- counted from events -----------------------------------------------------------------------

    async def on_event(self, event: Event) -> None:
        data = event.data
        if event.type == "message":
            message = data.get("message") or {}
            if message.get("sender") == "customer":
                self.messages_in.labels(channel=str(data.get("channel") or "?")).inc()
        elif event.type == "delivery":
            status = str(data.get("status"))
            self.messages_out.labels(channel=str(data.get("channel") or "?"), sender=str(data.get("sender") or "?"),
                                     status=status).inc()
            if status in ("dead", "failed"):
                self.dead_letters.inc()
        elif event.type == "queued" and not data.get("transferred_from"):
            self.handoffs.labels(reason=str(data.get("reason"))).inc()

    def render(self) -> bytes:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            combined = CollectorRegistry()
            multiprocess.MultiProcessCollector(combined)  # every hub process's counts, summed
            return generate_latest(combined)
        return generate_latest(self.registry)

    def value(self, name: str, **labels: str) -> float:
        """One sample's current value (0 when never counted): for health pages and tests."""
        return float(self.registry.get_sample_value(name, labels) or 0.0)
