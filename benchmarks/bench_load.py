"""Load, faults and soak on the scaled-out stack (`make run-scale`: nginx, hub workers, Rasa replicas with their
action servers, PostgreSQL, Redis), all on loopback, every loop bounded in count and time.

    make bench-load            # python -m benchmarks.bench_load --save  (about 50 minutes: the soak is 30)
    python -m benchmarks.bench_load --soak-min 5 --levels 1,8   # shorter

1. **Plain Rasa vs the hub** (1 hub worker x 1 Rasa replica): the same conversations (the same four messages)
   at 1, 8 and 32 concurrent conversations, once straight to Rasa's REST channel and once as web-chat customers
   through nginx, side by side in one run. Reply latency = from sending a message to its first bot message
   (the hub: the first bot frame on the socket). `hub_overhead_p50` = hub p50 / plain Rasa p50.
2. **1x1 vs 2x2**: hub throughput at `--scale-concurrency` conversations with 1 hub worker x 1 Rasa replica and
   with 2 x 2.
3. **Faults under load** (2 x 2): widget-like web customers (one socket, resend of what was not acknowledged
   with the same `client_id` after a reconnect) while one Rasa replica and one hub worker are killed with
   SIGKILL, then Redis and PostgreSQL are restarted. Counted on the hub's database once everything settled:
   `lost`, `duplicated`, `unanswered` (as `make bench-faults` counts them, plus: a message that went to a person
   must have a handoff reason and a notice to the customer).
4. **Soak** (2 x 2): `--soak-min` minutes at `--soak-share` of the 2x2 capacity measured in 2, as a stream of
   short conversations; `soak_lost`, `soak_duplicated`, and the memory (RSS) growth of every worker.

Results: `benchmarks/results/load.json` and `load.md`, with the load average (2 shared cores: numbers are noisy;
compare the side-by-side pairs of one run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from websockets.asyncio.client import connect

from benchmarks.bench_faults import Stack, Visitor, count, settle
from core.settings import HubSettings
from tests_support import free_port_dead as free_port

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
TEXTS = ["hello", "do you sell gift cards?", "how long does delivery take?", "thanks!"]
METADATA = {"language": "en", "channel": "web"}


def log(message: str) -> None:
    print(f"[bench-load] {message}", file=sys.stderr, flush=True)


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# -- the stack ---------------------------------------------------------------------------------------------------


class ScaledStack(Stack):
    """`python -m tools.scale run` with free internal ports; which process is where comes from topology.json."""

    def __init__(self, settings: HubSettings, hubs: int, rasa: int, actions: str) -> None:
        super().__init__(settings, [sys.executable, "-m", "tools.scale", "run", "--free-ports", "--hubs", str(hubs),
                                    "--rasa", str(rasa), "--actions", actions])
        self.wait_for("Press Ctrl-C", timeout_s=900)
        root = settings.data_dir / "scale"
        self.topology = json.loads((root / "topology.json").read_text())
        password = (settings.data_dir / "secrets" / "postgres_password").read_text().strip()
        self.db_url = (f"postgresql+psycopg2://supportbot:{password}@127.0.0.1:"
                       f"{self.topology['postgres_port']}/supportbot")

    @property
    def public(self) -> str:
        return self.settings.hub_url

    def pid_of(self, *needles: str) -> int:
        out = subprocess.run(["ps", "-ww", "-o", "pid=,args=", "--ppid", str(self.proc.pid)], capture_output=True,
                             text=True).stdout
        return next(int(line.split()[0]) for line in out.splitlines() if all(n in line for n in needles))

    def workers(self) -> dict[str, int]:
        """Supervisor name → pid of every hub worker, Rasa replica and action server."""
        found = {}
        for kind, needle, ports in (("hub", "uvicorn", "hub_ports"), ("rasa", "rasa_cli", "rasa_ports"),
                                    ("actions", "-m actions", "action_ports")):
            for i, port in enumerate(self.topology[ports], 1):
                found[f"{kind}-{i}"] = self.pid_of(needle, f"--port {port}")
        return found


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


# -- closed-loop conversations: plain Rasa and the hub -------------------------------------------------------------


async def rasa_conversation(client: httpx.AsyncClient, url: str, sender: str) -> list[tuple[float, bool]]:
    out = []
    for message in TEXTS:
        started = time.perf_counter()
        resp = await client.post(url, json={"sender": sender, "message": message, "metadata": METADATA})
        replies = resp.json() if resp.status_code == 200 else []
        out.append((time.perf_counter() - started, bool(replies)))
    return out


async def hub_conversation(ws_url: str, timeout_s: float) -> list[tuple[float, bool]]:
    out = []
    async with connect(ws_url, open_timeout=30, max_size=None) as ws:
        await ws.send(json.dumps({"type": "hello", "language": "en"}))
        await asyncio.wait_for(ws.recv(), 30)
        for message in TEXTS:
            cid = uuid.uuid4().hex
            started = time.perf_counter()
            await ws.send(json.dumps({"type": "message", "text": message, "client_id": cid}))
            first: float | None = None
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), timeout_s))
                if frame.get("type") == "message" and frame.get("sender") == "bot" and first is None:
                    first = time.perf_counter() - started
                if frame.get("type") in ("ack", "error") and frame.get("client_id") == cid:
                    break
            out.append((first if first is not None else time.perf_counter() - started, first is not None))
    return out


async def run_level(kind: str, stack: ScaledStack, concurrency: int, conversations: int,
                    budget_s: float) -> dict[str, Any]:
    """`conversations` conversations, `concurrency` at a time; bounded by `budget_s` overall."""
    run_id = uuid.uuid4().hex[:8]
    rasa_url = f"http://127.0.0.1:{stack.topology['rasa_ports'][0]}/webhooks/rest/webhook"
    ws_url = stack.public.replace("http", "ws") + "/channels/web/ws"
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(conversations):
        queue.put_nowait(n)
    samples: list[tuple[float, bool]] = []
    failures = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        async def worker() -> None:
            nonlocal failures
            while not queue.empty():
                n = queue.get_nowait()
                try:
                    if kind == "rasa":
                        samples.extend(await rasa_conversation(client, rasa_url, f"bench-{run_id}-{n}"))
                    else:
                        samples.extend(await hub_conversation(ws_url, timeout_s=60))
                except (OSError, asyncio.TimeoutError, httpx.HTTPError, Exception):  # noqa: BLE001 - counted
                    failures += 1

        started = time.perf_counter()
        tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
        done, pending = await asyncio.wait(tasks, timeout=budget_s)
        for task in pending:
            task.cancel()
        wall = time.perf_counter() - started
    latencies = sorted(s for s, _ in samples)
    # a conversation's samples are added together, in TEXTS order: where the time goes, message by message
    by_text = {t: percentiles(sorted(samples[i][0] for i in range(k, len(samples), len(TEXTS))))["p50_ms"]
               for k, t in enumerate(TEXTS)} if samples else {}
    return {"messages": len(samples), "answered": sum(ok for _, ok in samples), "failed_conversations": failures,
            "timed_out": bool(pending), "wall_s": round(wall, 2),
            "msgs_s": round(len(samples) / wall, 2) if wall else 0.0, **percentiles(latencies),
            **({"p50_ms_by_text": by_text} if by_text else {}),
            "samples": latencies,
            "samples_by_text": {t: [samples[i][0] for i in range(k, len(samples), len(TEXTS))]
                                for k, t in enumerate(TEXTS)}}


def percentiles(values: list[float]) -> dict[str, float | None]:
    if len(values) < 2:
        return {"p50_ms": round(values[0] * 1000, 1) if values else None, "p95_ms": None, "p99_ms": None}
    q = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50_ms": round(statistics.median(values) * 1000, 1), "p95_ms": round(q[94] * 1000, 1),
            "p99_ms": round(q[98] * 1000, 1)}


def compare(stack: ScaledStack, levels: list[int], min_conversations: int, rounds: int = 4) -> dict[str, Any]:
    """Plain Rasa and the hub, level by level, in alternating rounds (Rasa, hub, Rasa, hub …) so that both
    see the same machine: on a shared 2-core box the drift between two back-to-back runs is larger than the
    difference being measured. The figures of a level pool all its rounds."""
    out: dict[str, Any] = {"plain_rasa": {}, "hub": {}}
    for level in levels:
        conversations = max(min_conversations, 2 * level)
        per_round = max(level, -(-conversations // rounds))
        n_rounds = -(-conversations // per_round)
        runs: dict[str, list[dict[str, Any]]] = {"rasa": [], "hub": []}
        for _ in range(n_rounds):
            for kind in ("rasa", "hub"):
                runs[kind].append(asyncio.run(run_level(kind, stack, level, per_round, budget_s=600)))
        for kind, parts in runs.items():
            result = pooled(parts)
            result["load_average"] = load_average()
            out["plain_rasa" if kind == "rasa" else "hub"][str(level)] = result
            log(f"{kind:>4} x{level:<2}: {result['msgs_s']} msgs/s, p50 {result['p50_ms']} ms, "
                f"p95 {result['p95_ms']} ms ({result['answered']}/{result['messages']} answered, {n_rounds} rounds)")
    return out


def pooled(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One level's rounds as one result: latencies pooled, throughput over the rounds' summed wall time."""
    samples = sorted(x for p in parts for x in p.pop("samples"))
    by_text: dict[str, list[float]] = {}
    for p in parts:
        for text, values in p.pop("samples_by_text", {}).items():
            by_text.setdefault(text, []).extend(values)
    wall = sum(p["wall_s"] for p in parts)
    messages = sum(p["messages"] for p in parts)
    return {"messages": messages, "answered": sum(p["answered"] for p in parts),
            "failed_conversations": sum(p["failed_conversations"] for p in parts),
            "timed_out": any(p["timed_out"] for p in parts), "rounds": len(parts), "wall_s": round(wall, 2),
            "msgs_s": round(messages / wall, 2) if wall else 0.0, **percentiles(samples),
            "p50_ms_by_text": {t: percentiles(sorted(v))["p50_ms"] for t, v in by_text.items()}}


