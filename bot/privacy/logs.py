"""The stack's own log files (DATA_DIR/logs: hub.log, rasa.log, actions.log and their rotations).

Log records are PII-redacted when written (core/logs.py), but they name conversation ids and, in a few lines,
channel user ids. An export lists the lines that name the customer's; an erasure masks those ids in place with
`#`, byte for byte, so the files keep their length and the processes appending to them lose nothing. Logs sent
elsewhere (journald, a log collector) are beyond reach: the report says so.
"""

from __future__ import annotations

import mmap
from pathlib import Path

MIN_NEEDLE = 6  # shorter ids would match unrelated numbers


class LogFiles:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _files(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir() if p.is_file() and ".log" in p.name)

    @staticmethod
    def _needles(ids: set[str]) -> list[bytes]:
        return sorted({i.encode() for i in ids if len(i) >= MIN_NEEDLE}, key=len, reverse=True)

    def lines(self, ids: set[str]) -> list[dict[str, str]]:
        """The log lines naming any of `ids`: {"file", "line"}."""
        needles = self._needles(ids)
        found: list[dict[str, str]] = []
        for path in self._files() if needles else []:
            with path.open("rb") as f:
                for raw in f:
                    if any(n in raw for n in needles):
                        found.append({"file": path.name, "line": raw.decode("utf-8", "replace").rstrip("\n")})
        return found

    def mask(self, ids: set[str]) -> int:
        """Overwrite every occurrence of `ids` with '#'; the number of occurrences masked."""
        needles = self._needles(ids)
        total = 0
        for path in self._files() if needles else []:
            if path.stat().st_size == 0:
                continue
            with path.open("r+b") as f, mmap.mmap(f.fileno(), 0) as view:
                for needle in needles:
                    at = view.find(needle)
                    while at != -1:
                        view[at:at + len(needle)] = b"#" * len(needle)
                        total += 1
                        at = view.find(needle, at + len(needle))
                view.flush()
        return total
