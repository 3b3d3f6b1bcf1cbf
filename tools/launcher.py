"""Start the whole bot on loopback: train Rasa and build the KB index when their inputs changed, then run the
Rasa server, the action server and the hub, wait until each is healthy, print the URLs, stop all on Ctrl-C.

    python -m tools.launcher run --dev    # what `make run` calls (development mode)
    python -m tools.launcher train [--force] [--config FILE]
    python -m tools.launcher kb [--force]
    python -m tools.launcher endpoints    # write var/endpoints.yml for Rasa
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from sqlalchemy.engine import make_url

from bot.ops import secrets
from core.settings import PROJECT_ROOT, HubSettings

RASA_VENV = PROJECT_ROOT / ".venv-rasa"
#: Rasa's command line as the launcher runs it: Rasa's own, minus warnings nobody here can act on.
RASA_CLI = "nlu_components.rasa_cli"
HUB_PYTHON = Path(sys.executable)
RASA_DOMAIN = PROJECT_ROOT / "domain.yml"
RASA_DATA = PROJECT_ROOT / "nlu_data"
# Code Rasa loads from the project (custom NLU components); part of the model's fingerprint.
RASA_CODE_DIRS = [PROJECT_ROOT / "nlu_components"]

ONE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TF_INTRA_OP_PARALLELISM_THREADS": "1",
    "TF_INTER_OP_PARALLELISM_THREADS": "1",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "RASA_TELEMETRY_ENABLED": "false",
    "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
    "PYTHONUNBUFFERED": "1",
    "RASA_CACHE_DIRECTORY": str(PROJECT_ROOT / "var" / "rasa-cache"),  # not the default .rasa/ in the work tree
}


class LaunchError(Exception):
    """Something the user has to fix; the message says what."""


def say(message: str) -> None:
    print(f"[supportbot] {message}", flush=True)


def child_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, **ONE_THREAD_ENV, **extra}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")]))
    return env


def rasa_command() -> list[str]:
    """`rasa` in its own runtime (`nlu_components.rasa_cli`: Rasa's command line, quiet about known warnings)."""
    python = RASA_VENV / "bin" / "python"
    if not (RASA_VENV / "bin" / "rasa").exists() or not python.exists():
        raise LaunchError(f"Rasa is not installed ({RASA_VENV / 'bin' / 'rasa'} is missing). Run `make install` first.")
    return [str(python), "-m", RASA_CLI]


# -- training ------------------------------------------------------------------------------------


def fingerprint(paths: list[Path]) -> str:
    """A hash of the contents of the given files and folders (names and bytes)."""
    digest = hashlib.sha256()
    for root in paths:
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root] if root.exists() else []
        for f in files:
            if "__pycache__" in f.parts:
                continue
            digest.update(str(f.relative_to(PROJECT_ROOT) if f.is_relative_to(PROJECT_ROOT) else f).encode())
            digest.update(f.read_bytes())
    return digest.hexdigest()


