"""`python -m kb_index.build_job`, the knowledge-base build a publish runs in a child process: JSON progress lines
and a `built` line on stdout, the new version staged beside the live one (never served), the embedding cache
inside the index folder carried from one build to the next, and one readable line (exit 2) for a problem."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests_support import TEST_EMBEDDINGS

from core.settings import PROJECT_ROOT
from encoders import SHIPPED_MODEL, Encoder
from kb_index import build_index, storage
from kb_index.build_job import EXIT_FIX


def run_job(content: Path, out: Path, *extra: str, model: str = SHIPPED_MODEL) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kb_index.build_job", "--content", str(content), "--out", str(out),
                           "--model", model, *extra], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})


def events(proc: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in proc.stdout.splitlines()]  # every stdout line is JSON


def test_the_job_reports_progress_and_stages_the_version_without_serving_it(mini_content: Path, tmp_path: Path) -> None:
    out = tmp_path / "build"
    proc = run_job(mini_content, out)
    assert proc.returncode == 0, proc.stderr
    seen = events(proc)
    assert seen[0]["event"] == "stage" and "loading the sentence encoder" in seen[0]["detail"]
    progress = [(e["done"], e["total"]) for e in seen if e["event"] == "progress"]
    assert progress[0] == (0, 15) and progress[-1] == (15, 15)
    assert [done for done, _ in progress] == sorted(done for done, _ in progress)
    built = seen[-1]
    assert built["event"] == "built" and built["manifest"]["entry_count"] == 5
    assert built["manifest"]["stats"]["embedded"] == 15
    assert storage.read_manifest(out / built["version"]).version == built["version"]
    assert storage.live_version_dir(out) is None  # staged, not live


def test_the_next_build_embeds_only_the_changed_texts_and_leaves_the_live_version(
        mini_content: Path, tmp_path: Path) -> None:
    out = tmp_path / "build"
    first = events(run_job(mini_content, out))[-1]
    storage.activate(out, first["version"])
    faq = mini_content / "shipping.yml"
    faq.write_text(faq.read_text(encoding="utf-8").replace("tracking number", "parcel tracking code"),
                   encoding="utf-8")

    proc = run_job(mini_content, out, "--keep", first["version"])
    assert proc.returncode == 0, proc.stderr
    built = events(proc)[-1]
    assert built["manifest"]["stats"]["embedded"] == 1 and built["manifest"]["stats"]["cache_hits"] == 14
    assert built["version"] != first["version"]
    assert storage.live_manifest(out).version == first["version"]  # type: ignore[union-attr]


def test_broken_content_exits_2_with_one_readable_line_and_the_live_index_untouched(
        make_content, tmp_path: Path, encoder: Encoder) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "build"
    live = build_index(make_content({"faq.yml": "- id: x\n  language: en\n  question: q\n  answer: a\n"}), out,
                       encoder, progress=False, cache_dir=TEST_EMBEDDINGS)
    versions = sorted(p.name for p in storage.version_dirs(out))
    broken = make_content({"faq.yml": "- id: x\n  language: en\n  question: q\n  answer: ''\n"})

    proc = run_job(broken, out)
    assert proc.returncode == EXIT_FIX
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert lines[0].startswith("error: invalid knowledge-base content:")
    assert "faq.yml:4: entry 'x': field 'answer': must not be empty" in lines[0] and "fix the FAQ files" in lines[0]
    assert storage.live_manifest(out).version == live.version  # type: ignore[union-attr]
    assert sorted(p.name for p in storage.version_dirs(out)) == versions


def test_a_model_that_cannot_be_loaded_exits_2_and_says_so(mini_content: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-encoder"
    proc = run_job(mini_content, tmp_path / "build", model=str(missing))
    assert proc.returncode == EXIT_FIX, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "Traceback" not in proc.stderr
    assert "no-such-encoder" in last
    assert not storage.version_dirs(tmp_path / "build")


def test_the_job_ends_when_the_process_that_started_it_ends(tmp_path: Path) -> None:
    """The hub killed outright (out of memory) must not leave a build holding an encoder's memory: the job sees
    its parent gone and exits; the next build removes what it left half-written."""
    import time

    from kb_index.build_job import EXIT_ORPHANED

    out, pid_file = tmp_path / "build", tmp_path / "job.pid"
    starter = (  # a parent that starts the job on the whole starter FAQ (seconds of embedding), then dies at once
        "import os, subprocess, sys\n"
        f"job = subprocess.Popen([sys.executable, '-m', 'kb_index.build_job', '--content', {str(PROJECT_ROOT / 'kb_index' / 'content')!r}, "
        f"'--out', {str(out)!r}, '--model', {SHIPPED_MODEL!r}, '--parent-pid', str(os.getpid())], "
        "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        f"open({str(pid_file)!r}, 'w').write(str(job.pid))\n")
    subprocess.run([sys.executable, "-c", starter], cwd=PROJECT_ROOT, check=True, timeout=60)
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[-1].split()[0] if Path(f"/proc/{pid}").exists() else ""
        if state == "Z":  # ended, waiting to be reaped by init
            break
        time.sleep(0.2)
    alive = Path(f"/proc/{pid}").exists() and Path(f"/proc/{pid}/stat").read_text().split(") ")[-1].split()[0] != "Z"
    assert not alive, "the build job outlived the process that started it"
    assert storage.version_dirs(out) == [] and storage.live_version_dir(out) is None  # stopped before staging
    assert EXIT_ORPHANED == 3
