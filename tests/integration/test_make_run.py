"""`make run`'s launcher: starts all three services, serves a chat, and stops every process on Ctrl-C."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from core.settings import PROJECT_ROOT, HubSettings
from tools.launcher import child_env
from tests_support import free_port_dead as free_port

pytestmark = pytest.mark.integration


def test_launcher_runs_the_bot_and_ctrl_c_stops_everything(trained_model: Path, kb_dir: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(trained_model, models / "current.tar.gz")  # same inputs: the launcher must not retrain
    shutil.copy(trained_model.with_suffix("").with_suffix(".fingerprint"), models / "current.fingerprint")
    settings = HubSettings.from_env(data_dir=tmp_path / "var", hub_port=free_port(), rasa_port=free_port(),
                                 action_port=free_port(), rasa_model_dir=models, kb_index_dir=kb_dir)
    env = child_env(**settings.to_env())
    proc = subprocess.Popen([sys.executable, "-m", "tools.launcher", "run"], cwd=PROJECT_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))  # as from `make &`
    output: list[str] = []
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            line = proc.stdout.readline() if proc.stdout else ""
            if not line and proc.poll() is not None:
                break
            output.append(line)
            if "Press Ctrl-C" in line:
                break
        text = "".join(output)
        assert "Press Ctrl-C" in text, text
        assert "Rasa model is up to date" in text and "training" not in text
        assert f"{settings.hub_url}/chat" in text and f"{settings.hub_url}/console" in text
        # A quiet start: the launcher's own lines, and nothing a newcomer could not act on.
        assert [line for line in output if line.strip() and not line.startswith("[supportbot]")] == [], text

        assert httpx.get(f"{settings.hub_url}/health", timeout=30).json()["ok"]
        ws = connect(f"ws://127.0.0.1:{settings.hub_port}/channels/web/ws")
        ws.send(json.dumps({"type": "hello"}))
        ws.recv(timeout=10)
        ws.send(json.dumps({"type": "message", "text": "hello", "client_id": "1"}))
        assert json.loads(ws.recv(timeout=30))["sender"] == "bot"
        ws.close()
        children = [int(p) for p in subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                                     text=True).stdout.split()]
        assert len(children) == 3

        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, rest
        assert "stopped" in rest
        for pid in children:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)

    finally:
        if proc.poll() is None:  # a failed assertion: stop the launcher (and so its children) before leaving
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_servers_die_with_a_killed_launcher(tmp_path: Path) -> None:
    """Even a SIGKILLed launcher leaves no server behind (Linux: PR_SET_PDEATHSIG)."""
    script = ("import sys, time\nfrom pathlib import Path\nfrom tools.launcher import Service\n"
              "svc = Service('sleeper', [sys.executable, '-c', 'import time; time.sleep(120)'], 'http://127.0.0.1:9/',"
              " Path(sys.argv[1]))\nsvc.start()\nprint(svc.proc.pid, flush=True)\ntime.sleep(120)\n")
    launcher = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "log")], cwd=PROJECT_ROOT,
                                stdout=subprocess.PIPE, text=True, env=child_env())
    child = int(launcher.stdout.readline())  # type: ignore[union-attr]
    os.kill(child, 0)  # running
    launcher.kill()
    launcher.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        # The orphan is reaped by init; a zombie still answers kill(0) until then.
        if Path(f"/proc/{child}/stat").read_text().split()[2] == "Z":
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"server {child} outlived its killed launcher")


def _child(launcher_pid: int, needle: str) -> int:
    out = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(launcher_pid)], capture_output=True, text=True).stdout
    pids = [int(line.split()[0]) for line in out.splitlines() if needle in line]
    assert len(pids) == 1, out
    return pids[0]


def test_the_launcher_restarts_what_crashes_and_nothing_is_lost(trained_model: Path, kb_dir: Path,
                                                                tmp_path: Path) -> None:
    """kill -9 of Rasa: the hub stays up, a customer meanwhile gets a person, Rasa comes back by itself and
    answers again, and /health counts the restart. kill -9 of the hub: it comes back and answers too."""
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(trained_model, models / "current.tar.gz")
    shutil.copy(trained_model.with_suffix("").with_suffix(".fingerprint"), models / "current.fingerprint")
    settings = HubSettings.from_env(data_dir=tmp_path / "var", hub_port=free_port(), rasa_port=free_port(),
                                    action_port=free_port(), rasa_model_dir=models, kb_index_dir=kb_dir,
                                    rasa_timeout_s=5.0, rasa_retries=1)
    proc = subprocess.Popen([sys.executable, "-m", "tools.launcher", "run"], cwd=PROJECT_ROOT,
                            env=child_env(**settings.to_env()), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    lines: list[str] = []

    def until(text: str, timeout_s: float = 240) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            line = proc.stdout.readline() if proc.stdout else ""
            if not line and proc.poll() is not None:
                break
            lines.append(line)
            if text in line:
                return
        raise AssertionError(f"no {text!r} in:\n{''.join(lines)}")

    def say(visitor_token: str | None, text: str) -> tuple[str, list[dict]]:
        ws = connect(f"ws://127.0.0.1:{settings.hub_port}/channels/web/ws")
        ws.send(json.dumps({"type": "hello", "token": visitor_token}))
        token = json.loads(ws.recv(timeout=10))["token"]
        ws.send(json.dumps({"type": "message", "text": text, "client_id": str(time.time())}))
        frames = []
        deadline = time.monotonic() + 90  # a freshly started hub may still be loading its language model
        while time.monotonic() < deadline:
            try:
                frame = json.loads(ws.recv(timeout=max(1.0, deadline - time.monotonic())))
            except TimeoutError:
                break
            frames.append(frame)
            if frame.get("type") == "message" and frame.get("sender") in ("bot", "system"):
                if frame.get("sender") == "bot" or "queue" in frame.get("text", ""):
                    break
        ws.close()
        return token, frames

    try:
        until("Press Ctrl-C")
        os.kill(_child(proc.pid, "rasa_cli"), signal.SIGKILL)
        until("Rasa server stopped")
        _, frames = say(None, "hello")  # Rasa is down or still loading: a person takes over, the customer is told
        assert any(f.get("sender") == "system" and "queue" in f.get("text", "") for f in frames), frames
        until("Rasa server is back", timeout_s=120)
        _, frames = say(None, "hello")
        assert any(f.get("sender") == "bot" for f in frames), frames
        health = httpx.get(f"{settings.hub_url}/health", timeout=30).json()
        assert health["processes"]["rasa"]["restarts"] == 1 and health["processes"]["rasa"]["state"] == "up"

        os.kill(_child(proc.pid, "uvicorn"), signal.SIGKILL)
        until("hub stopped")
        until("hub is back", timeout_s=120)
        _, frames = say(None, "hello")
        assert any(f.get("sender") == "bot" for f in frames), frames
        assert httpx.get(f"{settings.hub_url}/health", timeout=30).json()["processes"]["hub"]["restarts"] == 1
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
