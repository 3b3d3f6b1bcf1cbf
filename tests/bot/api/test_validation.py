"""Every path id and query parameter is range-checked: a clear 404 or 422, never a 500."""

from __future__ import annotations


from fastapi.testclient import TestClient

from handoff_kit import Customer, admin_headers

HUGE = 10**30  # past every integer column (SQLite and PostgreSQL alike)


def test_huge_ids_are_refused_not_crashed(client: TestClient) -> None:
    h = admin_headers()
    for method, path, body in [
        ("PATCH", f"/api/admin/agents/{HUGE}", {"display_name": "x"}),
        ("POST", f"/api/agent/dead-letters/{HUGE}/retry", None),
        ("PATCH", "/api/admin/agents/-1", {"display_name": "x"}),
        ("POST", "/api/agent/dead-letters/0/retry", None),
    ]:
        resp = client.request(method, path, headers=h, json=body)
        assert resp.status_code == 422, (path, resp.status_code, resp.text)
        assert resp.json()["error"] == "invalid_request"
    # In range but missing: a 404 saying what was not found.
    missing = client.patch("/api/admin/agents/999999", headers=h, json={"display_name": "x"})
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")
    assert "999999" in missing.json()["detail"]
    retry = client.post("/api/agent/dead-letters/999999/retry", headers=h)
    assert (retry.status_code, retry.json()["error"]) == (404, "not_found")


def test_limits_and_filters_are_bounded(client: TestClient) -> None:
    h = admin_headers()
    for path in ("/api/agent/queue?limit=0", "/api/agent/queue?limit=501", f"/api/agent/queue?limit={HUGE}",
                 "/api/agent/conversations?limit=-5", "/api/agent/dead-letters?limit=100000",
                 "/api/agent/conversations?status=sleeping", "/api/agent/queue?team=" + "t" * 200,
                 "/api/agent/canned?language=" + "x" * 100):
        resp = client.get(path, headers=h)
        assert resp.status_code == 422, (path, resp.status_code, resp.text)
        body = resp.json()
        assert body["error"] == "invalid_request" and body["detail"], body
    assert client.get("/api/agent/queue?limit=500", headers=h).status_code == 200
    assert client.get("/api/agent/conversations?status=queued&limit=1", headers=h).status_code == 200


def test_a_read_marker_past_every_message_is_refused(client: TestClient) -> None:
    customer = Customer(client)
    customer.say("person please")
    url = f"/api/agent/conversations/{customer.conversation_id}"
    h = admin_headers()
    assert client.post(f"{url}/claim", headers=h).status_code == 200
    resp = client.post(f"{url}/read", headers=h, json={"seq": HUGE})
    assert resp.status_code == 422 and resp.json()["error"] == "invalid_request"
    suggestions = client.get(f"{url}/suggestions?k={HUGE}", headers=h)
    assert suggestions.status_code == 422
    assert client.get("/api/agent/conversations/" + "c" * 500, headers=h).status_code == 422


def test_every_error_body_has_a_code_and_a_detail(client: TestClient) -> None:
    """One shape for every 4xx, whoever raised it (validation, auth, domain errors, unknown routes)."""
    h = admin_headers()
    answers = [
        client.get("/api/agent/queue"),  # 401
        client.get("/api/agent/queue", headers={"Authorization": "Bearer test-agent-token"}),  # 400: no X-Agent
        client.post("/api/agent/conversations/nope/claim", headers=h),  # 404 (domain)
        client.post("/api/agent/conversations/nope/reply", headers=h, json={}),  # 422 (validation)
        client.get("/api/nothing-here", headers=h),  # 404 (no route)
        client.delete("/api/agent/queue", headers=h),  # 405
    ]
    assert [r.status_code for r in answers] == [401, 400, 404, 422, 404, 405]
    for r in answers:
        body = r.json()
        assert isinstance(body["error"], str) and body["error"] and body["detail"], body
