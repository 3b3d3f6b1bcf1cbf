"""Writes dialogue trackers with Rasa's own SQLTrackerStore (run by Rasa's Python 3.10 runtime, .venv-rasa), so
the tests read and delete exactly the table Rasa keeps.

    python rasa_tracker_writer.py <sqlite file> '[{"sender": "...", "text": "...", "days_ago": 0}, ...]'
"""

import asyncio
import json
import sys
import time

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker


async def main(db: str, trackers: list) -> None:
    store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=db)
    for t in trackers:
        at = time.time() - t.get("days_ago", 0) * 86400
        tracker = DialogueStateTracker(t["sender"], slots=[])
        tracker.update(UserUttered(t["text"], intent={"name": "inform", "confidence": 0.9}, timestamp=at))
        tracker.update(BotUttered("I see.", timestamp=at + 1))
        await store.save(tracker)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], json.loads(sys.argv[2])))
