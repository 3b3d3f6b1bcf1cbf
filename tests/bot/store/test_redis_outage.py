"""A Redis restart under the hub: commands (locks, presence, leases) wait for it instead of failing."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from bot.locks import RedisLocks
from bot.store.redis import connect, retries_for
from tests_support import free_port_dead


class RedisServer:
    """A private redis-server that a test can stop and start again on the same port."""

    def __init__(self) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            pytest.skip("redis-server is not installed: run `make test-deps`")
        self.dir = Path(tempfile.mkdtemp(prefix="supportbot-redis-outage-"))
        self.port = free_port_dead()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
                                      str(self.dir), "--save", "", "--appendonly", "no"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def server() -> Iterator[RedisServer]:
    s = RedisServer()
    s.start()
    try:
        yield s
    finally:
        s.stop()
        shutil.rmtree(s.dir, ignore_errors=True)


def test_the_retries_span_the_outage() -> None:
    assert retries_for(30.0) == 18  # 0.2 + 0.4 + 0.8 + 1.6 + 14 x 2.0 s ≥ 30 s
    assert retries_for(0.5) == 2


def test_a_lock_taken_while_redis_restarts_waits_for_it(server: RedisServer) -> None:
    async def scenario() -> tuple[str | None, float]:
        client = connect(server.url, outage_s=15.0)
        locks = RedisLocks(client)
        async with locks("customer:web:v1"):  # connected before the outage
            pass
        server.stop()
        restart = asyncio.get_running_loop().run_in_executor(None, lambda: (time.sleep(2.0), server.start()))
        t0 = time.monotonic()
        async with locks("customer:web:v1"):  # the customer's next message arrives during the restart
            await client.set("presence:agent:1", "online")
        waited = time.monotonic() - t0
        await restart
        value = await client.get("presence:agent:1")
        await client.aclose()
        return (value.decode() if value else None), waited

    value, waited = asyncio.run(scenario())
    assert value == "online"
    assert waited >= 1.5  # it did wait for the restart rather than find Redis up


def test_an_outage_longer_than_the_ride_through_fails_with_a_connection_error(server: RedisServer) -> None:
    async def scenario() -> None:
        client = connect(server.url, outage_s=0.5)
        await client.ping()
        server.stop()
        try:
            with pytest.raises(RedisConnectionError):
                await client.set("k", "v")
        finally:
            await client.aclose()

    asyncio.run(scenario())
