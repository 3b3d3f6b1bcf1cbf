"""Faults under load: nothing lost, nothing doubled, nobody left without an answer.

    make bench-faults          # python -m benchmarks.bench_faults --save  (about 6 minutes)

The real stack runs under the launcher's supervisor (Rasa, the action server, the hub; SQLite; web chat,
Telegram, WhatsApp and SMS, with local fakes of Telegram's and Twilio's APIs). Then:

1. **Duplicate first webhooks**: per channel, 100 concurrent copies of a new customer's first message (the same
   Telegram `update_id`, Twilio `MessageSid`, web `client_id`).
2. **Load with faults**: web-chat visitors in waves send messages (bounded: a fixed number each, a think time)
   while Rasa, then the action server, then the hub are killed with SIGKILL. A visitor behaves like the widget:
   a message not acknowledged is resent with the same `client_id` when the socket comes back.

Counted from the hub's database once everything settled (`benchmarks/results/faults.json`):
`lost` (sent, never stored), `duplicated` (stored twice, or answered by more than one bot turn, or a provider
message sent twice for one burst), `unanswered` (no bot answer and no person's queue: a conversation still the
bot's with the message unanswered), `forked_conversations` (more than one conversation for one customer and
channel), `restart_s` (SIGKILL of Rasa → the supervisor reports it healthy again).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from twilio.request_validator import RequestValidator
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the protocol fakes of the test suite
from fakes.telegram_api import FakeTelegram  # noqa: E402
from fakes.twilio_api import FakeTwilio  # noqa: E402

from core.settings import HubSettings  # noqa: E402
from tests_support import free_port_dead as free_port  # noqa: E402
from tools.launcher import child_env  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
TG_TOKEN, TG_SECRET = "4242:bench-token", "bench-webhook-secret"
TW_SID, TW_TOKEN = "AC" + "2" * 32, "bench-twilio-token"
WA_FROM, SMS_FROM = "whatsapp:+14155238886", "+15005550006"
TEXTS = ["hello", "do you sell gift cards?", "thanks!"]


def log(message: str) -> None:
    print(f"[bench-faults] {message}", file=sys.stderr, flush=True)


class Stack:
    """The launcher and its children, with the launcher's output followed in a thread."""

    def __init__(self, settings: HubSettings, argv: list[str] | None = None) -> None:
        self.settings = settings
        self.lines: list[tuple[float, str]] = []
        self.proc = subprocess.Popen(argv or [sys.executable, "-m", "tools.launcher", "run"], cwd=ROOT,
                                     env=child_env(**settings.to_env()), stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._follow, daemon=True).start()

    def _follow(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append((time.monotonic(), line.rstrip()))

    def wait_for(self, needle: str, after: float = 0.0, timeout_s: float = 300) -> float:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for at, line in list(self.lines):
                if at >= after and needle in line:
                    return at
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise SystemExit(f"no {needle!r} from the launcher:\n" + "\n".join(line for _, line in self.lines[-40:]))

    def child(self, needle: str) -> int:
        out = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(self.proc.pid)], capture_output=True,
                             text=True).stdout
        return next(int(line.split()[0]) for line in out.splitlines() if needle in line)

    def kill(self, needle: str) -> float:
        os.kill(self.child(needle), signal.SIGKILL)
        return time.monotonic()

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# -- duplicate first webhooks ---------------------------------------------------------------------------------


