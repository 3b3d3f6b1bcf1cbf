"""Publishing against the real stack (trained Rasa, action server, hub) on a private copy of the content:
a FAQ change goes live without training or a restart; customers writing during a full publish each get exactly
one answer; the evaluation gate refuses a worse model and the live one keeps answering; rollback; the CLI."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import httpx
import pytest

from core.settings import PROJECT_ROOT
from tests.integration.studio_support import StudioStack
from tests.integration.support import Chat, bot_texts
from tools.launcher import child_env

pytestmark = pytest.mark.integration


def rasa_model(stack: StudioStack) -> str:
    url = stack.settings.rasa_endpoints[0]
    return httpx.get(f"{url}/status", timeout=10,
                     params={"token": stack.settings.rasa_auth_token.get_secret_value()}).json()["model_file"]


def faq_fields(api: httpx.Client, entry_id: str, language: str) -> tuple[dict[str, Any], str]:
    entry = api.get(f"/api/studio/faq/{entry_id}").json()["versions"][language]
    return {k: entry.get(k) for k in ("question", "phrasings", "answer", "links", "tags", "team")}, entry["version"]


def test_an_faq_change_goes_live_without_training_or_restart(studio_stack: StudioStack) -> None:
    pids = {name: svc.proc.pid for name, svc in studio_stack.services.items() if svc.proc}
    model = rasa_model(studio_stack)
    marker = f"Gift cards are also sold in our shops (ref {uuid.uuid4().hex[:6]})."
    with studio_stack.admin() as api:
        fields, version = faq_fields(api, "gift-cards", "en")
        resp = api.put("/api/studio/faq/gift-cards/en", json={**fields, "answer": fields["answer"] + "\n\n" + marker,
                                                              "base": version})
        assert resp.status_code == 200, resp.text
    run = studio_stack.publish("A line about shops in the gift-card answer")
    assert run["state"] == "live", run
    stages = {s["name"]: s["state"] for s in run["stages"]}
    assert stages == {"check": "done", "kb": "done", "train": "skipped", "gate": "skipped", "swap": "done"}

    chat = Chat(studio_stack.hub)
    try:
        answer = " ".join(bot_texts(chat.say("do you sell gift cards?")))
    finally:
        chat.close()
    assert marker in answer
    assert rasa_model(studio_stack) == model  # no new model for an FAQ change
    assert {name: svc.proc.pid for name, svc in studio_stack.services.items() if svc.proc} == pids  # no restart
    assert studio_stack.git_log(1)[0].startswith("Admin|Change FAQ entry gift-cards (English)")


def test_every_message_sent_during_a_full_publish_gets_exactly_one_reply(studio_stack: StudioStack) -> None:
    with studio_stack.admin() as api:
        base = api.get("/api/studio/intents/greet").json()["languages"]["en"]["version"]
        phrase = f"hey there, support crew number {uuid.uuid4().hex[:4]}"
        assert api.post("/api/studio/intents/greet/examples",
                        json={"language": "en", "text": phrase, "base": base}).status_code == 201
    before = rasa_model(studio_stack)
    stop = threading.Event()
    sent: list[tuple[float, str, list[str], str | None]] = []  # (when, text, bot replies, conversation)
    errors: list[BaseException] = []

    def customer(n: int) -> None:
        chat = Chat(studio_stack.hub)
        try:
            i = 0
            while not stop.is_set():
                text = "hello" if i % 2 == 0 else "thank you"
                started = time.monotonic()
                sent.append((started, text, bot_texts(chat.say(text, timeout=90)), chat.conversation_id))
                i += 1
                time.sleep(0.2)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            chat.close()

    workers = [threading.Thread(target=customer, args=(n,), name=f"customer-{n}") for n in range(3)]
    for w in workers:
        w.start()
    swap: dict[str, float] = {}
    try:
        with studio_stack.admin() as api:
            run = api.post("/api/studio/publish", json={"message": "one more greeting"}).json()["run"]
            while run["state"] == "running":
                time.sleep(0.2)
                run = api.get(f"/api/studio/publish/{run['id']}").json()["run"]
                state = next(s["state"] for s in run["stages"] if s["name"] == "swap")
                if state == "running":
                    swap.setdefault("start", time.monotonic())
                elif state == "done":
                    swap.setdefault("end", time.monotonic())
        time.sleep(3)  # a few more messages to the new model
    finally:
        stop.set()
        for w in workers:
            w.join(120)
    assert not errors, errors
    assert run["state"] == "live", run
    assert rasa_model(studio_stack) == f"{run['release']}.tar.gz" != before
    assert len(sent) >= 20
    answered = [(text, replies) for _t, text, replies, _c in sent]
    assert all(len(replies) == 1 for _text, replies in answered), [a for a in answered if len(a[1]) != 1]
    # utter_greet's and utter_you_are_welcome's English variations, from the old model or the new one
    assert all("Brightcart" in r[0] if text == "hello" else r[0].startswith(("You're welcome", "Happy to help"))
               for text, r in answered), answered
    window_start, window_end = swap.get("start", 0) - 1, swap.get("end", time.monotonic()) + 1
    assert any(window_start <= t <= window_end for t, *_rest in sent), "no message was sent while the model swapped"
    # The transcripts agree: each customer message followed by exactly one bot message, no notice, no handoff.
    with studio_stack.admin() as api:
        for cid in {c for *_rest, c in sent if c}:
            messages = api.get(f"/api/agent/conversations/{cid}").json()["messages"]
            senders = [m["sender"] for m in messages]
            assert senders == ["customer", "bot"] * (len(senders) // 2), senders
            assert all(m["outcome"] != "handoff" for m in messages if m["sender"] == "customer")


def test_the_gate_refuses_a_worse_model_and_the_live_one_keeps_answering(studio_stack: StudioStack) -> None:
    live = rasa_model(studio_stack)
    with studio_stack.admin() as api:
        # A careless bulk edit: every greeting, in every language, moved under "goodbye".
        moves = []
        for language, info in api.get("/api/studio/intents/greet").json()["languages"].items():
            resp = api.post("/api/studio/intents/greet/examples/move",
                            json={"language": language, "texts": info["examples"], "to_intent": "goodbye"})
            assert resp.status_code == 200, resp.text
            moves.append((resp.json()["revision"], language))
        run = studio_stack.publish("moved the greetings")
        assert run["state"] == "refused", run
        assert any(not c["passed"] for c in run["gate"]["checks"])
        assert "greet" in {w["intent"] for w in run["gate"]["worse"]}
        stages = {s["name"]: s["state"] for s in run["stages"]}
        assert stages["gate"] == "failed" and stages["swap"] == "pending"
        status = api.get("/api/studio/status").json()
        assert status["live"]["id"] != run.get("release") and status["pending"]
        audit = api.get("/api/studio/audit").json()["entries"]
        assert audit[0]["action"] == "publish_refused" and "gate" in audit[0]["summary"]
        for revision, language in moves:  # undone from greet's history: each move goes back whole
            resp = api.post("/api/studio/revert", json={"revision": revision, "key": f"examples:greet:{language}"})
            assert resp.status_code == 200, resp.text
    assert rasa_model(studio_stack) == live
    chat = Chat(studio_stack.hub)
    try:
        assert any("welcome" in t.lower() or "brightcart" in t.lower() for t in bot_texts(chat.say("hello")))
    finally:
        chat.close()


def test_rollback_serves_the_previous_release_and_restores_its_content(studio_stack: StudioStack) -> None:
    with studio_stack.admin() as api:
        status = api.get("/api/studio/status").json()
        live = status["live"]["id"]
        earlier = next(r for r in status["releases"] if r["can_roll_back"])
        resp = api.post(f"/api/studio/releases/{earlier['id']}/rollback")
        assert resp.status_code == 200 and resp.json()["run"]["state"] == "live", resp.text
        after = api.get("/api/studio/status").json()
        assert after["live"]["id"] == earlier["id"]
        assert rasa_model(studio_stack) == earlier["model_file"]
        assert studio_stack.git_log(1)[0] == f"Admin|Roll back the content to {earlier['id']}"
        audit = api.get("/api/studio/audit").json()["entries"]
        assert audit[0]["action"] == "rollback" and audit[0]["release"] == earlier["id"]
        # and forward again, so the other tests keep the newest content
        again = api.post(f"/api/studio/releases/{live}/rollback")
        assert again.status_code == 200 and again.json()["run"]["state"] == "live", again.text


def test_publish_from_the_command_line(studio_stack: StudioStack) -> None:
    marker = f"Ask for a gift receipt at checkout ({uuid.uuid4().hex[:6]})."
    with studio_stack.admin() as api:
        fields, version = faq_fields(api, "gift-cards", "en")
        assert api.put("/api/studio/faq/gift-cards/en", json={**fields, "answer": fields["answer"] + "\n\n" + marker,
                                                              "base": version}).status_code == 200
    env = child_env(**studio_stack.settings.to_env(), SUPPORTBOT_ENV_FILE="/nonexistent/.env")
    proc = subprocess.run([sys.executable, "-m", "bot.studio", "publish", "--message", "from CI"],
                          cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "publishing through the hub" in proc.stdout
    assert "Rebuild the knowledge base: done" in proc.stdout and "Train the Rasa model: skipped" in proc.stdout
    assert "[studio] live: release-" in proc.stdout
    chat = Chat(studio_stack.hub)
    try:
        assert marker in " ".join(bot_texts(chat.say("do you sell gift cards?")))
    finally:
        chat.close()
    listed = subprocess.run([sys.executable, "-m", "bot.studio", "releases"], cwd=PROJECT_ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert "(live)" in listed.stdout and "from CI" in listed.stdout
