"""`make run-scale`'s pieces, each against the real program: the topology and the settings every child gets,
nginx in front of two small servers (WebSockets, X-Forwarded-For, a stopped worker), PostgreSQL and Redis with
their generated passwords."""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from websockets.sync.client import connect

from core.settings import HubSettings
from tests_support import free_port_dead as free_port
from tools import engines, scale
from tools.launcher import LaunchError


def _settings(tmp_path: Path, **extra: object) -> HubSettings:
    values = {"data_dir": tmp_path / "var", "hub_port": 8000, "rasa_port": 5005, "action_port": 5055,
              "session_secret": "s" * 40, "rasa_auth_token": "-token-with-a-dash", **extra}
    return HubSettings.from_env(**values)


def test_the_topology_puts_nginx_where_make_run_puts_the_hub(tmp_path: Path) -> None:
    topo = scale.plan(_settings(tmp_path), hubs=3, rasa=2)
    assert topo.public_port == 8000 and topo.hub_ports == (8001, 8002, 8003)
    assert topo.rasa_ports == (5005, 5006) and topo.action_ports == (5055, 5056) and not topo.shared_actions
    shared = scale.plan(_settings(tmp_path), hubs=2, rasa=2, shared_actions=True)
    assert shared.action_ports == (5055,) and shared.shared_actions and shared.action_port_for(1) == 5055
    assert "3 hub workers" in topo.describe() and "2 Rasa replicas" in topo.describe()
    with pytest.raises(LaunchError, match="at least 1"):
        scale.plan(_settings(tmp_path), hubs=0)


def test_a_taken_port_is_named_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        topo = scale.plan(_settings(tmp_path, hub_port=port - 1), hubs=1, rasa=1, free_ports=False)
        with pytest.raises(LaunchError, match=rf"{port} \(hub worker 1\).*already in use"):
            scale.check_ports_free(topo, "127.0.0.1")


