"""The composition root: builds every part of the hub once, wires the listeners, and starts/stops them.

Nothing else constructs services; the app factory (`bot.app`) and the routers get what they need from here
through their constructors. Reading this file top to bottom is reading how the hub is put together.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from typing import Any


from sqlalchemy import Engine

from bot.agents.accounts import AgentStore
from bot.agents.auth import Auth
from bot.agents.presence import MemoryPresence, Presence, RedisPresence
from bot.clients.actions import ActionServerClient
from bot.clients.rasa import RasaClient
from bot.clients.webhooks import WebhookSender
from bot.conversations.agent_actions import AgentActions
from bot.conversations.bot_turn import BotTurns
from bot.conversations import feedback
from bot.conversations.csat import CsatSurvey, take_answer
from bot.conversations.feedback import FeedbackReplies
from bot.conversations.history import WebHistory
from bot.conversations.inbound import InboundService
from bot.conversations.language import LanguageDetector, shared_detector
from bot.conversations.notices import StatusNotices
from bot.conversations.outbound import Outbound
from bot.delivery.channel_state import SqlChannelState
from bot.delivery.worker import DeliveryWorker
from bot.events import EventBus, RedisBroadcast
from bot.handoff.dispatch import Dispatcher
from bot.handoff.queue import QueueNotices
from bot.handoff.teams import HandoffConfig
from bot.insights.facts import FactsProjector
from bot.insights.gaps import GapFinder
from bot.insights.review import ReviewInbox
from bot.locks import KeyedLocks, Lease, Locks, RedisLocks
from bot.notifications.consent import ConsentNotices, take_consent
from bot.notifications.scheduler import NotificationScheduler, parse_rate_limits
from bot.notifications.service import NotificationService
from bot.ops.metrics import Metrics
from bot.privacy.logs import LogFiles
from bot.privacy.service import Privacy, forget_webhook_copies
from bot.privacy.tracker import RasaTrackerStore
from bot.store import conversations as conversation_store
from bot.store.db import Database, make_engine, migrate
from bot.store.redis import connect as shared_redis
from bot.studio.review_changes import StudioChanges
from bot.studio.service import Studio
from connectors.base import Connector
from connectors.media import FileMediaStore
from connectors.registry import PARKING_CHANNELS, build_connectors
from connectors.relay import RedisFrameRelay
from core.settings import HubSettings

log = logging.getLogger(__name__)


@dataclass
class Container:
    settings: HubSettings
    engine: Engine
    db: Database
    bus: EventBus
    metrics: Metrics
    rasa: RasaClient
    actions: ActionServerClient
    accounts: AgentStore
    auth: Auth
    handoff_config: HandoffConfig
    presence: Presence
    language_detector: LanguageDetector
    connectors: dict[str, Connector]
    delivery: DeliveryWorker
    outbound: Outbound
    bot_turns: BotTurns
    inbound: InboundService
    agents: AgentActions
    queue_notices: QueueNotices
    dispatcher: Dispatcher
    csat: CsatSurvey
    notices: StatusNotices
    webhooks: WebhookSender
    privacy: Privacy
    studio: Studio
    media: FileMediaStore
    notifications: NotificationService
    notification_scheduler: NotificationScheduler
    facts: FactsProjector
    review: ReviewInbox
    gaps: GapFinder
    redis: Any = None  # REDIS_URL: the state several hub processes share (events, sockets, presence, locks …)
    ticker_lease: Lease | None = None
    retention_lease: Lease | None = None
    _background: list[asyncio.Task[None]] = field(default_factory=list)

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        self.bus.start()
        for connector in self.connectors.values():
            await connector.start()
        await self.delivery.release_stale_claims()
        self.delivery.start()  # also resumes messages left unsent by a previous run
        self.notification_scheduler.start()  # also sends what came due while the hub was down
        self._background.append(asyncio.create_task(self._queue_ticker(), name="queue-ticker"))
        self._background.append(asyncio.create_task(self.facts.run(), name="conversation-records"))
        self._background.append(asyncio.create_task(self._resume(), name="resume-turns"))
        if self.settings.retention_days > 0:
            self._background.append(asyncio.create_task(self._retention_ticker(), name="retention"))
        log.info("hub ready on %s; channels live: %s", self.settings.hub_url, ", ".join(sorted(self.connectors)))

    async def stop(self) -> None:
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self._background.clear()
        await self.studio.stop()
        await self.notification_scheduler.stop()
        await self.webhooks.drain(timeout_s=2)
        await self.webhooks.aclose()
        for connector in self.connectors.values():
            await connector.stop()
        await self.delivery.stop()
        await self.bus.stop()
        await self.rasa.aclose()
        await self.actions.aclose()
        self.privacy.tracker.dispose()
        if self.redis is not None:
            await self.redis.aclose()
        self.engine.dispose()

    async def _resume(self) -> None:
        """Bot turns a previous run left unanswered are answered (or handed to a person) after start. With other
        hub processes around, only turns old enough not to be in flight in one of them."""
        try:
            found = await self.inbound.resume_pending(only_stale=self.redis is not None)
            if found:
                log.info("resumed %d bot turn(s) left unanswered by the previous run", found)
        except Exception:  # noqa: BLE001 - a resend of the message resumes it too
            log.exception("resuming unanswered bot turns failed")

    async def queue_tick(self) -> None:
        """Periodic work (one hub process at a time: a lease): auto-assign what can be, tell customers whose wait
        grew, and answer turns another (dead) hub process left unanswered."""
        if self.ticker_lease is not None and not await self.ticker_lease.acquire():
            return
        await self.dispatcher.dispatch()
        await self.queue_notices.tick()
        if self.redis is not None:
            await self.inbound.resume_pending(only_stale=True)

    async def _queue_ticker(self) -> None:
        while True:
            await asyncio.sleep(self.settings.queue_tick_s)
            try:
                await self.queue_tick()
            except Exception:  # noqa: BLE001 - the next tick tries again
                log.exception("queue tick failed")

    async def _retention_ticker(self) -> None:
        """RETENTION_DAYS: delete what is past it at start, then every RETENTION_SWEEP_S."""
        while True:
            try:
                # one hub process sweeps at a time (a lease in Redis); two would only repeat each other's work
                if self.retention_lease is None or await self.retention_lease.acquire():
                    await self.privacy.sweep()
            except Exception:  # noqa: BLE001 - the next sweep tries again (Rasa's store may be back)
                log.exception("retention sweep failed")
            await asyncio.sleep(self.settings.retention_sweep_s)


def build_container(settings: HubSettings, *, rasa: RasaClient | None = None,
                    actions: ActionServerClient | None = None) -> Container:
    """Every dependency of the hub, built once, wired together."""
    engine = make_engine(settings.db_url)
    migrate(engine)
    redis = shared_redis(settings.redis_url) if settings.redis_url else None
    bus = EventBus(broadcast=RedisBroadcast(redis) if redis is not None else None)
    db = Database(engine, bus)
    locks: Locks = RedisLocks(redis) if redis is not None else KeyedLocks()
    metrics = Metrics()
    rasa = rasa or RasaClient(settings.rasa_endpoints, timeout_s=settings.rasa_timeout_s, retries=settings.rasa_retries,
                              auth_token=settings.rasa_auth_token.get_secret_value())
    actions = actions or ActionServerClient(settings.action_server_url)
    accounts = AgentStore(engine)
    if settings.admin_email:  # the first admin, from ADMIN_EMAIL / ADMIN_PASSWORD
        accounts.ensure_admin(settings.admin_email, settings.admin_password.get_secret_value(),
                              settings.admin_display_name)
    handoff_config = HandoffConfig.load(settings.handoff_config)
    presence: Presence = RedisPresence(redis) if redis is not None else MemoryPresence()
    # The conversation's language (bot/conversations/language.py); the model loads in the background (seconds).
    detector = shared_detector(settings.supported_languages, settings.language_detector_model)
    threading.Thread(target=detector.warm_up, name="language-model", daemon=True).start()

    connectors: dict[str, Connector] = {}  # filled below: the channels need the inbound service, built on them
    delivery = DeliveryWorker(db, connectors, max_rounds=settings.outbox_max_rounds,
                              base_delay_s=settings.outbox_base_delay_s, poll_s=settings.outbox_poll_s,
                              locks=locks, alone=redis is None, lease_s=60.0 if redis is not None else 180.0)
    outbound = Outbound(db, delivery)
    bot_turns = BotTurns(db=db, rasa=rasa, outbound=outbound, config=handoff_config, metrics=metrics,
                         action_health_url=f"{settings.action_server_url}/health",
                         ask_feedback=settings.kb_feedback_enabled)
    inbound = InboundService(db=db, bot=bot_turns, outbound=outbound, delivery=delivery, detector=detector,
                             metrics=metrics, default_language=settings.default_language,
                             max_message_chars=settings.max_message_chars, redact_pii=settings.redact_pii,
                             claims=[take_answer, take_consent, feedback.take_answer], locks=locks,
                             parking_channels=PARKING_CHANNELS,
                             # a turn not finished after Rasa's whole timeout budget was interrupted
                             stale_after_s=settings.rasa_timeout_s * (settings.rasa_retries + 1) + 30)
    media = FileMediaStore(settings.data_dir / "media")  # customers' files, shown to agents
    connectors.update(build_connectors(settings, inbound.handle, web_history=WebHistory(db), state=SqlChannelState(engine),
                                       on_status=delivery.provider_status, media=media,
                                       relay=RedisFrameRelay(redis) if redis is not None else None))
    agents = AgentActions(db, outbound, handoff_config, max_message_chars=settings.max_message_chars, locks=locks)
    queue_notices = QueueNotices(db, outbound, handoff_config, presence)
    dispatcher = Dispatcher(db, handoff_config, presence, agents, locks=locks)
    csat = CsatSurvey(db, outbound, enabled=settings.csat_enabled)
    notices = StatusNotices(outbound, presence)
    webhooks = WebhookSender(settings.webhook_urls, settings.webhook_secret.get_secret_value(),
                             max_attempts=settings.webhook_max_attempts)
    privacy = Privacy(db, RasaTrackerStore(settings.tracker_store_url), LogFiles(settings.data_dir / "logs"),
                      retention_days=settings.retention_days, in_memory=[forget_webhook_copies(webhooks.deliveries)])
    studio = Studio.build(settings, db=db, rasa=rasa, actions=actions, detector=detector)  # /studio: content, publish
    notifications = NotificationService(db, outbound, channels=lambda: list(connectors),
                                        default_language=settings.default_language,
                                        max_recipients=settings.notify_max_recipients)
    scheduler = NotificationScheduler(db, notifications, channels=list(connectors),
                                      rate_limits=parse_rate_limits(settings.notify_rate_limits),
                                      poll_s=settings.notify_poll_s)
    consent_notices = ConsentNotices(outbound)
    # Learning from conversations: one outcome record per conversation, the review inbox, content gaps.
    facts = FactsProjector(db, handoff_config, review_confidence=settings.review_confidence_threshold)
    review = ReviewInbox(db, StudioChanges(studio.content), published_revision=lambda: getattr(
        studio.releases.live(), "revision", None))
    gaps = GapFinder(db, actions)  # the action server embeds: the hub loads no encoder
    feedback_replies = FeedbackReplies(outbound)
    metrics.watch_queue(lambda: db.read_sync(conversation_store.queue_by_team))

    # Side effects of state changes, in the order they happen for one event.
    bus.on("message", "delivery", "queued", "assigned", "turn", "resolved", "csat", "feedback")(metrics.on_event)
    bus.on("queued")(queue_notices.on_queued)
    bus.on("queued", "agent_online")(dispatcher.on_event)
    bus.on("assigned")(notices.on_assigned)
    bus.on("handed_back")(notices.on_handed_back)
    bus.on("resolved")(notices.on_resolved)
    bus.on("resolved")(csat.on_resolved)
    bus.on("csat")(csat.on_answer)
    bus.on("feedback")(feedback_replies.on_feedback)
    bus.on("message", "turn", "queued", "assigned", "resolved", "handed_back", "reopened", "csat",
           "feedback")(facts.on_event)
    bus.on("queued", "assigned", "resolved", "csat")(webhooks.on_event)
    bus.on("consent")(consent_notices.on_consent)
    bus.on("delivery")(notifications.on_delivery)

    container = Container(
        settings=settings, engine=engine, db=db, bus=bus, metrics=metrics, rasa=rasa, actions=actions,
        accounts=accounts, auth=Auth(settings, accounts), handoff_config=handoff_config, presence=presence,
        language_detector=detector, connectors=connectors, delivery=delivery, outbound=outbound,
        bot_turns=bot_turns, inbound=inbound, agents=agents, queue_notices=queue_notices, dispatcher=dispatcher,
        csat=csat, notices=notices, webhooks=webhooks, privacy=privacy, studio=studio, media=media,
        notifications=notifications, notification_scheduler=scheduler, facts=facts,
        review=review, gaps=gaps, redis=redis,
        ticker_lease=Lease("queue-ticker", redis, delivery.holder, ttl_s=settings.queue_tick_s * 2),
        retention_lease=Lease("retention", redis, delivery.holder, ttl_s=settings.retention_sweep_s * 2),
    )
    return container