def throughput(stack: ScaledStack, concurrency: int, conversations: int) -> dict[str, Any]:
    result = pooled([asyncio.run(run_level("hub", stack, concurrency, conversations, budget_s=600))])
    result["load_average"] = load_average()
    log(f"hub throughput x{concurrency}: {result['msgs_s']} msgs/s ({result['answered']}/{result['messages']})")
    return result


def query(db_url: str, sql: str) -> list[Any]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql)).all())
    finally:
        engine.dispose()


def replies_per_text(db_url: str) -> dict[str, int]:
    """How many bot messages answer each text when nothing fails (the baseline for counting doubles)."""
    rows = query(db_url, "SELECT c.text, count(b.id) FROM messages c JOIN messages b ON b.reply_to = c.id "
                         "WHERE c.sender = 'customer' GROUP BY c.id, c.text")
    most: dict[str, int] = {}
    for t, n in rows:
        most[t] = max(most.get(t, 0), int(n))
    return most


def refusals(counted: dict[str, Any], visitors: list[Visitor], db_url: str) -> dict[str, Any]:
    """`lost` counts every message sent and never stored; of those, the ones the hub refused with an error frame
    (the customer saw "please try again") are `refused_with_error`, the others `lost_silently`."""
    stored = {r[0] for r in query(db_url, "SELECT external_id FROM messages WHERE sender = 'customer' AND "
                                          "external_id IS NOT NULL")}
    refused = {cid for v in visitors for cid in getattr(v, "refused", ()) if cid not in stored}
    return {**counted, "refused_with_error": len(refused), "lost_silently": counted["lost"] - len(refused)}


