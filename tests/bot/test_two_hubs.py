"""Two hub processes on one PostgreSQL and one Redis (what `make run-scale` runs behind nginx): nothing that
happens on one is invisible to, doubled by, or lost on the other."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from twilio.request_validator import RequestValidator
from websockets.sync.client import connect

from core.settings import PROJECT_ROOT, HubSettings
from fakes.rasa import FakeRasa
from fakes.telegram_api import FakeTelegram
from fakes.twilio_api import FakeTwilio
from tests_support import free_port_dead

pytestmark = pytest.mark.postgres

TG_TOKEN, TG_SECRET = "5151:two-hubs", "two-hubs-secret"
TW_SID, TW_TOKEN, WA_FROM = "AC" + "3" * 32, "two-hubs-twilio", "whatsapp:+14155238886"
PUBLIC = "https://support.example.test"  # the load balancer's address both hubs sign against
AGENT, ADMIN = "two-hubs-agent-token", "two-hubs-admin-token"
HANDOFF = [{"text": "Let me find a person for you."},
           {"custom": {"handoff": {"reason": "customer_request", "summary": "wants a person"}}}]


def reply(sender: str, text: str) -> list[dict[str, Any]]:
    return HANDOFF if "person" in text else [{"text": f"You said: {text}"}]


@dataclass
class Hubs:
    urls: list[str]
    db_url: str
    twilio: FakeTwilio
    telegram: FakeTelegram

    def agent(self, n: int, who: str = "alice") -> httpx.Client:
        return httpx.Client(base_url=self.urls[n], timeout=120,
                            headers={"Authorization": f"Bearer {AGENT}", "X-Agent": who})

    def sql(self, query: str, **params: Any) -> list[Any]:
        engine = create_engine(self.db_url)
        with engine.connect() as conn:
            rows = conn.execute(text(query), params).all()
        engine.dispose()
        return rows


@pytest.fixture(scope="module")
def hubs(tmp_path_factory: pytest.TempPathFactory, postgres_url: str, redis_url: str) -> Iterator[Hubs]:
    base = tmp_path_factory.mktemp("two-hubs")
    engine = create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    metrics_dir = base / "metrics"
    metrics_dir.mkdir()
    with FakeRasa(reply) as rasa, FakeTwilio(TW_SID, TW_TOKEN) as twilio, FakeTelegram(TG_TOKEN) as telegram:
        ports = [free_port_dead(), free_port_dead()]
        procs = []
        for n, port in enumerate(ports):
            settings = HubSettings.from_env(
                data_dir=base / f"hub{n}", hub_port=port, database_url=postgres_url, redis_url=redis_url,
                rasa_url=rasa.url, rasa_retries=0, session_secret="shared-session-secret-of-the-two-hubs",
                rasa_auth_token="shared-rasa-token", agent_api_token=AGENT, admin_api_token=ADMIN,
                public_url=PUBLIC, enabled_channels=("web", "telegram", "whatsapp"), telegram_bot_token=TG_TOKEN,
                telegram_webhook_secret=TG_SECRET, telegram_api_base_url=telegram.base_url,
                twilio_account_sid=TW_SID, twilio_auth_token=TW_TOKEN, twilio_whatsapp_from=WA_FROM,
                twilio_api_base_url=twilio.url, outbox_base_delay_s=0.5, outbox_poll_s=0.2,
                queue_tick_s=3600.0, handoff_config=base / "none.yml")
            env = {**os.environ, **settings.to_env(), "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
                   "SUPPORTBOT_ENV_FILE": "/nonexistent/.env", "PYTHONPATH": str(PROJECT_ROOT)}
            log = open(base / f"hub{n}.log", "wb")
            procs.append(subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "bot.app:create_app",
                                           "--host", "127.0.0.1", "--port", str(port)], cwd=PROJECT_ROOT, env=env,
                                          stdout=log, stderr=subprocess.STDOUT))
        urls = [f"http://127.0.0.1:{p}" for p in ports]
        deadline = time.monotonic() + 300  # a busy shared machine: imports and migrations take their time
        for url, proc in zip(urls, procs):
            while True:  # up, and its language model loaded (tens of seconds on a busy machine)
                try:
                    if httpx.get(f"{url}/health", timeout=5).json().get("language", {}).get("detector"):
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError((base / f"hub{urls.index(url)}.log").read_text()[-3000:])
                time.sleep(0.2)
        try:
            yield Hubs(urls, postgres_url, twilio, telegram)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:  # a socket a failed test left open keeps uvicorn waiting
                    proc.kill()
                    proc.wait(timeout=30)


def chat(url: str, token: str | None = None) -> Any:
    ws = connect(url.replace("http", "ws") + "/channels/web/ws", open_timeout=10)
    ws.send(json.dumps({"type": "hello", "token": token}))
    welcome = json.loads(ws.recv(timeout=30))
    return ws, welcome["token"]


def frames_until(ws: Any, predicate: Any, timeout_s: float = 120) -> list[dict[str, Any]]:
    """Frames read up to the first that matches."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            frame = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        except TimeoutError:
            break
        seen.append(frame)
        if predicate(frame):
            return seen
    raise AssertionError(f"not seen; got {seen}")


