"""The evaluation gate: a new model is published only if its accuracy does not drop by more than a margin
(default 1 point) against the live model, on the held-out examples and in cross-validation.

Both sides are measured the same way (`bot.studio.evaluation`, in a child process) on the content each was
built from, and each report is kept by the fingerprint of its inputs, so the live side is measured once. The
verdict says which intents got worse (their recall, and on how many messages).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

from nlu_components import PROJECT_ROOT
from nlu_components.training import child_env, fingerprint

log = logging.getLogger(__name__)

PARTS = (("heldout", "held-out examples"), ("cross_validation", "cross-validation"))
_EVALUATION_CODE = [PROJECT_ROOT / "nlu_components", Path(__file__).with_name("evaluation.py"),
                    PROJECT_ROOT / "encoders" / "language_means.py", PROJECT_ROOT / "encoders" / "reference"]


class EvaluationError(Exception):
    """The evaluation could not run; the message says why."""


def inputs_fingerprint(config: Path, data: Path, heldout: Path | None, folds: int) -> str:
    paths = [config, data, *([heldout] if heldout is not None else []), *_EVALUATION_CODE]
    return fingerprint(paths, root=config.parent) + f"-{folds}"


async def evaluate(config: Path, data: Path, heldout: Path | None, *, folds: int, cache_dir: Path) -> dict[str, Any]:
    """The report for one snapshot (from the cache when the same inputs were measured before)."""
    key = inputs_fingerprint(config, data, heldout, folds)
    cached = cache_dir / f"{key}.json"
    if cached.exists():
        try:
            return json.loads(cached.read_text(encoding="utf-8"))
        except ValueError:
            cached.unlink()
    cache_dir.mkdir(parents=True, exist_ok=True)
    out = cache_dir / f".{key}.{id(config)}.json"
    argv = [sys.executable, "-m", "bot.studio.evaluation", "--config", str(config), "--data", str(data),
            "--folds", str(folds), "--cache", str(cache_dir), "--out", str(out)]
    if heldout is not None and heldout.exists():
        argv += ["--heldout", str(heldout)]
    proc = await asyncio.create_subprocess_exec(*argv, cwd=PROJECT_ROOT, env=child_env(),
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                                                start_new_session=True)
    try:
        output, _ = await proc.communicate()
    except asyncio.CancelledError:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    if proc.returncode != 0 or not out.exists():
        tail = "\n".join(output.decode(errors="replace").strip().splitlines()[-5:])
        raise EvaluationError(f"the evaluation failed (exit {proc.returncode}): {tail}")
    report = json.loads(out.read_text(encoding="utf-8"))
    out.replace(cached)
    return report


def compare(live: dict[str, Any] | None, candidate: dict[str, Any], margin: float) -> dict[str, Any]:
    """The verdict: each measure (live, candidate, drop, passed), the intents that got worse, notes."""
    checks, worse, notes = [], [], []
    if live is None:
        notes.append("no measurement of the live model: nothing to compare with, the new model is published")
        return {"passed": True, "margin": margin, "checks": [], "worse": [], "notes": notes,
                "candidate": _summary(candidate)}
    for part, title in PARTS:
        a, b = live.get(part), candidate.get(part)
        if not a or not b:
            if b and not a:
                notes.append(f"the live model has no {title} measurement to compare with")
            continue
        drop = round(a["accuracy"] - b["accuracy"], 4)
        checks.append({"part": part, "title": title, "live": a["accuracy"], "candidate": b["accuracy"],
                       "drop": drop, "passed": drop <= margin + 1e-9, "messages": b.get("messages")})
        for intent, before in a.get("recall", {}).items():
            after = b.get("recall", {}).get(intent)
            if after is None:
                worse.append({"intent": intent, "part": part, "title": title, "live": before, "candidate": None,
                              "messages": a.get("support", {}).get(intent), "removed": True})
            elif after < before - 1e-9:
                worse.append({"intent": intent, "part": part, "title": title, "live": before, "candidate": after,
                              "messages": b.get("support", {}).get(intent), "removed": False})
    worse.sort(key=lambda w: w["live"] - (w["candidate"] or 0.0), reverse=True)
    return {"passed": all(c["passed"] for c in checks), "margin": margin, "checks": checks, "worse": worse,
            "notes": notes, "candidate": _summary(candidate)}


def _summary(report: dict[str, Any]) -> dict[str, Any]:
    return {"examples": report.get("examples"), "intents": report.get("intents"), "seconds": report.get("seconds")}


def explain(verdict: dict[str, Any]) -> str:
    """One sentence for a refusal."""
    failed = [c for c in verdict["checks"] if not c["passed"]]
    parts = [f"{c['title']} accuracy {c['candidate']:.1%} against {c['live']:.1%} live "
             f"(−{c['drop'] * 100:.1f} points, more than the {verdict['margin'] * 100:.1f} allowed)" for c in failed]
    names = sorted({w["intent"] for w in verdict["worse"]})[:6]
    worse = f"; worse: {', '.join(names)}" if names else ""
    return "the new model is less accurate: " + "; ".join(parts) + worse
