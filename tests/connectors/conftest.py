"""Fixtures for channel tests: fake Telegram/Twilio/Rasa servers on loopback and a hub wired to them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bot.app import create_app
from core.settings import HubSettings
from fakes.rasa import FakeRasa
from fakes.telegram_api import FakeTelegram
from fakes.twilio_api import FakeTwilio
from tests_support import free_port_dead

from channel_support import ADMIN_TOKEN, AGENT_TOKEN, HubFactory, PUBLIC, SMS_FROM, TG_SECRET, TG_TOKEN, TW_SID, TW_TOKEN, WA_FROM


@pytest.fixture
def telegram_api() -> Iterator[FakeTelegram]:
    with FakeTelegram(TG_TOKEN) as fake:
        yield fake


@pytest.fixture
def twilio_api() -> Iterator[FakeTwilio]:
    with FakeTwilio(TW_SID, TW_TOKEN) as fake:
        yield fake


@pytest.fixture
def rasa() -> Iterator[FakeRasa]:
    with FakeRasa() as fake:
        yield fake




@pytest.fixture
def make_hub(tmp_path: Path, telegram_api: FakeTelegram, twilio_api: FakeTwilio) -> Iterator[HubFactory]:
    """`make_hub(rasa_url=..., **settings)` → a started hub (TestClient) with every channel enabled."""
    with contextlib.ExitStack() as stack:
        def make(rasa_url: str | None = None, **overrides: Any) -> TestClient:
            values: dict[str, Any] = dict(
                data_dir=tmp_path, rasa_url=rasa_url or f"http://127.0.0.1:{free_port_dead()}", rasa_retries=0,
                agent_api_token=AGENT_TOKEN, admin_api_token=ADMIN_TOKEN, public_url=PUBLIC,
                enabled_channels=("web", "telegram", "whatsapp", "sms"),
                telegram_bot_token=TG_TOKEN, telegram_webhook_secret=TG_SECRET,
                telegram_api_base_url=telegram_api.base_url,
                twilio_account_sid=TW_SID, twilio_auth_token=TW_TOKEN, twilio_whatsapp_from=WA_FROM,
                twilio_sms_from=SMS_FROM, twilio_api_base_url=twilio_api.url, max_media_bytes=1_000_000,
            )
            values.update(overrides)
            client = TestClient(create_app(HubSettings.from_env(**values)))
            stack.enter_context(client)
            for connector in client.app.state.container.connectors.values():  # keep retry waits short in tests
                connector.backoff_base_s = 0.05
            return client

        yield make
