"""A bulk notification: how long the API takes to accept it, and how fast the hub sends it when the channel's
rate limit is not what holds it back.

    make bench-notifications        # python -m benchmarks.bench_notifications --save

One hub in process (SQLite), the SMS channel through the real twilio client to the fake Twilio API on loopback
(`tests/fakes`), `NOTIFY_RATE_LIMITS=sms=100000/1` so the hub's own path is what is measured: the transaction
that takes a row, stores the message and its outbox row, the delivery worker's send and its record. Reports
the POST's latency for N recipients and the sending throughput (notifications handed to Twilio per second);
writes `benchmarks/results/notifications.{json,md}` with `--save`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def run(recipients: int) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from bot.app import create_app
    from core.settings import HubSettings
    from fakes.twilio_api import FakeTwilio

    sid, token = "AC" + "1" * 32, "bench-token"
    with tempfile.TemporaryDirectory(prefix="bench-notify-") as tmp, FakeTwilio(sid, token) as twilio:
        settings = HubSettings.from_env(
            data_dir=Path(tmp), enabled_channels=("web", "sms"), public_url="https://support.example.test",
            twilio_account_sid=sid, twilio_auth_token=token, twilio_sms_from="+15005550006",
            twilio_api_base_url=twilio.url, notify_rate_limits=("sms=100000/1",), notify_poll_s=0.05,
            notify_max_recipients=max(recipients, 1), log_level="WARNING", agent_api_token="bench")
        with TestClient(create_app(settings)) as client:
            headers = {"Authorization": "Bearer bench", "X-Agent": "bench"}
            body = {"text": "Our store opens at 10 tomorrow.",
                    "recipients": [{"channel": "sms", "customer": f"+1555{n:07d}"} for n in range(recipients)]}
            started = time.perf_counter()
            resp = client.post("/api/notifications", headers=headers, json=body)
            accepted = time.perf_counter()
            assert resp.status_code == 202, resp.text
            deadline = time.monotonic() + 1800
            while len(twilio.messages()) < recipients:
                if time.monotonic() > deadline:
                    raise SystemExit(f"only {len(twilio.messages())} of {recipients} sent in 30 minutes")
                time.sleep(0.05)
            done = time.perf_counter()
    return {"recipients": recipients, "post_s": round(accepted - started, 3),
            "send_s": round(done - accepted, 2), "sent_per_s": round(recipients / (done - accepted), 1)}


def markdown(r: dict[str, Any]) -> str:
    rows = "\n".join(f"| {x['recipients']} | {x['post_s']} | {x['send_s']} | {x['sent_per_s']} |" for x in r["runs"])
    return f"""# Bulk notifications

`{r['command']}` — {r['date']}; load average before {r['load_average']['before']}, after
{r['load_average']['after']}; {r['setup']}.

| recipients | POST /api/notifications (s) | all handed to Twilio (s) | notifications sent per second |
|---:|---:|---:|---:|
{rows}

The POST stores one row per recipient in one transaction and returns; sending is the scheduler's, one
transaction per notification (take the row, store the message and its outbox row) plus the delivery worker's
send and record. In production the channel's rate limit (`NOTIFY_RATE_LIMITS`, e.g. one SMS a second per
Twilio long code) is far below this.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipients", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--save", action="store_true", help="write benchmarks/results/notifications.{json,md}")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    runs = [run(n) for n in args.recipients]
    load_after = os.getloadavg()
    result = {
        "command": "python -m benchmarks.bench_notifications " + " ".join(sys.argv[1:]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "load_average": {"before": [round(x, 2) for x in load_before], "after": [round(x, 2) for x in load_after]},
        "setup": "one hub in process on SQLite, SMS through the twilio client to the local fake, 2 shared cores",
        "runs": runs,
    }
    print(json.dumps(result, indent=2))
    if args.save:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "notifications.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        (RESULTS / "notifications.md").write_text(markdown(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
