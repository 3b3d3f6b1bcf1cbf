"""Serve the custom actions: ``python -m actions --host 127.0.0.1 --port 5055``."""

from __future__ import annotations

import argparse
import logging
import sys

from encoders.runtime import pin_environment

pin_environment()  # before torch / FAISS are imported: one math thread per process

import uvicorn  # noqa: E402

from core.logs import configure_logging  # noqa: E402
from core.settings import ActionSettings  # noqa: E402

logger = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the server until interrupted."""
    settings = ActionSettings.from_env()
    parser = argparse.ArgumentParser(prog="python -m actions", description="Brightcart action server")
    parser.add_argument("--host", default=settings.host, help=f"interface to listen on (default {settings.host})")
    parser.add_argument("--port", type=int, default=settings.action_port, help=f"port (default {settings.action_port})")
    parser.add_argument("--log-level", default=settings.log_level, help=f"logging level (default {settings.log_level})")
    parser.add_argument("--no-warm-up", action="store_true", help="load the knowledge base on first use, not at start")
    args = parser.parse_args(argv)

    configure_logging(args.log_level)  # one format, PII redacted; no line per order lookup (failures are ours)
    from actions.server import create_app

    app = create_app(settings=settings, warm_up=not args.no_warm_up)
    logger.info("action server listening on http://%s:%d/webhook", args.host, args.port)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level.lower(), access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
