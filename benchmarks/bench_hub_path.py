"""The hub's own cost per bot-answered message, side by side with the commit the hub redesign started from.

    make bench-hub-path        # python -m benchmarks.bench_hub_path --save

Each round runs `benchmarks/hub_path_driver.py` in a fresh process, alternately against a checkout of the
baseline commit (a temporary `git worktree`, default b3f5637) and this working tree, so machine drift hits both
alike. Rasa is stubbed in-process; one math thread. Reports, per side, the median over rounds of each round's
p50 CPU time per message, and the database transactions per bot-answered message; writes
`benchmarks/results/hub-path.{json,md}` with `--save`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DRIVER = Path(__file__).resolve().parent / "hub_path_driver.py"
RESULTS = ROOT / "benchmarks" / "results"
BASELINE = "b3f5637"


def _run(tree: Path, messages: int, conversations: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1",
           "SUPPORTBOT_ENV_FILE": "/nonexistent/.env"}
    proc = subprocess.run([sys.executable, str(DRIVER), "--messages", str(messages), "--conversations",
                           str(conversations)], cwd=tree, env=env, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise SystemExit(f"the driver failed in {tree}:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    med = lambda key: round(statistics.median(r[key] for r in runs), 3)  # noqa: E731
    return {"hub_cpu_ms_p50": med("hub_cpu_ms_p50"), "hub_cpu_ms_p95": med("hub_cpu_ms_p95"),
            "wall_ms_p50": med("wall_ms_p50"), "transactions_per_bot_answer": med("transactions_per_bot_answer"),
            "transactions_max": max(r["transactions_max"] for r in runs), "rounds": runs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default=BASELINE, help="the commit to compare with (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per side, alternating (default 3)")
    parser.add_argument("--messages", type=int, default=300, help="messages per round (default 300)")
    parser.add_argument("--conversations", type=int, default=30)
    parser.add_argument("--save", action="store_true", help="write benchmarks/results/hub-path.{json,md}")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="hub-path-baseline-") as tmp:
        base_tree = Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base_tree), args.baseline],
                       check=True, capture_output=True)
        try:
            load_before = os.getloadavg()
            started = time.monotonic()
            runs: dict[str, list[dict[str, Any]]] = {"baseline": [], "current": []}
            for n in range(args.rounds):
                for side, tree in (("baseline", base_tree), ("current", ROOT)):
                    print(f"[bench-hub-path] round {n + 1}/{args.rounds}: {side} …", file=sys.stderr, flush=True)
                    runs[side].append(_run(tree, args.messages, args.conversations))
            load_after = os.getloadavg()
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base_tree)],
                           capture_output=True)
    base, cur = _summary(runs["baseline"]), _summary(runs["current"])
    ratio = round(cur["hub_cpu_ms_p50"] / base["hub_cpu_ms_p50"], 3)
    result = {
        "transactions_per_bot_answer": cur["transactions_per_bot_answer"],
        "hub_cpu_ms_p50": cur["hub_cpu_ms_p50"],
        "baseline_commit": args.baseline,
        "baseline_transactions_per_bot_answer": base["transactions_per_bot_answer"],
        "baseline_hub_cpu_ms_p50": base["hub_cpu_ms_p50"],
        "cpu_ratio_current_to_baseline": ratio,
        "targets": {"transactions_per_bot_answer": "<= 3", "hub_cpu_ms_p50": "<= 0.5 x baseline"},
        "met": {"transactions": cur["transactions_per_bot_answer"] <= 3, "cpu": ratio <= 0.5},
        "baseline": base,
        "current": cur,
        "load_average": {"before": [round(x, 2) for x in load_before], "after": [round(x, 2) for x in load_after]},
        "duration_s": round(time.monotonic() - started, 1),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "make bench-hub-path  (python -m benchmarks.bench_hub_path --save)",
        "setup": f"{args.rounds} alternating rounds per side, {args.messages} web-chat messages over "
                 f"{args.conversations} conversations each, Rasa stubbed in-process (a KB answer + X-Rasa-Nlu), "
                 "SQLite, one math thread, default INFO logging",
    }
    print(json.dumps({k: v for k, v in result.items() if k not in ("baseline", "current")}, indent=2))
    if args.save:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "hub-path.json").write_text(json.dumps(result, indent=2) + "\n")
        (RESULTS / "hub-path.md").write_text(_markdown(result))
    return 0


def _markdown(r: dict[str, Any]) -> str:
    b, c = r["baseline"], r["current"]
    return f"""# Hub path: cost per bot-answered message

`{r['command']}` — {r['date']}, {r['duration_s']} s; load average before {r['load_average']['before']},
after {r['load_average']['after']}. {r['setup']}.

| | baseline {r['baseline_commit']} | this tree | target |
|---|---|---|---|
| database transactions per bot answer | {b['transactions_per_bot_answer']} | **{c['transactions_per_bot_answer']}** | ≤ 3 |
| hub CPU per message, p50 (ms) | {b['hub_cpu_ms_p50']} | **{c['hub_cpu_ms_p50']}** ({r['cpu_ratio_current_to_baseline']} ×) | ≤ 0.5 × |
| hub CPU per message, p95 (ms) | {b['hub_cpu_ms_p95']} | {c['hub_cpu_ms_p95']} | |
| wall time per message, p50 (ms) | {b['wall_ms_p50']} | {c['wall_ms_p50']} | |

Per round (CPU p50 ms): baseline {[x['hub_cpu_ms_p50'] for x in b['rounds']]}, this tree
{[x['hub_cpu_ms_p50'] for x in c['rounds']]}.
"""


if __name__ == "__main__":
    raise SystemExit(main())
