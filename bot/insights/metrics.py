"""The report figures and their drill-downs, as SQL over `conversation_facts` (docs/metrics.md defines each).

Every chart is a `Chart`: how its rows group conversations into buckets and what value a bucket shows; the same
definition gives the drill-down (`condition(chart, bucket)`: exactly the conversations the bucket counted), so
a figure and its list cannot disagree. Queries are SQLAlchemy Core and run unchanged on SQLite and PostgreSQL;
conversations belong to the day (UTC) they started on, and the date range and filters select them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable

from sqlalchemy import Connection, and_, case, func, literal, null, or_, select, true
from sqlalchemy.sql.elements import ColumnElement

from bot.insights.facts import ASSUMED_AFTER, facts
from bot.store.conversations import aware
from bot.store.models import iso, utcnow

c = facts.c
NONE = "(none)"
OUTCOMES = ("confirmed", "assumed", "pending", "unresolved", "handed_off", "no_bot_turn")
KB_BUCKETS = {"answered": c.kb_answers, "choices": c.kb_choices, "missed": c.kb_misses}
TIMES = {
    "time_to_assignment": (c.time_to_assignment_s, c.time_to_assignment_bh_s),
    "first_response": (c.first_response_s, c.first_response_bh_s),
    "resolution": (c.resolution_s, c.resolution_bh_s),
}


class UnknownChart(ValueError):
    pass


@dataclass(frozen=True)
class Filters:
    """Conversations that started in [start, end) and match every filter given."""

    start: datetime
    end: datetime
    channel: str | None = None
    language: str | None = None
    team: str | None = None
    agent: str | None = None

    def clauses(self) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = [c.started_at >= self.start, c.started_at < self.end]
        for column, value in ((c.channel, self.channel), (c.language, self.language), (c.team, self.team),
                              (c.agent, self.agent)):
            if value:
                out.append(column.is_(None) if value == NONE else column == value)
        return out

    def view(self) -> dict[str, Any]:
        return {"from": iso(self.start), "to": iso(self.end), "channel": self.channel, "language": self.language,
                "team": self.team, "agent": self.agent}


def outcome_expr(now: datetime) -> ColumnElement[str]:
    """The conversation's outcome (docs/metrics.md, "Bot resolution")."""
    return case(
        (c.handoffs > 0, literal("handed_off")),
        (c.bot_confirmed == true(), literal("confirmed")),
        (and_(c.bot_assumable == true(), c.last_customer_at < now - ASSUMED_AFTER), literal("assumed")),
        (c.bot_assumable == true(), literal("pending")),
        (c.bot_turns == 0, literal("no_bot_turn")),
        else_=literal("unresolved"),
    )


def _day(conn: Connection) -> ColumnElement[Any]:
    if conn.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", c.started_at), "YYYY-MM-DD")
    return func.substr(c.started_at, 1, 10)  # SQLite stores "YYYY-MM-DD HH:MM:SS" in UTC


def _csat_team() -> ColumnElement[str]:
    return case((c.csat_agent.is_(None), literal("bot")), else_=func.coalesce(c.team, NONE))


@dataclass(frozen=True)
class Chart:
    """A grouping of conversations into buckets. `group` is the bucket of each conversation (None: not in the
    chart); `value` what a bucket shows (default: how many conversations)."""

    name: str
    title: str
    group: Callable[[Connection, datetime], ColumnElement[Any]]
    scope_of: Callable[[], ColumnElement[bool]] | None = None
    value: str = "count"  # count | share_4_5

    @property
    def scoped(self) -> bool:
        return self.scope_of is not None

    def scope(self) -> ColumnElement[bool]:
        return self.scope_of() if self.scope_of is not None else true()


def _column(column: Any) -> Callable[[Connection, datetime], ColumnElement[Any]]:
    return lambda conn, now: func.coalesce(column, NONE)


CHARTS: dict[str, Chart] = {chart.name: chart for chart in (
    Chart("volume", "Conversations per day", lambda conn, now: _day(conn)),
    Chart("outcome", "Outcome", lambda conn, now: outcome_expr(now)),
    Chart("channel", "By channel", _column(c.channel)),
    Chart("language", "By language", _column(c.language)),
    Chart("intent", "By topic (first intent)", _column(c.intent)),
    Chart("team", "By team", _column(c.team)),
    Chart("handoff_reason", "Handoff reasons", _column(c.handoff_reason), scope_of=lambda: c.handoffs > 0),
    Chart("csat_agent", "CSAT by agent (share of 4-5)", lambda conn, now: func.coalesce(c.csat_agent, "bot"),
          scope_of=lambda: c.csat_score.is_not(None), value="share_4_5"),
    Chart("csat_team", "CSAT by team (share of 4-5)", lambda conn, now: _csat_team(),
          scope_of=lambda: c.csat_score.is_not(None), value="share_4_5"),
)}


