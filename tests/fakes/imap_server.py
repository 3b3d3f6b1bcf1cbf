"""A small IMAP4rev1 server on loopback (no TLS) holding one mailbox, enough for imaplib's LOGIN, SELECT,
UID SEARCH UNSEEN, UID FETCH (BODY.PEEK[]), UID STORE +FLAGS (\\Seen) and LOGOUT."""

from __future__ import annotations

import re
import socketserver
import threading
from typing import Any


class FakeImap:
    def __init__(self, username: str, password: str) -> None:
        self.username, self.password = username, password
        self.messages: dict[int, tuple[bytes, set[str]]] = {}  # uid → (raw message, flags)
        self.lock = threading.Lock()
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line: str) -> None:
                self.wfile.write(line.encode() + b"\r\n")

            def handle(self) -> None:
                self.reply("* OK IMAP4rev1 fake ready")
                while True:
                    raw = self.rfile.readline()
                    if not raw:
                        return
                    tag, _, rest = raw.decode().strip().partition(" ")
                    command, _, args = rest.partition(" ")
                    if not outer.serve(self, tag, command.upper(), args):
                        return

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def add(self, raw: bytes) -> int:
        with self.lock:
            uid = max(self.messages, default=0) + 1
            self.messages[uid] = (raw, set())
        return uid

    def seen(self, uid: int) -> bool:
        return "\\Seen" in self.messages[uid][1]

    def serve(self, h: Any, tag: str, command: str, args: str) -> bool:
        if command == "CAPABILITY":
            h.reply("* CAPABILITY IMAP4rev1")
        elif command == "LOGIN":
            user, password = [a.strip('"') for a in args.split(" ", 1)]
            if (user, password) != (self.username, self.password):
                h.reply(f"{tag} NO [AUTHENTICATIONFAILED] invalid credentials")
                return True
        elif command == "SELECT":
            h.reply(f"* {len(self.messages)} EXISTS")
        elif command == "UID":
            sub, _, rest = args.partition(" ")
            sub = sub.upper()
            with self.lock:
                if sub == "SEARCH":
                    unseen = [str(u) for u, (_, flags) in sorted(self.messages.items()) if "\\Seen" not in flags]
                    h.reply("* SEARCH " + " ".join(unseen))
                elif sub == "FETCH":
                    uid = int(rest.split(" ", 1)[0])
                    data = self.messages[uid][0]
                    h.wfile.write(f"* {uid} FETCH (UID {uid} BODY[] {{{len(data)}}}\r\n".encode() + data + b")\r\n")
                elif sub == "STORE":
                    uid = int(rest.split(" ", 1)[0])
                    self.messages[uid][1].update(re.findall(r"\\\w+", rest))
        elif command == "LOGOUT":
            h.reply("* BYE")
            h.reply(f"{tag} OK LOGOUT completed")
            return False
        h.reply(f"{tag} OK {command} completed")
        return True

    def __enter__(self) -> "FakeImap":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
