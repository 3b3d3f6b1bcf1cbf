"""A threaded `http.server` on a free loopback port, with a request log and programmable failures."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Call:
    """One request the fake received."""

    method: str  # HTTP method
    path: str
    headers: dict[str, str]
    params: dict[str, Any]  # JSON body, or form/query fields (repeated fields become lists)
    at: float = field(default_factory=time.monotonic)


@dataclass
class Reply:
    status: int
    body: Any = None  # dict/list → JSON; str → UTF-8; bytes → as they are
    headers: dict[str, str] = field(default_factory=dict)


def parse_form(raw: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in parse_qsl(raw, keep_blank_values=True):
        if k in out:
            out[k] = out[k] if isinstance(out[k], list) else [out[k]]
            out[k].append(v)
        else:
            out[k] = v
    return out


class FakeServer:
    """Subclasses implement `handle(call) -> Reply`. Use as a context manager or call `start()`/`stop()`."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8", errors="replace") if length else ""
                split = urlsplit(self.path)
                ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
                if ctype == "application/json" and raw:
                    try:
                        params: dict[str, Any] = json.loads(raw)
                    except ValueError:
                        params = {"_raw": raw}
                else:
                    params = parse_form(raw)
                params.update({k: v for k, v in parse_form(split.query).items() if k not in params})
                call = Call(self.command, split.path, {k.lower(): v for k, v in self.headers.items()}, params)
                reply = outer.handle(call)
                with outer.changed:
                    outer.calls.append(call)
                    outer.changed.notify_all()
                body = reply.body
                if isinstance(body, bytes):
                    data = body
                else:
                    data = (json.dumps(body) if isinstance(body, (dict, list, bool)) else str(body or "")).encode()
                self.send_response(reply.status)
                headers = {"Content-Type": "application/json", **reply.headers}
                for k, v in headers.items():
                    self.send_header(k, v)
                if "Content-Length" not in headers:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_HEAD = do_PUT = _serve

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def handle(self, call: Call) -> Reply:  # pragma: no cover - overridden
        return Reply(404, {"error": "not found"})

    def start(self) -> "FakeServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_for(self, predicate: Callable[[list[Call]], Any], timeout: float = 10.0) -> Any:
        """Block until `predicate(calls)` is truthy; return its value (AssertionError on timeout)."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                value = predicate(list(self.calls))
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting; calls so far: {[(c.method, c.path) for c in self.calls]}")
                self.changed.wait(left)
