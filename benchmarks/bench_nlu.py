"""NLU benchmark: train the shipped Rasa pipeline on a public data set, serve it, and measure it.

    make bench-nlu                                      # BANKING77 and CLINC150, results in benchmarks/results/
    .venv/bin/python -m benchmarks.bench_nlu --dataset banking77|clinc150|path/to/train.csv
        [--test path/to/test.csv] [--config config.yml] [--baseline-per-intent 10] [--baseline-epochs 5]
        [--no-baseline] [--max-train N] [--objective handoff|balanced] [--max-handoff-rate 0.01]
        [--oos-intent out_of_scope] [--no-oos-train]

For the data set it
1. writes the training split as Rasa NLU data (JSON: texts are never parsed as entity markup) in var/bench-nlu/,
2. trains the pipeline of `--config` (NLU only) with `rasa train nlu` in the Rasa runtime, on one thread,
   with a fresh Rasa cache (no reuse between runs): training time and peak memory,
3. starts `rasa run --enable-api` on a free loopback port: time until /status answers with the model loaded,
4. sends every evaluation message to `/model/parse`, one at a time: accuracy, macro-F1, latency p50/p95,
   server peak memory,
5. for sets with out-of-scope data (CLINC150): picks the FallbackClassifier threshold on val + oos_val (the
   rule of `nlu_components.calibrate`: by default the highest threshold that hands off at most
   `--max-handoff-rate` of the in-scope val messages) and reports in-scope accuracy (handed off = wrong) and
   out-of-scope recall on test + oos_test at that threshold,
6. in the same run, trains Rasa's default pipeline (CountVectors + DIET) on a subsample
   (`--baseline-per-intent` examples per intent, `--baseline-epochs` epochs) and evaluates it the same way,
   so the accuracy and training-time ratio are measured, not quoted,
7. writes `benchmarks/results/nlu_<dataset>.json` and `.md`.

Out-of-scope data: `--oos-intent` (default `out_of_scope`, the bot's own intent) names the intent that means
"out of scope". CLINC150's `oos` labels are renamed to it and its `oos_train` split is trained as that intent
(`--no-oos-train`: leave it out, Larson et al.'s threshold-only setting); in a CSV set, rows with that label are
the out-of-scope examples. A message whose top intent is that intent counts as handed off (the bot does not
answer it as an in-scope intent), like one the FallbackClassifier catches.

CSV files need the columns `text` and `label` (or `category`, BANKING77's name). Data is read from
`../shared/benchmarks/` and never copied into the repository (var/ is git-ignored).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED = PROJECT_ROOT.parent / "shared" / "benchmarks"
RESULTS = PROJECT_ROOT / "benchmarks" / "results"
WORK = PROJECT_ROOT / "var" / "bench-nlu"
RASA = PROJECT_ROOT / ".venv-rasa" / "bin" / "rasa"
FALLBACK = "nlu_fallback"

TARGETS = {  # issue 17; parse p95 per encoder profile: PARSE_P95_MS (README, Encoder profiles)
    "banking77": [("accuracy", ">=", 0.950), ("train_seconds", "<=", 300.0)],
    "clinc150": [("in_scope_accuracy", ">=", 0.965), ("oos_recall", ">=", 0.80)],
    "*": [("parse_p95_ms", "<=", 60.0), ("server_start_seconds", "<=", 30.0)],
}
#: Parse p95 bound per encoder profile: the shipped `classic` keeps issue 3's 25 ms, `fast` is held to the same,
#: the opt-in `accurate` to issue 17's 60 ms. A run without --profile uses the config's featurizer (shipped: classic).
PARSE_P95_MS = {"classic": 25.0, "fast": 25.0, "accurate": 60.0}

# Rasa 3.6's default pipeline (what `rasa init` trains when `pipeline:` is empty), fewer epochs.
DEFAULT_PIPELINE = """recipe: default.v1
language: en
pipeline:
- name: WhitespaceTokenizer
- name: RegexFeaturizer
- name: LexicalSyntacticFeaturizer
- name: CountVectorsFeaturizer
- name: CountVectorsFeaturizer
  analyzer: char_wb
  min_ngram: 1
  max_ngram: 4
- name: DIETClassifier
  epochs: {epochs}
  constrain_similarities: true
- name: EntitySynonymMapper
- name: FallbackClassifier
  threshold: 0.3
  ambiguity_threshold: 0.1
