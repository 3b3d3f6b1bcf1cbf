"""Fixtures of the hub's unit tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.app import create_app
from core.settings import HubSettings
from tests_support import free_port_dead

AGENT_TOKEN = "test-agent-token"


@pytest.fixture
def dead_rasa_client(tmp_path: Path) -> Iterator[TestClient]:
    """A started hub whose Rasa is a loopback port with nothing listening (a real dead Rasa)."""
    settings = HubSettings.from_env(
        data_dir=tmp_path, rasa_url=f"http://127.0.0.1:{free_port_dead()}", rasa_retries=1,
        agent_api_token=AGENT_TOKEN, metrics_token="test-metrics-token",
    )
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture
async def hub(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A started hub (its composition root) with the scripted Rasa of `handoff_kit`, driven without HTTP."""
    from handoff_kit import DEFAULT_SCRIPT, scripted_rasa

    settings = HubSettings.from_env(data_dir=tmp_path, queue_tick_s=3600.0, outbox_poll_s=3600.0,
                                    handoff_config=tmp_path / "no-handoff.yml")
    app = create_app(settings, rasa=scripted_rasa(DEFAULT_SCRIPT, nlu_header=True))
    async with app.router.lifespan_context(app):
        yield app.state.container
