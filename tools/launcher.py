"""Start the whole bot on loopback: train Rasa and build the KB index when their inputs changed, then run the
Rasa server, the action server and the hub, wait until each is healthy, print the URLs, stop all on Ctrl-C.

    python -m tools.launcher run --dev    # what `make run` calls (development mode)
    python -m tools.launcher train [--force] [--config FILE]
    python -m tools.launcher kb [--force]
    python -m tools.launcher endpoints    # write var/endpoints.yml for Rasa
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from sqlalchemy.engine import make_url

from bot.ops import secrets
from core.settings import PROJECT_ROOT, HubSettings
from nlu_components import training
from nlu_components.training import ONE_THREAD_ENV, RASA_VENV, TrainingError, child_env, fingerprint
from nlu_components.validate import validate

__all__ = ["ONE_THREAD_ENV", "RASA_VENV", "LaunchError", "Service", "child_env", "ensure_model", "fingerprint",
           "services", "write_endpoints"]

HUB_PYTHON = Path(sys.executable)
RASA_DOMAIN = PROJECT_ROOT / "domain.yml"
RASA_DATA = PROJECT_ROOT / "nlu_data"
RASA_CODE_DIRS = training.CODE_DIRS


class LaunchError(Exception):
    """Something the user has to fix; the message says what."""


def say(message: str) -> None:
    print(f"[supportbot] {message}", flush=True)


def rasa_command() -> list[str]:
    """`rasa` in its own runtime (`nlu_components.training.rasa_command`)."""
    try:
        return training.rasa_command()
    except TrainingError as exc:
        raise LaunchError(str(exc)) from None


# -- training ------------------------------------------------------------------------------------


def ensure_model(
    *, config: Path, out_dir: Path, name: str = "current", force: bool = False, data: Path = RASA_DATA,
    domain: Path = RASA_DOMAIN,
) -> Path:
    """Train a Rasa model when the config, domain, data or custom components changed; return its path.

    Training runs into a temporary folder (`nlu_components.training.train`), so a failed run leaves the previous
    model in service.
    """
    model = out_dir / f"{name}.tar.gz"
    stamp = out_dir / f"{name}.fingerprint"
    try:
        encoders = training.ensure_encoders(config)  # the ONNX sentence encoder(s) the pipeline names, once
    except TrainingError as exc:
        raise LaunchError(str(exc)) from None
    fp = fingerprint(training.model_inputs(config, domain, data, encoders))
    if not force and model.exists() and stamp.exists() and stamp.read_text().strip() == fp:
        say(f"Rasa model is up to date ({_shown(model)})")
        return model
    check_training_data(data)
    rasa_command()  # says how to install Rasa when it is missing
    say(f"training the Rasa model from {config.name}, {domain.name} and {data.name}/ (this takes a minute or two)…")
    started = time.monotonic()
    try:
        training.train(config=config, domain=domain, data=data, out_dir=out_dir, name=name, quiet=True,
                       on_line=lambda line: print(line, flush=True))
    except TrainingError as exc:
        raise LaunchError(f"{exc} Read the errors above.") from None
    stamp.write_text(fp)
    say(f"Rasa model trained in {time.monotonic() - started:.0f} s → {_shown(model)}")
    return model


def _shown(path: Path) -> Path:
    """`path` relative to the project when it is inside it (shorter messages)."""
    return path.relative_to(PROJECT_ROOT) if path.is_relative_to(PROJECT_ROOT) else path


def check_training_data(data: Path) -> None:
    """Refuse to train on broken NLU data (bad encoding, empty files, contradictions); list warnings."""
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


def write_endpoints(settings: HubSettings, path: Path | None = None) -> Path:
    """Write Rasa's endpoints file (default `DATA_DIR/endpoints.yml`; one per replica when they differ)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.tracker_store_url.startswith("sqlite"):
        Path(make_url(settings.tracker_store_url).database or "").parent.mkdir(parents=True, exist_ok=True)
    path = path or settings.data_dir / "endpoints.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# Written by tools.launcher from the settings; edit .env, not this file.\n"
                    + yaml.safe_dump(endpoints_config(settings), sort_keys=False))
    return path


# -- processes -----------------------------------------------------------------------------------


def _die_with_parent() -> None:
    """In the child: on Linux, get SIGTERM when the launcher dies, even by SIGKILL (no orphaned servers)."""
    if sys.platform.startswith("linux"):  # ctypes is imported up front: a child running as another user
        PR_SET_PDEATHSIG = 1              # may not be able to read the interpreter's files any more
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Service:
    """A child process with a health check (an HTTP URL answering 2xx, or `check`) and a log file."""

    name: str
    argv: list[str]
    health_url: str
    log_path: Path
    env: dict[str, str] = field(default_factory=child_env)
    proc: subprocess.Popen[bytes] | None = None
    check: Callable[[], bool] | None = None  # instead of the URL, for servers that speak no HTTP
    stop_signal: int = signal.SIGTERM  # PostgreSQL: SIGINT (fast shutdown; SIGTERM waits for every client)
    user: str | None = None  # run as this system user (PostgreSQL refuses to run as root)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self.argv, cwd=PROJECT_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches only us; we stop the children in order
            preexec_fn=_die_with_parent,  # runs after the switch to `user`, which would clear it
            user=self.user, group=self.user, extra_groups=[] if self.user else None,
        )
        log.close()

    def healthy(self) -> bool:
        if self.check is not None:
            try:
                return self.check()
            except Exception:  # noqa: BLE001 - a probe that fails means "not healthy", whatever the reason
                return False
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
            os.killpg(self.proc.pid, self.stop_signal)
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        except ProcessLookupError:
            pass