def silent_handoffs(db_url: str) -> list[str]:
    """Conversations that went to a person without a reason, or without the customer being told."""
    rows = query(db_url, "SELECT c.id FROM conversations c WHERE c.status IN ('queued', 'assigned') AND "
                         "(c.handoff_reason IS NULL OR NOT EXISTS (SELECT 1 FROM messages s WHERE "
                         "s.conversation_id = c.id AND s.sender = 'system'))")
    return [r[0] for r in rows]


# -- faults and soak -----------------------------------------------------------------------------------------------


class TimedVisitor(Visitor):
    """The widget-like visitor of `make bench-faults`, also timing each message to its acknowledgement, and
    doing what the widget does with an error frame: the message leaves the resend queue and the customer sees
    "please try again" (`refused`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.acked_after: list[float] = []
        self.refused: set[str] = set()
        self.refused_at: list[float] = []

    async def _read(self, ws: Any) -> None:
        try:
            async for raw in ws:
                frame = json.loads(raw)
                cid = frame.get("client_id")
                if frame.get("type") == "ack" and cid and cid not in self.acked:
                    self.acked.add(cid)
                    self.acked_after.append(time.monotonic())
                elif frame.get("type") == "error" and cid and cid not in self.acked:
                    self.refused.add(cid)
                    self.refused_at.append(time.monotonic())
                    self.acked.add(cid)  # settled: not resent (the widget drops it from its outbox)
        except Exception:  # noqa: BLE001 - the hub went away: `run` reconnects and resends
            return


async def faults_under_load(stack: ScaledStack, visitors_n: int, messages: int, think_s: float) -> dict[str, Any]:
    """Waves of `visitors_n` customers, a new wave every `messages` x `think_s` seconds from before the first
    fault until the last process is back (bounded: 20 minutes, 60 waves), while the faults happen one by one."""
    ws_url = stack.public.replace("http", "ws") + "/channels/web/ws"
    stop_at = time.monotonic() + 1200
    visitors: list[Visitor] = []
    tasks: list[asyncio.Task[None]] = []
    faults: dict[str, Any] = {}
    done = asyncio.Event()

    async def waves() -> None:
        for n in range(60):
            for i in range(visitors_n):
                v = TimedVisitor(ws_url, f"f{n}v{i}", messages, think_s)
                visitors.append(v)
                tasks.append(asyncio.create_task(v.run(stop_at)))
            try:
                await asyncio.wait_for(done.wait(), messages * think_s)
                return
            except asyncio.TimeoutError:
                continue

    def kill(*needles: str, sig: int = signal.SIGKILL) -> None:
        os.kill(stack.pid_of(*needles), sig)

    steps = [
        ("rasa_replica_sigkill", lambda: kill("rasa_cli", f"--port {stack.topology['rasa_ports'][0]}"),
         "Rasa server 1 is back"),
        ("hub_worker_sigkill", lambda: kill("uvicorn", f"--port {stack.topology['hub_ports'][0]}"),
         "hub worker 1 is back"),
        ("redis_restart", lambda: kill("redis-server", sig=signal.SIGTERM), "Redis is back"),
        ("postgres_restart", lambda: kill("bin/postgres", sig=signal.SIGINT), "PostgreSQL is back"),  # fast shutdown
    ]
    spawner = asyncio.create_task(waves())
    for name, act, back_line in steps:
        await asyncio.sleep(max(6.0, messages * think_s / 2))  # customers are mid-conversation when it happens
        mark = time.monotonic()
        act()
        log(f"fault: {name}")
        back = await asyncio.to_thread(stack.wait_for, back_line, mark, 300)
        # the customers it hit: mid-conversation when it happened, or starting before the process was back
        hit = [v for v, t in zip(visitors, tasks) if not t.done()]
        faults[name] = {"back_s": round(back - mark, 1), "visitors": hit, "window": (mark, back)}
    await asyncio.sleep(messages * think_s)  # and some load after the last one
    done.set()
    await spawner
    await asyncio.gather(*tasks)
    return {"faults": faults, "visitors": visitors}


async def soak(stack: ScaledStack, rate: float, minutes: float, messages: int, think_s: float) -> dict[str, Any]:
    """A stream of short conversations at `rate` customer messages per second for `minutes` (bounded)."""
    ws_url = stack.public.replace("http", "ws") + "/channels/web/ws"
    end = time.monotonic() + minutes * 60
    stop_at = end + 180  # the last conversations finish; nothing runs past this
    spawn_every = messages / rate
    workers = stack.workers()
    memory: dict[str, list[float]] = {name: [] for name in workers}
    visitors: list[TimedVisitor] = []
    tasks: list[asyncio.Task[None]] = []
    next_sample = time.monotonic()
    started = time.monotonic()
    n = 0
    while time.monotonic() < end:
        v = TimedVisitor(ws_url, f"soak{n}", messages, think_s)
        visitors.append(v)
        tasks.append(asyncio.create_task(v.run(stop_at)))
        n += 1
        if time.monotonic() >= next_sample:
            for name, pid in stack.workers().items():
                memory[name].append(rss_mb(pid))
            next_sample += 60
            log(f"soak {int((time.monotonic() - started) / 60)}/{minutes:g} min: {n} conversations, "
                f"load {load_average()[0]}")
        await asyncio.sleep(spawn_every)
    await asyncio.gather(*tasks)
    for name, pid in stack.workers().items():
        memory[name].append(rss_mb(pid))
    return {"visitors": visitors, "memory_mb": memory, "conversations": n}


def memory_growth(samples: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    """Per worker: RSS after warm-up (the second sample) and at the end, and the growth between them."""
    out = {}
    for name, values in samples.items():
        if len(values) >= 3:
            start, end = values[1], values[-1]
            out[name] = {"start_mb": start, "end_mb": end, "growth_mb": round(end - start, 1)}
    return out


# -- the run -----------------------------------------------------------------------------------------------------


def stack_settings(work: Path, rasa_timeout_s: float) -> HubSettings:
    models = work / "models"
    models.mkdir(parents=True, exist_ok=True)
    for name in ("current.tar.gz", "current.fingerprint"):  # the project's trained model (make train)
        src = ROOT / "models" / name
        if not src.exists():
            raise SystemExit("no trained model: run `make train` first")
        shutil.copy(src, models / name)
    port = free_port()
    return HubSettings.from_env(data_dir=work / "var", hub_port=port, rasa_model_dir=models,
                                public_url=f"http://127.0.0.1:{port}", rasa_timeout_s=rasa_timeout_s,
                                outbox_base_delay_s=2.0, outbox_poll_s=0.5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="1,8,32", help="concurrent conversations to compare (default 1,8,32)")
    parser.add_argument("--min-conversations", type=int, default=24,
                        help=f"conversations per level at least (each {len(TEXTS)} messages; default 24)")
    parser.add_argument("--scale-concurrency", type=int, default=32, help="conversations for 1x1 vs 2x2")
    parser.add_argument("--scale-conversations", type=int, default=64)
    parser.add_argument("--actions", choices=("per-rasa", "shared"), default="per-rasa")
    parser.add_argument("--no-compare-actions", dest="compare_actions", action="store_false",
                        help="skip the 2x2 throughput with the other action-server layout")
    parser.add_argument("--fault-visitors", type=int, default=4, help="web customers per wave during the faults")
    parser.add_argument("--fault-messages", type=int, default=8, help="messages per customer")
    parser.add_argument("--think-s", type=float, default=1.5, help="seconds between a customer's messages")
    parser.add_argument("--soak-min", type=float, default=30.0, help="soak duration in minutes (default 30; 0: none)")
    parser.add_argument("--soak-share", type=float, default=0.7, help="share of the measured 2x2 capacity")
    parser.add_argument("--rasa-timeout-s", type=float, default=20.0)
    parser.add_argument("--skip-faults", action="store_true")
    parser.add_argument("--save", action="store_true")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stopped from outside: still stop the stack
    levels = [int(x) for x in args.levels.split(",") if x.strip()]
    work = Path(tempfile.mkdtemp(prefix="bench-load-"))
    work.chmod(0o755)  # PostgreSQL runs as the postgres user
    result: dict[str, Any] = {"load_average": {"before": load_average()}}
    started = time.monotonic()
    try:
        log("starting 1 hub worker x 1 Rasa replica")
        stack = ScaledStack(stack_settings(work / "1x1", args.rasa_timeout_s), 1, 1, args.actions)
        try:
            # warm-up: language models, the KB, connection pools, Rasa's caches; the first dozen conversations
            # after a start were measured up to 60 % slower than the next ones
            asyncio.run(run_level("hub", stack, 2, 12, budget_s=300))
            asyncio.run(run_level("rasa", stack, 2, 12, budget_s=300))
            side_by_side = compare(stack, levels, args.min_conversations)
            scale_1x1 = throughput(stack, args.scale_concurrency, args.scale_conversations)
        finally:
            stack.stop()
        other = "shared" if args.actions == "per-rasa" else "per-rasa"
        if args.compare_actions:  # the other action-server layout, right before the main 2x2 run
            log(f"starting 2 hub workers x 2 Rasa replicas, action servers {other}")
            stack = ScaledStack(stack_settings(work / "2x2-other", args.rasa_timeout_s), 2, 2, other)
            try:
                asyncio.run(run_level("hub", stack, 4, 4, budget_s=180))
                result["scale_2x2_actions"] = {other: throughput(stack, args.scale_concurrency,
                                                                 args.scale_conversations),
                                               "workers_rss_mb": {n: rss_mb(pid) for n, pid in stack.workers().items()}}
            finally:
                stack.stop()
        log(f"starting 2 hub workers x 2 Rasa replicas, action servers {args.actions}")
        stack = ScaledStack(stack_settings(work / "2x2", args.rasa_timeout_s), 2, 2, args.actions)
        try:
            asyncio.run(run_level("hub", stack, 4, 4, budget_s=180))
            scale_2x2 = throughput(stack, args.scale_concurrency, args.scale_conversations)
            if args.compare_actions:
                result["scale_2x2_actions"][args.actions] = scale_2x2
                result["scale_2x2_actions"]["workers_rss_mb_" + args.actions] = {
                    n: rss_mb(pid) for n, pid in stack.workers().items()}
            calibration = replies_per_text(stack.db_url)
            if not args.skip_faults:
                outcome = asyncio.run(faults_under_load(stack, args.fault_visitors, args.fault_messages, args.think_s))
                settle(stack.db_url, timeout_s=300)
                time.sleep(3)
                counted = refusals(count(stack.db_url, outcome["visitors"], {}, calibration), outcome["visitors"],
                                   stack.db_url)
                silent = silent_handoffs(stack.db_url)
                for name, fault in outcome["faults"].items():  # each fault counted on the customers it hit
                    hit, (down, up) = fault.pop("visitors"), fault.pop("window")
                    mine = refusals(count(stack.db_url, hit, {}, calibration, only=True), hit, stack.db_url)
                    fault.update(customers=len(hit), **{k: mine[k] for k in (
                        "customer_messages_sent", "lost", "duplicated", "unanswered")})
                    # customers hit by two faults close together count under both; the refusals are split by
                    # when they came: during this outage (up to 10 s after the process was back)
                    fault["refused_during_outage"] = sum(down <= t <= up + 10 for v in hit for t in v.refused_at)
                result["faults"] = {**counted, "handed_off_silently": len(silent), "faults": outcome["faults"],
                                    "customers": len(outcome["visitors"])}
                result.update(lost=counted["lost"], duplicated=counted["duplicated"],
                              unanswered=counted["unanswered"] + len(silent))
            if args.soak_min > 0:
                rate = round(args.soak_share * scale_2x2["msgs_s"], 2)
                log(f"soak: {args.soak_min:g} min at {rate} msgs/s ({args.soak_share:.0%} of {scale_2x2['msgs_s']})")
                before = count(stack.db_url, [], {}, calibration)  # what the earlier phases left, not the soak's
                soaked = asyncio.run(soak(stack, rate, args.soak_min, messages=6, think_s=2.0))
                settle(stack.db_url, timeout_s=300)
                time.sleep(3)
                counted = refusals(count(stack.db_url, soaked["visitors"], {}, calibration), soaked["visitors"],
                                   stack.db_url)
                acks = sorted(t for v in soaked["visitors"] for t in v.acked_after)
                result["soak"] = {"minutes": args.soak_min, "target_msgs_s": rate,
                                  "sent": counted["customer_messages_sent"],
                                  "stored": counted["customer_messages_stored"] - before["customer_messages_stored"],
                                  "achieved_msgs_s": round(len(acks) / max(1.0, acks[-1] - acks[0]), 2) if acks else 0,
                                  "conversations": soaked["conversations"],
                                  "unanswered": counted["unanswered"] - before["unanswered"],
                                  "refused_with_error": counted["refused_with_error"],
                                  "memory_mb": soaked["memory_mb"], "load_average_after": load_average()}
                result.update(soak_lost=counted["lost"],
                              soak_duplicated=counted["duplicated"] - before["duplicated"],
                              memory_growth_mb=memory_growth(soaked["memory_mb"]))
        finally:
            stack.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    p50 = lambda kind, level: side_by_side[kind][str(level)]["p50_ms"]  # noqa: E731
    result.update({
        "plain_rasa_msgs_s": {str(lv): side_by_side["plain_rasa"][str(lv)]["msgs_s"] for lv in levels},
        "hub_msgs_s": {str(lv): side_by_side["hub"][str(lv)]["msgs_s"] for lv in levels},
        "latency_ms": {kind: {str(lv): {k: side_by_side[kind][str(lv)][k] for k in ("p50_ms", "p95_ms", "p99_ms")}
                              for lv in levels} for kind in ("plain_rasa", "hub")},
        "hub_overhead_p50": {str(lv): round(p50("hub", lv) / p50("plain_rasa", lv), 3)
                             if p50("hub", lv) and p50("plain_rasa", lv) else None for lv in levels},
        "scale_1x1": scale_1x1["msgs_s"], "scale_2x2": scale_2x2["msgs_s"],
        "scale_ratio": round(scale_2x2["msgs_s"] / scale_1x1["msgs_s"], 2) if scale_1x1["msgs_s"] else None,
        "details": {"side_by_side": side_by_side, "scale_1x1": scale_1x1, "scale_2x2": scale_2x2,
                    "calibration": calibration},
        "targets": {"hub_overhead_p50": 1.10, "lost": 0, "duplicated": 0, "unanswered": 0, "soak_lost": 0,
                    "soak_duplicated": 0},
        "setup": f"tools.scale on loopback (nginx, PostgreSQL 15, Redis 7), action servers {args.actions}; "
                 f"conversations of {len(TEXTS)} messages {TEXTS}; levels {levels} (at least "
                 f"{args.min_conversations} conversations each); scale at {args.scale_concurrency} concurrent "
                 f"({args.scale_conversations} conversations); faults: {args.fault_visitors} widget-like customers "
                 f"x {args.fault_messages} messages ({args.think_s} s apart) per wave, a new wave as the last one "
                 "ends, from before the first fault until after the last; "
                 f"soak {args.soak_min:g} min at {args.soak_share:.0%} of the 2x2 capacity; RASA_TIMEOUT_S "
                 f"{args.rasa_timeout_s:g}",
        "duration_s": round(time.monotonic() - started, 1),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "make bench-load  (python -m benchmarks.bench_load --save" +
                   "".join(f" {a}" for a in (argv if argv is not None else sys.argv[1:]) if a != "--save") + ")",
    })
    result["load_average"]["after"] = load_average()
    print(json.dumps(result, indent=2, default=str))
    if args.save:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "load.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
        (RESULTS / "load.md").write_text(markdown(result))
    return 0


def markdown(r: dict[str, Any]) -> str:
    lat, levels = r["latency_ms"], list(r["hub_msgs_s"])
    rows = "\n".join(
        f"| {lv} | {r['plain_rasa_msgs_s'][lv]} | {r['hub_msgs_s'][lv]} | "
        f"{lat['plain_rasa'][lv]['p50_ms']} / {lat['plain_rasa'][lv]['p95_ms']} / {lat['plain_rasa'][lv]['p99_ms']} | "
        f"{lat['hub'][lv]['p50_ms']} / {lat['hub'][lv]['p95_ms']} / {lat['hub'][lv]['p99_ms']} | "
        f"**{r['hub_overhead_p50'][lv]}** | {r['details']['side_by_side']['hub'][lv]['load_average'][0]} |"
        for lv in levels)
    text_ = f"""# Load, faults and soak: the scaled-out stack