def _bucket_condition(conn: Connection, chart: Chart, bucket: str, now: datetime) -> ColumnElement[bool]:
    return and_(chart.scope(), chart.group(conn, now) == bucket)


def condition(conn: Connection, chart: str, bucket: str, now: datetime) -> ColumnElement[bool]:
    """The conversations behind one bucket of one chart (also the KB, time and summary figures)."""
    if chart in CHARTS:
        return _bucket_condition(conn, CHARTS[chart], bucket, now)
    if chart == "kb" and bucket in KB_BUCKETS:
        return KB_BUCKETS[bucket] > 0
    if chart == "times" and bucket in TIMES:
        return TIMES[bucket][0].is_not(None)
    if chart == "times" and bucket == "reply_time":
        return c.reply_time_n > 0
    if chart == "summary":
        outcome = outcome_expr(now)
        return {
            "conversations": true(),
            "bot_conversations": c.bot_turns > 0,
            "bot_resolved": outcome.in_(["confirmed", "assumed"]),
            "handed_off": c.handoffs > 0,
            "csat_answers": c.csat_score.is_not(None),
            "csat_good": c.csat_score >= 4,
            "feedback": (c.feedback_yes + c.feedback_no) > 0,
        }.get(bucket, null().is_not(None))
    raise UnknownChart(f"no chart {chart!r}: charts are {', '.join([*CHARTS, 'kb', 'times', 'summary'])}")


def _share(good: Any, total: Any) -> float | None:
    return round(float(good) / float(total), 4) if total else None


def _avg(total: Any, n: Any) -> float | None:
    return round(float(total) / float(n), 1) if n else None


def report(conn: Connection, filters: Filters, *, now: datetime | None = None) -> dict[str, Any]:
    """Every figure of the reports page for these filters: one aggregate for the totals and one small group-by
    per chart, each read from the covering index `ix_facts_report` (never the records' rows)."""
    now = now or utcnow()
    s = func.sum
    good = s(case((c.csat_score >= 4, 1), else_=0))
    measures = [
        func.count().label("conversations"),
        s(case((c.bot_turns > 0, 1), else_=0)).label("bot_conversations"),
        s(c.kb_answers).label("kb_answered"), s(c.kb_choices).label("kb_choices"), s(c.kb_misses).label("kb_missed"),
        s(c.feedback_yes).label("feedback_yes"), s(c.feedback_no).label("feedback_no"),
        s(case((c.csat_score.is_not(None), 1), else_=0)).label("csat_answers"), good.label("csat_good"),
        *[expr for name, (cal, bh) in TIMES.items() for expr in (
            s(cal).label(f"{name}_sum"), s(bh).label(f"{name}_bh_sum"), func.count(cal).label(f"{name}_n"))],
        s(c.reply_time_sum_s).label("reply_time_sum"), s(c.reply_time_bh_sum_s).label("reply_time_bh_sum"),
        s(c.reply_time_n).label("reply_time_n"),
    ]
    where = filters.clauses()
    row = conn.execute(select(*measures).where(*where)).one()._mapping
    total: dict[str, float] = {key: float(row[key] or 0) for key in row.keys()}
    counted: dict[str, dict[str, list[int]]] = {}
    for name, chart in CHARTS.items():
        group = chart.group(conn, now)
        rows = conn.execute(select(group, func.count(), good).where(*where, chart.scope()).group_by(group)).all()
        counted[name] = {str(bucket): [int(n), int(g or 0)] for bucket, n, g in rows}
    charts = {name: _buckets(chart, counted[name]) for name, chart in CHARTS.items()}
    outcomes = {b["bucket"]: b["conversations"] for b in charts["outcome"]}
    n, bot_total = int(total["conversations"]), int(total["bot_conversations"])
    confirmed, assumed, handed = outcomes.get("confirmed", 0), outcomes.get("assumed", 0), outcomes.get("handed_off", 0)
    yes, no = int(total["feedback_yes"]), int(total["feedback_no"])
    summary = {
        "conversations": n, "bot_conversations": bot_total, "bot_resolved": confirmed + assumed,
        "bot_resolved_rate": _share(confirmed + assumed, bot_total), "bot_resolved_confirmed": confirmed,
        "bot_resolved_assumed": assumed, "handed_off": handed, "handoff_rate": _share(handed, n),
        "csat_answers": int(total["csat_answers"]), "csat_good": int(total["csat_good"]),
        "csat_share_4_5": _share(total["csat_good"], total["csat_answers"]),
        "feedback_yes": yes, "feedback_no": no, "helpful_share": _share(yes, yes + no),
    }
    kb = {"answered": int(total["kb_answered"]), "choices": int(total["kb_choices"]),
          "missed": int(total["kb_missed"])}
    times: dict[str, dict[str, Any]] = {}
    for name in (*TIMES, "reply_time"):
        count = int(total[f"{name}_n"])
        times[name] = {"avg_s": _avg(total[f"{name}_sum"], count), "avg_bh_s": _avg(total[f"{name}_bh_sum"], count),
                       "n": count}
    return {"filters": filters.view(), "as_of": iso(now), "summary": summary, "kb": kb, "times": times,
            "charts": charts}


