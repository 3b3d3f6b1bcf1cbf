"""The same generated week on PostgreSQL: the outcome records rebuilt there, and every report figure, drill-down
and search equal to SQLite's (the queries are portable SQLAlchemy Core)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import insert, select, text

from bot.insights import metrics
from bot.insights.facts import FactsProjector
from bot.insights.search import search
from bot.store.db import Database, make_engine, migrate
from bot.store.models import Conversation, Csat, Feedback, Handoff, Message, utcnow
from week import Week

pytestmark = pytest.mark.postgres
RAW = (Conversation.__table__, Message.__table__, Handoff.__table__, Csat.__table__, Feedback.__table__)


@pytest.fixture
def pg(week: Week, request: pytest.FixtureRequest) -> Iterator[Database]:
    engine = make_engine(request.getfixturevalue("postgres_url"))
    with engine.begin() as conn:  # a clean schema
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    migrate(engine)
    source = week.client.app.state.container.db
    with engine.begin() as conn:
        for table in RAW:
            rows = source.read_sync(lambda c, t=table: [dict(r._mapping) for r in c.execute(select(t))])
            if rows:
                conn.execute(insert(table), rows)
    db = Database(engine)
    container = week.client.app.state.container
    FactsProjector(db, container.handoff_config,
                   review_confidence=container.settings.review_confidence_threshold).rebuild_sync()
    yield db
    engine.dispose()


def test_reports_drill_downs_and_search_agree_on_postgres(week: Week, pg: Database) -> None:
    lite = week.client.app.state.container.db
    now = utcnow()
    f = metrics.Filters(*metrics.default_range(30, now))
    a, b = lite.read_sync(metrics.report, f, now=now), pg.read_sync(metrics.report, f, now=now)
    assert a["summary"]["conversations"] == len(week.log)
    assert a == b
    for chart, buckets in a["charts"].items():
        for bucket in buckets:
            ids = [lite.read_sync(metrics.conversations, f, chart=chart, bucket=bucket["bucket"], now=now, limit=500),
                   pg.read_sync(metrics.conversations, f, chart=chart, bucket=bucket["bucket"], now=now, limit=500)]
            assert {r["conversation_id"] for r in ids[0][1]} == {r["conversation_id"] for r in ids[1][1]}, chart
    for query, status in (("address", None), ("BC-123456", "resolved"), ("gift", None), ("", "queued")):
        found = [{c["id"] for c in db.read_sync(search, query, status=status, limit=200)} for db in (lite, pg)]
        assert found[0] == found[1] and found[0], query
