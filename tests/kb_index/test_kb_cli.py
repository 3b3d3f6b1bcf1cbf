"""The command line: build, search and eval; clear errors, exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.settings import PROJECT_ROOT
from kb_index.cli import main


def test_build_then_search(mini_content: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "build"
    args = ["--content", str(mini_content), "--out", str(out)]
    assert main(["build", "--no-progress", *args]) == 0
    assert "5 entries, 15 vectors" in capsys.readouterr().out
    assert main(["build", *args]) == 0
    assert "up to date" in capsys.readouterr().out

    assert main(["search", "where is my parcel", *args]) == 0
    out_text = capsys.readouterr().out
    assert "decision: answer" in out_text and "1. " in out_text and "track-order" in out_text
    assert "Use the tracking link" in out_text


def test_search_without_index_tells_what_to_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "hello", "--out", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert "make kb" in err and "Traceback" not in err


def test_build_with_bad_content_exits_2(make_content, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    content = make_content({"faq.yml": "- id: x\n  language: en\n  question: q\n  answer: ''\n"})
    assert main(["build", "--content", str(content), "--out", str(tmp_path / "build")]) == 2
    err = capsys.readouterr().err
    assert "faq.yml:4: entry 'x': field 'answer': must not be empty" in err
    assert not (tmp_path / "build" / "current").exists()


def test_eval_gate(starter_index: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--out", str(starter_index), "--min-top1", "0.85", "--json"]) == 0
    assert '"top1"' in capsys.readouterr().out
    assert main(["eval", "--out", str(starter_index), "--min-top1", "1.01"]) == 1


def test_build_with_answers_is_not_up_to_date_without(mini_content: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    args = ["--content", str(mini_content), "--out", str(tmp_path / "build"), "--no-progress"]
    assert main(["build", *args]) == 0
    assert "15 vectors" in capsys.readouterr().out
    assert main(["build", "--embed-answers", *args]) == 0
    out = capsys.readouterr().out
    assert "built" in out and "15 vectors" not in out  # answer paragraphs added rows
    assert main(["build", "--embed-answers", *args]) == 0
    assert "up to date" in capsys.readouterr().out


def test_eval_reports_abstain_and_takes_a_margin(starter_index: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    results = {}
    for margin in ("0", "1"):
        assert main(["eval", "--out", str(starter_index), "--margin", margin, "--json"]) == 0
        results[margin] = json.loads(capsys.readouterr().out)
    assert "abstain_precision" in results["0"] and "no_answer_recall" in results["0"]
    assert results["1"]["answered_correctly"] + results["1"]["answered_wrongly"] == 0  # every answer became choices


def test_thresholds_default_to_the_settings(starter_index: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("KB_ANSWER_THRESHOLD", "0.99")
    monkeypatch.setenv("KB_SUGGEST_THRESHOLD", "0.2")
    assert main(["search", "How can I track my order?", "--out", str(starter_index)]) == 0
    assert "decision: choices (answer ≥ 0.99, choices ≥ 0.2)" in capsys.readouterr().out
    monkeypatch.setenv("KB_ANSWER_THRESHOLD", "two")
    assert main(["search", "hello", "--out", str(starter_index)]) == 2
    assert "KB_ANSWER_THRESHOLD" in capsys.readouterr().err


def test_python_m_kb_index_runs_the_command_line(mini_content: Path) -> None:
    """`python -m kb_index ...` as the Makefile, the launcher and the README run it."""
    proc = subprocess.run([sys.executable, "-m", "kb_index", "validate", "--content", str(mini_content)],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "5 entries in 2 files" in proc.stdout
