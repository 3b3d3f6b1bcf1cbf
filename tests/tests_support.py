"""Helpers importable from any test module (the tests folder is on sys.path via conftest)."""

from __future__ import annotations

import socket


def free_port_dead() -> int:
    """A loopback port with nothing listening on it (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: One embedding cache for every knowledge-base index the tests build (git-ignored, kept between runs): the
#: shipped encoder embeds the starter FAQ once, not once per session fixture.
TEST_EMBEDDINGS = __import__("pathlib").Path(__file__).resolve().parents[1] / "var" / "test-embeddings"
