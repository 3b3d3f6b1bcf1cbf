"""Bad training data is reported with file and line before training; the previous model stays in service."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlu_components import training
from tools import launcher
from nlu_components.validate import validate

GOOD = """version: "3.1"
nlu:
- intent: greet
  examples: |
    - hi
    - hello
- intent: bye
  examples: |
    - bye
    - see you
"""


def write(folder: Path, name: str, content: str | bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def messages(report) -> list[str]:
    return [str(p) for p in report.problems]


def test_clean_data_has_no_problems(tmp_path: Path) -> None:
    write(tmp_path, "nlu.yml", GOOD)
    report = validate([tmp_path])
    assert report.problems == [] and len(report.examples) == 4


def test_intent_with_one_example_is_a_warning_with_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "nlu.yml", GOOD + "- intent: thanks\n  examples: |\n    - thank you\n")
    report = validate([tmp_path])
    assert not report.errors
    [warning] = report.warnings
    assert warning.path.endswith("nlu.yml") and warning.line == 13 and "'thanks' has a single example" in warning.message
    assert path.read_text().splitlines()[12].strip() == "- thank you"


def test_same_example_under_two_intents_is_an_error_naming_both_places(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", GOOD)
    write(tmp_path, "b.yml", 'nlu:\n- intent: bye\n  examples: |\n    - ciao\n    - Hello\n')
    report = validate([tmp_path])
    [error] = report.errors
    text = str(error)
    assert "a.yml:6" in text and "b.yml:5" in text and "'greet'" in text and "'bye'" in text


def test_entity_annotations_do_not_hide_duplicates(tmp_path: Path) -> None:
    write(tmp_path, "nlu.yml", 'nlu:\n- intent: a\n  examples: |\n    - order [BC-100001](order_number)\n    - x\n'
                               '- intent: b\n  examples: |\n    - order BC-100001\n    - y\n')
    assert len(validate([tmp_path]).errors) == 1


def test_empty_and_non_utf8_files_are_errors(tmp_path: Path) -> None:
    write(tmp_path, "good.yml", GOOD)
    write(tmp_path, "empty.yml", "")
    write(tmp_path, "comments.yml", "# nothing here yet\n")
    write(tmp_path, "latin1.yml", 'nlu:\n- intent: greet\n  examples: |\n    - caf\xe9 hello\n'.encode("latin-1"))
    found = messages(validate([tmp_path]))
    assert any("empty.yml: error: empty file" in m for m in found), found
    assert any("comments.yml: error: empty file" in m for m in found), found
    assert any("latin1.yml:4: error: not UTF-8" in m for m in found), found


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    write(tmp_path, "nlu.yml", "nlu:\n- intent: greet\n  examples: |\n    - hi\n  - broken: [\n")
    [error] = validate([tmp_path]).errors
    assert "nlu.yml:" in str(error) and "YAML syntax error" in str(error)


def test_launcher_refuses_to_train_on_bad_data_and_keeps_the_previous_model(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    config, domain, data = tmp_path / "config.yml", tmp_path / "domain.yml", tmp_path / "data"
    config.write_text("language: en\n")
    domain.write_text("version: '3.1'\n")
    write(data, "nlu.yml", GOOD)
    write(data, "more.yml", 'nlu:\n- intent: bye\n  examples: |\n    - hi\n')
    models = tmp_path / "models"
    models.mkdir()
    (models / "current.tar.gz").write_bytes(b"previous model")
    calls: list[list[str]] = []
    monkeypatch.setattr(training, "rasa_command", lambda: ["rasa"])
    monkeypatch.setattr(training.subprocess, "Popen", lambda cmd, **_: calls.append(cmd))
    with pytest.raises(launcher.LaunchError, match="previous model"):
        launcher.ensure_model(config=config, out_dir=models, data=data, domain=domain)
    assert calls == []  # Rasa was never started
    assert (models / "current.tar.gz").read_bytes() == b"previous model"
    out = capsys.readouterr().out
    assert "more.yml:4: error" in out and "'hi'" in out


def test_an_intent_name_with_a_slash_is_an_error_naming_file_and_line(tmp_path: Path) -> None:
    """Rasa would silently merge `weather/find` and `weather/rain` into `weather` (retrieval-intent syntax)."""
    write(tmp_path, "nlu.yml", GOOD + "- intent: weather/find\n  examples: |\n    - is it sunny\n    - forecast\n")
    write(tmp_path, "data.json", '{"rasa_nlu_data": {"common_examples": [\n'
                                 '  {"text": "rain tomorrow?", "intent": "weather/rain"}]}}\n')
    found = messages(validate([tmp_path]))
    assert any("nlu.yml:11: error: intent name 'weather/find' contains '/'" in m and "'weather_find'" in m
               for m in found), found
    assert any("data.json:2: error: intent name 'weather/rain'" in m for m in found), found
