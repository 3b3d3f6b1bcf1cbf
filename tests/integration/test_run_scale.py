"""`make run-scale`: two hub workers behind nginx, two Rasa replicas with their action servers, PostgreSQL and
Redis, all started, supervised and stopped by `python -m tools.scale run`. The chat and the console are used
through nginx in Chromium; a hub worker killed with SIGKILL is restarted while the other one serves."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import bindparam, create_engine, text
from websockets.sync.client import connect

from core.settings import PROJECT_ROOT, HubSettings
from tests.integration.support import chromium_path, in_own_thread
from tests_support import free_port_dead as free_port
from tools.launcher import child_env

pytestmark = pytest.mark.integration


class Launcher:
    """`python -m tools.scale run` with its output followed in a thread."""

    def __init__(self, settings: HubSettings, *args: str) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen([sys.executable, "-m", "tools.scale", "run", "--free-ports", *args],
                                     cwd=PROJECT_ROOT, env=child_env(**settings.to_env()), stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._follow, daemon=True).start()

    def _follow(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, needle: str, timeout_s: float = 420, after: int = 0) -> int:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for n, line in enumerate(self.lines[after:], after):
                if needle in line:
                    return n
            if self.proc.poll() is not None and not any(needle in line for line in self.lines[after:]):
                break
            time.sleep(0.2)
        raise AssertionError(f"no {needle!r} from the launcher:\n" + "\n".join(self.lines[-60:]))

    def children(self) -> dict[int, str]:
        out = subprocess.run(["ps", "-ww", "-o", "pid=,args=", "--ppid", str(self.proc.pid)], capture_output=True,
                             text=True).stdout
        return {int(line.split(None, 1)[0]): line.split(None, 1)[1] for line in out.splitlines() if line.strip()}


def _bot_answers(base: str, text_: str = "hello", timeout_s: float = 90) -> dict:
    with connect(base.replace("http", "ws") + "/channels/web/ws", open_timeout=15) as ws:
        ws.send(json.dumps({"type": "hello"}))
        assert json.loads(ws.recv(timeout=30))["type"] == "welcome"
        ws.send(json.dumps({"type": "message", "text": text_, "client_id": f"scale-{time.monotonic_ns()}"}))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            frame = json.loads(ws.recv(timeout=max(1.0, deadline - time.monotonic())))
            if frame.get("type") == "ack":
                return frame
            assert frame.get("type") != "error", frame
    raise AssertionError("no acknowledgement")


def test_run_scale_serves_chat_and_console_through_nginx_with_two_of_everything(trained_model: Path, kb_dir: Path) -> None:
    chromium_path()  # skips (or fails on CI) without a browser
    work = Path(tempfile.mkdtemp(prefix="supportbot-run-scale-"))
    work.chmod(0o755)  # PostgreSQL's data folder is reached by the postgres user
    models = work / "models"
    models.mkdir()
    shutil.copy(trained_model, models / "current.tar.gz")  # same inputs: no retraining
    shutil.copy(trained_model.with_suffix("").with_suffix(".fingerprint"), models / "current.fingerprint")
    port = free_port()
    settings = HubSettings.from_env(data_dir=work / "var", hub_port=port, rasa_model_dir=models, kb_index_dir=kb_dir,
                                    admin_email="lead@example.com", admin_password="scale-password-1",
                                    rasa_timeout_s=20.0)
    base = f"http://127.0.0.1:{port}"
    launcher = Launcher(settings, "--dev", "--hubs", "2", "--rasa", "2")
    try:
        launcher.wait_for("Press Ctrl-C")
        out = "\n".join(launcher.lines)
        assert f"{base}/chat" in out and f"{base}/console" in out, out
        assert "2 hub workers" in out and "2 Rasa replicas" in out and "WARNING" not in out, out
        assert [line for line in launcher.lines if line.strip() and not line.startswith("[supportbot]")] == [], out
        kinds = launcher.children().values()
        for needle, n in (("uvicorn", 2), ("rasa_cli", 2), ("-m actions", 2), ("redis-server", 1),
                          ("nginx", 1), ("postgres", 1)):
            assert sum(needle in args for args in kinds) == n, (needle, list(kinds))

        health = httpx.get(f"{base}/health", timeout=30).json()
        assert health["ok"], health
        assert {"hub-1", "hub-2", "rasa-1", "rasa-2", "actions-1", "actions-2", "postgres", "redis",
                "nginx"} <= set(health["processes"])

        # Customers through nginx; their messages land in the hub's PostgreSQL database, and the dialogue state of
        # both Rasa replicas in the tracker store there.
        acks = [_bot_answers(base) for _ in range(4)]
        password = (work / "var" / "secrets" / "postgres_password").read_text().strip()
        pg_port = json.loads((work / "var" / "scale" / "topology.json").read_text())["postgres_port"]
        engine = create_engine(f"postgresql+psycopg2://supportbot:{password}@127.0.0.1:{pg_port}/supportbot")
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT count(*) FROM messages WHERE sender = 'bot' AND reply_to IN :ids")
                                  .bindparams(bindparam("ids", expanding=True)),
                                  {"ids": [a["message_id"] for a in acks]}).scalar()
        engine.dispose()
        assert stored and stored >= 4
        tracker = create_engine(f"postgresql+psycopg2://supportbot:{password}@127.0.0.1:{pg_port}/rasa")
        with tracker.connect() as conn:
            senders = {r[0] for r in conn.execute(text("SELECT DISTINCT sender_id FROM events"))}
        tracker.dispose()
        assert {a["conversation_id"] for a in acks} <= senders

        _browser_chat_and_console(base, settings)

        # SIGKILL of one hub worker: nginx sends customers to the other at once; the supervisor restarts it.
        mark = len(launcher.lines)
        hub1 = next(pid for pid, args in launcher.children().items() if "uvicorn" in args)
        os.kill(hub1, signal.SIGKILL)
        for _ in range(3):
            assert _bot_answers(base)["message_id"]
        launcher.wait_for("is back", timeout_s=180, after=mark)
        assert sum(w["restarts"] for n, w in httpx.get(f"{base}/health", timeout=30).json()["processes"].items()
                   if n.startswith("hub-")) == 1

        children = list(launcher.children())
        launcher.proc.send_signal(signal.SIGINT)
        assert launcher.proc.wait(timeout=120) == 0
        assert launcher.lines[-1].endswith("stopped")
        for pid in children:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
    finally:
        if launcher.proc.poll() is None:
            launcher.proc.terminate()
            try:
                launcher.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                launcher.proc.kill()
        shutil.rmtree(work, ignore_errors=True)


def _browser_chat_and_console(base: str, settings: HubSettings) -> None:
    """In Chromium, through nginx: a customer chats with the bot; the admin logs in to the console and its live
    socket connects."""
    def scenario(browser: Browser) -> None:
        customer = browser.new_context(viewport={"width": 420, "height": 800}).new_page()
        customer.goto(f"{base}/chat")
        expect(customer.locator(".sb-conn")).to_have_text("online", timeout=20_000)
        customer.get_by_label("Your message").fill("do you sell gift cards?")
        customer.keyboard.press("Enter")
        expect(customer.locator(".sb-bot").first).to_contain_text("gift card", timeout=60_000)
        console = browser.new_context(viewport={"width": 1366, "height": 768}).new_page()
        console.goto(f"{base}/console")
        console.fill("#login-email", settings.admin_email)
        console.fill("#login-password", settings.admin_password.get_secret_value())
        console.keyboard.press("Enter")
        expect(console.locator("#conn")).to_have_text("live", timeout=20_000)
        shots = PROJECT_ROOT / "docs" if os.environ.get("UPDATE_DOCS_SCREENSHOTS") else settings.data_dir
        customer.screenshot(path=str(shots / "run-scale-chat.png"))
        console.screenshot(path=str(shots / "run-scale-console.png"))

    in_own_thread(scenario, "run-scale-browser")
