"""A PostgreSQL outage of a few seconds (a restart, a failover) delays a unit of work instead of failing it."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text

from bot.store.db import Database, make_engine

pytestmark = pytest.mark.postgres


class CuttableProxy:
    """A TCP proxy in front of the database server that can drop every connection and refuse new ones for a
    while: what clients see while PostgreSQL restarts."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.down_until = 0.0
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            client, _ = self.listener.accept()
            if time.monotonic() < self.down_until:
                client.close()  # the server is not back yet
                continue
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def outage(self, seconds: float) -> None:
        self.down_until = time.monotonic() + seconds
        with self._lock:
            for s in self._open:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._open.clear()


@pytest.fixture
def proxied(postgres_url: str) -> Iterator[tuple[str, CuttableProxy]]:
    parts = urlsplit(postgres_url)
    proxy = CuttableProxy((parts.hostname or "127.0.0.1", parts.port or 5432))
    yield postgres_url.replace(f":{parts.port}/", f":{proxy.port}/"), proxy
    proxy.listener.close()


def test_a_write_during_a_database_restart_waits_for_the_server_and_is_stored_once(proxied) -> None:
    url, proxy = proxied
    engine = make_engine(url)
    db = Database(engine, outage_s=20)
    db.write_sync(lambda tx: tx.conn.execute(text("CREATE TABLE IF NOT EXISTS outage_probe (n int)")))
    db.write_sync(lambda tx: tx.conn.execute(text("DELETE FROM outage_probe")))

    async def during_outage() -> float:
        proxy.outage(3.0)  # every pooled connection dies; new ones are refused for 3 s
        started = time.monotonic()
        await db.write(lambda tx: tx.conn.execute(text("INSERT INTO outage_probe VALUES (1)")))
        return time.monotonic() - started

    waited = asyncio.run(during_outage())
    assert waited >= 2.5  # it waited for the server instead of failing at once
    assert db.read_sync(lambda conn: conn.execute(text("SELECT count(*) FROM outage_probe")).scalar()) == 1
    engine.dispose()


def test_an_outage_longer_than_the_budget_surfaces_the_error(proxied) -> None:
    url, proxy = proxied
    engine = make_engine(url)
    db = Database(engine, outage_s=1.5)
    db.read_sync(lambda conn: conn.execute(text("SELECT 1")).scalar())
    proxy.outage(30.0)
    from sqlalchemy.exc import OperationalError

    started = time.monotonic()
    with pytest.raises(OperationalError):
        db.read_sync(lambda conn: conn.execute(text("SELECT 1")).scalar())
    assert time.monotonic() - started < 10
    engine.dispose()
