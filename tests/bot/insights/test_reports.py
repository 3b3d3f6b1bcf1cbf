"""Reports over a generated week driven through the real hub: every figure equals an independent computation
(from what the test did, and from the raw rows with code of its own), each drill-down lists exactly the
conversations counted, and the CSV export has one matching row per conversation."""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select

from bot.handoff.teams import HandoffConfig
from bot.store.models import Conversation, Handoff, Message
from handoff_kit import agent_session
from week import HANDOFF_YML, Done, Week

HANDED = {"handoff_agent", "complaint", "miss_queued"}
REASON = {"handoff_agent": "customer_request", "complaint": "complaint", "miss_queued": "no_confident_answer"}
TEAM = {"handoff_agent": "support", "complaint": "care", "miss_queued": "support"}
INTENT = {"kb_yes": "faq", "kb_no": "faq", "kb_silent": "faq", "handoff_agent": "faq", "choices": "return_refund",
          "complaint": "complaint"}
KB_ANSWERS = {"kb_yes", "kb_no", "kb_silent", "handoff_agent"}


def outcome(d: Done) -> str:
    if d.kind in HANDED:
        return "handed_off"
    if d.kind in ("kb_yes", "bot_resolved"):
        return "confirmed"
    if d.kind == "kb_silent":
        return "assumed" if d.day >= 1 else "pending"  # the customer has not come back for 24 h
    return "unresolved"


def window(week: Week) -> dict[str, str]:
    return {"start": (week.now - timedelta(days=8)).date().isoformat(), "end": week.now.date().isoformat()}


def raw(week: Week) -> dict[str, Any]:
    """The raw rows, read here with plain queries (not the reports' code)."""
    db = week.client.app.state.container.db
    read = lambda table: db.read_sync(lambda conn: list(conn.execute(select(table))))  # noqa: E731
    msgs: dict[str, list[Any]] = defaultdict(list)
    for m in sorted(read(Message.__table__), key=lambda m: m.seq):
        msgs[m.conversation_id].append(m)
    handoffs: dict[str, list[Any]] = defaultdict(list)
    for h in sorted(read(Handoff.__table__), key=lambda h: h.id):
        handoffs[h.conversation_id].append(h)
    return {"convs": {c.id: c for c in read(Conversation.__table__)}, "msgs": msgs, "handoffs": handoffs}


def utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def open_seconds(team: Any, start: datetime, end: datetime) -> float:
    """Business time by brute force: each second the team's own `is_open` says is open."""
    if team is None or not team.hours:
        return (end - start).total_seconds()
    whole = int((end - start).total_seconds())
    return float(sum(1 for s in range(whole) if team.is_open(start + timedelta(seconds=s + 0.5))))


def expected_times(week: Week) -> dict[str, dict[str, float | None]]:
    rows = raw(week)
    teams = HandoffConfig.from_dict(__import__("yaml").safe_load(HANDOFF_YML))
    samples: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for d in week.log:
        if d.kind not in ("handoff_agent", "complaint", "bot_resolved"):
            continue
        conv, msgs, hs = rows["convs"][d.id], rows["msgs"][d.id], rows["handoffs"][d.id]
        team = teams.team(TEAM.get(d.kind))
        if d.kind != "bot_resolved":
            h = hs[0]
            asked, claimed = utc(h.created_at), utc(h.claimed_at)
            agent_msgs = [m for m in msgs if m.sender == "agent"]
            first, second = utc(agent_msgs[0].created_at), utc(agent_msgs[1].created_at)
            follow_up = next(utc(m.created_at) for m in msgs if m.sender == "customer" and utc(m.created_at) > first)
            for name, lo, hi in (("time_to_assignment", asked, claimed), ("first_response", asked, first),
                                 ("reply_time", follow_up, second)):
                samples[name].append(((hi - lo).total_seconds(), open_seconds(team, lo, hi)))
        lo, hi = utc(conv.created_at), utc(conv.resolved_at)
        samples["resolution"].append(((hi - lo).total_seconds(), open_seconds(team, lo, hi)))
    return {name: {"avg_s": sum(a for a, _ in v) / len(v), "avg_bh_s": sum(b for _, b in v) / len(v), "n": len(v)}
            for name, v in samples.items()}


