"""`make run-scale`: the bot scaled out on loopback, every process supervised like `make run`'s.

    python -m tools.scale run --dev [--hubs 2] [--rasa 2] [--actions per-rasa|shared]

    customers, agents ─► nginx :HUB_PORT ─► hub workers 1..N (uvicorn, one process each)
                                              │  PostgreSQL (the hub's database)   Redis (shared hub state)
                                              ▼
                                 Rasa replicas 1..M (SQL tracker store on the PostgreSQL, Redis lock store)
                                              ▼
                                 action servers (one per Rasa replica, or one shared)

nginx listens where `make run`'s hub does (HUB_PORT), so the printed URLs are the same. The hub workers listen
on HUB_PORT+1…, the Rasa replicas on RASA_PORT…, the action servers on ACTION_PORT… (`--free-ports`: any free
loopback ports instead, for tests and benchmarks). PostgreSQL and Redis are private instances with their data
under `DATA_DIR/scale/`; their passwords, the session secret and Rasa's token are generated once into
`DATA_DIR/secrets/` and handed to every child, so all hub workers agree.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bot.ops import secrets
from core.settings import HubSettings
from tools.engines import Nginx, Postgres, Redis
from tools.launcher import (
    SUPERVISOR_STATUS, LaunchError, Service, actions_service, banner, dev_banner, ensure_kb, ensure_model,
    hub_service, rasa_service, say, serve, warn_about_tracker_store, write_endpoints,
)

HUB_DATABASE, RASA_DATABASE = "supportbot", "rasa"
STOP_ORDER = ["nginx", "hub", "rasa", "actions", "redis", "postgres"]  # prefixes: nginx first, the engines last


@dataclass(frozen=True)
class Topology:
    """How many of each process, and on which loopback ports."""

    public_port: int  # nginx
    hub_ports: tuple[int, ...]
    rasa_ports: tuple[int, ...]
    action_ports: tuple[int, ...]  # one per Rasa replica, or one shared by all
    postgres_port: int
    redis_port: int

    @property
    def shared_actions(self) -> bool:
        return len(self.action_ports) == 1 < len(self.rasa_ports)

    def action_port_for(self, replica: int) -> int:
        return self.action_ports[0 if self.shared_actions else replica]

    def ports(self) -> dict[str, int]:
        named = {"nginx": self.public_port, "PostgreSQL": self.postgres_port, "Redis": self.redis_port}
        named.update({f"hub worker {i + 1}": p for i, p in enumerate(self.hub_ports)})
        named.update({f"Rasa replica {i + 1}": p for i, p in enumerate(self.rasa_ports)})
        named.update({f"action server {i + 1}": p for i, p in enumerate(self.action_ports)})
        return named

    def describe(self) -> str:
        actions = "1 action server shared" if self.shared_actions else \
            f"{len(self.action_ports)} action server{'s' * (len(self.action_ports) > 1)} (one per replica)"
        return (f"nginx :{self.public_port} → {len(self.hub_ports)} hub worker{'s' * (len(self.hub_ports) > 1)} "
                f"(:{', :'.join(map(str, self.hub_ports))}); {len(self.rasa_ports)} Rasa "
                f"replica{'s' * (len(self.rasa_ports) > 1)} (:{', :'.join(map(str, self.rasa_ports))}); {actions}; "
                f"PostgreSQL :{self.postgres_port}; Redis :{self.redis_port}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def plan(settings: HubSettings, *, hubs: int = 2, rasa: int = 2, shared_actions: bool = False,
         postgres_port: int = 5433, redis_port: int = 6380, free_ports: bool = False) -> Topology:
    """The ports of every process: consecutive from the configured ones, or (`free_ports`) any free ones."""
    if hubs < 1 or rasa < 1:
        raise LaunchError("HUBS and RASA must each be at least 1")
    n_actions = 1 if shared_actions else rasa
    if free_ports:
        pick = lambda n: tuple(free_port() for _ in range(n))  # noqa: E731
        return Topology(settings.hub_port, pick(hubs), pick(rasa), pick(n_actions), free_port(), free_port())
    return Topology(
        public_port=settings.hub_port,
        hub_ports=tuple(settings.hub_port + 1 + i for i in range(hubs)),
        rasa_ports=tuple(settings.rasa_port + i for i in range(rasa)),
        action_ports=tuple(settings.action_port + i for i in range(n_actions)),
        postgres_port=postgres_port, redis_port=redis_port,
    )


def check_ports_free(topology: Topology, host: str) -> None:
    """Refuse to start when a port is taken (by a `make run` still running, say), naming it."""
    taken = []
    for what, port in topology.ports().items():
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                taken.append(f"{port} ({what})")
    if taken:
        raise LaunchError(f"port{'s' * (len(taken) > 1)} {', '.join(taken)} already in use on {host}: stop what "
                          "uses them (another `make run` or `make run-scale`?), or set HUB_PORT / RASA_PORT / "
                          "ACTION_PORT, --postgres-port / --redis-port to others")


@dataclass
class ScaleStack:
    """The engines, the settings every child gets, and the supervised services."""

    settings: HubSettings  # as the hubs, Rasa and the actions get them (DATABASE_URL, REDIS_URL, RASA_URLS …)
    topology: Topology
    postgres: Postgres
    redis: Redis
    services: dict[str, Service]


def build(settings: HubSettings, topology: Topology, model: Path) -> ScaleStack:
    """Settle the secrets, write the engines' and Rasa's config files, and describe every service (nothing is
    started yet)."""
    root = settings.data_dir / "scale"
    logs = settings.data_dir / "logs"
    secret_dir = settings.data_dir / "secrets"
    pg = Postgres(root / "postgres", topology.postgres_port, secrets.stored_secret(secret_dir / "postgres_password"),
                  host=settings.host)
    rd = Redis(root / "redis", topology.redis_port, secrets.stored_secret(secret_dir / "redis_password"),
               host=settings.host)
    host = settings.host
    child = settings.replace(
        database_url=pg.url(HUB_DATABASE),
        rasa_tracker_store_url=pg.url(RASA_DATABASE),  # endpoints.yml takes the dialect; the hub checks it
        redis_url=rd.url(0),
        rasa_lock_store_url=rd.url(1),
        rasa_urls=tuple(f"http://{host}:{p}" for p in topology.rasa_ports),
        action_url=f"http://{host}:{topology.action_ports[0]}/webhook",  # the hub's KB suggestions
        forwarded_allow_ips=tuple(dict.fromkeys([*settings.forwarded_allow_ips, "127.0.0.1"])),
        public_url=settings.public_url or f"http://{host}:{topology.public_port}",
    )
    root.mkdir(parents=True, exist_ok=True)  # which process listens where, for operators and benchmarks
    (root / "topology.json").write_text(json.dumps(dataclasses.asdict(topology), indent=1) + "\n")
    metrics_dir = root / "prometheus"  # prometheus_client's multiprocess mode: one file set per worker
    shutil.rmtree(metrics_dir, ignore_errors=True)  # stale files from an earlier run would be summed in
    metrics_dir.mkdir(parents=True)

    stack: dict[str, Service] = {"postgres": pg.service(logs / "postgres.log"), "redis": rd.service(logs / "redis.log")}
    for i, port in enumerate(topology.action_ports, 1):
        stack[f"actions-{i}"] = actions_service(child, port=port, name=f"action server {i}", log=f"actions-{i}.log")
    for i, port in enumerate(topology.rasa_ports):
        replica = child.replace(action_url=f"http://{host}:{topology.action_port_for(i)}/webhook")
        endpoints = write_endpoints(replica, root / f"endpoints-rasa-{i + 1}.yml")
        stack[f"rasa-{i + 1}"] = rasa_service(replica, model, endpoints, port=port, name=f"Rasa server {i + 1}",
                                              log=f"rasa-{i + 1}.log")
    for i, port in enumerate(topology.hub_ports, 1):
        stack[f"hub-{i}"] = hub_service(child, port=port, name=f"hub worker {i}", log=f"hub-{i}.log",
                                        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
    stack["nginx"] = Nginx(root / "nginx", topology.public_port, topology.hub_ports, host=host,
                           max_body_bytes=settings.max_media_bytes + 1024 * 1024).service(logs / "nginx.log")
    return ScaleStack(child, topology, pg, rd, stack)


def _wait(stack: dict[str, Service], names: list[str], timeout_s: float) -> None:
    started = time.monotonic()
    for name in names:
        stack[name].wait_healthy(max(5.0, timeout_s - (time.monotonic() - started)))
    say(f"{', '.join(stack[n].name for n in names)}: healthy ({time.monotonic() - started:.0f} s)")


def _start(stack: dict[str, Service], names: list[str], what: str) -> None:
    say(f"starting {what}")
    for name in names:
        stack[name].start()


def start_scaled(s: ScaleStack, timeout_s: float = 300) -> None:
    """Start in dependency order: the engines; the action servers with the Rasa replicas (both load models);
    the first hub worker alone (it migrates the schema); the other workers; nginx last."""
    stack = s.services
    named = lambda prefix: [n for n in stack if n.startswith(prefix)]  # noqa: E731
    if s.postgres.init():
        say(f"created the PostgreSQL data folder {s.postgres.data}")
    _start(stack, ["postgres", "redis"], "PostgreSQL and Redis")
    _wait(stack, ["postgres", "redis"], 60)
    s.postgres.create_databases(HUB_DATABASE, RASA_DATABASE)
    _start(stack, named("actions") + named("rasa"), f"{len(named('actions'))} action server(s) and "
           f"{len(named('rasa'))} Rasa replica(s) (they load their models: a minute or two)")
    _wait(stack, named("actions") + named("rasa"), timeout_s)
    hubs = named("hub")
    _start(stack, hubs[:1], "hub worker 1 (it brings the database schema up to date)")
    _wait(stack, hubs[:1], 120)
    if hubs[1:]:
        _start(stack, hubs[1:], f"hub workers 2–{len(hubs)}")
        _wait(stack, hubs[1:], 120)
    _start(stack, ["nginx"], "nginx")
    _wait(stack, ["nginx"], 30)


def stop_order(stack: dict[str, Service]) -> list[str]:
    return [name for prefix in STOP_ORDER for name in stack if name.startswith(prefix)]


def cmd_run(settings: HubSettings, args: argparse.Namespace) -> int:
    if args.dev:
        settings = settings.replace(dev_mode=True)
    settings = secrets.resolve(settings)
    topology = plan(settings, hubs=args.hubs, rasa=args.rasa, shared_actions=args.actions == "shared",
                    postgres_port=args.postgres_port, redis_port=args.redis_port, free_ports=args.free_ports)
    check_ports_free(topology, settings.host)
    model = ensure_model(config=settings.rasa_config, out_dir=settings.rasa_model_dir, force=args.force_train,
                         data=settings.rasa_data_dir, domain=settings.rasa_domain)
    ensure_kb(settings)
    scaled = build(settings, topology, model)

    def start() -> None:
        start_scaled(scaled)
        warn_about_tracker_store(scaled.settings)
        if settings.dev_mode:
            print(dev_banner(settings), flush=True)
        say(topology.describe())
        print(banner(settings), flush=True)

    return serve(scaled.services, start, settings.data_dir / SUPERVISOR_STATUS, stop_order(scaled.services))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.scale", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start the scaled-out stack, stop it on Ctrl-C")
    run.add_argument("--hubs", type=int, default=2, help="hub worker processes behind nginx (default 2)")
    run.add_argument("--rasa", type=int, default=2, help="Rasa replicas (default 2)")
    run.add_argument("--actions", choices=("per-rasa", "shared"), default="per-rasa",
                     help="one action server per Rasa replica (default), or one shared by all")
    run.add_argument("--postgres-port", type=int, default=5433)
    run.add_argument("--redis-port", type=int, default=6380)
    run.add_argument("--free-ports", action="store_true",
                     help="any free loopback ports for the internal processes (nginx stays on HUB_PORT)")
    run.add_argument("--force-train", action="store_true")
    run.add_argument("--dev", action="store_true", help="development mode (what `make run-scale` uses)")
    args = parser.parse_args(argv)
    try:
        return cmd_run(HubSettings.from_env(), args)
    except (LaunchError, ValueError) as exc:
        print(f"[supportbot] error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
