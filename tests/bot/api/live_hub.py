"""A hub app served by a real uvicorn server on a free loopback port, in a thread (for browsers and API fuzzers,
which speak real HTTP)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from tests_support import free_port_dead


@contextmanager
def serve(app: Any, timeout_s: float = 30.0) -> Iterator[str]:
    """Run `app` (lifespan included) until the block ends; yields its base URL."""
    port = free_port_dead()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="live-hub", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the hub did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout_s)