def test_every_figure_equals_an_independent_computation(week: Week) -> None:
    report = week.editor.get("/api/reports", params=window(week)).json()
    log, rows = week.log, raw(week)
    assert len(log) == 42
    s = report["summary"]
    outcomes = Counter(outcome(d) for d in log)
    assert s["conversations"] == len(log) == s["bot_conversations"]
    assert (s["bot_resolved_confirmed"], s["bot_resolved_assumed"]) == (outcomes["confirmed"], outcomes["assumed"])
    assert s["bot_resolved_rate"] == round((outcomes["confirmed"] + outcomes["assumed"]) / len(log), 4)
    handed = [d for d in log if d.kind in HANDED]
    assert s["handed_off"] == len(handed) and s["handoff_rate"] == round(len(handed) / len(log), 4)
    rated = [d for d in log if d.csat is not None]
    assert (s["csat_answers"], s["csat_good"]) == (len(rated), sum(1 for d in rated if d.csat >= 4))
    assert (s["feedback_yes"], s["feedback_no"]) == (sum(d.helpful is True for d in log),
                                                     sum(d.helpful is False for d in log))
    assert report["kb"] == {"answered": sum(d.kind in KB_ANSWERS for d in log),
                            "choices": sum(d.kind == "choices" for d in log),
                            "missed": sum(d.kind == "miss_queued" for d in log)}

    charts = {name: {b["bucket"]: b["value"] for b in buckets} for name, buckets in report["charts"].items()}
    assert charts["outcome"] == {k: v for k, v in outcomes.items()}
    assert charts["channel"] == {"web": len(log)}
    assert charts["language"] == dict(Counter(rows["convs"][d.id].language for d in log))
    assert charts["intent"] == dict(Counter(INTENT.get(d.kind, "(none)") for d in log))
    assert charts["team"] == dict(Counter(TEAM.get(d.kind, "(none)") for d in log))
    assert charts["handoff_reason"] == dict(Counter(REASON[d.kind] for d in handed))
    assert charts["volume"] == dict(Counter(utc(rows["convs"][d.id].created_at).date().isoformat() for d in log))
    by_agent: dict[str, list[int]] = defaultdict(list)
    by_team: dict[str, list[int]] = defaultdict(list)
    for d in rated:
        by_agent[d.agent or "bot"].append(d.csat)
        by_team[TEAM[d.kind] if d.agent else "bot"].append(d.csat)
    for chart, groups in (("csat_agent", by_agent), ("csat_team", by_team)):
        assert charts[chart] == {k: round(sum(x >= 4 for x in v) / len(v), 4) for k, v in groups.items()}

    for name, want in expected_times(week).items():
        got = report["times"][name]
        assert got["n"] == want["n"], name
        assert got["avg_s"] == pytest.approx(want["avg_s"], abs=1.0), name
        assert got["avg_bh_s"] == pytest.approx(want["avg_bh_s"], abs=1.5), name
    # the waits the test made are what the report measures (minutes the test added, plus the real milliseconds)
    waits = [d.wait_min * 60 for d in log if d.kind in ("handoff_agent", "complaint")]
    assert report["times"]["time_to_assignment"]["avg_s"] == pytest.approx(sum(waits) / len(waits), abs=5)
    assert report["times"]["first_response"]["avg_bh_s"] < report["times"]["first_response"]["avg_s"]