def rasa_service(settings: HubSettings, model: Path, endpoints: Path, *, port: int, name: str = "Rasa server",
                 log: str = "rasa.log") -> Service:
    token = settings.rasa_auth_token.get_secret_value()
    return Service(
        name,
        # --auth-token=…: a generated token may start with "-", which argparse would take for an option
        [*rasa_command(), "run", "--enable-api", f"--auth-token={token}", "-i", settings.host, "--port", str(port),
         "--model", str(model), "--endpoints", str(endpoints), "--credentials", str(PROJECT_ROOT / "credentials.yml")],
        f"http://{settings.host}:{port}/status?token={token}",  # /status needs the token: it answers once the model is loaded
        settings.data_dir / "logs" / log,
        env=child_env(**settings.to_env()),
    )


def actions_service(settings: HubSettings, *, port: int, name: str = "action server",
                    log: str = "actions.log") -> Service:
    return Service(name, [str(HUB_PYTHON), "-m", "actions", "--host", settings.host, "--port", str(port)],
                   f"http://{settings.host}:{port}/health", settings.data_dir / "logs" / log,
                   env=child_env(**settings.to_env()))


def hub_service(settings: HubSettings, *, port: int, name: str = "hub", log: str = "hub.log",
                **extra_env: str) -> Service:
    return Service(
        name,
        [str(HUB_PYTHON), "-m", "uvicorn", "--factory", "bot.app:create_app", "--host", settings.host,
         "--port", str(port), "--no-access-log", *proxy_args(settings)],
        f"http://{settings.host}:{port}/health/live", settings.data_dir / "logs" / log,
        env=child_env(**settings.to_env(), **extra_env),
    )


def services(settings: HubSettings, model: Path, endpoints: Path) -> dict[str, Service]:
    """`make run`'s stack: one Rasa server, one action server, one hub."""
    return {
        "rasa": rasa_service(settings, model, endpoints, port=settings.rasa_port),
        "actions": actions_service(settings, port=settings.action_port),
        "hub": hub_service(settings, port=settings.hub_port),
    }


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


def stop_all(stack: dict[str, Service], order: list[str] | None = None) -> None:
    """Stop the services in `order` (default: the hub, then Rasa, then the action server), then any other."""
    order = order or ["hub", "rasa", "actions"]
    for name in [*order, *(n for n in stack if n not in order)]:
        if name in stack:
            stack[name].stop()


def serve(stack: dict[str, Service], start: Callable[[], None], status_path: Path,
          stop_order: list[str] | None = None) -> int:
    """Run `start()`, then keep the stack up under the `Supervisor` until Ctrl-C (or SIGTERM / SIGHUP); stop
    everything on the way out, whatever happened."""
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
        start()
        supervisor = Supervisor(stack, status_path)
        while True:
            supervisor.check()
            time.sleep(0.5)
    except KeyboardInterrupt:
        say("stopping…")
        return 0
    finally:
        stop_all(stack, stop_order)
        say("stopped")


def warn_about_tracker_store(settings: HubSettings) -> None:
    """Rasa falls back to an in-memory tracker store silently: say so when its SQL store is not in use."""
    from bot.ops.health import check_tracker_store

    tracker = check_tracker_store(settings.tracker_store_url)
    if not tracker["ok"]:
        say(f"WARNING: {tracker['error']}")


def cmd_run(settings: HubSettings, args: argparse.Namespace) -> int:
    if args.dev:
        settings = settings.replace(dev_mode=True)
    settings = secrets.resolve(settings)  # the children get the same generated secrets
    model = ensure_model(config=settings.rasa_config, out_dir=settings.rasa_model_dir, force=args.force_train,
                         data=settings.rasa_data_dir, domain=settings.rasa_domain)
    ensure_kb(settings)
    endpoints = write_endpoints(settings)
    stack = services(settings, model, endpoints)

    def start() -> None:
        start_all(stack)
        warn_about_tracker_store(settings)
        if settings.dev_mode:
            print(dev_banner(settings), flush=True)
        print(banner(settings), flush=True)

    return serve(stack, start, settings.data_dir / SUPERVISOR_STATUS)


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
                         data=settings.rasa_data_dir, domain=settings.rasa_domain,
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
