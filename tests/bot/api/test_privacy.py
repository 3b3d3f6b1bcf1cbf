"""GDPR: export and erase everything held about one customer (hub store, Rasa's tracker, outbox, channel state,
logs) from the admin API and the command line, and retention that deletes conversations past N days."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from bot.store.models import utcnow
from core.settings import PROJECT_ROOT
from handoff_kit import AGENT_TOKEN, Customer, admin_headers, make_client
from privacy_kit import rows_mentioning, tracker_events, write_trackers

RAW = "my card is 4111 1111 1111 1111 and my mail jo@example.org"  # what Rasa's tracker keeps in clear
NOTE = "Jo prefers to be called after 6pm"
REPLY = "Hi Jo, I am looking at your order now"


def _customer(client: TestClient, who: str = "jo") -> tuple[Customer, str]:
    """A web visitor whose conversation went to a person who replied and left a note; (customer, visitor id)."""
    customer = Customer(client)
    customer.say("hi")
    customer.say("person please")
    cid = customer.conversation_id
    h = admin_headers()
    assert client.post(f"/api/agent/conversations/{cid}/claim", headers=h).status_code == 200
    assert client.post(f"/api/agent/conversations/{cid}/reply", headers=h, json={"text": REPLY + who}).status_code == 200
    assert client.post(f"/api/agent/conversations/{cid}/notes", headers=h, json={"text": NOTE + who}
                       ).status_code == 200
    visitor = client.get(f"/api/agent/conversations/{cid}", headers=h).json()["customer"]["id"]
    return customer, visitor


def _tracker_db(client: TestClient) -> Path:
    return Path(client.app.state.container.settings.tracker_store_url.removeprefix("sqlite:///"))


def _logs(client: TestClient) -> Path:
    folder = client.app.state.container.settings.data_dir / "logs"
    folder.mkdir(exist_ok=True)
    return folder / "hub.log"


def _erase(client: TestClient, **subject: Any) -> dict[str, Any]:
    resp = client.post("/api/admin/privacy/erase", headers=admin_headers(), json={**subject, "confirm": True})
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_export_holds_everything_about_the_customer_and_nothing_about_others(client: TestClient) -> None:
    jo, visitor = _customer(client)
    other, _ = _customer(client, "someone")
    write_trackers(_tracker_db(client), [{"sender": jo.conversation_id, "text": RAW},
                                         {"sender": other.conversation_id, "text": "someone else"}])
    _logs(client).write_text(f"x INFO bot: new conversation {jo.conversation_id} on web\n"
                             f"x INFO bot: new conversation {other.conversation_id} on web\n")

    resp = client.post("/api/admin/privacy/export", headers=admin_headers(),
                       json={"channel": "web", "external_id": visitor, "reference": "DSR-1"})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-disposition"].startswith("attachment; filename=\"personal-data-")
    assert resp.headers["cache-control"] == "no-store"
    doc = resp.json()
    assert [c["id"] for c in doc["conversations"]] == [jo.conversation_id]
    transcript = [(m["from"], m["text"]) for m in doc["conversations"][0]["transcript"]]
    assert ("customer", "person please") in transcript and ("agent", REPLY + "jo") in transcript
    assert [n["text"] for n in doc["records"]["notes"]] == [NOTE + "jo"]
    assert doc["records"]["handoffs"][0]["summary"] == "Customer asked for a person."
    assert {r["conversation_id"] for r in doc["records"]["outbound_queue"]} == {jo.conversation_id}
    assert [e["data"]["text"] for e in doc["rasa_tracker"][jo.conversation_id]] == [RAW, "I see."]
    assert other.conversation_id not in doc["rasa_tracker"]
    assert [line["line"] for line in doc["logs"]] == [f"x INFO bot: new conversation {jo.conversation_id} on web"]
    assert doc["summary"]["conversations"] == 1 and doc["held_elsewhere"]
    assert other.conversation_id not in resp.text
    [entry] = client.get("/api/admin/audit", headers=admin_headers(), params={"action": "privacy."}).json()["entries"]
    assert (entry["action"], entry["details"]) == ("privacy.export", {"reference": "DSR-1", "conversations": 1})
    # A customer the hub never met: an empty export, not an error.
    empty = client.post("/api/admin/privacy/export", headers=admin_headers(),
                        json={"channel": "telegram", "external_id": "424242"}).json()
    assert empty["conversations"] == [] and empty["summary"]["conversations"] == 0


def test_erase_removes_every_trace_is_audited_without_content_and_can_be_repeated(client: TestClient) -> None:
    jo, visitor = _customer(client)
    other, _ = _customer(client, "someone")
    cid = jo.conversation_id
    write_trackers(_tracker_db(client), [{"sender": cid, "text": RAW}, {"sender": other.conversation_id,
                                                                       "text": "someone else"}])
    log = _logs(client)
    log.write_text(f"x INFO bot: new conversation {cid} on web\nx INFO web: visitor {visitor} connected\n"
                   f"x INFO bot: new conversation {other.conversation_id} on web\n")
    size = log.stat().st_size
    engine = client.app.state.container.engine
    with engine.begin() as conn:  # the channel's state about this customer (what a WhatsApp contact would have)
        conn.execute(text("INSERT INTO channel_contacts (channel, external_user_id) VALUES ('web', :v)"),
                     {"v": visitor})

    refused = client.post("/api/admin/privacy/erase", headers=admin_headers(),
                          json={"channel": "web", "external_id": visitor})
    assert refused.status_code == 422 and "confirm" in refused.json()["detail"]
    agent = {"Authorization": f"Bearer {AGENT_TOKEN}", "X-Agent": "alice"}
    assert client.post("/api/admin/privacy/erase", headers=agent,
                       json={"channel": "web", "external_id": visitor, "confirm": True}).status_code == 403

    report = _erase(client, channel="web", external_id=visitor, reference="DSR-2")
    erased = report["erased"]
    assert report["conversation_ids"] == [cid]
    assert erased["records"]["conversations"] == 1 and erased["records"]["notes"] == 1
    assert erased["records"]["channel_contacts"] == 1 and erased["rasa_tracker_events"] == 2
    assert erased["log_ids_masked"] == 2
    # Nothing left anywhere but the audit log, which holds no content.
    assert rows_mentioning(engine, [cid, visitor, REPLY + "jo", NOTE + "jo"], skip=("audit_log",)) == {}
    assert rows_mentioning(engine, [visitor, REPLY + "jo", NOTE + "jo"]) == {}
    # The other customer's conversation keeps everything, its searchable record included.
    assert rows_mentioning(engine, [REPLY + "someone", NOTE + "someone"]) == {"messages": 1, "notes": 1,
                                                                              "outbound_queue": 1,
                                                                              "conversation_facts": 1}
    assert cid not in tracker_events(_tracker_db(client)) and other.conversation_id in tracker_events(_tracker_db(client))
    assert cid not in log.read_text() and visitor not in log.read_text() and other.conversation_id in log.read_text()
    assert log.stat().st_size == size  # masked in place: processes appending to it lose nothing
    assert client.get(f"/api/agent/conversations/{cid}", headers=admin_headers()).status_code == 404
    assert client.get(f"/api/agent/conversations/{other.conversation_id}", headers=admin_headers()).status_code == 200
    assert jo.history() == []  # the visitor's widget shows nothing any more

    again = _erase(client, channel="web", external_id=visitor, reference="DSR-2")
    assert again["erased"]["conversations"] == 0 and again["erased"]["records"] == {}
    entries = client.get("/api/admin/audit", headers=admin_headers(), params={"action": "privacy.erase"}).json()
    assert [e["details"]["conversations"] for e in entries["entries"]] == [0, 1]
    assert entries["entries"][1]["details"]["reference"] == "DSR-2"


def test_a_customer_key_gathers_their_linked_conversations(client: TestClient) -> None:
    first, visitor = _customer(client)
    second, _ = _customer(client, "jo again")
    third, _ = _customer(client, "someone")
    for c in (first, second):
        assert client.post(f"/api/agent/conversations/{c.conversation_id}/customer", headers=admin_headers(),
                           json={"customer_key": "Jo@Example.org"}).status_code == 200
    doc = client.post("/api/admin/privacy/export", headers=admin_headers(),
                      json={"channel": "web", "external_id": visitor}).json()
    assert {c["id"] for c in doc["conversations"]} == {first.conversation_id, second.conversation_id}
    alone = client.post("/api/admin/privacy/export", headers=admin_headers(),
                        json={"channel": "web", "external_id": visitor, "include_linked": False}).json()
    assert [c["id"] for c in alone["conversations"]] == [first.conversation_id]
    report = _erase(client, customer_key="jo@example.org")
    assert sorted(report["conversation_ids"]) == sorted([first.conversation_id, second.conversation_id])
    assert client.get(f"/api/agent/conversations/{third.conversation_id}", headers=admin_headers()).status_code == 200
    for body in ({}, {"channel": "web"}, {"external_id": visitor}, {"customer_key": "x", "colour": "red"}):
        resp = client.post("/api/admin/privacy/export", headers=admin_headers(), json=body)
        assert resp.status_code == 422, body


def _age(client: TestClient, conversation_id: str, days: int) -> None:
    with client.app.state.container.engine.begin() as conn:
        conn.execute(text("UPDATE conversations SET updated_at = :t WHERE id = :c"),
                     {"t": utcnow() - timedelta(days=days), "c": conversation_id})


def test_retention_deletes_conversations_inactive_past_the_period_with_their_trackers(client: TestClient) -> None:
    old, visitor = _customer(client)
    recent, _ = _customer(client, "recent")
    _age(client, old.conversation_id, 40)
    write_trackers(_tracker_db(client), [{"sender": old.conversation_id, "text": RAW, "days_ago": 40},
                                         {"sender": "a-tracker-the-hub-never-knew", "text": "x", "days_ago": 41},
                                         {"sender": recent.conversation_id, "text": "recent"}])
    assert client.post("/api/admin/privacy/retention", headers=admin_headers()).status_code == 422  # 0: keep
    resp = client.post("/api/admin/privacy/retention", headers=admin_headers(), json={"days": 30})
    assert resp.status_code == 200, resp.text
    report = resp.json()
    assert report["conversations"] == 1 and report["rasa_tracker_events"] == 4
    assert client.get(f"/api/agent/conversations/{old.conversation_id}", headers=admin_headers()).status_code == 404
    assert client.get(f"/api/agent/conversations/{recent.conversation_id}", headers=admin_headers()).status_code == 200
    assert set(tracker_events(_tracker_db(client))) == {recent.conversation_id}
    assert rows_mentioning(client.app.state.container.engine, [old.conversation_id], skip=("audit_log",)) == {}
    status = client.get("/api/admin/privacy/retention", headers=admin_headers()).json()
    assert status["last_sweep"]["conversations"] == 1
    [entry] = client.get("/api/admin/audit", headers=admin_headers(), params={"action": "privacy.retention"}
                         ).json()["entries"]
    assert entry["details"]["conversations"] == 1 and entry["actor"] == "admin"


def test_the_hub_sweeps_by_itself_when_retention_is_set(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        old, _ = _customer(client)
        recent, _ = _customer(client, "recent")
        _age(client, old.conversation_id, 10)
    with make_client(tmp_path, retention_days=7, retention_sweep_s=3600) as client:
        for _ in range(100):  # the first sweep runs at start, in the background
            if client.get("/api/admin/privacy/retention", headers=admin_headers()).json()["last_sweep"]:
                break
            time.sleep(0.05)
        assert client.get(f"/api/agent/conversations/{old.conversation_id}", headers=admin_headers()
                          ).status_code == 404
        assert client.get(f"/api/agent/conversations/{recent.conversation_id}", headers=admin_headers()
                          ).status_code == 200
        [entry] = client.get("/api/admin/audit", headers=admin_headers(), params={"action": "privacy.retention"}
                             ).json()["entries"]
        assert (entry["actor"], entry["via"]) == ("system", "system")


def _cli(tmp_path: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATA_DIR": str(tmp_path), "PYTHONPATH": str(PROJECT_ROOT),
           "SUPPORTBOT_ENV_FILE": "/nonexistent/.env"}
    return subprocess.run([sys.executable, "-m", "bot.privacy", *args], env=env, capture_output=True, text=True,
                          timeout=120, input=stdin, cwd=PROJECT_ROOT)


def test_the_command_line_exports_erases_and_sweeps(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        jo, visitor = _customer(client)
        old, _ = _customer(client, "old")
        _age(client, old.conversation_id, 100)
        write_trackers(_tracker_db(client), [{"sender": jo.conversation_id, "text": RAW}])
    out = tmp_path / "jo.json"
    done = _cli(tmp_path, "export", "--channel", "web", "--id", visitor, "--out", str(out), "--reference", "DSR-3")
    assert done.returncode == 0, done.stderr
    assert "exported 1 conversations, 2 Rasa tracker events" in done.stderr
    assert RAW in out.read_text() and NOTE + "jo" in out.read_text()
    refused = _cli(tmp_path, "erase", "--channel", "web", "--id", visitor, stdin="")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    done = _cli(tmp_path, "erase", "--channel", "web", "--id", visitor, "--yes")
    assert done.returncode == 0 and "erased 1 conversations" in done.stderr, done.stderr
    assert "not reached:" in done.stderr
    keep = _cli(tmp_path, "retention")
    assert keep.returncode == 2 and "RETENTION_DAYS is 0" in keep.stderr
    swept = _cli(tmp_path, "retention", "--days", "30")
    assert swept.returncode == 0 and "deleted 1 conversations" in swept.stderr, swept.stderr
    bad = _cli(tmp_path, "export", "--channel", "web")
    assert bad.returncode == 2 and "name the customer" in bad.stderr
    with make_client(tmp_path) as client:
        entries = client.get("/api/admin/audit", headers=admin_headers(), params={"action": "privacy."}
                             ).json()["entries"]
        assert [e["action"] for e in entries] == ["privacy.retention", "privacy.erase", "privacy.export"]
        assert all(e["via"] == "cli" and e["actor"].startswith("cli:") for e in entries)
        assert client.get(f"/api/agent/conversations/{jo.conversation_id}", headers=admin_headers()
                          ).status_code == 404


@pytest.mark.postgres
def test_on_postgresql_export_erase_retention_and_the_audit_log_work_alike(tmp_path: Path,
                                                                           postgres_url: str) -> None:
    from bot.store.db import make_engine

    engine = make_engine(postgres_url)
    with engine.begin() as conn:  # a clean schema for this test
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    with make_client(tmp_path, database_url=postgres_url) as client:
        jo, visitor = _customer(client)
        old, _ = _customer(client, "old")
        _age(client, old.conversation_id, 60)
        doc = client.post("/api/admin/privacy/export", headers=admin_headers(),
                          json={"channel": "web", "external_id": visitor}).json()
        assert [n["text"] for n in doc["records"]["notes"]] == [NOTE + "jo"]
        assert doc["records"]["handoffs"][0]["details"]["intents"]  # JSON columns come back as JSON
        report = _erase(client, channel="web", external_id=visitor)
        assert report["erased"]["records"]["conversations"] == 1
        swept = client.post("/api/admin/privacy/retention", headers=admin_headers(), json={"days": 30}).json()
        assert swept["conversations"] == 1
        pg = client.app.state.container.engine
        assert rows_mentioning(pg, [jo.conversation_id, old.conversation_id, visitor], skip=("audit_log",)) == {}
        since = (utcnow() - timedelta(minutes=10)).isoformat()
        actions = [e["action"] for e in client.get("/api/admin/audit", headers=admin_headers(),
                                                   params={"since": since, "action": "privacy."}).json()["entries"]]
        assert actions == ["privacy.retention", "privacy.erase", "privacy.export"]