"""


def say(message: str) -> None:
    print(f"[bench-nlu {time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- data ------------------------------------------------------------------------------------------------


@dataclass
class Dataset:
    name: str
    train: list[tuple[str, str]]
    test: list[tuple[str, str]]
    val: list[tuple[str, str]] = field(default_factory=list)
    oos_label: str | None = None  # label (intent) of out-of-scope examples in val/test (and train, if trained)
    source: str = ""


def _decode_csv(path: Path, encoding: str) -> str:
    """The text of a CSV file: UTF-8 (a byte-order mark is dropped) unless `encoding` says otherwise; a file
    that is not in that encoding is refused with the line of the first bad byte and what to do."""
    raw = path.read_bytes()
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8", "utf-8-sig"):
        try:
            return raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise SystemExit(f"{path}:{line}: not UTF-8 (byte 0x{raw[exc.start]:02x}). Save the file as UTF-8, or "
                             "name its encoding, e.g. --encoding latin-1 (Excel's 'CSV' is often cp1252)") from None
    try:
        return raw.decode(encoding)
    except LookupError:
        raise SystemExit(f"--encoding {encoding}: no such encoding") from None
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SystemExit(f"{path}:{line}: not {encoding} (byte 0x{raw[exc.start]:02x})") from None


def _read_csv(path: Path, encoding: str = "utf-8") -> list[tuple[str, str]]:
    rows = list(csv.DictReader(io.StringIO(_decode_csv(path, encoding), newline="")))
    if not rows:
        raise SystemExit(f"{path}: no rows")
    columns = {name.strip().lower(): name for name in rows[0] if name is not None}
    label_col = columns.get("label") or columns.get("category") or columns.get("intent")
    text_col = columns.get("text")
    if text_col is None or label_col is None:
        raise SystemExit(f"{path}: needs the columns text,label (found {', '.join(map(str, rows[0]))})")
    out = []
    for number, r in enumerate(rows, start=2):
        text, label = (r.get(text_col) or "").strip(), (r.get(label_col) or "").strip()
        if not text:
            continue
        if not label:
            raise SystemExit(f"{path}:{number}: a text without a label")
        out.append((text, label))
    return out


def _with_oos_label(ds: Dataset, oos_intent: str | None) -> Dataset:
    """A CSV set has out-of-scope data when `oos_intent` is one of its test labels."""
    if oos_intent and any(y == oos_intent for _, y in ds.test + ds.val):
        ds.oos_label = oos_intent
    return ds


def load_clinc150(root: Path, oos_intent: str = "out_of_scope", oos_train: bool = True) -> Dataset:
    """CLINC150 "full" (data_full.json): 150 intents; CLINC's `oos` label becomes `oos_intent`; `oos_train`
    (100 messages) joins the training split as that intent unless `oos_train` is False."""
    data = json.loads((root / "data_full.json").read_text(encoding="utf-8"))
    pairs = lambda key: [(t, oos_intent if lab == "oos" else lab) for t, lab in data[key]]  # noqa: E731
    return Dataset("clinc150", pairs("train") + (pairs("oos_train") if oos_train else []),
                   pairs("test") + pairs("oos_test"), val=pairs("val") + pairs("oos_val"), oos_label=oos_intent,
                   source=str(root))


def load_dataset(spec: str, test: Path | None, seed: int, oos_intent: str = "out_of_scope",
                 oos_train: bool = True, val: Path | None = None, encoding: str = "utf-8") -> Dataset:
    """BANKING77, CLINC150 or a CSV set (`spec` a path; `test` and `val` CSVs optional: without `test` a stratified
    20 % of `spec` is held out). A CSV set whose val or test has rows labelled `oos_intent` is scored for out of
    scope like CLINC150 (the threshold is chosen on `val`)."""
    if spec == "banking77":
        root = SHARED / "banking77"
        return Dataset("banking77", _read_csv(root / "train.csv"), _read_csv(root / "test.csv"), source=str(root))
    if spec == "clinc150":
        return load_clinc150(SHARED / "clinc150", oos_intent, oos_train)
    path = Path(spec)
    if not path.exists():
        raise SystemExit(f"no such data set: {spec} (banking77, clinc150 or a CSV file)")
    rows = _read_csv(path, encoding)
    val_rows = _read_csv(val, encoding) if val is not None else []
    if not oos_train:
        rows = [r for r in rows if r[1] != oos_intent]
    if test is not None:
        return _with_oos_label(Dataset(path.stem, rows, _read_csv(test, encoding), val=val_rows, source=str(path)),
                               oos_intent)
    rng = random.Random(seed)  # stratified 80/20 split
    by_label: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for row in rows:
        by_label[row[1]].append(row)
    train, held = [], []
    for items in by_label.values():
        rng.shuffle(items)
        k = max(1, round(len(items) * 0.2)) if len(items) > 1 else 0
        held += items[:k]
        train += items[k:]
    return _with_oos_label(Dataset(path.stem, train, held, val=val_rows, source=str(path)), oos_intent)


def subsample(rows: list[tuple[str, str]], per_label: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    by_label: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for row in rows:
        by_label[row[1]].append(row)
    out = []
    for label in sorted(by_label):
        items = by_label[label][:]
        rng.shuffle(items)
        out += items[:per_label]
    return out


def write_rasa_json(rows: list[tuple[str, str]], path: Path) -> None:
    examples = [{"text": t, "intent": lab, "entities": []} for t, lab in rows]
    path.write_text(json.dumps({"rasa_nlu_data": {"common_examples": examples}}, ensure_ascii=False),
                    encoding="utf-8")


# -- processes --------------------------------------------------------------------------------------------


def rasa_env(cache: Path) -> dict[str, str]:
    from tools.launcher import ONE_THREAD_ENV

    env = {**os.environ, **ONE_THREAD_ENV, "RASA_CACHE_DIRECTORY": str(cache)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")]))
    return env


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class Watch:
    """Track the peak resident memory of a process while it runs (read from /proc every 0.2 s)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak_mb = pid, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            value = peak_rss_mb(self.pid)
            if value:
                self.peak_mb = max(self.peak_mb, value)
            self._stop.wait(0.2)

    def stop(self) -> float:
        value = peak_rss_mb(self.pid)
        if value:
            self.peak_mb = max(self.peak_mb, value)
        self._stop.set()
        self._thread.join()
        return round(self.peak_mb, 1)