async def burst(settings: HubSettings, tg: FakeTelegram, tw: FakeTwilio, copies: int) -> dict[str, Any]:
    hub = settings.hub_url
    validator = RequestValidator(TW_TOKEN)
    out: dict[str, Any] = {}
    async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=copies, max_keepalive_connections=0)) as client:
        update = {"update_id": 900001, "message": {"message_id": 7, "date": int(time.time()), "text": "hello",
                                                   "chat": {"id": 77001, "type": "private"},
                                                   "from": {"id": 77001, "is_bot": False, "first_name": "Ada"}}}
        tg_before = len(tg.api_calls("sendMessage"))
        await asyncio.gather(*(client.post(f"{hub}/channels/telegram/webhook", json=update,
                                           headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET})
                               for _ in range(copies)))
        out["telegram"] = {"user": "77001", "provider_sends": lambda: len(tg.api_calls("sendMessage")) - tg_before}
        for channel, sender, to in (("whatsapp", "whatsapp:+393330009001", WA_FROM), ("sms", "+393330009002", SMS_FROM)):
            form = {"MessageSid": f"SMburst{channel:0>26}", "AccountSid": TW_SID, "From": sender, "To": to,
                    "Body": "hello", "NumMedia": "0"}
            url = f"{hub}/channels/{channel}/webhook"
            sig = validator.compute_signature(url, form)
            before = len(tw.messages(sender))
            await asyncio.gather(*(client.post(url, data=form, headers={"X-Twilio-Signature": sig})
                                   for _ in range(copies)))
            out[channel] = {"user": sender.removeprefix("whatsapp:"),
                            "provider_sends": lambda s=sender, b=before: len(tw.messages(s)) - b}
    # The web chat: one visitor, `copies` sockets sending the same frame at once.
    ws_url = hub.replace("http", "ws") + "/channels/web/ws"
    async with connect(ws_url) as ws:
        await ws.send(json.dumps({"type": "hello"}))
        welcome = json.loads(await ws.recv())
    visitor_token = welcome["token"]

    async def one() -> None:
        async with connect(ws_url) as ws:
            await ws.send(json.dumps({"type": "hello", "token": visitor_token}))
            await ws.recv()
            await ws.send(json.dumps({"type": "message", "text": "hello", "client_id": "burst-web-1"}))
            while json.loads(await asyncio.wait_for(ws.recv(), 60)).get("type") != "ack":
                pass

    await asyncio.gather(*(one() for _ in range(copies)))
    out["web"] = {"token": visitor_token}
    return out


# -- load with faults -----------------------------------------------------------------------------------------


class Visitor:
    """A widget: one socket at a time, reconnecting and resending what was not acknowledged."""

    def __init__(self, ws_url: str, name: str, count: int, think_s: float) -> None:
        self.ws_url, self.name, self.count, self.think_s = ws_url, name, count, think_s
        self.sent: list[str] = []  # client ids
        self.texts: dict[str, str] = {}  # client id → what the customer wrote (a resend repeats it)
        self.acked: set[str] = set()
        self.token: str | None = None
        self.reconnects = 0

    async def run(self, stop_at: float) -> None:
        todo = [f"{self.name}-{n}" for n in range(self.count)]
        while (todo or set(self.sent) - self.acked) and time.monotonic() < stop_at:
            try:
                async with connect(self.ws_url, open_timeout=10) as ws:
                    await ws.send(json.dumps({"type": "hello", "token": self.token}))
                    self.token = json.loads(await asyncio.wait_for(ws.recv(), 60))["token"]
                    for cid in [c for c in self.sent if c not in self.acked]:  # the widget's resend
                        await ws.send(json.dumps({"type": "message", "text": self.texts[cid], "client_id": cid}))
                    reader = asyncio.create_task(self._read(ws))
                    while todo and time.monotonic() < stop_at:
                        cid = todo.pop(0)
                        self.sent.append(cid)
                        self.texts[cid] = TEXTS[len(self.sent) % len(TEXTS)]
                        await ws.send(json.dumps({"type": "message", "text": self.texts[cid], "client_id": cid}))
                        await asyncio.sleep(self.think_s)
                    while set(self.sent) - self.acked and time.monotonic() < stop_at:
                        await asyncio.sleep(0.5)
                        if reader.done():
                            break
                    reader.cancel()
            except (OSError, asyncio.TimeoutError, Exception):  # noqa: BLE001 - the hub is down: retry
                self.reconnects += 1
                await asyncio.sleep(1.0)

    async def _read(self, ws: Any) -> None:
        try:
            async for raw in ws:
                frame = json.loads(raw)
                if frame.get("type") == "ack" and frame.get("client_id"):
                    self.acked.add(frame["client_id"])
        except Exception:  # noqa: BLE001 - the hub went away: `run` reconnects and resends
            return


