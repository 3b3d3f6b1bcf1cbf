"""Console logins: hashed passwords, sessions, CSRF, roles; bad credentials change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from bot.agents.auth import COOKIE
from handoff_kit import ADMIN, AGENT_TOKEN, Customer, admin_headers, agent_session, create_agent, make_client


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(tmp_path) as c:
        yield c


def _queued(client: TestClient) -> str:
    customer = Customer(client)
    customer.say("person please")
    assert customer.conversation_id
    return customer.conversation_id


def _status(client: TestClient, cid: str) -> tuple[str, str | None]:
    conv = client.get(f"/api/agent/conversations/{cid}", headers=admin_headers()).json()["conversation"]
    return conv["status"], conv["assigned_agent"]


def test_first_admin_comes_from_settings_and_passwords_are_bcrypt_hashed(client: TestClient) -> None:
    with client.app.state.container.engine.connect() as conn:
        rows = conn.execute(text("SELECT email, role, password_hash FROM agents")).all()
    assert [(r.email, r.role) for r in rows] == [(ADMIN[0], "admin")]
    assert rows[0].password_hash.startswith("$2b$") and ADMIN[1] not in rows[0].password_hash
    admin = agent_session(client, *ADMIN)
    me = admin.get("/api/auth/me").json()
    assert me["actor"]["role"] == "admin" and me["csrf_token"] == admin.csrf


def test_login_sets_an_httponly_strict_cookie_and_wrong_passwords_get_401(client: TestClient) -> None:
    create_agent(client, "maria@example.com", display_name="Maria")
    bad = client.post("/api/auth/login", json={"email": "maria@example.com", "password": "nope-nope-nope"})
    assert bad.status_code == 401 and COOKIE not in client.cookies
    unknown = client.post("/api/auth/login", json={"email": "ghost@example.com", "password": "agent-password-1"})
    assert unknown.status_code == 401
    ok = client.post("/api/auth/login", json={"email": "MARIA@example.com", "password": "agent-password-1"})
    assert ok.status_code == 200 and ok.json()["agent"]["display_name"] == "Maria"
    cookie_header = ok.headers["set-cookie"].lower()
    assert "httponly" in cookie_header and "samesite=strict" in cookie_header
    client.cookies.clear()


def _login(client: TestClient, email: str, password: str) -> int:
    return client.post("/api/auth/login", json={"email": email, "password": password}).status_code


def test_failed_logins_slow_the_guesser_down_more_and_more(client: TestClient) -> None:
    create_agent(client, "tom@example.com")
    codes = [_login(client, "tom@example.com", f"wrong-{i}-xxxx") for i in range(4)]
    assert codes == [401, 401, 401, 429]  # three free tries, then a wait
    blocked = client.post("/api/auth/login", json={"email": "tom@example.com", "password": "agent-password-1"})
    assert blocked.status_code == 429 and blocked.headers["retry-after"] == "1"  # even the right password waits
    time.sleep(1.1)
    assert _login(client, "tom@example.com", "wrong-again-xxxx") == 401
    second = client.post("/api/auth/login", json={"email": "tom@example.com", "password": "x-xxxxxxxx"})
    assert second.status_code == 429 and second.headers["retry-after"] == "2"  # the wait doubles


def test_a_guesser_does_not_lock_out_the_owner_nor_an_office_behind_one_address(tmp_path: Path) -> None:
    with make_client(tmp_path) as admin_client:
        create_agent(admin_client, "tom@example.com")
        for n in range(25):
            create_agent(admin_client, f"user{n}@example.com")
        app = admin_client.app  # started once; these clients only make requests from other addresses
        attacker = TestClient(app, client=("203.0.113.7", 4000))
        owner = TestClient(app, client=("198.51.100.9", 4000))
        colleague = TestClient(app, client=("203.0.113.7", 4001))
        for n in range(25):  # one address trying many accounts, and tom's a few times
            _login(attacker, f"user{n}@example.com", "guess-xxxxxxx")
        for _ in range(5):
            _login(attacker, "tom@example.com", "guess-xxxxxxx")
        assert _login(owner, "tom@example.com", "agent-password-1") == 200  # the owner, elsewhere: no wait
        # A colleague behind the attacker's address (one office NAT) waits seconds at most, not minutes.
        resp = colleague.post("/api/auth/login", json={"email": "boss@example.com", "password": "admin-password-1"})
        if resp.status_code == 429:
            assert int(resp.headers["retry-after"]) <= 10
            time.sleep(int(resp.headers["retry-after"]) + 0.2)
            resp = colleague.post("/api/auth/login", json={"email": "boss@example.com", "password": "admin-password-1"})
        assert resp.status_code == 200


def test_the_throttle_counts_across_hub_processes_with_redis(tmp_path: Path, redis_url: str) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with make_client(tmp_path / "a", redis_url=redis_url) as hub_a, \
            make_client(tmp_path / "b", redis_url=redis_url, database_url=f"sqlite:///{tmp_path / 'a' / 'hub.db'}") as hub_b:
        create_agent(hub_a, "ann@example.com")
        assert [_login(hub_a, "ann@example.com", f"wrong-{i}-xxxx") for i in range(3)] == [401, 401, 401]
        assert _login(hub_b, "ann@example.com", "wrong-3-xxxx") == 429  # the other process knows


def test_forged_missing_and_logged_out_cookies_get_401_and_change_nothing(client: TestClient) -> None:
    create_agent(client, "maria@example.com")
    cid = _queued(client)
    maria = agent_session(client, "maria@example.com")
    url = f"/api/agent/conversations/{cid}/claim"

    assert client.post(url).status_code == 401  # no cookie, no token
    client.cookies.set(COOKIE, maria.cookie[:-3] + "abc")  # tampered signature
    assert client.post(url, headers={"X-CSRF-Token": maria.csrf}).status_code == 401
    client.cookies.set(COOKIE, "not-even-signed")
    assert client.get("/api/agent/queue").status_code == 401
    client.cookies.clear()
    assert _status(client, cid) == ("queued", None)

    assert maria.post("/api/auth/logout").status_code == 200
    assert maria.post(url).status_code == 401  # the old cookie no longer works after logout
    assert _status(client, cid) == ("queued", None)


def test_state_changes_with_a_cookie_need_the_csrf_token(client: TestClient) -> None:
    create_agent(client, "maria@example.com")
    cid = _queued(client)
    maria = agent_session(client, "maria@example.com")
    assert maria.get("/api/agent/queue").status_code == 200  # reads need no token
    missing = maria.post(f"/api/agent/conversations/{cid}/claim", csrf="")
    wrong = maria.post(f"/api/agent/conversations/{cid}/claim", csrf="x" * 43)
    assert (missing.status_code, wrong.status_code) == (403, 403)
    assert "CSRF" in missing.json()["detail"]
    assert _status(client, cid) == ("queued", None)
    other = agent_session(client, ADMIN[0], ADMIN[1])  # another session's token does not fit either
    assert maria.post(f"/api/agent/conversations/{cid}/claim", csrf=other.csrf).status_code == 403
    assert maria.post(f"/api/agent/conversations/{cid}/claim").status_code == 200
    assert _status(client, cid) == ("assigned", "maria@example.com")


def test_agents_cannot_use_admin_endpoints(client: TestClient) -> None:
    create_agent(client, "maria@example.com")
    maria = agent_session(client, "maria@example.com")
    before = client.get("/api/admin/agents", headers=admin_headers()).json()["agents"]
    attempt = maria.post("/api/admin/agents", json={"email": "mallory@example.com", "password": "password-123",
                                                    "role": "admin"})
    assert attempt.status_code == 403
    assert maria.get("/api/admin/agents").status_code == 403
    token = client.post("/api/admin/agents", headers={"Authorization": f"Bearer {AGENT_TOKEN}", "X-Agent": "x"},
                        json={"email": "mallory@example.com", "password": "password-123"})
    assert token.status_code == 403
    assert client.patch(f"/api/admin/agents/{before[0]['id']}", json={"role": "agent"},
                        headers={"Authorization": f"Bearer {AGENT_TOKEN}", "X-Agent": "x"}).status_code == 403
    assert client.get("/api/admin/agents", headers=admin_headers()).json()["agents"] == before


def test_admin_manages_accounts_with_clear_errors(client: TestClient) -> None:
    admin = agent_session(client, *ADMIN)
    created = admin.post("/api/admin/agents", json={"email": "li@example.com", "password": "password-123",
                                                    "display_name": "Li", "teams": ["billing"], "max_concurrent": 2})
    assert created.status_code == 201
    dup = admin.post("/api/admin/agents", json={"email": "LI@example.com", "password": "password-123"})
    assert dup.status_code == 409
    short = admin.post("/api/admin/agents", json={"email": "x@example.com", "password": "short"})
    assert short.status_code == 422 and "8 characters" in short.json()["detail"]
    bad_role = admin.post("/api/admin/agents", json={"email": "y@example.com", "password": "password-123",
                                                     "role": "root"})
    assert bad_role.status_code == 422
    li = agent_session(client, "li@example.com", "password-123")
    agent_id = created.json()["agent"]["id"]
    # Deactivating an agent ends their sessions.
    assert admin.patch(f"/api/admin/agents/{agent_id}", json={"active": False}).status_code == 200
    assert li.get("/api/agent/queue").status_code == 401
    assert client.post("/api/auth/login", json={"email": "li@example.com", "password": "password-123"}).status_code == 401
    assert client.patch("/api/admin/agents/999", json={"active": False}, headers=admin_headers()).status_code == 404


def test_bearer_token_callers_still_work_and_can_act_as_registered_agents(client: TestClient) -> None:
    create_agent(client, "maria@example.com", display_name="Maria")
    cid = _queued(client)
    as_maria = {"Authorization": f"Bearer {AGENT_TOKEN}", "X-Agent": "maria@example.com"}
    assert client.post(f"/api/agent/conversations/{cid}/claim", headers=as_maria).status_code == 200
    assert _status(client, cid) == ("assigned", "maria@example.com")
    joined = [m for m in client.get(f"/api/agent/conversations/{cid}", headers=as_maria).json()["messages"]
              if m["event"] == "agent_joined"]
    assert "Maria from our support team" in joined[0]["text"]  # customers see the display name, not the e-mail


def test_console_page_and_socket_need_a_session(client: TestClient) -> None:
    page = client.get("/console")
    assert page.status_code == 200 and "console.js" in page.text
    assert page.headers["x-frame-options"] == "DENY"
    with pytest.raises(Exception):
        with client.websocket_connect("/console/ws") as ws:
            ws.receive_json()
    create_agent(client, "maria@example.com")
    maria = agent_session(client, "maria@example.com")
    client.cookies.set(COOKIE, maria.cookie)
    try:
        with pytest.raises(Exception):  # a page on another site cannot open it with the agent's cookie
            with client.websocket_connect("/console/ws", headers={"Origin": "https://evil.example"}) as ws:
                ws.receive_json()
        with client.websocket_connect("/console/ws") as ws:
            assert ws.receive_json()["type"] == "hello"
            client.cookies.clear()
            customer = Customer(client)
            customer.say("person please")  # arrives live on the agent's socket
            seen = []
            while not seen or seen[-1]["type"] != "queued":
                seen.append(ws.receive_json())
            assert seen[-1]["conversation"]["id"] == customer.conversation_id
            assert seen[-1]["reason"] == "customer_request"
    finally:
        client.cookies.clear()


def test_cli_creates_agents(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.agents.__main__ import main

    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SUPPORTBOT_PASSWORD", "cli-password-1")
    assert main(["create-agent", "--email", "ana@example.com", "--name", "Ana", "--teams", "support,care"]) == 0
    assert main(["create-agent", "--email", "ana@example.com"]) == 1
    assert "exists already" in capsys.readouterr().err
    with make_client(tmp_path) as c:
        ana = agent_session(c, "ana@example.com", "cli-password-1")
        me = ana.get("/api/auth/me").json()["agent"]
    assert (me["display_name"], me["role"], me["teams"]) == ("Ana", "agent", ["support", "care"])


def test_editors_change_content_but_do_not_answer_customers(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        create_agent(client, "ed@example.com", role="editor")
        csrf = client.post("/api/auth/login", json={"email": "ed@example.com", "password": "agent-password-1"})
        assert csrf.status_code == 200 and csrf.json()["agent"]["role"] == "editor"
        assert client.get("/api/agent/queue").status_code == 403  # not an agent
        assert client.get("/api/admin/agents").status_code == 403  # not an admin
        assert client.get("/api/auth/me").json()["actor"]["role"] == "editor"
        bad = client.post("/api/admin/agents", headers=admin_headers(),
                          json={"email": "x@example.com", "password": "agent-password-1", "role": "boss"})
        assert bad.status_code == 422 and "agent, editor or admin" in bad.text