def ensure_model(
    *, config: Path, out_dir: Path, name: str = "current", force: bool = False, data: Path = RASA_DATA,
    domain: Path = RASA_DOMAIN,
) -> Path:
    """Train a Rasa model when the config, domain, data or custom components changed; return its path.

    Training runs into a temporary folder, so a failed run leaves the previous model in service.
    """
    model = out_dir / f"{name}.tar.gz"
    stamp = out_dir / f"{name}.fingerprint"
    encoders = ensure_encoders(config)  # the ONNX sentence encoder(s) the pipeline names: built once, offline
    fp = fingerprint([config, domain, data, *RASA_CODE_DIRS, *(e / "manifest.json" for e in encoders)])
    if not force and model.exists() and stamp.exists() and stamp.read_text().strip() == fp:
        say(f"Rasa model is up to date ({_shown(model)})")
        return model
    check_training_data(data)
    out_dir.mkdir(parents=True, exist_ok=True)
    say(f"training the Rasa model from {config.name}, {domain.name} and {data.name}/ (this takes a minute or two)…")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".training-") as tmp:
        cmd = [
            *rasa_command(), "train", "--data", str(data), "--config", str(config), "--domain", str(domain),
            "--out", tmp, "--fixed-model-name", name, "--quiet",  # warnings and errors only, no progress bars
        ]
        proc = subprocess.run(cmd, cwd=PROJECT_ROOT, env=child_env(), stdout=subprocess.PIPE, text=True)
        # Rasa names the temporary folder the model is trained into; the final path is said below.
        sys.stdout.write("".join(line for line in (proc.stdout or "").splitlines(keepends=True)
                                 if "Your Rasa model is trained and saved at" not in line))
        trained = Path(tmp) / f"{name}.tar.gz"
        if proc.returncode != 0 or not trained.exists():
            raise LaunchError(
                f"Rasa training failed (exit {proc.returncode}); the previous model, if any, stays in service. "
                "Read the errors above, fix config.yml / domain.yml / nlu_data/, and run again."
            )
        os.replace(trained, model)
    stamp.write_text(fp)
    say(f"Rasa model trained in {time.monotonic() - started:.0f} s → {_shown(model)}")
    return model


def _shown(path: Path) -> Path:
    """`path` relative to the project when it is inside it (shorter messages)."""
    return path.relative_to(PROJECT_ROOT) if path.is_relative_to(PROJECT_ROOT) else path