def _buckets(chart: Chart, counted: dict[str, list[int]]) -> list[dict[str, Any]]:
    """A chart's buckets: days in order, the others largest first (ties by name: one order on every database)."""
    order = sorted(counted.items(), key=(lambda kv: kv[0]) if chart.name == "volume" else (lambda kv: (-kv[1][0], kv[0])))
    out = []
    for bucket, (n, good) in order:
        item: dict[str, Any] = {"bucket": bucket, "conversations": n}
        if chart.value == "share_4_5":
            item.update(value=_share(good, n), good=good)
        else:
            item["value"] = n
        out.append(item)
    return out


# -- one row per conversation: the drill-down lists and the CSV export ---------------------------------------

ROW_COLUMNS = ("conversation_id", "started_at", "channel", "language", "team", "agent", "intent", "status",
               "outcome", "handoff_reason", "customer_messages", "bot_turns", "kb_answers", "kb_choices", "kb_misses",
               "human_replies", "time_to_assignment_s", "time_to_assignment_bh_s", "first_response_s",
               "first_response_bh_s", "avg_reply_s", "avg_reply_bh_s", "resolution_s", "resolution_bh_s",
               "resolved_at", "csat_score", "csat_agent", "feedback_yes", "feedback_no", "customer_name", "last_text")


def _row_view(r: Any) -> dict[str, Any]:
    m = r._mapping
    out = {k: m[k] for k in ROW_COLUMNS if k in m}
    out["started_at"], out["resolved_at"] = iso(aware(m["started_at"])), iso(aware(m["resolved_at"]))
    n = m["reply_time_n"]
    out["avg_reply_s"] = round(m["reply_time_sum_s"] / n, 1) if n else None
    out["avg_reply_bh_s"] = round(m["reply_time_bh_sum_s"] / n, 1) if n else None
    return out


def conversations(conn: Connection, filters: Filters, *, chart: str | None = None, bucket: str | None = None,
                  now: datetime | None = None, limit: int = 200, offset: int = 0,
                  after: tuple[Any, str] | None = None) -> tuple[int | None, list[dict[str, Any]]]:
    """(how many, one page of them) for the drill-down of `chart`/`bucket`, or every conversation the filters
    select. `after` (started_at, id) pages by key (the CSV export); then the count is not computed."""
    now = now or utcnow()
    where = filters.clauses()
    if chart:
        where.append(condition(conn, chart, bucket or "", now))
    total = None
    if after is None:
        total = int(conn.execute(select(func.count()).select_from(facts).where(*where)).scalar() or 0)
    q = select(facts, outcome_expr(now).label("outcome")).where(*where)
    if after is not None:
        q = q.where(or_(c.started_at > after[0], and_(c.started_at == after[0], c.conversation_id > after[1])))
        q = q.order_by(c.started_at, c.conversation_id).limit(limit)
    else:
        q = q.order_by(c.started_at.desc(), c.conversation_id).limit(limit).offset(offset)
    rows = list(conn.execute(q))
    views = [_row_view(r) for r in rows]
    if after is not None and rows:
        views[-1]["_key"] = (rows[-1].started_at, rows[-1].conversation_id)
    return total, views


def default_range(days: int = 30, now: datetime | None = None) -> tuple[datetime, datetime]:
    end = (now or utcnow()).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return end - timedelta(days=days), end
