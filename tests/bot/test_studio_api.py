"""The studio's HTTP API in-process (the hub with its scripted Rasa) on a copy of the content: roles on every
endpoint, CSRF for console sessions, refusals at the field (422) and conflicts with both versions (409)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests_support import action_server, copy_content
from handoff_kit import admin_headers, agent_session, create_agent, make_client


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    project = copy_content(tmp_path / "project")
    with make_client(tmp_path, rasa_data_dir=project / "nlu_data", rasa_domain=project / "domain.yml",
                     kb_content_dir=project / "kb_index/content", nlu_heldout_dir=project / "benchmarks/data/starter_heldout",
                     rasa_config=project / "config.yml", rasa_model_dir=tmp_path / "models",
                     kb_index_dir=tmp_path / "kb", actions=action_server) as c:
        yield c


def test_only_editors_and_admins_reach_the_studio_and_only_admins_the_audit_log(client: TestClient) -> None:
    create_agent(client, "ann@example.com")
    create_agent(client, "eve@example.com", role="editor")
    ann = agent_session(client, "ann@example.com")
    assert ann.get("/api/studio/intents").status_code == 403
    assert ann.post("/api/studio/intents/greet/examples", json={"language": "en", "text": "yo yo"}).status_code == 403
    eve = agent_session(client, "eve@example.com")
    assert eve.get("/api/studio/intents").status_code == 200
    assert eve.get("/api/studio/audit").status_code == 403
    assert client.get("/api/studio/audit", headers=admin_headers()).status_code == 200
    client.cookies.clear()
    assert client.get("/api/studio/intents").status_code == 401
    page = client.get("/studio")
    assert page.status_code == 200 and "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_a_console_session_needs_the_csrf_token_to_change_content(client: TestClient) -> None:
    create_agent(client, "eve@example.com", role="editor")
    eve = agent_session(client, "eve@example.com")
    eve._as_me()
    without = client.post("/api/studio/intents/greet/examples", json={"language": "en", "text": "howdy partner"})
    assert without.status_code == 403
    ok = eve.post("/api/studio/intents/greet/examples", json={"language": "en", "text": "howdy partner"})
    assert ok.status_code == 201 and ok.json()["revision"]


def test_refusals_name_the_field_and_conflicts_show_both_versions(client: TestClient) -> None:
    h = admin_headers()
    bad = client.put("/api/studio/faq/gift-wrap/ro", headers=h, json={"question": "", "answer": "Da.", "base": None})
    assert bad.status_code == 422
    assert bad.json()["problems"] == [{"field": "question", "message": "must not be empty", "level": "error"}]
    entry = client.get("/api/studio/faq/gift-cards", headers=h).json()["versions"]["en"]
    fields = {k: entry[k] for k in ("question", "phrasings", "answer", "links", "tags", "team")}
    first = client.put("/api/studio/faq/gift-cards/en", headers=h, json={**fields, "answer": "One.", "base": entry["version"]})
    assert first.status_code == 200
    second = client.put("/api/studio/faq/gift-cards/en", headers=h, json={**fields, "answer": "Two.", "base": entry["version"]})
    assert second.status_code == 409
    body = second.json()
    assert body["error"] == "edit_conflict" and body["yours"]["answer"] == "Two." and body["theirs"]["answer"] == "One."
    unknown = client.get("/api/studio/intents/no_such_intent", headers=h)
    assert unknown.status_code == 404


def test_the_preview_shows_an_answer_as_each_channel_does(client: TestClient) -> None:
    resp = client.post("/api/studio/preview", headers=admin_headers(),
                       json={"answer": "Returns are **free**.\n\n- 30 days\n- any reason <script>x</script>",
                             "links": [{"title": "Returns", "url": "https://shop.example/returns"}]})
    p = resp.json()
    assert "<strong>free</strong>" in p["web"] and "<script>" not in p["web"]
    assert "<b>free</b>" in p["telegram"] and '<a href="https://shop.example/returns">Returns</a>' in p["telegram"]
    assert p["whatsapp"].endswith("Returns: https://shop.example/returns") and "•" in p["whatsapp"]
    assert p["sms_segments"] == 2  # "•" is not in the GSM alphabet: 70 characters a segment


def test_the_language_gaps_list_what_each_language_lacks(client: TestClient) -> None:
    h = admin_headers()
    client.put("/api/studio/faq/gift-wrap/ro", headers=h,
               json={"question": "Oferiți ambalare pentru cadouri?", "answer": "Da.", "topic": "orders", "base": None})
    gaps = client.get("/api/studio/gaps", headers=h).json()
    assert gaps["missing"]["entries"] == {"gift-wrap": ["en", "it", "zh"]}
    assert gaps["missing"]["responses"] == {} and gaps["intents"]["greet"]["it"] >= 10


def test_trying_a_question_without_a_knowledge_base_index_says_so(client: TestClient) -> None:
    """The fixture's index folder is empty: 503 with what to run, never a 500."""
    resp = client.post("/api/studio/try", headers=admin_headers(), json={"text": "where is my order"})
    assert resp.status_code == 503, resp.text
    assert resp.json()["error"] == "kb_unavailable" and "make kb" in resp.json()["detail"]


def test_ids_out_of_range_are_refused_as_invalid_input(client: TestClient) -> None:
    huge = 2**63
    assert client.post("/api/studio/revert", headers=admin_headers(), json={"revision": huge}).status_code == 422
    assert client.get(f"/api/studio/audit?before={huge}", headers=admin_headers()).status_code == 422
    assert client.post("/api/studio/revert", headers=admin_headers(), json={"revision": 2**31 - 1}).status_code == 404