def test_every_child_shares_the_engines_and_the_secrets(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    topo = scale.plan(settings, hubs=2, rasa=2)
    s = scale.build(settings, topo, tmp_path / "model.tar.gz")
    c = s.settings
    assert c.database_url.startswith("postgresql+psycopg2://supportbot:") and c.database_url.endswith(":5433/supportbot")
    assert c.redis_url == f"redis://:{s.redis.password}@127.0.0.1:6380/0"
    assert c.rasa_lock_store_url.endswith(":6380/1")
    assert c.rasa_endpoints == ("http://127.0.0.1:5005", "http://127.0.0.1:5006")
    assert c.forwarded_allow_ips == ("127.0.0.1",) and c.public_url == "http://127.0.0.1:8000"
    assert len(s.postgres.password) >= 32 and s.postgres.password != s.redis.password
    # the passwords are generated once and kept: a second start finds the same ones
    assert scale.build(settings, topo, tmp_path / "model.tar.gz").postgres.password == s.postgres.password

    hubs = [s.services[f"hub-{i}"] for i in (1, 2)]
    assert {h.env["SESSION_SECRET"] for h in hubs} == {"s" * 40}
    assert [h.argv[h.argv.index("--port") + 1] for h in hubs] == ["8001", "8002"]
    assert all("--forwarded-allow-ips" in h.argv and h.env["HUB_PORT"] == "8000" for h in hubs)
    assert all(h.env["PROMETHEUS_MULTIPROC_DIR"] == str(tmp_path / "var" / "scale" / "prometheus") for h in hubs)
    for i, action_port in ((1, 5055), (2, 5056)):
        rasa = s.services[f"rasa-{i}"]
        assert "--auth-token=-token-with-a-dash" in rasa.argv  # a token starting with "-" is not an option
        endpoints = yaml.safe_load(Path(rasa.argv[rasa.argv.index("--endpoints") + 1]).read_text())
        assert endpoints["action_endpoint"] == {"url": f"http://127.0.0.1:{action_port}/webhook"}
        assert endpoints["tracker_store"]["dialect"] == "postgresql" and endpoints["tracker_store"]["db"] == "rasa"
        assert endpoints["tracker_store"]["password"] == s.postgres.password
        assert endpoints["lock_store"] == {"type": "redis", "url": "127.0.0.1", "port": 6380, "db": 1,
                                           "password": s.redis.password}
    assert scale.stop_order(s.services)[0] == "nginx" and scale.stop_order(s.services)[-2:] == ["redis", "postgres"]


# -- nginx in front of two small servers ------------------------------------------------------------------------


def _worker_app(name: str) -> Starlette:
    async def who(request: Request) -> JSONResponse:
        return JSONResponse({"worker": name, "client": request.client.host if request.client else None,
                             "xff": request.headers.get("x-forwarded-for")})

    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        text = await ws.receive_text()
        await ws.send_text(f"{name}:{text}")
        await ws.close()

    return Starlette(routes=[Route("/who", who), WebSocketRoute("/channels/web/ws", echo),
                             WebSocketRoute("/console/ws", echo)])


class _Worker:
    def __init__(self, name: str) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(_worker_app(name), host="127.0.0.1", port=self.port,
                                                    log_level="warning", ws="websockets-sansio"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def nginx_pair(tmp_path: Path) -> Iterator[tuple[str, list[_Worker]]]:
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        pytest.skip("nginx is not installed: run `make test-deps`")
    workers = [_Worker("a"), _Worker("b")]
    proxy = engines.Nginx(tmp_path / "nginx", free_port(), tuple(w.port for w in workers))
    svc = proxy.service(tmp_path / "nginx.log")
    svc.start()
    try:
        svc.wait_healthy(20)
        yield f"http://127.0.0.1:{proxy.port}", workers
    finally:
        svc.stop()
        for w in workers:
            w.stop()


def test_nginx_spreads_http_and_websockets_over_the_workers_and_skips_a_stopped_one(
        nginx_pair: tuple[str, list[_Worker]]) -> None:
    base, workers = nginx_pair
    seen = {httpx.get(f"{base}/who", timeout=10, headers={"X-Forwarded-For": "203.0.113.9"}).json()["worker"]
            for _ in range(6)}
    assert seen == {"a", "b"}
    answer = httpx.get(f"{base}/who", timeout=10).json()
    assert answer["client"] == "127.0.0.1" and answer["xff"] == "127.0.0.1"  # the hub learns the client address

    for path in ("/channels/web/ws", "/console/ws"):  # both sockets are upgraded through the proxy
        with connect(base.replace("http", "ws") + path, open_timeout=10) as ws:
            ws.send("hi")
            assert ws.recv(timeout=10).endswith(":hi")

    workers[0].stop()  # a worker stops: nginx sends everything to the other, and nobody sees an error
    answers = [httpx.get(f"{base}/who", timeout=10) for _ in range(6)]
    assert [(r.status_code, r.json()["worker"]) for r in answers] == [(200, "b")] * 6
    with connect(base.replace("http", "ws") + "/channels/web/ws", open_timeout=10) as ws:
        ws.send("still")
        assert ws.recv(timeout=10) == "b:still"


def test_nginx_config_is_checked_before_start(tmp_path: Path) -> None:
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        pytest.skip("nginx is not installed: run `make test-deps`")
    bad = engines.Nginx(tmp_path / "nginx", 80, ())  # no upstream at all: nginx refuses the file
    with pytest.raises(LaunchError, match="nginx refused its configuration"):
        bad.write_config()


# -- PostgreSQL and Redis -------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_private_postgresql_asks_for_its_password_and_keeps_its_data(tmp_path: Path) -> None:
    if not list(Path("/usr/lib/postgresql").glob("*/bin/postgres")):
        pytest.skip("PostgreSQL is not installed: run `make test-deps`")
    base = Path(tempfile.mkdtemp(prefix="supportbot-scale-pg-"))  # pytest's tmp folders are closed to others,
    base.chmod(0o755)  # and PostgreSQL runs as the postgres user when we are root
    pg = engines.Postgres(base / "pg", free_port(), "pw-" + "x" * 30)
    assert pg.init() and not pg.init()  # the second start keeps the data folder
    svc = pg.service(tmp_path / "pg.log")
    svc.start()
    try:
        svc.wait_healthy(60)
        pg.create_databases("supportbot", "rasa")
        pg.create_databases("supportbot")  # already there: nothing happens
        import psycopg2

        with pytest.raises(psycopg2.OperationalError, match="password"):
            psycopg2.connect(host="127.0.0.1", port=pg.port, user=pg.user, password="wrong", dbname="rasa",
                             connect_timeout=5)
        from sqlalchemy import create_engine, text

        engine = create_engine(pg.url("supportbot"))
        with engine.connect() as conn:
            assert conn.execute(text("SELECT current_database()")).scalar() == "supportbot"
        engine.dispose()
    finally:
        svc.stop()
        shutil.rmtree(base, ignore_errors=True)
    assert svc.proc is not None and svc.proc.returncode == 0  # SIGINT: a fast, clean shutdown


def test_private_redis_asks_for_its_password(tmp_path: Path) -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed: run `make test-deps`")
    import redis

    rd = engines.Redis(tmp_path / "redis", free_port(), "secret-" + "y" * 30)
    svc = rd.service(tmp_path / "redis.log")
    svc.start()
    try:
        svc.wait_healthy(20)
        assert (tmp_path / "redis" / "redis.conf").stat().st_mode & 0o077 == 0  # the password is not for others
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(host="127.0.0.1", port=rd.port).ping()
        client = redis.Redis.from_url(rd.url(0))
        client.set("k", "v")
        assert client.get("k") == b"v"
        client.close()
    finally:
        svc.stop()


def test_a_generated_rasa_token_starting_with_a_dash_reaches_rasa_as_a_value(tmp_path: Path) -> None:
    from tools.launcher import rasa_service

    svc = rasa_service(_settings(tmp_path), tmp_path / "m.tar.gz", tmp_path / "e.yml", port=5005)
    assert "--auth-token=-token-with-a-dash" in svc.argv and "-token-with-a-dash" not in svc.argv
