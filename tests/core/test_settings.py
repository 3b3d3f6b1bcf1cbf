"""HubSettings come from the environment, then a .env file, then defaults; bad values fail with the variable named."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import HubSettings


def test_env_file_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = tmp_path / ".env"
    env.write_text("HUB_PORT=8100\nRASA_URLS=http://a:5005, http://b:5005\nREDACT_PII=false\nAGENT_API_TOKEN=s3cret\n")
    monkeypatch.setenv("HUB_PORT", "8200")  # the environment wins over .env
    s = HubSettings.from_env(env)
    assert s.hub_port == 8200
    assert s.rasa_endpoints == ("http://a:5005", "http://b:5005")
    assert s.redact_pii is False
    assert s.agent_api_token.get_secret_value() == "s3cret" and "s3cret" not in repr(s.agent_api_token)


def test_defaults_are_embedded(tmp_path: Path) -> None:
    s = HubSettings.from_env(tmp_path / "missing.env", data_dir=tmp_path)
    assert s.db_url == f"sqlite:///{tmp_path / 'hub.db'}"
    assert s.tracker_store_url.startswith("sqlite:///")
    assert s.action_endpoint == "http://127.0.0.1:5055/webhook"
    assert s.order_api == "http://127.0.0.1:8000/demo-shop/api"
    # the shipped profile's measured pair (core.contracts.FIXED_KB_THRESHOLDS); the opt-in profiles leave them to
    # the index's own content calibration (below, and tests/kb_index/test_kb_self_calibration.py)
    assert (s.kb_answer_threshold, s.kb_suggest_threshold) == (0.43, 0.43)


def test_bad_number_names_the_variable(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("HUB_PORT=eighty\n")
    with pytest.raises(ValueError, match=r"HUB_PORT: Input should be a valid integer.*eighty"):
        HubSettings.from_env(env)


def test_env_example_documents_every_setting_and_parses(tmp_path: Path) -> None:
    """`.env.example` is the configuration reference: every setting is in it, and a copy of it is valid."""
    import re
    from core.settings import PROJECT_ROOT

    example = (PROJECT_ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^([A-Z_0-9]+)=", example, re.M))
    assert documented == {name.upper() for name in HubSettings.model_fields}
    settings = HubSettings.from_env(PROJECT_ROOT / ".env.example")
    assert settings.hub_port == 8000 and settings.host == "127.0.0.1"


def test_settings_passed_to_child_processes_read_back_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The launcher hands its settings to Rasa, the action server and the hub as environment variables: an unset
    value (the KB thresholds, left to the content's own calibration) must stay unset, not become "None"."""
    from core.settings import ActionSettings

    parent = HubSettings.from_env(tmp_path / "missing.env", data_dir=tmp_path, embedding_model="accurate")
    assert parent.kb_answer_threshold is None
    for name, value in parent.to_env().items():
        monkeypatch.setenv(name, value)
    child = ActionSettings.from_env(tmp_path / "missing.env")
    assert child.kb_answer_threshold is None and child.kb_suggest_threshold is None
    assert child.embedding_model == parent.embedding_model
    for name, value in parent.replace(kb_answer_threshold=0.5).to_env().items():
        monkeypatch.setenv(name, value)
    assert ActionSettings.from_env(tmp_path / "missing.env").kb_answer_threshold == 0.5


def test_the_shipped_profile_answers_at_its_measured_thresholds_the_others_at_the_contents(tmp_path: Path) -> None:
    missing = tmp_path / "missing.env"
    shipped = HubSettings.from_env(missing, data_dir=tmp_path)
    assert (shipped.embedding_model, shipped.kb_answer_threshold, shipped.kb_suggest_threshold) == ("classic", 0.43, 0.43)
    for profile in ("accurate", "fast"):
        opt_in = HubSettings.from_env(missing, data_dir=tmp_path, embedding_model=profile)
        assert opt_in.kb_answer_threshold is None and opt_in.kb_suggest_threshold is None
    fixed = HubSettings.from_env(missing, data_dir=tmp_path, kb_answer_threshold=0.5)
    assert (fixed.kb_answer_threshold, fixed.kb_suggest_threshold) == (0.5, 0.43)
