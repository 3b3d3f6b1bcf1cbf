"""The shared engines of the scaled-out stack, as private loopback instances under `DATA_DIR/scale/`:
PostgreSQL (the hub's database and Rasa's tracker store), Redis (shared hub state and Rasa's lock store) and
nginx (in front of the hub workers). Each is a `tools.launcher.Service`, supervised like the rest.

Security by default even on loopback: PostgreSQL asks for a password (scram-sha-256) and Redis for one
(`requirepass`); both are generated once into `DATA_DIR/secrets/` like the hub's own secrets.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from core.settings import PROJECT_ROOT
from tools.launcher import LaunchError, Service, child_env

PROXY_RULES = PROJECT_ROOT / "deploy" / "nginx" / "supportbot-proxy.conf"
INSTALL_HINT = "`make run-scale` installs it from Debian (scripts/install-scale-deps.sh)"


def _owned_by(path: Path, user: str | None) -> None:
    if user:
        shutil.chown(path, user, user)


def _postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        raise LaunchError(f"PostgreSQL is not installed: {INSTALL_HINT}")
    return Path(found[-1]).parent


@dataclass(frozen=True)
class Postgres:
    """A private PostgreSQL server: its data folder under `root`, listening on 127.0.0.1:`port` only."""

    root: Path
    port: int
    password: str
    user: str = "supportbot"
    host: str = "127.0.0.1"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def system_user(self) -> str | None:
        """initdb and postgres refuse to run as root: as root, they run as Debian's `postgres` user."""
        return "postgres" if os.geteuid() == 0 else None

    def url(self, database: str, driver: str = "postgresql+psycopg2") -> str:
        return f"{driver}://{self.user}:{self.password}@{self.host}:{self.port}/{database}"

    def init(self) -> bool:
        """Create the data folder (initdb) unless it exists; True when it was created now."""
        if (self.data / "PG_VERSION").exists():
            return False
        bindir = _postgres_bin()
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "sock").mkdir(exist_ok=True)
        for path in (self.root, self.root / "sock"):
            _owned_by(path, self.system_user)
        pwfile = self.root / ".initdb-password"
        pwfile.write_text(self.password)
        pwfile.chmod(0o600)
        _owned_by(pwfile, self.system_user)
        try:
            proc = subprocess.run(
                [str(bindir / "initdb"), "-D", str(self.data), "-U", self.user, f"--pwfile={pwfile}",
                 "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"],
                user=self.system_user, group=self.system_user, extra_groups=[] if self.system_user else None,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=child_env(), cwd=self.root)
        finally:
            pwfile.unlink(missing_ok=True)
        if proc.returncode != 0:
            shutil.rmtree(self.data, ignore_errors=True)
            hint = (f"\nPostgreSQL runs as the `postgres` user here: every folder above {self.root} must be "
                    "reachable by it (or set DATA_DIR to such a folder)") if self.system_user else ""
            raise LaunchError(f"initdb failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}{hint}")
        return True

    def service(self, log: Path) -> Service:
        return Service(
            "PostgreSQL",
            [str(_postgres_bin() / "postgres"), "-D", str(self.data), "-h", self.host, "-p", str(self.port),
             "-k", str(self.root / "sock"),
             # N hubs x (10 + 10 pooled) and M Rasa replicas x (5 + 10): more than the default 100
             "-c", "max_connections=300"],
            "", log, check=self.ready, stop_signal=signal.SIGINT, user=self.system_user,
            env=child_env(LC_ALL="C.UTF-8"),
        )

    def _connect(self, database: str = "postgres"):  # type: ignore[no-untyped-def]
        import psycopg2

        return psycopg2.connect(host=self.host, port=self.port, user=self.user, password=self.password,
                                dbname=database, connect_timeout=2)

    def ready(self) -> bool:
        conn = self._connect()
        conn.close()
        return True

    def create_databases(self, *names: str) -> None:
        """Create the databases that do not exist yet."""
        conn = self._connect()
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                for name in names:
                    cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                    if cur.fetchone() is None:
                        cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()


