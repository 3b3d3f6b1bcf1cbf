"""Hub memory per encoder profile (issue 17: hub ≤ 1 GB with the shipped and the opt-in profiles).

    .venv/bin/python -m benchmarks.bench_hub_memory [--profiles classic,fast,accurate] [--save]

Per profile, in fresh processes on one math thread:
1. the knowledge-base index of the starter content is built with the profile's encoders (what `make kb` does),
   in a process of its own, so its build memory is not counted;
2. the action server is started (`python -m actions`, the profile's encoders, that index);
3. a new hub process builds the app (`bot.app.create_app`, development mode, a private data folder), starts it
   (its lifespan: database, workers), then asks the studio's "try a question" (`POST /api/studio/try`, which the
   hub passes to the action server) 32 questions in English, Italian, Chinese and Romanian. The resident memory
   of both processes is read from /proc: the hub's after start-up and at its peak (VmHWM), the action server's
   peak. The hub loads no encoder: the action server holds the one copy (before 2026-12-02 the hub loaded its
   own, as `results/history/hub-memory-*.json` shows).

The served hub (uvicorn) adds its HTTP server on top (a few MB). Results: `results/hub-memory.json` / `.md`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
LIMIT_MB = 1024  # 1 GiB
QUESTIONS = ["where is my order BC-204817?", "how do I change my delivery address", "can I pay with PayPal?",
             "my parcel arrived damaged", "dov'è il mio pacco?", "come cambio l'indirizzo di consegna",
             "posso pagare con PayPal?", "il pacco è arrivato rotto", "我的订单在哪里？", "怎么修改收货地址",
             "可以用PayPal付款吗", "包裹到了但是坏了", "unde este comanda mea?", "cum schimb adresa de livrare",
             "pot plăti cu PayPal?", "coletul a ajuns deteriorat"] * 2

BUILD = """
import sys
from pathlib import Path
sys.path.insert(0, {root!r})
from encoders.runtime import pin_environment
pin_environment()
from encoders import load_encoder
from kb_index import build_index
build_index(Path({content!r}), Path({index!r}), load_encoder({profile!r}), progress=False)
"""

MEASURE = """
import json, sys
sys.path.insert(0, {root!r})
from encoders.runtime import pin_environment
pin_environment()

def rss():
    fields = dict(line.split(":", 1) for line in open("/proc/self/status") if line.startswith(("VmRSS", "VmHWM")))
    return {{k: round(int(v.split()[0]) / 1024) for k, v in fields.items()}}

from starlette.testclient import TestClient
from bot.app import create_app

app = create_app()
with TestClient(app) as client:
    assert client.get("/health/live").status_code == 200
    started = rss()
    decisions = []
    for q in {questions!r}:
        resp = client.post("/api/studio/try", json={{"text": q}}, headers={{"Authorization": "Bearer {token}"}})
        assert resp.status_code == 200, resp.text
        decisions.append(resp.json()["decision"])
    peak = rss()
    modules = [m for m in ("torch", "tensorflow", "sklearn", "faiss", "onnxruntime", "encoders.loading")
               if m in sys.modules]
print(json.dumps({{"started_rss_mb": started["VmRSS"], "peak_rss_mb": peak["VmHWM"], "rss_mb": peak["VmRSS"],
                  "decisions": decisions, "heavy_modules": modules}}))
"""


def proc_memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a running process, in MiB."""
    with open(f"/proc/{pid}/status", encoding="utf-8") as status:
        fields = dict(line.split(":", 1) for line in status if line.startswith(("VmRSS", "VmHWM")))
    return {k: round(int(v.split()[0]) / 1024) for k, v in fields.items()}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"[bench-hub-memory] the action server exited with {process.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise SystemExit(f"[bench-hub-memory] the action server did not listen on port {port} in {timeout_s:.0f} s")