`{r['command']}` — {r['date']}, {r['duration_s']} s; load average before {r['load_average']['before']}, after
{r['load_average']['after']} (2 cores shared with other work: compare the pairs of one run, not runs).
{r['setup']}.

## Plain Rasa vs the hub (1 hub worker x 1 Rasa replica)

| concurrent conversations | plain Rasa msgs/s | hub msgs/s | plain Rasa p50 / p95 / p99 ms | hub p50 / p95 / p99 ms | hub p50 / Rasa p50 (target ≤ 1.10) | load (1 min) |
|---|---|---|---|---|---|---|
{rows}

## 1x1 vs 2x2

| topology | hub msgs/s |
|---|---|
| 1 hub worker x 1 Rasa replica | {r['scale_1x1']} |
| 2 hub workers x 2 Rasa replicas | {r['scale_2x2']} |
| ratio | **{r['scale_ratio']}** |
"""
    if "scale_2x2_actions" in r:
        a = r["scale_2x2_actions"]
        text_ += "\nAction servers, 2 x 2: " + "; ".join(
            f"{layout} {a[layout]['msgs_s']} msgs/s (p50 {a[layout]['p50_ms']} ms)" for layout in ("per-rasa", "shared")
            if layout in a) + ".\n"
    if "faults" in r:
        f = r["faults"]
        per_fault = "\n".join(
            f"| {k} | {v['back_s']} | {v.get('customers', '')} | {v.get('customer_messages_sent', '')} | "
            f"**{v.get('lost', '')}** ({v.get('refused_during_outage', v.get('refused_with_error', ''))}) | **{v.get('duplicated', '')}** | **{v.get('unanswered', '')}** |"
            for k, v in f["faults"].items())
        text_ += f"""