@dataclass(frozen=True)
class Redis:
    """A private Redis server on 127.0.0.1:`port`, with a password and an append-only file under `root`."""

    root: Path
    port: int
    password: str
    host: str = "127.0.0.1"

    def url(self, db: int) -> str:
        return f"redis://:{self.password}@{self.host}:{self.port}/{db}"

    def write_config(self) -> Path:
        """The config file (mode 0600: it holds the password, which a command line would show to `ps`)."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / "redis.conf"
        path.write_text("\n".join([
            "# Written by tools.scale; edit tools/engines.py, not this file.",
            f"bind {self.host}", f"port {self.port}", "protected-mode yes", "daemonize no",
            f'dir "{self.root}"', 'logfile ""', f'requirepass "{self.password}"',
            # Login throttles and leases survive a restart; locks and presence expire by themselves.
            "appendonly yes", "appendfsync everysec", 'save ""', "",
        ]))
        path.chmod(0o600)
        return path

    def service(self, log: Path) -> Service:
        server = shutil.which("redis-server")
        if server is None:
            raise LaunchError(f"redis-server is not installed: {INSTALL_HINT}")
        return Service("Redis", [server, str(self.write_config())], "", log, check=self.ready)

    def ready(self) -> bool:
        import redis

        client = redis.Redis(host=self.host, port=self.port, password=self.password, socket_timeout=2,
                             socket_connect_timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()


@dataclass(frozen=True)
class Nginx:
    """nginx on `host:port` in front of the hub workers: plain HTTP and both WebSockets (the web chat's and the
    console's) go to any worker, so no sticky sessions are needed; the client's address is passed on in
    `X-Forwarded-For`, which the hubs believe from 127.0.0.1 only (FORWARDED_ALLOW_IPS)."""

    root: Path
    port: int
    upstreams: tuple[int, ...]
    host: str = "127.0.0.1"
    max_body_bytes: int = 16 * 1024 * 1024

    @property
    def health_url(self) -> str:
        return f"http://{self.host}:{self.port}/nginx-health"

    def config(self) -> str:
        tmp = self.root / "tmp"
        servers = "\n".join(f"        server {self.host}:{p} max_fails=1 fail_timeout=3s;" for p in self.upstreams)
        # The proxy rules are the deployed ones (deploy/nginx/), so what `make run-scale` tests is what ships.
        proxy = f"            include {PROXY_RULES};"
        user = "user nobody nogroup;\n" if os.geteuid() == 0 else ""
        return f"""# Written by tools.scale at every start; edit tools/engines.py, not this file.
{user}daemon off;
worker_processes 1;
pid {self.root}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    client_max_body_size {self.max_body_bytes};
    server_tokens off;
    # "Connection: upgrade" for WebSockets, nothing otherwise (so connections to the workers are kept alive).
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      '';
    }}
    upstream supportbot_hubs {{
        least_conn;  # WebSockets are long-lived: new ones go to the worker holding fewest
{servers}
        keepalive 64;
    }}
    server {{
        listen {self.host}:{self.port};
        location = /nginx-health {{ return 200 "ok\\n"; }}
        location ~ ^/(channels/web/ws|console/ws)$ {{
{proxy}
            proxy_buffering off;
            proxy_read_timeout 1h;  # the hub pings every socket well within this
            proxy_send_timeout 1h;
        }}
        location / {{
{proxy}
            proxy_read_timeout 120s;
        }}
    }}
}}
"""

    def write_config(self) -> Path:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(nginx).exists():
            raise LaunchError(f"nginx is not installed: {INSTALL_HINT}")
        for sub in ("", "tmp", "tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
            if sub.startswith("tmp") and os.geteuid() == 0:
                shutil.chown(self.root / sub, "nobody", "nogroup")  # the workers write request bodies there
        path = self.root / "nginx.conf"
        path.write_text(self.config())
        test = subprocess.run([nginx, "-t", "-q", "-p", str(self.root), "-c", str(path), "-e", "stderr"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if test.returncode != 0:
            raise LaunchError(f"nginx refused its configuration {path}:\n{test.stdout}")
        return path

    def service(self, log: Path) -> Service:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        path = self.write_config()
        return Service("nginx", [nginx, "-p", str(self.root), "-c", str(path), "-e", "stderr"], self.health_url, log)
