"""Fixtures shared by every test package: a private PostgreSQL server."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests_support import free_port_dead

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tests never read the developer's .env.
os.environ["SUPPORTBOT_ENV_FILE"] = "/nonexistent/.env"


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throw-away PostgreSQL server on loopback (Debian's packages; `make test-deps` installs them)."""
    bindir = _pg_bin()
    if bindir is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed: `make test-deps` installs it")
        pytest.skip("PostgreSQL is not installed: run `make test-deps`")
    base = Path(tempfile.mkdtemp(prefix="supportbot-pg-"))
    data, sockets = base / "data", base / "sock"
    sockets.mkdir()
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(base, "postgres")
        shutil.chown(sockets, "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    port = free_port_dead()
    subprocess.run(run_as + [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run(
        run_as + [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(base / "log"), "-w", "-o",
                  f"-h 127.0.0.1 -p {port} -k {sockets} -c fsync=off", "start"],
        check=True, stdout=subprocess.DEVNULL,
    )
    try:
        subprocess.run([str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
                        "supportbot"], check=True)
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/supportbot"
    finally:
        subprocess.run(run_as + [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       stdout=subprocess.DEVNULL, check=False)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A throw-away Redis server on loopback (Debian's redis-server; `make test-deps` installs it)."""
    server = shutil.which("redis-server")
    if server is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed: `make test-deps` installs it")
        pytest.skip("redis-server is not installed: run `make test-deps`")
    base = Path(tempfile.mkdtemp(prefix="supportbot-redis-"))
    port = free_port_dead()
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(base),
                             "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import redis

        client = redis.Redis(host="127.0.0.1", port=port)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                import time

                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(base, ignore_errors=True)
