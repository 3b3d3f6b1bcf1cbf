"""Secrets by default: no development value outside development mode, no known secret ever, expiring and
revocable visitor tokens, operator-only metrics, a content security policy on the chat page."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from itsdangerous import URLSafeSerializer, URLSafeTimedSerializer

from bot.app import create_app
from bot.ops import secrets
from core.settings import HubSettings, SettingsError


def hub_settings(tmp_path: Path, **extra: object) -> HubSettings:
    return HubSettings.from_env(data_dir=tmp_path, rasa_url="http://127.0.0.1:9", rasa_retries=0,
                                queue_tick_s=3600.0, handoff_config=tmp_path / "none.yml", **extra)


def test_development_tokens_are_refused_outside_development_mode(tmp_path: Path) -> None:
    for name, value in (("agent_api_token", "dev-agent-token"), ("admin_api_token", "dev-admin-token"),
                        ("session_secret", "change-me-in-production")):
        with pytest.raises(SettingsError, match=f"{name.upper()} is a development value.*DEV_MODE=true"):
            create_app(hub_settings(tmp_path, **{name: value}))


def test_without_tokens_there_is_no_bearer_access_and_dev_mode_opens_it(tmp_path: Path) -> None:
    with TestClient(create_app(hub_settings(tmp_path / "prod"))) as client:
        assert client.get("/api/agent/queue", headers={"Authorization": "Bearer dev-agent-token",
                                                       "X-Agent": "a"}).status_code == 401
        assert client.get("/api/agent/queue", headers={"Authorization": "Bearer ", "X-Agent": "a"}).status_code == 401
    with TestClient(create_app(hub_settings(tmp_path / "dev", dev_mode=True))) as client:
        assert client.get("/api/agent/queue", headers={"Authorization": "Bearer dev-agent-token",
                                                       "X-Agent": "a"}).status_code == 200


def test_the_session_secret_is_generated_once_kept_private_and_reused(tmp_path: Path) -> None:
    first = secrets.resolve(hub_settings(tmp_path))
    again = secrets.resolve(hub_settings(tmp_path))
    value = first.session_secret.get_secret_value()
    assert len(value) >= 32 and value == again.session_secret.get_secret_value()
    assert first.rasa_auth_token.get_secret_value() and first.rasa_auth_token != first.session_secret
    path = tmp_path / "secrets" / "session_secret"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def hello(client: TestClient, token: str | None) -> dict:
    with client.websocket_connect("/channels/web/ws") as ws:
        ws.send_text(json.dumps({"type": "hello", "token": token}))
        return ws.receive_json()


def test_visitor_tokens_cannot_be_forged_expire_and_can_be_revoked(tmp_path: Path) -> None:
    app = create_app(hub_settings(tmp_path, visitor_token_max_age_s=2, admin_api_token="test-admin-token"))
    with TestClient(app) as client:
        welcome = hello(client, None)
        visitor = URLSafeTimedSerializer(secrets.resolve(hub_settings(tmp_path)).session_secret.get_secret_value(),
                                         salt="webchat-visitor-v2").loads(welcome["token"])
        assert hello(client, welcome["token"])["token"]  # a genuine token keeps the visitor …
        assert URLSafeTimedSerializer(app.state.container.settings.session_secret.get_secret_value(),
                                      salt="webchat-visitor-v2").loads(hello(client, welcome["token"])["token"]) == visitor
        # … a token signed with the old documented default (the forged-transcript attack) does not.
        forged = URLSafeSerializer("change-me-in-production", salt="webchat-visitor").dumps(visitor)
        other = URLSafeTimedSerializer(app.state.container.settings.session_secret.get_secret_value(),
                                       salt="webchat-visitor-v2").loads(hello(client, forged)["token"])
        assert other != visitor
        # Revoked: refused from now on.
        resp = client.post(f"/api/admin/visitors/{visitor}/revoke-tokens",
                           headers={"Authorization": "Bearer test-admin-token"})
        assert resp.status_code == 200
        after = URLSafeTimedSerializer(app.state.container.settings.session_secret.get_secret_value(),
                                       salt="webchat-visitor-v2").loads(hello(client, welcome["token"])["token"])
        assert after != visitor
        # Expired (2 s here): a new visitor.
        fresh = hello(client, None)["token"]
        time.sleep(3)
        expired = URLSafeTimedSerializer(app.state.container.settings.session_secret.get_secret_value(),
                                         salt="webchat-visitor-v2")
        assert expired.loads(hello(client, fresh)["token"]) != expired.loads(fresh)


def test_metrics_and_health_details_are_for_operators_and_the_chat_page_has_a_policy(tmp_path: Path) -> None:
    with TestClient(create_app(hub_settings(tmp_path, metrics_token="scrape-me"))) as client:  # not loopback
        assert client.get("/metrics").status_code == 403
        assert client.get("/metrics", headers={"Authorization": "Bearer scrape-me"}).status_code == 200
        assert set(client.get("/health").json()) == {"ok"}
        assert "database" in client.get("/health", headers={"Authorization": "Bearer scrape-me"}).json()
        policy = client.get("/chat").headers["content-security-policy"]
        assert "script-src 'self'" in policy and "object-src 'none'" in policy
    with TestClient(create_app(hub_settings(tmp_path / "lo")), client=("127.0.0.1", 50123)) as local:
        assert local.get("/metrics").status_code == 200  # a scraper on the machine itself