def train(config: Path, data: Path, out: Path, name: str, log: Path) -> dict[str, Any]:
    cache = Path(tempfile.mkdtemp(prefix="rasa-cache-", dir=WORK))
    cmd = [str(RASA), "train", "nlu", "--nlu", str(data), "--config", str(config), "--out", str(out),
           "--fixed-model-name", name]
    started = time.monotonic()
    with open(log, "wb") as f:
        proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=rasa_env(cache), stdout=f, stderr=subprocess.STDOUT)
        watch = Watch(proc.pid)
        last = started
        while proc.poll() is None:
            time.sleep(1)
            if time.monotonic() - last >= 30:
                last = time.monotonic()
                say(f"  … training {name}: {last - started:.0f} s (log: {log.relative_to(PROJECT_ROOT)})")
        peak = watch.stop()
    seconds = time.monotonic() - started
    subprocess.run(["rm", "-rf", str(cache)], check=False)
    model = out / f"{name}.tar.gz"
    if proc.returncode != 0 or not model.exists():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise SystemExit(f"training {name} failed (exit {proc.returncode}):\n{tail}")
    return {"model": model, "train_seconds": round(seconds, 1), "train_peak_rss_mb": peak}


def diet_epoch_seconds(log: Path) -> float | None:
    """Elapsed time of DIET's epoch loop, from its final tqdm line ("Epochs: 100%|...| 5/5 [00:21<00:00, ...")."""
    import re

    text = log.read_text(errors="replace") if log.exists() else ""
    found = re.findall(r"Epochs: 100%\|[^|]*\| *\d+/\d+ \[(?:(\d+):)?(\d+):(\d+)<", text)
    if not found:
        return None
    h, m, sec = found[-1]
    return float(int(h or 0) * 3600 + int(m) * 60 + int(sec))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, model: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        cmd = [str(RASA), "run", "--enable-api", "-i", "127.0.0.1", "--port", str(self.port), "--model", str(model)]
        self.started = time.monotonic()
        with open(log, "wb") as f:
            self.proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=rasa_env(WORK / "rasa-cache-server"),
                                         stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
        self.watch = Watch(self.proc.pid)

    def wait_ready(self, timeout: float = 300) -> float:
        import httpx

        while time.monotonic() - self.started < timeout:
            if self.proc.poll() is not None:
                raise SystemExit(f"Rasa server exited ({self.proc.returncode}); see {self.log}")
            try:
                r = httpx.get(f"{self.url}/status", timeout=2)
                if r.status_code == 200 and r.json().get("model_file"):
                    return round(time.monotonic() - self.started, 1)
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.1)
        raise SystemExit(f"Rasa server not ready after {timeout} s; see {self.log}")

    def stop(self) -> float:
        peak = self.watch.stop()
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return peak


