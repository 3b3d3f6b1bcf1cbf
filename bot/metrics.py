"""Counters and latency summaries, served in Prometheus' text format at `/metrics`."""

from __future__ import annotations

import threading
from collections import defaultdict


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = defaultdict(float)
        self.latencies: dict[str, list[float]] = defaultdict(list)

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        with self._lock:
            self.counters[(name, tuple(sorted(labels.items())))] += amount

    def observe(self, name: str, seconds: float) -> None:
        with self._lock:
            values = self.latencies[name]
            values.append(seconds)
            if len(values) > 2000:  # keep a recent window
                del values[:1000]

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            for (name, labels), value in sorted(self.counters.items()):
                label_text = ",".join(f'{k}="{v}"' for k, v in labels)
                lines.append(f"supportbot_{name}{{{label_text}}} {value:g}")
            for name, values in sorted(self.latencies.items()):
                ordered = sorted(values)
                for q in (0.5, 0.95, 0.99):
                    v = ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0
                    lines.append(f'supportbot_{name}_seconds{{quantile="{q}"}} {v:.6f}')
                lines.append(f"supportbot_{name}_seconds_count {len(values)}")
        return "\n".join(lines) + "\n"