def until_both(ws: Any, first: Any, second: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two frames that may arrive in either order (a message's ack may come before or after the answer)."""
    found: dict[int, dict[str, Any]] = {}
    while len(found) < 2:
        frame = frames_until(ws, lambda f: any(p(f) for n, p in enumerate((first, second)) if n not in found))[-1]
        for n, p in enumerate((first, second)):
            if n not in found and p(frame):
                found[n] = frame
                break
    return found[0], found[1]


def conversation_of(hubs: Hubs, channel: str, user: str) -> str:
    rows = hubs.sql("SELECT id FROM conversations WHERE channel = :c AND external_user_id LIKE :u",
                    c=channel, u=f"{user}%")
    assert len(rows) == 1, rows
    return rows[0].id


def test_an_agents_reply_on_hub_b_reaches_a_customer_connected_to_hub_a(hubs: Hubs) -> None:
    ws, _ = chat(hubs.urls[0])
    ws.send(json.dumps({"type": "message", "text": "a person please", "client_id": "x1"}))
    ack, _ = until_both(ws, lambda f: f.get("type") == "ack",
                        lambda f: f.get("type") == "message" and "queue" in (f.get("text") or ""))
    cid = ack["conversation_id"]
    with hubs.agent(1) as b:
        assert b.post(f"/api/agent/conversations/{cid}/claim").status_code == 200
        sent = b.post(f"/api/agent/conversations/{cid}/reply", json={"text": "Hi, Alice here (hub B)."}).json()
    assert sent["message"]["delivery_status"] == "delivered"  # hub B knew the socket lives on hub A
    got = frames_until(ws, lambda f: f.get("sender") == "agent")
    assert got[-1]["text"] == "Hi, Alice here (hub B)."
    ws.close()


def test_two_agents_claiming_on_two_hubs_exactly_one_wins(hubs: Hubs) -> None:
    for n in range(5):
        ws, _ = chat(hubs.urls[n % 2])
        ws.send(json.dumps({"type": "message", "text": "person please", "client_id": f"race-{n}"}))
        cid = frames_until(ws, lambda f: f.get("type") == "ack")[-1]["conversation_id"]
        ws.close()

        async def claim(k: int) -> int:
            async with httpx.AsyncClient(base_url=hubs.urls[k % 2], timeout=30,
                                         headers={"Authorization": f"Bearer {AGENT}", "X-Agent": f"agent{k}"}) as c:
                return (await c.post(f"/api/agent/conversations/{cid}/claim")).status_code

        async def race() -> list[int]:
            return list(await asyncio.gather(*(claim(k) for k in range(4))))

        codes = asyncio.run(race())
        assert sorted(codes) == [200, 409, 409, 409], codes


def test_a_replayed_webhook_delivered_to_both_hubs_at_once_is_processed_once(hubs: Hubs) -> None:
    update = {"update_id": 555001, "message": {"message_id": 9, "date": int(time.time()), "text": "hello twice",
                                               "chat": {"id": 424242, "type": "private"},
                                               "from": {"id": 424242, "is_bot": False, "first_name": "Bo"}}}
    form = {"MessageSid": "SM" + "7" * 32, "AccountSid": TW_SID, "From": "whatsapp:+393331110001", "To": WA_FROM,
            "Body": "hello twice", "NumMedia": "0"}
    sig = RequestValidator(TW_TOKEN).compute_signature(f"{PUBLIC}/channels/whatsapp/webhook", form)

    async def deliver() -> None:
        async with httpx.AsyncClient(timeout=60) as c:
            await asyncio.gather(*(
                [c.post(f"{hubs.urls[k % 2]}/channels/telegram/webhook", json=update,
                        headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}) for k in range(6)]
                + [c.post(f"{hubs.urls[k % 2]}/channels/whatsapp/webhook", data=form,
                          headers={"X-Twilio-Signature": sig}) for k in range(6)]))

    asyncio.run(deliver())
    for channel, user in (("telegram", "424242"), ("whatsapp", "+393331110001")):
        cid = conversation_of(hubs, channel, user)
        stored = hubs.sql("SELECT sender, text FROM messages WHERE conversation_id = :c ORDER BY seq", c=cid)
        assert [(r.sender, r.text) for r in stored] == [("customer", "hello twice"), ("bot", "You said: hello twice")]
    time.sleep(1)
    assert [c.params.get("text") for c in hubs.telegram.api_calls("sendMessage")].count("You said: hello twice") == 1
    assert [c.params.get("Body") for c in hubs.twilio.messages("whatsapp:+393331110001")] == ["You said: hello twice"]


def test_a_message_waiting_for_its_channel_is_sent_once_with_two_workers_polling(hubs: Hubs) -> None:
    phone = "+393331110002"
    form = {"MessageSid": "SM" + "8" * 32, "AccountSid": TW_SID, "From": f"whatsapp:{phone}", "To": WA_FROM,
            "Body": "a person please", "NumMedia": "0"}
    sig = RequestValidator(TW_TOKEN).compute_signature(f"{PUBLIC}/channels/whatsapp/webhook", form)
    httpx.post(f"{hubs.urls[0]}/channels/whatsapp/webhook", data=form, headers={"X-Twilio-Signature": sig}, timeout=60)
    cid = conversation_of(hubs, "whatsapp", phone)
    with hubs.agent(1, "bob") as b:
        assert b.post(f"/api/agent/conversations/{cid}/claim").status_code == 200
        hubs.twilio.fail(503, times=8)  # Twilio is down for a while: every quick retry of the first round fails
        first = b.post(f"/api/agent/conversations/{cid}/reply", json={"text": "sorry for the wait"}).json()
    assert first["message"]["delivery_status"] == "retrying"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # both hubs' workers poll the outbox every 0.2 s
        if "bob: sorry for the wait" in [c.params.get("Body") for c in hubs.twilio.messages(f"whatsapp:{phone}")]:
            break
        time.sleep(0.2)
    time.sleep(2)  # any second send would have happened by now
    bodies = [c.params.get("Body") for c in hubs.twilio.messages(f"whatsapp:{phone}")]
    assert bodies.count("bob: sorry for the wait") == 1, bodies


def test_consoles_and_metrics_see_what_happened_on_either_hub(hubs: Hubs) -> None:
    with httpx.Client(base_url=hubs.urls[0], timeout=30) as admin:
        admin.post("/api/admin/agents", headers={"Authorization": f"Bearer {ADMIN}"},
                   json={"email": "eve@example.com", "password": "agent-password-1"})
        login = admin.post("/api/auth/login", json={"email": "eve@example.com", "password": "agent-password-1"})
        assert login.status_code == 200
        cookie = "; ".join(f"{k}={v}" for k, v in admin.cookies.items())
    console = connect(hubs.urls[0].replace("http", "ws") + "/console/ws", additional_headers={"Cookie": cookie},
                      open_timeout=10)
    assert json.loads(console.recv(timeout=10))["type"] == "hello"
    ws, _ = chat(hubs.urls[1])  # the customer is on hub B
    ws.send(json.dumps({"type": "message", "text": "seen from hub A?", "client_id": "seen-1"}))
    frames = frames_until(console, lambda f: f.get("type") == "message"
                          and (f.get("message") or {}).get("text") == "seen from hub A?")
    assert frames[-1]["message"]["sender"] == "customer"
    ws.close()
    console.close()
    # /metrics of either hub sums both processes' counts: the customer messages of every test, on both hubs.
    stored = hubs.sql("SELECT count(*) AS n FROM messages WHERE sender = 'customer'")[0].n

    def messages_in(url: str) -> float:
        text_ = httpx.get(f"{url}/metrics", timeout=30).text
        return sum(float(line.rsplit(" ", 1)[1]) for line in text_.splitlines()
                   if line.startswith("supportbot_messages_in_total{"))

    assert messages_in(hubs.urls[0]) == messages_in(hubs.urls[1]) >= stored >= 4


def test_failed_logins_count_across_hubs(hubs: Hubs) -> None:
    with httpx.Client(base_url=hubs.urls[0], timeout=30) as admin:
        assert admin.post("/api/admin/agents", headers={"Authorization": f"Bearer {ADMIN}"},
                          json={"email": "guessed@example.com", "password": "agent-password-1"}).status_code == 201
    codes = []
    for n in range(4):  # a guesser spreading tries over both hubs (the load balancer alternates)
        codes.append(httpx.post(f"{hubs.urls[n % 2]}/api/auth/login", timeout=30,
                                json={"email": "guessed@example.com", "password": f"guess-{n}-xxxx"}).status_code)
    assert codes == [401, 401, 401, 429]