@dataclass
class Parsed:
    predicted: list[str]  # the classifier's top intent (before the fallback)
    top: np.ndarray
    second: np.ndarray
    final: list[str]  # the intent the server returned (nlu_fallback when the configured fallback fired)
    latency_ms: np.ndarray


def parse_all(server: Server, texts: list[str], label: str) -> Parsed:
    import httpx

    predicted, final, top, second, lat = [], [], [], [], []
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for _ in range(5):  # warm-up
            client.post("/model/parse", json={"text": "hello there"})
        started = last = time.monotonic()
        for i, text in enumerate(texts):
            t0 = time.perf_counter()
            r = client.post("/model/parse", json={"text": text})
            lat.append((time.perf_counter() - t0) * 1000)
            r.raise_for_status()
            body = r.json()
            ranking = [x for x in body.get("intent_ranking") or [] if x["name"] != FALLBACK]
            predicted.append(ranking[0]["name"] if ranking else "")
            top.append(ranking[0]["confidence"] if ranking else 0.0)
            second.append(ranking[1]["confidence"] if len(ranking) > 1 else 0.0)
            final.append((body.get("intent") or {}).get("name") or "")
            if time.monotonic() - last >= 20:
                last = time.monotonic()
                say(f"  … {label}: {i + 1}/{len(texts)} parsed ({(i + 1) / (last - started):.0f}/s)")
    return Parsed(predicted, np.array(top), np.array(second), final, np.array(lat))


# -- metrics ----------------------------------------------------------------------------------------------


def macro_f1(labels: list[str], predicted: list[str]) -> float:
    classes = sorted(set(labels))
    scores = []
    for c in classes:
        tp = sum(1 for y, p in zip(labels, predicted) if y == c and p == c)
        fp = sum(1 for y, p in zip(labels, predicted) if y != c and p == c)
        fn = sum(1 for y, p in zip(labels, predicted) if y == c and p != c)
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))


def classification_metrics(rows: list[tuple[str, str]], parsed: Parsed, oos_label: str | None) -> dict[str, Any]:
    """On the in-scope messages (no threshold): accuracy, macro-F1; and the share the running server did not
    answer as an in-scope intent (`nlu_fallback`, or the out-of-scope intent) at the config's own threshold."""
    ins = [i for i, (_, y) in enumerate(rows) if y != oos_label]
    labels = [rows[i][1] for i in ins]
    predicted = [parsed.predicted[i] for i in ins]
    not_answered = {FALLBACK} | ({oos_label} if oos_label else set())
    return {
        "test_messages": len(rows),
        "accuracy": round(float(np.mean([p == y for p, y in zip(predicted, labels)])), 4),
        "macro_f1": round(macro_f1(labels, predicted), 4),
        "fallback_rate_at_configured_threshold": round(
            float(np.mean([parsed.final[i] in not_answered for i in ins])), 4),
        "parse_p50_ms": round(float(np.percentile(parsed.latency_ms, 50)), 2),
        "parse_p95_ms": round(float(np.percentile(parsed.latency_ms, 95)), 2),
        "parse_p99_ms": round(float(np.percentile(parsed.latency_ms, 99)), 2),
    }


def scores_for(rows: list[tuple[str, str]], parsed: Parsed, oos_label: str | None):
    from nlu_components.metrics import Scores

    return Scores(top=parsed.top, second=parsed.second,
                  correct=np.array([p == y for p, (_, y) in zip(parsed.predicted, rows)]),
                  oos=np.array([y == oos_label for _, y in rows]),
                  predicted_oos=np.array([p == oos_label for p in parsed.predicted]))


def best_on_curve(scores, ambiguity: float, min_oos_recall: float) -> dict[str, float] | None:
    """The highest in-scope accuracy on a curve (0.01 steps) among thresholds with OOS recall ≥ `min_oos_recall`.
    An oracle, for test data only: how close any threshold could come to the targets, not a calibration."""
    from nlu_components.metrics import trade_off

    ok = [p for p in trade_off(scores, ambiguity) if p["oos_recall"] >= min_oos_recall]
    return max(ok, key=lambda p: (p["in_scope_accuracy"], -p["threshold"])) if ok else None


# -- one pipeline, end to end -----------------------------------------------------------------------------