## Faults under load (2 x 2)

| fault | back after (s) | customers hit | their messages | lost (refused with an error during this outage) | duplicated | unanswered |
|---|---|---|---|---|---|---|
{per_fault}

All customers of the fault phase together:

| measure | result | target |
|---|---|---|
| lost (sent, never stored: silently {f['lost_silently']}, refused with an error the customer saw {f['refused_with_error']}) | **{r['lost']}** of {f['customer_messages_sent']} | 0 |
| duplicated (stored twice {f['stored_twice']}, answered twice {f['answered_twice']}) | **{r['duplicated']}** | 0 |
| unanswered (no bot answer and no person's queue {f['unanswered']}; handed to a person without a reason or a notice {f['handed_off_silently']}) | **{r['unanswered']}** | 0 |

{f['customers']} customers in waves throughout; "back after" is the supervisor's "is back"; a customer is hit by a
fault when mid-conversation as it happens or starting before the process is back.
"""
    if "soak" in r:
        s = r["soak"]
        growth = "\n".join(f"| {name} | {g['start_mb']} | {g['end_mb']} | {g['growth_mb']} |"
                           for name, g in r["memory_growth_mb"].items())
        text_ += f"""
## Soak (2 x 2): {s['minutes']:g} minutes at {s['target_msgs_s']} msgs/s (achieved {s['achieved_msgs_s']})

| measure | result | target |
|---|---|---|
| soak_lost (of which refused with an error {s['refused_with_error']}) | **{r['soak_lost']}** of {s['sent']} | 0 |
| soak_duplicated | **{r['soak_duplicated']}** | 0 |
| unanswered | {s['unanswered']} | 0 |

| worker | RSS after 1 min (MB) | RSS at the end (MB) | growth (MB) |
|---|---|---|---|
{growth}
"""
    if r.get("notes"):  # what the person who ran it observed (kept in load.json)
        text_ += "\n## Notes\n\n" + "\n".join(f"- {n}" for n in r["notes"]) + "\n"
    return text_


if __name__ == "__main__":
    raise SystemExit(main())
