"""The studio's parts, built once by the composition root: the content layer, the hub's view of the knowledge
base, the releases on disk and the publisher."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio

from bot.clients.actions import ActionServerClient
from bot.clients.rasa import RasaClient
from bot.store.db import Database
from bot.studio.content import ContentPaths, ContentService
from bot.studio.gaps import coverage
from bot.studio.knowledge import HubKnowledgeBase
from bot.studio.publish import Publisher
from bot.studio.releases import ReleaseStore
from core.settings import HubSettings


@dataclass
class Studio:
    settings: HubSettings
    content: ContentService
    knowledge: HubKnowledgeBase
    releases: ReleaseStore
    publisher: Publisher
    detector: Any  # bot.conversations.language.LanguageDetector (language gaps)

    @classmethod
    def build(cls, settings: HubSettings, *, db: Database, rasa: RasaClient, actions: ActionServerClient,
              detector: Any) -> "Studio":
        content = ContentService(ContentPaths.from_settings(settings), languages=settings.supported_languages,
                                 default_language=settings.default_language, db=db, use_git=settings.studio_git,
                                 lock_file=settings.data_dir / "studio.lock")
        knowledge = HubKnowledgeBase(actions)
        releases = ReleaseStore(settings.releases_dir, keep=settings.studio_keep_releases)
        publisher = Publisher(settings, content=content, releases=releases, rasa=rasa, actions=actions, db=db)
        return cls(settings, content, knowledge, releases, publisher, detector)

    def opened(self) -> None:
        """An editor opened the studio: load what its pages and the next publish need, in the background."""
        self.publisher.warm_up()

    async def gaps(self) -> dict[str, Any]:
        s = self.settings

        def work() -> dict[str, Any]:
            found = coverage(self.detector, languages=list(s.supported_languages), data_dir=s.rasa_data_dir,
                             domain=s.rasa_domain, content=s.kb_content_dir, default_language=s.default_language)
            return {"languages": found.languages, "min_examples": found.min_examples, "intents": found.intents,
                    "missing": found.missing()}

        return await anyio.to_thread.run_sync(work)

    async def stop(self) -> None:
        await self.publisher.stop()
