"""bench-nlu's data handling for out-of-scope data (no Rasa: the parts that need no server)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.bench_nlu import (Parsed, best_on_curve, classification_metrics, load_clinc150, load_dataset,
                                  markdown, scores_for)


def clinc(tmp_path: Path) -> Path:
    data = {
        "train": [["book a flight", "book_flight"], ["pay my bill", "pay_bill"]],
        "val": [["fly me to rome", "book_flight"]],
        "test": [["flight to oslo please", "book_flight"], ["pay the bill", "pay_bill"]],
        "oos_train": [["how tall is everest", "oos"]],
        "oos_val": [["who won the cup", "oos"]],
        "oos_test": [["sing a song", "oos"], ["what is love", "oos"]],
    }
    (tmp_path / "data_full.json").write_text(json.dumps(data), encoding="utf-8")
    return tmp_path


def test_clinc_oos_is_renamed_to_the_oos_intent_and_oos_train_is_trained(tmp_path: Path) -> None:
    ds = load_clinc150(clinc(tmp_path), "out_of_scope")
    assert ds.oos_label == "out_of_scope"
    assert ("how tall is everest", "out_of_scope") in ds.train and len(ds.train) == 3
    assert [y for _, y in ds.test].count("out_of_scope") == 2 and "oos" not in {y for _, y in ds.test + ds.val}
    without = load_clinc150(tmp_path, "out_of_scope", oos_train=False)
    assert len(without.train) == 2 and without.oos_label == "out_of_scope"
    assert load_clinc150(tmp_path, "ood").oos_label == "ood"


def test_csv_rows_with_the_oos_intent_are_out_of_scope_data(tmp_path: Path) -> None:
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    train.write_text("text,label\nhi,greet\nbye,goodbye\nweather?,out_of_scope\n", encoding="utf-8")
    test.write_text("text,label\nhello,greet\nstock price?,out_of_scope\n", encoding="utf-8")
    assert load_dataset(str(train), test, 42).oos_label == "out_of_scope"
    assert load_dataset(str(train), test, 42, oos_intent="other").oos_label is None


def parsed(predicted: list[str], top: list[float], final: list[str]) -> Parsed:
    return Parsed(predicted=predicted, top=np.array(top), second=np.zeros(len(top)), final=final,
                  latency_ms=np.ones(len(top)))


def test_predicting_the_oos_intent_counts_as_handed_off() -> None:
    rows = [("a", "x"), ("b", "y"), ("c", "out_of_scope"), ("d", "out_of_scope")]
    p = parsed(["x", "out_of_scope", "out_of_scope", "y"], [0.9, 0.9, 0.9, 0.9],
               ["x", "out_of_scope", "out_of_scope", "y"])
    scores = scores_for(rows, p, "out_of_scope")
    assert scores.predicted_oos.tolist() == [False, True, True, False]
    metrics = classification_metrics(rows, p, "out_of_scope")
    assert metrics["accuracy"] == 0.5  # in-scope only; predicting out_of_scope for "b" is wrong
    assert metrics["fallback_rate_at_configured_threshold"] == 0.5  # the server did not answer "b"
    best = best_on_curve(scores, 0.0, 0.75)  # only thresholds above 0.9 catch "d" too
    assert best["oos_recall"] == 1.0 and best["threshold"] == pytest.approx(0.91)
    assert best_on_curve(scores, 0.0, 0.5)["in_scope_accuracy"] == 0.5


def test_markdown_states_the_rule_and_the_oos_setting() -> None:
    point = {"threshold": 0.2, "in_scope_handoff_rate": 0.01, "in_scope_accuracy": 0.96, "oos_recall": 0.8,
             "accuracy_when_answered": 0.97}
    ours = {"accuracy": 0.97, "threshold": 0.2, "objective": "handoff", "max_handoff_rate": 0.01,
            "ambiguity_threshold": 0.0, "oos_intent": "out_of_scope", "oos_train_examples": 100,
            "val_at_threshold": point, "oos_recall_target": 0.75, "test_best_at_oos_target": point,
            "curve": [point]}
    text = markdown({"dataset": "clinc150", "command": "x", "finished": "now", "machine": "m", "ours": ours,
                     "baseline": None, "targets": []})
    assert "in-scope handoff on val ≤ 0.01" in text and "`out_of_scope`, 100 out-of-scope training" in text
    assert "Oracle (test, not a calibration)" in text and "| 0.2 | 0.010 | 0.960 | 0.800 |" in text


def test_csv_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    train = tmp_path / "excel.csv"
    train.write_bytes("\ufefftext,label\nhi,greet\nciao,greet\nbye,goodbye\nsee you,goodbye\n".encode("utf-8"))
    ds = load_dataset(str(train), None, 42)
    assert sorted(ds.train + ds.test) == [("bye", "goodbye"), ("ciao", "greet"), ("hi", "greet"), ("see you", "goodbye")]


def test_latin1_csv_is_refused_with_the_line_or_read_when_named(tmp_path: Path) -> None:
    train = tmp_path / "latin.csv"
    train.write_bytes("text,label\nhi,greet\ncaf\xe9 please,order\nbye,goodbye\n".encode("latin-1"))
    with pytest.raises(SystemExit, match=r"latin.csv:3: not UTF-8 \(byte 0xe9\).*--encoding latin-1"):
        load_dataset(str(train), None, 42)
    ds = load_dataset(str(train), None, 42, encoding="latin-1")
    assert ("café please", "order") in ds.train + ds.test


def test_a_csv_validation_set_brings_out_of_scope_scoring(tmp_path: Path) -> None:
    train, test, val = tmp_path / "train.csv", tmp_path / "test.csv", tmp_path / "val.csv"
    train.write_text("text,label\nhi,greet\nbye,goodbye\n", encoding="utf-8")
    test.write_text("text,label\nhello,greet\n", encoding="utf-8")
    val.write_text("text,label\nhey,greet\nstock price?,ood\n", encoding="utf-8")
    ds = load_dataset(str(train), test, 42, oos_intent="ood", val=val)
    assert ds.oos_label == "ood" and ("stock price?", "ood") in ds.val


def test_results_never_overwrite_another_run(tmp_path: Path) -> None:
    from benchmarks.bench_nlu import result_stem, save_result

    first = {"dataset": "d", "finished": "2026-12-01 10:00:00", "error": "boom"}
    save_result(tmp_path, "nlu_d", first)
    save_result(tmp_path, "nlu_d", {**first, "finished": "2026-12-01 11:00:00"})
    assert json.loads((tmp_path / "nlu_d.json").read_text())["finished"] == "2026-12-01 11:00:00"
    assert json.loads((tmp_path / "history" / "nlu_d-20261201100000.json").read_text()) == first
    assert result_stem("banking77", Path("/elsewhere/fast.yml"), False) == "nlu_banking77-fast"
    assert result_stem("banking77", Path(__file__).resolve().parents[2] / "config.yml", True) == "nlu_banking77_quick"


def test_a_failed_run_keeps_its_partial_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import benchmarks.bench_nlu as bench

    train = tmp_path / "t.csv"
    train.write_text("text,label\nhi,greet\nhello,greet\nbye,goodbye\nsee you,goodbye\n", encoding="utf-8")

    def fail(*args, **kwargs):
        raise RuntimeError("rasa train failed")

    monkeypatch.setattr(bench, "run_pipeline", fail)
    monkeypatch.setattr(bench, "WORK", tmp_path / "work")
    with pytest.raises(RuntimeError):
        bench.main(["--dataset", str(train), "--no-baseline", "--out", str(tmp_path / "results")])
    partial = json.loads((tmp_path / "results" / "nlu_t-partial.json").read_text())
    assert partial["error"] == "RuntimeError: rasa train failed" and partial["dataset"] == "t"


def test_each_profile_is_held_to_its_own_parse_latency_target() -> None:
    from benchmarks.bench_nlu import check_targets

    def parse_target(profile: str | None) -> dict:
        [t] = [t for t in check_targets("banking77", {"parse_p95_ms": 40.0}, profile) if t["metric"] == "parse_p95_ms"]
        return t

    assert parse_target("accurate")["met"]  # the opt-in accurate profile: ≤ 60 ms
    assert parse_target("fast") == {"metric": "parse_p95_ms", "value": 40.0, "target": "<= 25.0", "met": False}
    assert parse_target("classic")["target"] == "<= 25.0" and not parse_target("classic")["met"]
    assert parse_target(None) == parse_target("classic")  # no --profile: the shipped config, classic (issue 3's 25 ms)


def test_earlier_results_are_never_overwritten_even_when_their_tags_collide(tmp_path: Path) -> None:
    """A results file without a finish time is tagged by the clock at the move, which can equal a later run's
    finish time: both must stay in history/."""
    from benchmarks.bench_nlu import keep_previous

    history = tmp_path / "history"
    history.mkdir()
    (history / "x-20261202025153.json").write_text('{"run": "older"}')
    (history / "x-20261202025153.md").write_text("older")
    (tmp_path / "x.json").write_text(json.dumps({"run": "newer", "finished": "2026-12-02 02:51:53"}))
    (tmp_path / "x.md").write_text("newer")
    keep_previous(tmp_path, "x")
    assert json.loads((history / "x-20261202025153.json").read_text())["run"] == "older"
    assert json.loads((history / "x-20261202025153-2.json").read_text())["run"] == "newer"
    assert (history / "x-20261202025153-2.md").read_text() == "newer"
    assert not (tmp_path / "x.json").exists()