def ensure_encoders(config: Path) -> list[Path]:
    """Export the sentence encoder(s) that `config` names to ONNX when missing (nlu_components.export_onnx)."""
    if "SentenceEmbeddingFeaturizer" not in config.read_text(encoding="utf-8", errors="replace"):
        return []
    proc = subprocess.run([str(HUB_PYTHON), "-m", "nlu_components.export_onnx", "--config", str(config), "--quiet"],
                          cwd=PROJECT_ROOT, env=child_env(), stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise LaunchError("exporting the NLU sentence encoder to ONNX failed (see above); "
                          "the previous Rasa model, if any, stays in service.")
    return [Path(line) for line in proc.stdout.splitlines() if line.strip()]


def check_training_data(data: Path) -> None:
    """Refuse to train on broken NLU data (bad encoding, empty files, contradictions); list warnings."""
    from nlu_components.validate import validate

    report = validate([data])
    for problem in report.problems:
        say(str(problem))
    if report.errors:
        raise LaunchError(f"{len(report.errors)} error(s) in the training data (listed above): fix them and run "
                          "again. The previous model, if any, stays in service.")


def ensure_kb(settings: HubSettings, *, force: bool = False) -> None:
    """Build the knowledge-base index when the content or the model changed (the builder decides)."""
    cmd = [str(HUB_PYTHON), "-m", "kb_index", "build", "--content", str(settings.kb_content_dir),
           "--out", str(settings.kb_index_dir)]
    if settings.embedding_model:
        cmd += ["--model", settings.embedding_model]
    if force:
        cmd.append("--force")
    if not sys.stderr.isatty():  # a progress bar is one live line on a terminal, hundreds of lines in a log
        cmd.append("--no-progress")
    proc = subprocess.run(cmd, cwd=PROJECT_ROOT, env=child_env(), stdout=subprocess.PIPE, text=True)
    for line in (proc.stdout or "").splitlines():  # what was built (or that nothing had to be); errors: stderr
        say(line.replace(str(PROJECT_ROOT) + os.sep, ""))
    if proc.returncode != 0:
        raise LaunchError("building the knowledge-base index failed: fix the content errors listed above "
                          f"(in {settings.kb_content_dir}) and run again. The previous index stays in service.")


# -- Rasa endpoints ------------------------------------------------------------------------------


def endpoints_config(settings: HubSettings) -> dict[str, object]:
    """Rasa's endpoints.yml: our action server, an SQL tracker store and, if set, a Redis lock store."""
    url = make_url(settings.tracker_store_url)
    if url.get_backend_name() == "sqlite":
        tracker: dict[str, object] = {"type": "SQL", "dialect": "sqlite", "db": url.database}
    else:
        tracker = {
            "type": "SQL",
            "dialect": url.get_backend_name(),
            "url": url.host or "127.0.0.1",
            "port": url.port or 5432,
            "db": url.database,
            "username": url.username,
            "password": url.password,
        }
    config: dict[str, object] = {"action_endpoint": {"url": settings.action_endpoint}, "tracker_store": tracker}
    if settings.rasa_lock_store_url:
        lock = make_url(settings.rasa_lock_store_url)
        config["lock_store"] = {
            "type": "redis", "url": lock.host or "127.0.0.1", "port": lock.port or 6379,
            "db": int(lock.database or 0), "password": lock.password,
        }
    return config


def write_endpoints(settings: HubSettings) -> Path:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.tracker_store_url.startswith("sqlite"):
        Path(make_url(settings.tracker_store_url).database or "").parent.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / "endpoints.yml"
    path.write_text("# Written by tools.launcher from the settings; edit .env, not this file.\n"
                    + yaml.safe_dump(endpoints_config(settings), sort_keys=False))
    return path


# -- processes -----------------------------------------------------------------------------------


def _die_with_parent() -> None:
    """In the child: on Linux, get SIGTERM when the launcher dies, even by SIGKILL (no orphaned servers)."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Service:
    """A child process with a health URL and a log file."""

    name: str
    argv: list[str]
    health_url: str
    log_path: Path
    env: dict[str, str] = field(default_factory=child_env)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self.argv, cwd=PROJECT_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches only us; we stop the children in order
            preexec_fn=_die_with_parent,
        )
        log.close()

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.health_url, timeout=2) as resp:
                return 200 <= resp.status < 300
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def wait_healthy(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise LaunchError(f"{self.name} exited with code {self.proc.returncode} while starting:\n"
                                  f"{self.tail()}\n(full log: {self.log_path})")
            if self.healthy():
                return
            time.sleep(0.5)
        raise LaunchError(f"{self.name} did not become healthy within {timeout_s:.0f} s ({self.health_url}):\n"
                          f"{self.tail()}\n(full log: {self.log_path})")

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout_s: float = 15) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        except ProcessLookupError:
            pass


def services(settings: HubSettings, model: Path, endpoints: Path) -> dict[str, Service]:
    logs = settings.data_dir / "logs"
    host = settings.host
    env = child_env(**settings.to_env())
    stack = {
        "rasa": Service(
            "Rasa server",
            [*rasa_command(), "run", "--enable-api", "--auth-token", settings.rasa_auth_token.get_secret_value(),
             "-i", host, "--port", str(settings.rasa_port),
             "--model", str(model), "--endpoints", str(endpoints),
             "--credentials", str(PROJECT_ROOT / "credentials.yml")],
            # /status needs the token: it answers once the model is loaded
            f"http://{host}:{settings.rasa_port}/status?token={settings.rasa_auth_token.get_secret_value()}",
            logs / "rasa.log",
        ),
        "actions": Service(
            "action server",
            [str(HUB_PYTHON), "-m", "actions", "--host", host, "--port", str(settings.action_port)],
            f"http://{host}:{settings.action_port}/health", logs / "actions.log",
        ),
        "hub": Service(
            "hub",
            [str(HUB_PYTHON), "-m", "uvicorn", "--factory", "bot.app:create_app", "--host", host,
             "--port", str(settings.hub_port), "--no-access-log", *proxy_args(settings)],
            f"http://{host}:{settings.hub_port}/health/live", logs / "hub.log",
        ),
    }
    for svc in stack.values():
        svc.env = env
    return stack


def proxy_args(settings: HubSettings) -> list[str]:
    """Believe X-Forwarded-For only from the configured proxies (uvicorn would trust 127.0.0.1 by default, so
    any local process could pose as any client)."""
    if not settings.forwarded_allow_ips:
        return ["--no-proxy-headers"]
    return ["--proxy-headers", "--forwarded-allow-ips", ",".join(settings.forwarded_allow_ips)]


def start_all(stack: dict[str, Service], timeout_s: float = 180) -> None:
    """Start the action server and Rasa together (both load models), then the hub."""
    for name in ("actions", "rasa"):
        say(f"starting the {stack[name].name} (log: {_shown(stack[name].log_path)})")
        stack[name].start()
    for name in ("actions", "rasa"):
        started = time.monotonic()
        stack[name].wait_healthy(timeout_s)
        say(f"{stack[name].name} is healthy ({time.monotonic() - started:.0f} s more)")
    say(f"starting the hub (log: {_shown(stack['hub'].log_path)})")
    stack["hub"].start()
    stack["hub"].wait_healthy(60)


SUPERVISOR_STATUS = "supervisor.json"  # read by the hub's /health (bot/ops/health.py)


@dataclass
class Watch:
    restarts: int = 0
    failures_in_a_row: int = 0
    state: str = "up"  # up | down (waiting to restart) | starting
    restart_at: float = 0.0
    up_since: float = field(default_factory=time.time)
    last_exit: int | None = None
    last_exit_at: float | None = None


class Supervisor:
    """Keeps the stack up: a service that exits is restarted after a growing pause (1 s, 2 s, 4 s … 60 s; back to
    1 s once it has stayed up a minute). Meanwhile the hub hands conversations to people as it does whenever
    Rasa or the action server does not answer. The state is written to `status_path` for `/health`."""

    STABLE_S = 60.0
    MAX_PAUSE_S = 60.0

    def __init__(self, stack: dict[str, Service], status_path: Path) -> None:
        self.stack = stack
        self.status_path = status_path
        self.watches = {name: Watch() for name in stack}
        self._write()

    def pause(self, failures_in_a_row: int) -> float:
        return min(2.0 ** max(0, failures_in_a_row - 1), self.MAX_PAUSE_S)

    def check(self) -> None:
        now = time.time()
        changed = False
        for name, svc in self.stack.items():
            w = self.watches[name]
            exited = svc.proc is not None and svc.proc.poll() is not None
            if w.state in ("up", "starting") and exited:
                code = svc.proc.returncode if svc.proc is not None else None
                w.failures_in_a_row = 1 if w.state == "up" and now - w.up_since >= self.STABLE_S \
                    else w.failures_in_a_row + 1
                w.state, w.last_exit, w.last_exit_at = "down", code, now
                w.restart_at = now + self.pause(w.failures_in_a_row)
                say(f"{svc.name} stopped (exit {code}); restarting in {self.pause(w.failures_in_a_row):.0f} s "
                    f"(log: {_shown(svc.log_path)})")
                changed = True
            elif w.state == "down" and now >= w.restart_at:
                svc.start()
                w.state, w.restarts = "starting", w.restarts + 1
                changed = True
            elif w.state == "starting" and svc.healthy():
                w.state, w.up_since = "up", now
                say(f"{svc.name} is back (restart {w.restarts})")
                changed = True
        if changed:
            self._write()

    def status(self) -> dict[str, dict[str, object]]:
        return {name: {"state": w.state, "restarts": w.restarts, "last_exit": w.last_exit,
                       "last_exit_at": w.last_exit_at, "up_since": w.up_since if w.state == "up" else None}
                for name, w in self.watches.items()}

    def _write(self) -> None:
        self.status_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.status_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"supervised": True, "pid": os.getpid(), "processes": self.status()}, indent=1))
        os.replace(tmp, self.status_path)


def stop_all(stack: dict[str, Service]) -> None:
    for name in ("hub", "rasa", "actions"):
        if name in stack:
            stack[name].stop()


def cmd_run(settings: HubSettings, args: argparse.Namespace) -> int:
    if args.dev:
        settings = settings.replace(dev_mode=True)
    settings = secrets.resolve(settings)  # the children get the same generated secrets
    model = ensure_model(config=settings.rasa_config, out_dir=settings.rasa_model_dir, force=args.force_train)
    ensure_kb(settings)
    endpoints = write_endpoints(settings)
    stack = services(settings, model, endpoints)
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            raise KeyboardInterrupt

    # Installed explicitly: a shell that starts us in the background may have set SIGINT to "ignore".
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    try:
        start_all(stack)
        from bot.ops.health import check_tracker_store

        tracker = check_tracker_store(settings.tracker_store_url)
        if not tracker["ok"]:
            say(f"WARNING: {tracker['error']}")
        if settings.dev_mode:
            print(dev_banner(settings), flush=True)
        print(banner(settings), flush=True)
        supervisor = Supervisor(stack, settings.data_dir / SUPERVISOR_STATUS)
        while True:
            supervisor.check()
            time.sleep(0.5)
    except KeyboardInterrupt:
        say("stopping…")
        return 0
    finally:
        stop_all(stack)
        say("stopped")


def dev_banner(settings: HubSettings) -> str:
    lines = [
        "",
        "DEVELOPMENT MODE: the agent API accepts 'Bearer dev-agent-token' and the admin API 'Bearer dev-admin-token'.",
        f"Keep this hub on {settings.host}; for a real deployment set DEV_MODE=false and your own AGENT_API_TOKEN /",
        "ADMIN_API_TOKEN (or none) in .env: docs/console.md, \"Production\".",
    ]
    return "\n".join(f"[supportbot] {line}".rstrip() for line in lines)


def banner(settings: HubSettings) -> str:
    """What to open once the bot is up."""
    url = settings.hub_url
    login = f"log in as {settings.admin_email}" if settings.admin_email else \
        "to log in, set ADMIN_EMAIL and ADMIN_PASSWORD in .env: docs/console.md"
    lines = [
        "",
        "The bot is up:",
        f"  chat with it:     {url}/chat",
        f"  agent console:    {url}/console   ({login})",
        f"  agent API, docs:  {url}/docs        health: {url}/health",
        f"  logs:             {_shown(settings.data_dir / 'logs')}/",
        "Press Ctrl-C to stop.",
    ]
    return "\n".join(f"[supportbot] {line}".rstrip() for line in lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.launcher", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="train/index if needed, start everything, stop on Ctrl-C")
    run.add_argument("--force-train", action="store_true")
    run.add_argument("--dev", action="store_true", help="development mode (what `make run` uses): DEV_MODE=true")
    train = sub.add_parser("train", help="train the Rasa model if its inputs changed")
    train.add_argument("--force", action="store_true")
    train.add_argument("--config", type=Path, default=None)
    train.add_argument("--out", type=Path, default=None)
    train.add_argument("--name", default="current")
    kb = sub.add_parser("kb", help="build the knowledge-base index if its content changed")
    kb.add_argument("--force", action="store_true")
    sub.add_parser("endpoints", help="write Rasa's endpoints.yml from the settings")
    args = parser.parse_args(argv)
    try:
        settings = HubSettings.from_env()
        if args.command == "run":
            return cmd_run(settings, args)
        if args.command == "train":
            ensure_model(config=args.config or settings.rasa_config, out_dir=args.out or settings.rasa_model_dir,
                         name=args.name, force=args.force)
        elif args.command == "kb":
            ensure_kb(settings, force=args.force)
        elif args.command == "endpoints":
            print(write_endpoints(settings))
        return 0
    except (LaunchError, ValueError) as exc:
        print(f"[supportbot] error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
