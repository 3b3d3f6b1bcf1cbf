"""Reports and console search at 1M messages / 100k conversations, on SQLite and on a private PostgreSQL.

    make bench-reports        # python -m benchmarks.bench_reports --save

Builds a synthetic support history (90 days: bot answers, choices, misses, out-of-scope refusals, handoffs with
waits and agent replies, CSAT and "Was this helpful?" answers, four channels, four languages, three teams),
writes the raw rows with SQLAlchemy Core, then the outcome records with the hub's own projector
(`bot.insights.facts`), and times:

- the reports' queries: the whole reports page (`metrics.report`: every figure and chart) for 30-day and 7-day
  ranges with and without filters, and drill-downs (`metrics.conversations`, the first page of a bucket);
- console search (`bot.insights.search`): words common and rare, order numbers, customer ids, status filters.

`sqlite_p95_ms` / `postgres_p95_ms` are the p95 over every report query of that database; `search_p95_ms` the
worse p95 of the two databases' searches. Results: benchmarks/results/reports.{json,md} with `--save`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from bot.handoff.teams import HandoffConfig  # noqa: E402
from bot.insights import metrics  # noqa: E402
from bot.insights.facts import FactsProjector  # noqa: E402
from bot.insights.search import search  # noqa: E402
from bot.store.db import Database, make_engine, migrate  # noqa: E402
from bot.store.models import Conversation, Csat, Feedback, Handoff, Message  # noqa: E402

CHANNELS = ("web", "web", "web", "telegram", "whatsapp", "sms")
LANGUAGES = ("en", "en", "en", "it", "zh", "ro")
TEAMS = ("support", "billing", "care")
AGENTS = [f"agent{i}@example.com" for i in range(12)]
QUESTIONS = [
    ("where is my order {order}", "order_status"), ("how do I reset my password", "password_reset"),
    ("can I return a {item} I bought last week", "return_refund"), ("my card payment failed twice", "payment_problem"),
    ("do you ship to {country}", "shipping_info"), ("how do gift cards work", "faq"),
    ("what is the warranty on the {item}", "faq"), ("cancel my order {order} please", "cancel_order"),
    ("the {item} arrived broken this is unacceptable", "complaint"), ("what's the weather tomorrow", "out_of_scope"),
    ("how do I change my delivery address", "out_of_scope"), ("blorp zzk", "nlu_fallback"),
]
ITEMS = ("hoodie", "charger", "lamp", "kettle", "headphones", "backpack", "blender", "sofa cover")
COUNTRIES = ("Germany", "Norway", "Canada", "Japan", "Chile", "Iceland")
AGENT_REPLIES = ("Thanks for waiting, I'm checking this now.", "I've sent you a new tracking link.",
                 "The refund is on its way: 3-5 working days.", "I've updated the address on your order.")
MESSAGE_DEFAULTS = {"sender_name": None, "payload": None, "intent": None, "confidence": None, "kb_entry_id": None,
                    "external_id": None, "delivery_status": None, "outcome": None, "kb_decision": None,
                    "kb_score": None, "kb_choices": None}
HANDOFF_CONFIG = HandoffConfig.from_dict({"default_team": "support", "teams": {
    "support": {"timezone": "Europe/Rome", "hours": {"mon-fri": "09:00-18:00"}},
    "billing": {"timezone": "Europe/Bucharest", "hours": {"mon-fri": "08:00-16:00"}}, "care": {}}})


def _generate(rng: random.Random, conversations: int, messages_per: int, days: int,
              now: datetime) -> dict[str, list[dict[str, Any]]]:
    """Raw rows (conversations, messages, handoffs, csat, feedback); messages average `messages_per`."""
    rows: dict[str, list[dict[str, Any]]] = {"conversations": [], "messages": [], "handoffs": [], "csat": [],
                                             "feedback": []}
    seq = 0
    for n in range(conversations):
        cid = f"c{n:031d}"
        start = now - timedelta(seconds=rng.uniform(0, days * 86400))
        channel, language = rng.choice(CHANNELS), rng.choice(LANGUAGES)
        handed = rng.random() < 0.3
        team = rng.choice(TEAMS) if handed else None
        agent = rng.choice(AGENTS) if handed and rng.random() < 0.9 else None
        t = start
        msgs: list[dict[str, Any]] = []

        def add(sender: str, text: str, **extra: Any) -> dict[str, Any]:
            nonlocal seq, t
            seq += 1
            t += timedelta(seconds=rng.uniform(2, 90))
            row = {**MESSAGE_DEFAULTS, "seq": seq, "id": f"m{seq:031d}", "conversation_id": cid, "sender": sender,
                   "text": text, "language": language, "created_at": t, **extra}
            msgs.append(row)
            return row

        turns = max(1, (messages_per + rng.randint(-3, 3)) // 2)
        for turn in range(turns if not handed else max(1, turns // 2)):
            question, intent = rng.choice(QUESTIONS)
            text = question.format(order=f"BC-{rng.randint(100000, 999999)}", item=rng.choice(ITEMS),
                                   country=rng.choice(COUNTRIES))
            kind = rng.random()
            outcome, decision, entry = ("kb_answer", "answer", f"entry-{rng.randint(1, 150)}") if kind < 0.55 else \
                ("choices", "choices", None) if kind < 0.7 else ("miss", "none", None) if kind < 0.82 else \
                ("out_of_scope", None, None) if intent == "out_of_scope" else ("answered", None, None)
            q = add("customer", text, intent=intent, confidence=round(rng.uniform(0.2, 0.99), 3), outcome=outcome,
                    kb_decision=decision, kb_score=round(rng.uniform(0.2, 0.9), 3), kb_entry_id=entry,
                    kb_choices=["entry-1", "entry-2"] if decision == "choices" else None)
            answer = add("bot", "Here is what I found about that.", kb_entry_id=entry)
            if entry and rng.random() < 0.4:
                rows["feedback"].append({"conversation_id": cid, "answer_message_id": answer["id"],
                                         "customer_message_id": q["id"], "kb_entry_id": entry, "language": language,
                                         "helpful": rng.random() < 0.7, "asked_at": t, "answered_at": t})
        resolved_at = resolved_by = assigned_at = None
        status = "bot"
        if handed:
            last = msgs[-1]
            last["outcome"] = "handoff"
            queued = t
            claimed = t + timedelta(seconds=rng.expovariate(1 / 900)) if agent else None
            rows["handoffs"].append({"conversation_id": cid, "reason": rng.choice(
                ("customer_request", "complaint", "no_confident_answer", "repeated_fallback")), "summary": "…",
                "details": {}, "team": team, "priority": 0, "created_at": queued, "claimed_at": claimed,
                "claimed_by": agent})
            status = "queued"
            if agent:
                t = claimed  # type: ignore[assignment]
                assigned_at, status = claimed, "assigned"
                for _ in range(max(1, turns // 2)):
                    add("agent", rng.choice(AGENT_REPLIES), sender_name=agent.split("@")[0])
                    add("customer", f"ok, and my order {f'BC-{rng.randint(100000, 999999)}'} too?")
                if rng.random() < 0.85:
                    resolved_at, resolved_by, status = t + timedelta(seconds=60), agent, "resolved"
        elif rng.random() < 0.1:
            resolved_at, resolved_by, status = t, "bot", "resolved"
        if resolved_at is not None and rng.random() < 0.5:
            rows["csat"].append({"conversation_id": cid, "agent": agent if resolved_by != "bot" else None,
                                 "score": rng.randint(1, 5), "requested_at": resolved_at, "answered_at": resolved_at})
        rows["conversations"].append({
            "id": cid, "channel": channel, "external_user_id": f"user-{n:07d}", "customer_name": None,
            "language": language, "status": status, "assigned_agent": agent if status != "queued" else None,
            "team": team, "priority": 0, "handoff_reason": rows["handoffs"][-1]["reason"] if handed else None,
            "queued_at": rows["handoffs"][-1]["created_at"] if handed else None, "created_at": start,
            "updated_at": t, "assigned_at": assigned_at, "resolved_at": resolved_at, "resolved_by": resolved_by,
            "agent_read_seq": 0, "customer_key": None})
        rows["messages"].extend(msgs)
    return rows


def _load(db: Database, rows: dict[str, list[dict[str, Any]]], log: Callable[[str], None]) -> dict[str, float]:
    tables = {"conversations": Conversation.__table__, "messages": Message.__table__,
              "handoffs": Handoff.__table__, "csat": Csat.__table__, "feedback": Feedback.__table__}
    started = time.perf_counter()
    for name, table in tables.items():
        data = rows[name]
        for i in range(0, len(data), 20_000):
            chunk = data[i:i + 20_000]
            db.write_sync(lambda tx, c=chunk, t=table: tx.conn.execute(insert(t), c))
        log(f"  {name}: {len(data):,} rows")
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    projector = FactsProjector(db, HANDOFF_CONFIG, review_confidence=0.6)
    written = projector.rebuild_sync()
    projected = time.perf_counter() - started
    log(f"  outcome records: {written:,} in {projected:.0f} s ({written / projected:,.0f} conversations/s)")
    return {"load_s": round(loaded, 1), "project_s": round(projected, 1),
            "project_per_s": round(written / projected)}


def _p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))], 1)


_CPU_MS: list[float] = []  # this process's CPU per query: SQLite's whole cost, PostgreSQL's client side only


def _time(db: Database, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> float:
    started, cpu = time.perf_counter(), time.process_time()
    db.read_sync(fn, *args, **kwargs)
    _CPU_MS.append((time.process_time() - cpu) * 1000)
    return (time.perf_counter() - started) * 1000


def _queries(db: Database, rng: random.Random, now: datetime, rounds: int) -> dict[str, Any]:
    report_ms: list[float] = []
    drill_ms: list[float] = []
    search_ms: list[float] = []
    cpu_ms: list[float] = []  # of the report and drill-down samples
    per_query: dict[str, list[float]] = {}
    filters = [{}, {"channel": "web"}, {"team": "billing"}, {"language": "it"}, {"agent": AGENTS[3]}]
    buckets = [("outcome", "handed_off"), ("outcome", "assumed"), ("channel", "whatsapp"), ("kb", "missed"),
               ("handoff_reason", "complaint"), ("csat_agent", AGENTS[1]), ("times", "first_response"),
               ("summary", "bot_resolved"), ("volume", (now - timedelta(days=3)).date().isoformat())]
    words = ["order", "refund", "password", "iceland", "kettle", "sofa cover", "weather", "blorp", "tracking link",
             "nothing-matches-this"]
    for _ in range(rounds):
        for days in (30, 7):
            f = metrics.Filters(now - timedelta(days=days), now, **rng.choice(filters))
            ms = _time(db, metrics.report, f, now=now)
            report_ms.append(ms)
            cpu_ms.append(_CPU_MS[-1])
            per_query.setdefault(f"report_{days}d", []).append(ms)
            chart, bucket = rng.choice(buckets)
            ms = _time(db, metrics.conversations, f, chart=chart, bucket=bucket, now=now, limit=200)
            drill_ms.append(ms)
            cpu_ms.append(_CPU_MS[-1])
            per_query.setdefault("drill_down", []).append(ms)
        for query, kwargs in ((rng.choice(words), {}), (f"BC-{rng.randint(100000, 999999)}", {}),
                              ("", {"customer": f"user-{rng.randint(0, 99_999):07d}"}),
                              (rng.choice(words), {"status": "resolved"}), ("", {"status": "queued"})):
            ms = _time(db, search, query, limit=50, **kwargs)
            search_ms.append(ms)
            per_query.setdefault("search_" + ("words" if query and not query.startswith("BC-") else
                                              "order" if query else "filter"), []).append(ms)
    everything = report_ms + drill_ms
    return {"p95_ms": _p(everything, 0.95), "cpu_p95_ms": _p(cpu_ms, 0.95), "p50_ms": _p(everything, 0.5),
            "report_p95_ms": _p(report_ms, 0.95), "drill_down_p95_ms": _p(drill_ms, 0.95),
            "search_p95_ms": _p(search_ms, 0.95), "search_p50_ms": _p(search_ms, 0.5),
            "per_query_p95_ms": {k: _p(v, 0.95) for k, v in per_query.items()}, "samples": len(everything)}


def _run(url: str, rows: Callable[[], dict[str, list[dict[str, Any]]]] | None, now: datetime, rounds: int, seed: int,
         log: Callable[[str], None]) -> dict[str, Any]:
    engine = make_engine(url)
    migrate(engine)
    db = Database(engine)
    build = _load(db, rows(), log) if rows is not None else {"reused": True}
    with engine.begin() as conn:  # fresh statistics, as a long-running database has
        conn.exec_driver_sql("ANALYZE")
    _queries(db, random.Random(seed), now, 2)  # warm the caches
    result = {**_queries(db, random.Random(seed + 1), now, rounds), "build": build}
    engine.dispose()
    return result


def _counts(path: Path) -> dict[str, int]:
    import sqlite3

    with sqlite3.connect(path) as con:
        return {t: con.execute(f"select count(*) from {t}").fetchone()[0] for t in ("conversations", "messages")}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Reports and console search at scale", "",
        f"{result['conversations']:,} conversations, {result['messages']:,} messages over {result['days']} days; "
        f"{result['date']}, load average {result['load_average']} on {result['cores']} cores "
        f"(other engineers' work running).", "",
        f"Command: `{result['command']}`", "",
        "| database | reports p95 (target ≤ 300 ms) | reports p50 | whole page p95 | drill-down p95 | search p95 "
        "(target ≤ 200 ms) | search p50 | outcome records built | reports p95, CPU of this process |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in ("sqlite", "postgres"):
        r = result.get(name)
        if not r:
            continue
        lines.append(f"| {name} | {r['p95_ms']} ms | {r['p50_ms']} ms | {r['report_p95_ms']} ms | "
                     f"{r['drill_down_p95_ms']} ms | {r['search_p95_ms']} ms | {r['search_p50_ms']} ms | "
                     + (f"{r['build']['project_per_s']:,}/s |" if "project_per_s" in r["build"] else "(reused database) |") + f" {r.get('cpu_p95_ms')} ms |")
    lines += ["", "p95 per query (ms):", "", "| query | " + " | ".join(n for n in ("sqlite", "postgres") if n in result)
              + " |", "|---|" + "---|" * sum(n in result for n in ("sqlite", "postgres"))]
    names = sorted(result["sqlite"]["per_query_p95_ms"]) if "sqlite" in result else []
    for q in names:
        lines.append(f"| {q} | " + " | ".join(str(result[n]["per_query_p95_ms"].get(q)) for n in ("sqlite", "postgres")
                                             if n in result) + " |")
    lines += ["", "A \"report\" sample is the whole reports page: every tile and chart of `metrics.report` (one "
              "aggregate query and nine group-bys over `conversation_facts`). Drill-down: the first 200 "
              "conversations of one bucket with their count. Search: `search_text` of the outcome records, every "
              "word must match, newest activity first, 50 rows. \"CPU of this process\" is `time.process_time()` per "
              "report and drill-down sample: on SQLite the whole cost of the query, unaffected by other processes "
              "waiting for the same cores (wall times at a load average far above the core count are mostly "
              "waiting); on PostgreSQL only the client's side.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--messages-per-conversation", type=int, default=11)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--rounds", type=int, default=20, help="measured rounds per database (default 20)")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--save", action="store_true", help="write benchmarks/results/reports.{json,md}")
    parser.add_argument("--sqlite-file", type=Path, help="keep the SQLite database here; reuse it if it exists")
    args = parser.parse_args(argv)
    log = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    now = datetime.now(timezone.utc)
    cache: dict[str, Any] = {}

    def rows() -> dict[str, list[dict[str, Any]]]:
        if "rows" not in cache:
            log(f"[bench-reports] generating {args.conversations:,} conversations…")
            cache["rows"] = _generate(random.Random(args.seed), args.conversations, args.messages_per_conversation,
                                      args.days, now)
        return cache["rows"]

    reuse = args.sqlite_file is not None and args.sqlite_file.exists()
    if reuse:
        import sqlite3

        with sqlite3.connect(args.sqlite_file) as con:  # the data was built relative to its own "now"
            latest = con.execute("select max(started_at) from conversation_facts").fetchone()[0]
        now = datetime.fromisoformat(latest).replace(tzinfo=timezone.utc) + timedelta(minutes=5)
    result: dict[str, Any] = {
        "days": args.days,
        "date": now.strftime("%Y-%m-%d"), "cores": os.cpu_count(),
        "command": "make bench-reports  (python -m benchmarks.bench_reports --save)",
    }
    with tempfile.TemporaryDirectory(prefix="bench-reports-") as tmp:
        path = args.sqlite_file or Path(tmp) / "hub.db"
        log("[bench-reports] SQLite: " + ("reusing " + str(path) if reuse else "loading and building outcome records…"))
        result["sqlite"] = _run(f"sqlite:///{path}", None if reuse else rows, now, args.rounds, args.seed, log)
        log(f"[bench-reports] SQLite: reports p95 {result['sqlite']['p95_ms']} ms, "
            f"search p95 {result['sqlite']['search_p95_ms']} ms")
    if not args.no_postgres:
        from tools.postgres import private_postgres

        log("[bench-reports] PostgreSQL: starting a private server, loading and building outcome records…")
        with private_postgres(_free_port()) as url:
            result["postgres"] = _run(url, rows, now, args.rounds, args.seed, log)
        log(f"[bench-reports] PostgreSQL: reports p95 {result['postgres']['p95_ms']} ms, "
            f"search p95 {result['postgres']['search_p95_ms']} ms")
    counts = {k: len(v) for k, v in cache["rows"].items()} if "rows" in cache else _counts(args.sqlite_file)
    result.update(conversations=counts["conversations"], messages=counts["messages"])
    result["load_average"] = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    result["sqlite_p95_ms"] = result["sqlite"]["p95_ms"]
    result["postgres_p95_ms"] = result.get("postgres", {}).get("p95_ms")
    result["search_p95_ms"] = max(r["search_p95_ms"] for r in (result.get("sqlite"), result.get("postgres")) if r)
    summary = {k: result[k] for k in ("sqlite_p95_ms", "postgres_p95_ms", "search_p95_ms", "load_average")}
    print(json.dumps(summary))
    if args.save:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "reports.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
        (RESULTS / "reports.md").write_text(_markdown(result))
        log(f"[bench-reports] wrote {RESULTS / 'reports.json'} and reports.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