def run_pipeline(tag: str, config: Path, train_rows: list[tuple[str, str]], evals: dict[str, list[tuple[str, str]]],
                 work: Path) -> dict[str, Any]:
    data = work / f"{tag}-train.json"
    write_rasa_json(train_rows, data)
    say(f"{tag}: training on {len(train_rows)} examples, {len({y for _, y in train_rows})} intents "
        f"({config.name})…")
    trained = train(config, data, work, tag, work / f"{tag}-train.log")
    say(f"{tag}: trained in {trained['train_seconds']} s (peak memory {trained['train_peak_rss_mb']} MB); "
        "starting the Rasa server…")
    server = Server(trained["model"], work / f"{tag}-server.log")
    try:
        start_s = server.wait_ready()
        say(f"{tag}: server answered /status with the model loaded after {start_s} s")
        parsed = {name: parse_all(server, [t for t, _ in rows], f"{tag} {name}") for name, rows in evals.items()}
    finally:
        server_peak = server.stop()
    return {"train": trained, "server_start_seconds": start_s, "server_peak_rss_mb": server_peak, "parsed": parsed,
            "model_bytes": trained["model"].stat().st_size}


def check_targets(dataset: str, metrics: dict[str, Any], profile: str | None = None) -> list[dict[str, Any]]:
    """The issue's targets for `dataset` with their measured values; the parse bound depends on the profile."""
    from core.contracts import SHIPPED_ENCODER

    out = []
    for key, op, bound in TARGETS.get(dataset, []) + TARGETS["*"]:
        if key == "parse_p95_ms":
            bound = PARSE_P95_MS.get(profile or SHIPPED_ENCODER, bound)
        value = metrics.get(key)
        if value is None:
            continue
        met = value >= bound if op == ">=" else value <= bound
        out.append({"metric": key, "value": value, "target": f"{op} {bound}", "met": bool(met)})
    return out