async def load_with_faults(stack: Stack, waves: int, per_wave: int, messages: int, think_s: float) -> dict[str, Any]:
    ws_url = stack.settings.hub_url.replace("http", "ws") + "/channels/web/ws"
    visitors: list[Visitor] = []
    tasks: list[asyncio.Task[None]] = []
    stop_at = time.monotonic() + 600
    faults: dict[str, Any] = {}

    def start_wave(n: int) -> None:
        for i in range(per_wave):
            v = Visitor(ws_url, f"w{n}v{i}", messages, think_s)
            visitors.append(v)
            tasks.append(asyncio.create_task(v.run(stop_at)))

    start_wave(0)
    await asyncio.sleep(8)
    killed = stack.kill("rasa_cli")
    log("Rasa killed (SIGKILL)")
    back = await asyncio.to_thread(stack.wait_for, "Rasa server is back", killed, 240)
    faults["rasa"] = {"restart_s": round(back - killed, 1)}
    start_wave(1)
    await asyncio.sleep(6)
    killed = stack.kill("-m actions")
    log("action server killed (SIGKILL)")
    back = await asyncio.to_thread(stack.wait_for, "action server is back", killed, 240)
    faults["actions"] = {"restart_s": round(back - killed, 1)}
    start_wave(2)
    await asyncio.sleep(6)
    killed = stack.kill("uvicorn")
    log("hub killed (SIGKILL)")
    back = await asyncio.to_thread(stack.wait_for, "hub is back", killed, 240)
    faults["hub"] = {"restart_s": round(back - killed, 1)}
    for n in range(3, waves):
        start_wave(n)
        await asyncio.sleep(4)
    await asyncio.gather(*tasks)
    return {"faults": faults, "visitors": visitors}


# -- counting ---------------------------------------------------------------------------------------------------


def settle(db_url: str, timeout_s: float = 180) -> None:
    """Wait until no bot turn is pending and the outbox has nothing due (what a restart resumes)."""
    engine = create_engine(db_url)
    deadline = time.monotonic() + timeout_s
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            pending = conn.execute(text("SELECT count(*) FROM messages WHERE outcome = 'pending'")).scalar()
            unsent = conn.execute(text("SELECT count(*) FROM outbound_queue WHERE state = 'pending'")).scalar()
            if not pending and not unsent:
                break
            time.sleep(1)
            conn.rollback()
    engine.dispose()


def count(db_url: str, visitors: list[Visitor], bursts: dict[str, Any], calibration: dict[str, int],
          only: bool = False) -> dict[str, Any]:
    """What was lost, doubled or left unanswered; `only`: among these visitors' messages alone (not the whole
    database), to tell which fault hit which customers."""
    engine = create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT m.id, m.external_id, m.text, m.outcome, c.status, c.channel, c.external_user_id FROM messages m "
            "JOIN conversations c ON c.id = m.conversation_id WHERE m.sender = 'customer'")).all()
        replies: dict[str, int] = {}
        for reply_to, n in conn.execute(text("SELECT reply_to, count(*) FROM messages WHERE reply_to IS NOT NULL "
                                             "GROUP BY reply_to")):
            replies[reply_to] = int(n)
        forked = conn.execute(text("SELECT count(*) - count(DISTINCT channel || '|' || external_user_id) "
                                   "FROM conversations")).scalar()
    engine.dispose()
    if only:
        mine = {cid for v in visitors for cid in v.sent}
        rows = [r for r in rows if r.external_id in mine]
    by_cid: dict[str, list[Any]] = {}
    for r in rows:
        if r.external_id:
            by_cid.setdefault(r.external_id, []).append(r)
    sent = [cid for v in visitors for cid in v.sent]
    lost = [cid for cid in sent if cid not in by_cid]
    stored_twice = sum(len(v) - 1 for v in by_cid.values() if len(v) > 1)
    answered_twice = [r.id for r in rows if replies.get(r.id, 0) > calibration.get(r.text, 1)]
    unanswered = [r.external_id or r.id for r in rows
                  if r.outcome == "pending" or (r.status == "bot" and not replies.get(r.id)
                                                and r.outcome not in ("bot_unavailable", "unsupported_language",
                                                                      "language_set", "csat"))]
    burst_dups = {channel: info["provider_sends"]() - calibration.get(f"sends:{channel}", 1)
                  for channel, info in bursts.items() if "provider_sends" in info}
    return {
        "lost": len(lost), "stored_twice": stored_twice, "answered_twice": len(answered_twice),
        "burst_extra_provider_sends": burst_dups,
        "duplicated": stored_twice + len(answered_twice) + sum(max(0, d) for d in burst_dups.values()),
        "unanswered": len(unanswered), "unanswered_examples": unanswered[:5],
        "forked_conversations": int(forked or 0),
        "customer_messages_sent": len(sent), "customer_messages_stored": len(rows),
    }


