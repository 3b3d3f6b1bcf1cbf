"""Prometheus metrics of the hub (`/metrics`), with prometheus_client.

Most are counted by a listener on the event bus (`on_event`): messages in and out, handoffs by reason, dead
letters. The few that no state change carries (Rasa latency and failures, replays, language switches) are
counted where they happen. One registry per app, so several hubs in one process (tests) never mix counts.

Several hub processes (`make run-scale`) set `PROMETHEUS_MULTIPROC_DIR`: prometheus_client then keeps each
process's values in files there, and `/metrics` of any process reports the sums over all of them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from bot.store.db import Event

CONTENT_TYPE = CONTENT_TYPE_LATEST
WAIT_BUCKETS = (15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800, 86400)

# team → (conversations waiting, seconds the oldest has waited)
QueueReader = Callable[[], dict[str, tuple[int, float]]]


class QueueCollector(Collector):
    """The queue as it is at scrape time, per team (read from the database, so it is right after a restart)."""

    def __init__(self, read: QueueReader) -> None:
        self.read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        length = GaugeMetricFamily("supportbot_queue_length", "Conversations waiting for a person", labels=["team"])
        oldest = GaugeMetricFamily("supportbot_queue_oldest_wait_seconds", "How long the longest waiting "
                                   "conversation has waited", labels=["team"])
        for team, (n, wait) in sorted(self.read().items()):
            length.add_metric([team], n)
            oldest.add_metric([team], wait)
        yield length
        yield oldest


def _team(value: object) -> str:
    return str(value) if value else "none"


def _seconds_between(start: object, end: object) -> float | None:
    try:
        return (datetime.fromisoformat(str(end)) - datetime.fromisoformat(str(start))).total_seconds()
    except (TypeError, ValueError):
        return None


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._queue: QueueCollector | None = None
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
        # learning from conversations (docs/metrics.md): per team where a team applies
        self.bot_turns = Counter("supportbot_bot_turns", "Bot turns by outcome (kb_answer, choices, miss, "
                                 "out_of_scope, handoff, answered …)", ["outcome", "channel"], registry=r)
        self.team_handoffs = Counter("supportbot_team_handoffs", "Handoffs per team and reason", ["team", "reason"],
                                     registry=r)
        self.queue_wait = Histogram("supportbot_queue_wait_seconds", "Wait from handoff to a person taking it",
                                    ["team"], buckets=WAIT_BUCKETS, registry=r)
        self.resolutions = Counter("supportbot_resolutions", "Resolved conversations, by the bot or an agent",
                                   ["team", "by"], registry=r)
        self.csat_answers = Counter("supportbot_csat_answers", "CSAT answers by score (rated: bot or agent)",
                                    ["team", "rated", "score"], registry=r)
        self.kb_feedback = Counter("supportbot_kb_feedback", '"Was this helpful?" answers', ["helpful"], registry=r)

    def watch_queue(self, read: QueueReader) -> None:
        """Expose the queue, read at scrape time (from the shared database: the same for every process)."""
        self._queue = QueueCollector(read)
        self.registry.register(self._queue)

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
            team = _team((data.get("conversation") or {}).get("team"))
            self.team_handoffs.labels(team=team, reason=str(data.get("reason"))).inc()
        elif event.type == "assigned" and not data.get("transferred_from"):
            conv = data.get("conversation") or {}
            wait = _seconds_between(conv.get("queued_at"), conv.get("assigned_at"))
            if wait is not None:
                self.queue_wait.labels(team=_team(conv.get("team"))).observe(max(0.0, wait))
        elif event.type == "turn":
            self.bot_turns.labels(outcome=str(data.get("outcome")), channel=str(data.get("channel") or "?")).inc()
        elif event.type == "resolved":
            conv = data.get("conversation") or {}
            by = "bot" if data.get("resolved_by") == "bot" else "agent"
            self.resolutions.labels(team=_team(conv.get("team")), by=by).inc()
        elif event.type == "csat":
            conv = data.get("conversation") or {}
            self.csat_answers.labels(team=_team(conv.get("team")), rated="agent" if data.get("agent") else "bot",
                                     score=str(data.get("score"))).inc()
        elif event.type == "feedback":
            self.kb_feedback.labels(helpful="yes" if data.get("helpful") else "no").inc()

    def render(self) -> bytes:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            combined = CollectorRegistry()
            multiprocess.MultiProcessCollector(combined)  # every hub process's counts, summed
            if self._queue is not None:  # read from the database, not summed
                combined.register(self._queue)
            return generate_latest(combined)
        return generate_latest(self.registry)

    def value(self, name: str, **labels: str) -> float:
        """One sample's current value (0 when never counted): for health pages and tests."""
        return float(self.registry.get_sample_value(name, labels) or 0.0)