def markdown(result: dict[str, Any]) -> str:
    m, b = result["ours"], result.get("baseline")
    lines = [f"# NLU benchmark: {result['dataset']}", "",
             f"Command: `{result['command']}`  ", f"Run: {result['finished']} on {result['machine']}", "",
             "| metric | shipped pipeline | Rasa default (subsample) |", "|---|---|---|"]
    keys = ["train_examples", "accuracy", "macro_f1", "in_scope_accuracy", "oos_recall", "in_scope_handoff_rate",
            "threshold",
            "fallback_rate_at_configured_threshold", "train_seconds", "train_peak_rss_mb", "server_start_seconds",
            "server_peak_rss_mb", "parse_p50_ms", "parse_p95_ms", "model_bytes"]
    for k in keys:
        if k in m or (b and k in b):
            lines.append(f"| {k} | {m.get(k, '')} | {'' if not b else b.get(k, '')} |")
    if b:
        lines += ["", f"Rasa default pipeline: {b['note']}"]
    lines += ["", "| target | value | met |", "|---|---|---|"]
    for t in result["targets"]:
        lines.append(f"| {t['metric']} {t['target']} | {t['value']} | {'yes' if t['met'] else '**no**'} |")
    if "curve" in m:
        rule = (f"in-scope handoff on val ≤ {m['max_handoff_rate']:g}" if m["objective"] == "handoff"
                else "max. in-scope accuracy + OOS recall on val")
        lines += ["", f"Threshold {m['threshold']} calibrated on val + oos_val ({rule}; ambiguity_threshold "
                  f"{m['ambiguity_threshold']}); out-of-scope intent `{m['oos_intent']}`, "
                  f"{m['oos_train_examples']} out-of-scope training examples. On val at that threshold: in-scope "
                  f"handoff {m['val_at_threshold']['in_scope_handoff_rate']:.3f}, in-scope accuracy "
                  f"{m['val_at_threshold']['in_scope_accuracy']:.4f}, OOS recall "
                  f"{m['val_at_threshold']['oos_recall']:.3f}."]
        if m.get("test_best_at_oos_target"):
            b = m["test_best_at_oos_target"]
            lines += ["", f"Oracle (test, not a calibration): the best in-scope accuracy of any threshold with OOS "
                      f"recall ≥ {m['oos_recall_target']} is {b['in_scope_accuracy']:.4f} (threshold "
                      f"{b['threshold']}, OOS recall {b['oos_recall']:.3f})."]
        lines += ["", "Trade-off on test:", "",
                  "| threshold | in-scope handoff | in-scope accuracy | OOS recall |", "|---|---|---|---|"]
        for p in m["curve"]:
            lines.append(f"| {p['threshold']} | {p['in_scope_handoff_rate']:.3f} | {p['in_scope_accuracy']:.3f} | "
                         f"{p['oos_recall']:.3f} |")
    lines += ["", "One thread for all math (OMP/BLAS/TensorFlow/onnxruntime), on a shared 2-core machine: "
              "timings vary with the other work on it.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_nlu", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, help="banking77, clinc150 or a CSV file (text,label)")
    parser.add_argument("--test", type=Path, default=None, help="test CSV for a CSV data set (default: 20%% split)")
    parser.add_argument("--val", type=Path, default=None,
                        help="validation CSV for a CSV data set: the fallback threshold is chosen on it when it (or "
                             "the test set) has out-of-scope rows (labelled --oos-intent)")
    parser.add_argument("--encoding", default="utf-8",
                        help="encoding of CSV files (default UTF-8, with or without a byte-order mark; e.g. latin-1)")
    parser.add_argument("--config", type=Path, default=PROJECT_ROOT / "config.yml")
    parser.add_argument("--profile", default=None,
                        help="an encoder profile (accurate, fast, classic) instead of the config's featurizer model: "
                             "the config is copied with that one line changed (results: nlu_<set>-<profile>)")
    parser.add_argument("--baseline-per-intent", type=int, default=10)
    parser.add_argument("--baseline-epochs", type=int, default=5)
    parser.add_argument("--baseline-test", type=int, default=1000, help="test messages for the baseline (sample)")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--max-train", type=int, default=None, help="subsample the training split (quick runs)")
    parser.add_argument("--max-test", type=int, default=None, help="subsample test and val (quick runs)")
    parser.add_argument("--objective", choices=["handoff", "balanced"], default="handoff",
                        help="threshold rule on val (sets with out-of-scope data): handoff = the highest threshold "
                             "with in-scope handoff ≤ --max-handoff-rate; balanced = max. in-scope accuracy + OOS "
                             "recall (Larson et al.)")
    parser.add_argument("--max-handoff-rate", type=float, default=0.01,
                        help="largest share of in-scope val messages handed off (default 0.01: the classifier is about "
                             "96.5 %% right on CLINC150 val, so the 96 %% in-scope target leaves about 1 %% for handoff)")
    parser.add_argument("--oos-intent", default="out_of_scope",
                        help="the intent meaning out of scope (CLINC150's oos is renamed to it; predicted = handed off)")
    parser.add_argument("--no-oos-train", action="store_true",
                        help="CLINC150: do not train oos_train as the out-of-scope intent")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    sys.path.insert(0, str(PROJECT_ROOT))
    from nlu_components.metrics import fallback_settings

    load_before = os.getloadavg()[0]
    ds = load_dataset(args.dataset, args.test, args.seed, args.oos_intent, not args.no_oos_train, val=args.val,
                      encoding=args.encoding)
    if ds.oos_label and not ds.val:
        say(f"warning: {ds.name} has out-of-scope test rows but no validation split: give --val to choose the "
            "fallback threshold (out-of-scope scoring is skipped)")
    train_rows = ds.train
    if args.max_train and len(train_rows) > args.max_train:
        train_rows = random.Random(args.seed).sample(train_rows, args.max_train)
    if args.max_test:
        rng = random.Random(args.seed)
        ds.test = rng.sample(ds.test, min(args.max_test, len(ds.test)))
        ds.val = rng.sample(ds.val, min(args.max_test, len(ds.val))) if ds.val else ds.val
    say(f"{ds.name}: {len(train_rows)} train, {len(ds.val)} val, {len(ds.test)} test messages from {ds.source}")
    WORK.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{ds.name}-", dir=WORK))
    if args.profile:
        args.config = with_profile(args.config, args.profile, work)
    config_text = args.config.read_text(encoding="utf-8")
    ambiguity = fallback_settings(config_text)["ambiguity_threshold"]

    result: dict[str, Any] = {
        "dataset": ds.name, "source": ds.source, "config": str(args.config.relative_to(PROJECT_ROOT))
        if args.config.is_relative_to(PROJECT_ROOT) else str(args.config),
        "config_text": config_text, "command": "python -m benchmarks.bench_nlu " + " ".join(argv or sys.argv[1:]),
    }
    stem = result_stem(ds.name, args.config, bool(args.max_train or args.max_test))
    try:
        result.update(_measure(args, ds, train_rows, work, config_text, ambiguity, load_before))
    except BaseException as exc:  # keep what was measured: a failed run still says how far it got
        result.update({"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(),
                       "finished": time.strftime("%Y-%m-%d %H:%M:%S")})
        path = save_result(args.out, stem + "-partial", result)
        say(f"the run failed ({type(exc).__name__}: {exc}); partial results in {path}")
        raise
    path = save_result(args.out, stem, result)
    for t in result["targets"]:
        say(f"target {t['metric']} {t['target']}: {t['value']} → {'met' if t['met'] else 'NOT met'}")
    say(f"results: {path} and .md")
    subprocess.run(["rm", "-rf", str(work)], check=False)
    return 0


