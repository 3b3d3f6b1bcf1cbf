"""What every channel's HTTP client shares."""

from __future__ import annotations

import functools
import ssl


@functools.lru_cache(maxsize=1)
def shared_ssl_context() -> ssl.SSLContext:
    """One verified TLS context for every channel HTTP client (loading the CA bundle costs ~0.1 s each time)."""
    return ssl.create_default_context()