def test_every_bucket_drills_down_to_exactly_the_conversations_it_counted(week: Week) -> None:
    params = window(week)
    report = week.editor.get("/api/reports", params=params).json()
    by_kind: dict[str, set[str]] = defaultdict(set)
    for d in week.log:
        by_kind[outcome(d)].add(d.id)
    checked = 0
    for chart, buckets in report["charts"].items():
        for b in buckets:
            listed = week.editor.get("/api/reports/conversations",
                                     params={**params, "chart": chart, "bucket": b["bucket"]}).json()
            ids = {r["conversation_id"] for r in listed["conversations"]}
            assert listed["total"] == len(ids) == b["conversations"], (chart, b)
            if chart == "outcome":
                assert ids == by_kind[b["bucket"]]
            checked += 1
    assert checked >= 20
    for bucket, kinds in (("answered", KB_ANSWERS), ("choices", {"choices"}), ("missed", {"miss_queued"})):
        listed = week.editor.get("/api/reports/conversations", params={**params, "chart": "kb", "bucket": bucket}).json()
        assert {r["conversation_id"] for r in listed["conversations"]} == {d.id for d in week.log if d.kind in kinds}
        column = {"answered": "kb_answers", "choices": "kb_choices", "missed": "kb_misses"}[bucket]
        assert sum(r[column] for r in listed["conversations"]) == report["kb"][bucket]
    resolved = week.editor.get("/api/reports/conversations",
                               params={**params, "chart": "summary", "bucket": "bot_resolved"}).json()
    assert resolved["total"] == report["summary"]["bot_resolved"]
    assert {r["outcome"] for r in resolved["conversations"]} <= {"confirmed", "assumed"}


def test_filters_narrow_every_figure_and_bad_input_is_refused(week: Week) -> None:
    params = window(week)
    care = week.editor.get("/api/reports", params={**params, "team": "care"}).json()
    complaints = [d for d in week.log if d.kind == "complaint"]
    assert care["summary"]["conversations"] == len(complaints) == care["summary"]["handed_off"]
    assert {b["bucket"] for b in care["charts"]["csat_agent"]} == {"luca@example.com"}
    maria = week.editor.get("/api/reports", params={**params, "agent": "maria@example.com"}).json()
    assert maria["summary"]["conversations"] == sum(d.agent == "maria@example.com" for d in week.log)
    one_day = week.editor.get("/api/reports", params={"start": week.now.date().isoformat(),
                                                      "end": week.now.date().isoformat()}).json()
    assert one_day["summary"]["conversations"] == sum(
        utc(raw(week)["convs"][d.id].created_at).date() == week.now.date() for d in week.log)
    assert week.editor.get("/api/reports", params={"start": "last tuesday"}).status_code == 422
    assert week.editor.get("/api/reports", params={"start": "2026-12-05", "end": "2026-12-01"}).status_code == 422
    assert week.editor.get("/api/reports/conversations", params={"chart": "nope"}).status_code == 422


def test_csv_has_one_matching_row_per_conversation(week: Week) -> None:
    resp = week.editor.get("/api/reports/export.csv", params=window(week))
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    assert "attachment" in resp.headers["content-disposition"]
    rows = {r["conversation_id"]: r for r in csv.DictReader(io.StringIO(resp.text))}
    assert set(rows) == {d.id for d in week.log}
    for d in week.log:
        row = rows[d.id]
        assert row["outcome"] == outcome(d)
        assert row["csat_score"] == (str(d.csat) if d.csat is not None else "")
        assert row["handoff_reason"] == REASON.get(d.kind, "")
        if d.kind in ("handoff_agent", "complaint"):
            assert float(row["time_to_assignment_s"]) == pytest.approx(d.wait_min * 60, abs=5)
    handed = week.editor.get("/api/reports/export.csv",
                             params={**window(week), "chart": "outcome", "bucket": "handed_off"}).text
    assert {r["conversation_id"] for r in csv.DictReader(io.StringIO(handed))} == {
        d.id for d in week.log if d.kind in HANDED}


def test_reports_are_for_editors_and_admins_only(week: Week) -> None:
    maria = agent_session(week.client, "maria@example.com")
    assert maria.get("/api/reports").status_code == 403
    assert maria.get("/api/review/items").status_code == 403
    assert week.client.get("/api/reports").status_code == 401
    assert week.client.get("/api/reports", headers={"Authorization": "Bearer test-admin-token"}).status_code == 200