def with_profile(config: Path, profile: str, work: Path) -> Path:
    """A copy of `config` whose SentenceEmbeddingFeaturizer uses the encoder profile `profile`."""
    import re

    from encoders.specs import PROFILES

    if profile not in PROFILES:
        raise SystemExit(f"--profile {profile}: no such profile ({', '.join(PROFILES)})")
    text = config.read_text(encoding="utf-8")
    changed, n = re.subn(r"(SentenceEmbeddingFeaturizer\n(?:\s+#.*\n)*\s+model:)\s*[^\n]+", rf"\1 {profile}", text)
    if n != 1:
        raise SystemExit(f"{config}: no `model:` line under SentenceEmbeddingFeaturizer to change")
    out = work / f"{profile}.yml"
    out.write_text(changed, encoding="utf-8")
    return out


def result_stem(dataset: str, config: Path, quick: bool) -> str:
    """Results are named by data set, then by the config when it is not the project's config.yml."""
    stem = f"nlu_{dataset}"
    if config.resolve() != (PROJECT_ROOT / "config.yml").resolve():
        stem += f"-{config.stem}"
    return stem + ("_quick" if quick else "")


def keep_previous(out: Path, stem: str) -> None:
    """Move a previous `<stem>.json` / `.md` in `out` to `out/history/`, named by when it finished, so that no run
    ever overwrites another."""
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{stem}.json"
    if target.exists():
        try:
            finished = json.loads(target.read_text(encoding="utf-8")).get("finished") or ""
        except ValueError:
            finished = ""
        tag = "".join(ch for ch in finished if ch.isdigit()) or time.strftime("%Y%m%d%H%M%S")
        history = out / "history"
        history.mkdir(exist_ok=True)
        name, n = f"{stem}-{tag}", 1
        # a run without a finish time is tagged by the clock, which may be another run's finish time
        while any((history / f"{name}{suffix}").exists() for suffix in (".json", ".md")):
            n += 1
            name = f"{stem}-{tag}-{n}"
        for suffix in (".json", ".md"):
            old = out / f"{stem}{suffix}"
            if old.exists():
                old.replace(history / f"{name}{suffix}")


def save_result(out: Path, stem: str, result: dict[str, Any]) -> Path:
    """Write `<stem>.json` and `.md` (`keep_previous` first)."""
    keep_previous(out, stem)
    target = out / f"{stem}.json"
    target.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    (out / f"{stem}.md").write_text(markdown(result) if "ours" in result and "targets" in result
                                    else "# NLU benchmark (failed)\n\n" + str(result.get("error")) + "\n",
                                    encoding="utf-8")
    return target