def calibrate(stack: Stack, tg: FakeTelegram, tw: FakeTwilio) -> dict[str, int]:
    """How many bot messages one answer to each text is, and how many provider sends one first "hello" makes,
    measured with no fault (the baseline for counting doubles)."""
    async def run() -> dict[str, int]:
        ws_url = stack.settings.hub_url.replace("http", "ws") + "/channels/web/ws"
        async with connect(ws_url) as ws:
            await ws.send(json.dumps({"type": "hello"}))
            await ws.recv()
            for n, t in enumerate(TEXTS):
                await ws.send(json.dumps({"type": "message", "text": t, "client_id": f"cal-{n}"}))
                while json.loads(await asyncio.wait_for(ws.recv(), 90)).get("type") != "ack":
                    pass
        return {}
    asyncio.run(run())
    engine = create_engine(stack.settings.db_url)
    with engine.connect() as conn:
        counts = {t: int(n) for t, n in conn.execute(text(
            "SELECT c.text, count(b.id) FROM messages c LEFT JOIN messages b ON b.reply_to = c.id "
            "WHERE c.external_id LIKE 'cal-%' GROUP BY c.id, c.text"))}
    engine.dispose()
    # One first "hello" per provider channel: the provider messages it takes (a greeting, possibly split).
    before_tg, before_wa = len(tg.api_calls("sendMessage")), len(tw.messages("whatsapp:+393330009999"))
    update = {"update_id": 800001, "message": {"message_id": 1, "date": int(time.time()), "text": "hello",
                                               "chat": {"id": 66001, "type": "private"},
                                               "from": {"id": 66001, "is_bot": False, "first_name": "Cal"}}}
    httpx.post(f"{stack.settings.hub_url}/channels/telegram/webhook", json=update, timeout=90,
               headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET})
    form = {"MessageSid": "SMcal" + "0" * 29, "AccountSid": TW_SID, "From": "whatsapp:+393330009999", "To": WA_FROM,
            "Body": "hello", "NumMedia": "0"}
    url = f"{stack.settings.hub_url}/channels/whatsapp/webhook"
    httpx.post(url, data=form, timeout=90,
               headers={"X-Twilio-Signature": RequestValidator(TW_TOKEN).compute_signature(url, form)})
    time.sleep(3)
    sends = {"sends:telegram": len(tg.api_calls("sendMessage")) - before_tg,
             "sends:whatsapp": len(tw.messages("whatsapp:+393330009999")) - before_wa}
    sends["sends:sms"] = sends["sends:whatsapp"]
    return {**counts, **sends}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=100, help="concurrent copies of each first webhook")
    parser.add_argument("--waves", type=int, default=4)
    parser.add_argument("--per-wave", type=int, default=4, help="visitors per wave")
    parser.add_argument("--messages", type=int, default=12, help="messages per visitor")
    parser.add_argument("--think-s", type=float, default=0.7)
    parser.add_argument("--save", action="store_true")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    models = work / "models"
    models.mkdir()
    for name in ("current.tar.gz", "current.fingerprint"):  # the project's trained model (make run / make test)
        src = ROOT / "models" / name
        if not src.exists():
            raise SystemExit("no trained model: run `make train` first")
        shutil.copy(src, models / name)
    tg, tw = FakeTelegram(TG_TOKEN), FakeTwilio(TW_SID, TW_TOKEN)
    tg.start()
    tw.start()
    hub_port = free_port()
    settings = HubSettings.from_env(
        data_dir=work / "var", hub_port=hub_port, rasa_port=free_port(), action_port=free_port(),
        rasa_model_dir=models, public_url=f"http://127.0.0.1:{hub_port}", rasa_timeout_s=8.0,
        enabled_channels=("web", "telegram", "whatsapp", "sms"), telegram_bot_token=TG_TOKEN,
        telegram_webhook_secret=TG_SECRET, telegram_api_base_url=tg.base_url, twilio_account_sid=TW_SID,
        twilio_auth_token=TW_TOKEN, twilio_whatsapp_from=WA_FROM, twilio_sms_from=SMS_FROM,
        twilio_api_base_url=tw.url, outbox_base_delay_s=2.0, outbox_poll_s=0.5)
    load_before = os.getloadavg()
    started = time.monotonic()
    stack = Stack(settings)
    try:
        stack.wait_for("Press Ctrl-C")
        log("stack up; calibrating (no fault)")
        calibration = calibrate(stack, tg, tw)
        log(f"calibration: {calibration}; {args.copies} concurrent copies of each channel's first message")
        bursts = asyncio.run(burst(settings, tg, tw, args.copies))
        log("load with faults")
        outcome = asyncio.run(load_with_faults(stack, args.waves, args.per_wave, args.messages, args.think_s))
        log("settling")
        settle(settings.db_url)
        time.sleep(3)
        counts = count(settings.db_url, outcome["visitors"], bursts, calibration)
    finally:
        stack.stop()
        tg.stop()
        tw.stop()
    result = {
        "lost": counts["lost"], "duplicated": counts["duplicated"], "unanswered": counts["unanswered"],
        "forked_conversations": counts["forked_conversations"], "restart_s": outcome["faults"]["rasa"]["restart_s"],
        "targets": {"lost": 0, "duplicated": 0, "unanswered": 0, "forked_conversations": 0},
        "details": {**counts, "faults": outcome["faults"], "calibration": calibration,
                    "reconnects": sum(v.reconnects for v in outcome["visitors"])},
        "setup": f"{args.copies} concurrent copies of a first message on each of web, telegram, whatsapp, sms; "
                 f"{args.waves} waves x {args.per_wave} web visitors x {args.messages} messages "
                 f"({args.think_s} s apart); SIGKILL of Rasa, the action server and the hub under the launcher's "
                 "supervisor; SQLite",
        "load_average": {"before": [round(x, 2) for x in load_before],
                         "after": [round(x, 2) for x in os.getloadavg()]},
        "duration_s": round(time.monotonic() - started, 1),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "make bench-faults  (python -m benchmarks.bench_faults --save)",
    }
    print(json.dumps(result, indent=2))
    if args.save:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "faults.json").write_text(json.dumps(result, indent=2) + "\n")
        (RESULTS / "faults.md").write_text(_markdown(result))
    shutil.rmtree(work, ignore_errors=True)
    return 0


def _markdown(r: dict[str, Any]) -> str:
    d = r["details"]
    return f"""# Faults under load

`{r['command']}` — {r['date']}, {r['duration_s']} s; load average before {r['load_average']['before']}, after
{r['load_average']['after']}. {r['setup']}.

| measure | result | target |
|---|---|---|
| lost (sent, never stored) | **{r['lost']}** of {d['customer_messages_sent']} | 0 |
| duplicated (stored twice {d['stored_twice']}, answered twice {d['answered_twice']}, extra provider sends {d['burst_extra_provider_sends']}) | **{r['duplicated']}** | 0 |
| unanswered (neither the bot nor a person's queue) | **{r['unanswered']}** | 0 |
| forked conversations | **{r['forked_conversations']}** | 0 |
| Rasa back after SIGKILL (s) | {r['restart_s']} | |
| action server / hub back after SIGKILL (s) | {d['faults']['actions']['restart_s']} / {d['faults']['hub']['restart_s']} | |

Customer messages stored: {d['customer_messages_stored']}; socket reconnects of the visitors: {d['reconnects']}.
"""


if __name__ == "__main__":
    raise SystemExit(main())
