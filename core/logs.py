"""Logging for the hub and the action server: one format, PII redacted from every record, and the libraries' chatter
(connection-level lines, FAISS's CPU-feature probing) kept out of the way."""

from __future__ import annotations

import logging

from core.pii import RedactingFilter

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def configure_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    if not any(isinstance(f, RedactingFilter) for h in root.handlers for f in h.filters):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(_FORMAT))
        handler.addFilter(RedactingFilter())
        root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "uvicorn.access", "faiss.loader"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