def _measure(args: argparse.Namespace, ds: Dataset, train_rows: list[tuple[str, str]], work: Path,
             config_text: str, ambiguity: float, load_before: float) -> dict[str, Any]:
    from nlu_components.metrics import choose_threshold, curve_point, trade_off

    evals = {"test": ds.test} | ({"val": ds.val} if ds.val else {})
    run = run_pipeline("ours", args.config, train_rows, evals, work)
    ours = {"train_examples": len(train_rows), **classification_metrics(ds.test, run["parsed"]["test"], ds.oos_label),
            "train_seconds": run["train"]["train_seconds"], "train_peak_rss_mb": run["train"]["train_peak_rss_mb"],
            "server_start_seconds": run["server_start_seconds"], "server_peak_rss_mb": run["server_peak_rss_mb"],
            "model_bytes": run["model_bytes"]}
    if ds.oos_label and ds.val:
        val_scores = scores_for(ds.val, run["parsed"]["val"], ds.oos_label)
        chosen = choose_threshold(val_scores, ambiguity=ambiguity, max_handoff_rate=args.max_handoff_rate,
                                  objective=args.objective)
        test_scores = scores_for(ds.test, run["parsed"]["test"], ds.oos_label)
        at = curve_point(test_scores, chosen["threshold"], ambiguity)
        oos_target = next((b for k, _, b in TARGETS.get(ds.name, []) if k == "oos_recall"), 0.75)
        ours.update({"threshold": chosen["threshold"], "objective": args.objective,
                     "max_handoff_rate": args.max_handoff_rate, "ambiguity_threshold": ambiguity,
                     "oos_intent": ds.oos_label,
                     "oos_train_examples": sum(1 for _, y in train_rows if y == ds.oos_label),
                     "val_at_threshold": chosen, "in_scope_accuracy": round(at["in_scope_accuracy"], 4),
                     "oos_recall": round(at["oos_recall"], 4),
                     "in_scope_handoff_rate": round(at["in_scope_handoff_rate"], 4),
                     "oos_recall_target": oos_target,
                     "test_best_at_oos_target": best_on_curve(test_scores, ambiguity, oos_target),
                     "curve": trade_off(test_scores, ambiguity,
                                        np.unique(np.r_[np.round(np.arange(0.1, 0.95, 0.1), 2), chosen["threshold"]]))})
        say(f"ours: threshold {chosen['threshold']} (on val: in-scope acc {chosen['in_scope_accuracy']:.3f}, OOS "
            f"recall {chosen['oos_recall']:.3f}) → test in-scope accuracy {at['in_scope_accuracy']:.4f}, "
            f"OOS recall {at['oos_recall']:.4f}")
    say(f"ours: accuracy {ours['accuracy']}, macro-F1 {ours['macro_f1']}, train {ours['train_seconds']} s, "
        f"parse p50/p95 {ours['parse_p50_ms']}/{ours['parse_p95_ms']} ms, server start {ours['server_start_seconds']} s")

    baseline = None
    if not args.no_baseline:
        sub = subsample(ds.train, args.baseline_per_intent, args.seed)
        test_sample = random.Random(args.seed).sample(ds.test, min(args.baseline_test, len(ds.test)))
        cfg = work / "rasa-default.yml"
        cfg.write_text(DEFAULT_PIPELINE.format(epochs=args.baseline_epochs), encoding="utf-8")
        brun = run_pipeline("rasa-default", cfg, sub, {"test": test_sample}, work)
        baseline = {"train_examples": len(sub), **classification_metrics(test_sample, brun["parsed"]["test"], ds.oos_label),
                    "train_seconds": brun["train"]["train_seconds"],
                    "train_peak_rss_mb": brun["train"]["train_peak_rss_mb"],
                    "server_start_seconds": brun["server_start_seconds"],
                    "server_peak_rss_mb": brun["server_peak_rss_mb"], "model_bytes": brun["model_bytes"]}
        if ds.oos_label:
            s = scores_for(test_sample, brun["parsed"]["test"], ds.oos_label)
            at = curve_point(s, 0.3, 0.1)
            baseline.update({"in_scope_accuracy": round(at["in_scope_accuracy"], 4),
                             "oos_recall": round(at["oos_recall"], 4), "threshold": 0.3})
        epoch_s = diet_epoch_seconds(work / "rasa-default-train.log")
        fixed_s = brun["train"]["train_seconds"] - (epoch_s or 0.0)
        baseline["diet_epochs_seconds"] = epoch_s
        if epoch_s:
            full_min = (fixed_s + epoch_s / (args.baseline_epochs * len(sub)) * 100 * len(ds.train)) / 60
            baseline["extrapolated_full_train_minutes"] = round(full_min, 1)
            scale = (f"DIET's {args.baseline_epochs} epochs took {epoch_s:.0f} s of the {brun['train']['train_seconds']:.0f} s; "
                     f"at that rate the default 100 epochs on all {len(ds.train)} examples would take about "
                     f"{full_min:.0f} min (extrapolated linearly in examples × epochs).")
        else:
            scale = "DIET's epoch time was not found in the training log."
        baseline["note"] = (f"{args.baseline_per_intent} examples per intent ({len(sub)}), DIET {args.baseline_epochs} "
                            f"epochs, tested on {len(test_sample)} sampled test messages. {scale}")
        say(f"rasa-default: accuracy {baseline['accuracy']} in {baseline['train_seconds']} s; {baseline['note']}")

    if ours.get("val_at_threshold", {}).get("warning"):
        say(f"warning: {ours['val_at_threshold']['warning']}")
    return {
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared; 1-min load average {load_before:.1f} at "
                   f"start, {os.getloadavg()[0]:.1f} at the end), one math thread",
        "ours": ours, "baseline": baseline, "targets": check_targets(ds.name, dict(ours), args.profile),
    }


if __name__ == "__main__":
    sys.exit(main())
