"""The launcher's decisions: Rasa endpoints from settings, retraining only when inputs change."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import HubSettings
from nlu_components import training
from tools import launcher


def test_endpoints_for_sqlite_postgres_and_redis(tmp_path: Path) -> None:
    s = HubSettings.from_env(data_dir=tmp_path, action_port=6000)
    cfg = launcher.endpoints_config(s)
    assert cfg["action_endpoint"] == {"url": "http://127.0.0.1:6000/webhook"}
    assert cfg["tracker_store"] == {"type": "SQL", "dialect": "sqlite", "db": str(tmp_path / "rasa_tracker.db")}
    assert "lock_store" not in cfg

    s = HubSettings.from_env(rasa_tracker_store_url="postgresql://bot:pw@db.internal:5433/rasa",
                          rasa_lock_store_url="redis://:secret@127.0.0.1:6380/2")
    cfg = launcher.endpoints_config(s)
    assert cfg["tracker_store"] == {"type": "SQL", "dialect": "postgresql", "url": "db.internal", "port": 5433,
                                    "db": "rasa", "username": "bot", "password": "pw"}
    assert cfg["lock_store"] == {"type": "redis", "url": "127.0.0.1", "port": 6380, "db": 2, "password": "secret"}


def test_model_is_not_retrained_when_nothing_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config, domain, data = tmp_path / "config.yml", tmp_path / "domain.yml", tmp_path / "data"
    config.write_text("language: en\n")
    domain.write_text("version: '3.1'\n")
    data.mkdir()
    (data / "nlu.yml").write_text("nlu: []\n")
    models = tmp_path / "models"
    models.mkdir()
    (models / "current.tar.gz").write_bytes(b"model")
    (models / "current.fingerprint").write_text(
        launcher.fingerprint([config, domain, data, *launcher.RASA_CODE_DIRS]))
    calls: list[list[str]] = []
    monkeypatch.setattr(training, "rasa_command", lambda: ["rasa"])

    popen = training.subprocess.Popen

    def fake_failed_training(cmd: list[str], **_: object) -> training.subprocess.Popen[str]:
        calls.append(cmd)
        return popen(["false"], stdout=training.subprocess.PIPE, text=True)

    monkeypatch.setattr(training.subprocess, "Popen", fake_failed_training)

    assert launcher.ensure_model(config=config, out_dir=models, data=data, domain=domain) == models / "current.tar.gz"
    assert calls == []  # up to date: no training

    (data / "nlu.yml").write_text("nlu: [changed]\n")
    with pytest.raises(launcher.LaunchError, match="previous model"):
        launcher.ensure_model(config=config, out_dir=models, data=data, domain=domain)
    assert calls and calls[0][1] == "train"  # the change triggered training (which "failed" here)
    assert (models / "current.tar.gz").read_bytes() == b"model"  # and the old model is still in place


def test_missing_rasa_venv_says_what_to_do(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(training, "RASA_VENV", tmp_path / "nowhere")
    with pytest.raises(launcher.LaunchError, match="make install"):
        launcher.rasa_command()


def test_the_banner_says_where_to_chat_and_where_agents_work(tmp_path: Path) -> None:
    s = HubSettings.from_env(data_dir=tmp_path, hub_port=8123)
    text = launcher.banner(s)
    assert "http://127.0.0.1:8123/chat" in text and "http://127.0.0.1:8123/console" in text
    assert "ADMIN_EMAIL and ADMIN_PASSWORD" in text  # no agent yet: how to get one
    assert "log in as boss@example.com" in launcher.banner(s.replace(admin_email="boss@example.com"))
    assert text.splitlines()[-1] == "[supportbot] Press Ctrl-C to stop."
