"""Fixtures shared by every test package: a private PostgreSQL server."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests_support import free_port_dead
from tools.postgres import pg_bin, private_postgres

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tests never read the developer's .env.
os.environ["SUPPORTBOT_ENV_FILE"] = "/nonexistent/.env"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throw-away PostgreSQL server on loopback (Debian's packages; `make test-deps` installs them)."""
    if pg_bin() is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed: `make test-deps` installs it")
        pytest.skip("PostgreSQL is not installed: run `make test-deps`")
    with private_postgres(free_port_dead()) as url:
        yield url