def say(message: str) -> None:
    print(f"[bench-hub-memory {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def measure(profile: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"hub-memory-{profile}-") as tmp:
        index = Path(tmp) / "kb"
        port, token = free_port(), secrets.token_urlsafe(24)
        env = {**os.environ, "EMBEDDING_MODEL": profile, "KB_INDEX_DIR": str(index), "DATA_DIR": str(Path(tmp) / "data"),
               "DEV_MODE": "true", "SUPPORTBOT_ENV_FILE": str(Path(tmp) / "no.env"), "MATH_THREADS": "1",
               "ACTION_PORT": str(port), "ADMIN_API_TOKEN": token, "RASA_RETRIES": "0"}  # no Rasa here: its parse fails fast
        say(f"{profile}: building the knowledge-base index of the starter content…")
        started = time.monotonic()
        subprocess.run([sys.executable, "-c", BUILD.format(root=str(PROJECT_ROOT), content=str(
            PROJECT_ROOT / "kb_index" / "content"), index=str(index), profile=profile)], env=env, check=True,
            cwd=tmp, stdout=subprocess.DEVNULL)
        say(f"{profile}: index built in {time.monotonic() - started:.0f} s; starting the action server, then a hub "
            f"that asks {len(QUESTIONS)} questions…")
        actions = subprocess.Popen([sys.executable, "-m", "actions", "--port", str(port), "--log-level", "WARNING"],
                                   env=env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_for_port(port, actions)
            out = subprocess.run([sys.executable, "-c", MEASURE.format(root=str(PROJECT_ROOT), questions=QUESTIONS,
                                                                        token=token)],
                                 env=env, cwd=tmp, capture_output=True, text=True)
            action_memory = proc_memory(actions.pid)
        finally:
            actions.terminate()
            _, action_err = actions.communicate(timeout=30)
        if out.returncode != 0:
            raise SystemExit(f"[bench-hub-memory] the hub process failed for {profile}:\n{out.stderr[-3000:]}\n"
                             f"action server:\n{action_err.decode(errors='replace')[-2000:]}")
        row = json.loads(out.stdout.strip().splitlines()[-1])
        decisions = row.pop("decisions")
        row["questions"] = len(decisions)
        row["answered_or_choices"] = sum(d != "none" for d in decisions)
        row["limit_mb"] = LIMIT_MB
        row["met"] = row["peak_rss_mb"] <= LIMIT_MB
        row["action_server_peak_rss_mb"] = action_memory["VmHWM"]
        row["action_server_rss_mb"] = action_memory["VmRSS"]
        say(f"{profile}: hub {row['started_rss_mb']} MB after start-up, peak {row['peak_rss_mb']} MB "
            f"(≤ {LIMIT_MB}: {'met' if row['met'] else 'NOT met'}); action server peak "
            f"{row['action_server_peak_rss_mb']} MB; {row['answered_or_choices']}/{row['questions']} answered")
        return row


def markdown(result: dict[str, Any]) -> str:
    lines = ["# Hub memory per encoder profile (`python -m benchmarks.bench_hub_memory`)", "",
             f"Run: {result['finished']} on {result['machine']}.", "",
             "A hub process: the app built and started in development mode, then the studio's \"try a question\" "
             f"(`POST /api/studio/try`) asked {len(QUESTIONS)} questions in four languages. The hub passes them to the "
             "action server, which holds the profile's encoders and the starter content's index (built beforehand in "
             "another process): the hub loads no encoder. Resident memory from /proc (MiB).", "",
             "| profile | hub after start-up | hub peak | hub ≤ 1 GiB | heavy modules in the hub | action server peak "
             "| answered or choices |", "|---|---|---|---|---|---|---|"]
    for profile, row in result["profiles"].items():
        lines.append(f"| `{profile}` | {row['started_rss_mb']} | {row['peak_rss_mb']} | "
                     f"{'yes' if row['met'] else '**no**'} | {', '.join(row['heavy_modules']) or '—'} | "
                     f"{row.get('action_server_peak_rss_mb', '—')} | "
                     f"{row['answered_or_choices']}/{row['questions']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", default="classic,fast,accurate")
    parser.add_argument("--save", action="store_true", help="write results/hub-memory.json and .md")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]
    profiles = {p: measure(p) for p in args.profiles.split(",") if p}
    result = {"finished": time.strftime("%Y-%m-%d %H:%M:%S"),
              "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared; 1-min load average {load:.1f} at "
                         f"start), one math thread",
              "command": "python -m benchmarks.bench_hub_memory " + " ".join(argv or sys.argv[1:]),
              "profiles": profiles}
    print(markdown(result))
    if args.save:
        from benchmarks.bench_nlu import keep_previous

        keep_previous(RESULTS, "hub-memory")
        (RESULTS / "hub-memory.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        (RESULTS / "hub-memory.md").write_text(markdown(result), encoding="utf-8")
        say(f"results: {RESULTS / 'hub-memory.json'} and .md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
