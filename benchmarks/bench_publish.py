"""Publishing from the studio without downtime: how long until a change is live, and whether a customer notices.

    make bench-publish         # python -m benchmarks.bench_publish --save  (about 5 minutes)

The real stack (trained Rasa, action server, hub) runs on a private copy of the project's content (its own git
repository, models and index folders: the repository is never touched), as the studio's integration tests do.
Then, through the studio's HTTP API as the page uses it:

1. **kb_only_s**: an editor changes one FAQ answer (a new sentence) and publishes; the clock runs from the save
   to the first web-chat customer who gets the new sentence in the answer. No training, no restart. Median of
   `--kb-runs` runs (each run listed).
2. **full_s**: an editor adds one example to an intent and publishes; the clock runs from the save until the
   new model is the one Rasa serves (`/status`) and the publish says live: check, index, training in a scratch
   folder, the evaluation gate against the live model, `PUT /model`.
3. **dropped_messages**: during that full publish, `--customers` web-chat customers keep writing; every message
   must get exactly one bot reply (`doubled_messages` counts the ones answered twice; `repeated_frames` the bot
   messages pushed twice on the socket, which the widget shows once, by their id).

Results: `benchmarks/results/publish.{json,md}` with `--save`, with the load average before and after (two
cores shared with other work: the figures are only comparable at a similar load).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the studio stack of the test suite (a private copy of the content)
from tests.integration.studio_support import StudioStack, prepare, running, wait_for_run  # noqa: E402
from tests.integration.support import Chat, bot_texts  # noqa: E402
from tools.launcher import ensure_model  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
TARGETS = {"kb_only_s": 5.0, "full_s": 90.0, "dropped_messages": 0}


def live_model(stack: StudioStack) -> str:
    resp = httpx.get(f"{stack.settings.rasa_endpoints[0]}/status", timeout=10,
                     params={"token": stack.settings.rasa_auth_token.get_secret_value()})
    return str(resp.json()["model_file"])


def stage_seconds(run: dict[str, Any]) -> dict[str, float | None]:
    return {s["name"]: s["seconds"] for s in run["stages"]}


def kb_only(stack: StudioStack, n: int) -> dict[str, Any]:
    """Save one FAQ answer, publish, ask as a customer until the new sentence comes back."""
    with stack.admin() as api:
        api.get("/api/studio/status").raise_for_status()  # the editor opens the studio (it loads the encoder)
    chat = Chat(stack.hub)
    runs: list[dict[str, Any]] = []
    try:
        for _ in range(n):
            marker = f"Gift cards are also sold in our shops (ref {uuid.uuid4().hex[:6]})."
            with stack.admin() as api:
                entry = api.get("/api/studio/faq/gift-cards").json()["versions"]["en"]
                fields = {k: entry.get(k) for k in ("question", "phrasings", "answer", "links", "tags", "team")}
                answer = fields["answer"].split("\n\nGift cards are also sold")[0]
                started = time.monotonic()
                saved = api.put("/api/studio/faq/gift-cards/en",
                                json={**fields, "answer": f"{answer}\n\n{marker}", "base": entry["version"]})
                saved.raise_for_status()
                resp = api.post("/api/studio/publish", json={"message": "bench: one FAQ answer"})
                resp.raise_for_status()
                run = wait_for_run(api, resp.json()["run"]["id"], 120)
            published = time.monotonic()
            if run["state"] != "live":
                raise RuntimeError(f"the FAQ publish ended {run['state']}: {run.get('error')}")
            while marker not in " ".join(bot_texts(chat.say("do you sell gift cards?"))):
                if time.monotonic() - started > 120:
                    raise RuntimeError("the new FAQ answer never reached the chat")
            runs.append({"save_to_answer_s": round(time.monotonic() - started, 2),
                         "publish_s": round(published - started, 2), "stages_s": stage_seconds(run)})
    finally:
        chat.close()
    return {"runs": runs, "median_s": round(statistics.median(r["save_to_answer_s"] for r in runs), 2)}


def full(stack: StudioStack, customers: int) -> dict[str, Any]:
    """Add one example, publish, customers writing all along; until the new model is the one serving."""
    stop = threading.Event()
    sent: list[tuple[str, list[str]]] = []
    errors: list[str] = []
    repeated = [0]  # bot messages pushed to the socket more than once (the widget shows each once, by id)

    def customer(n: int) -> None:
        chat = Chat(stack.hub)
        try:
            i = 0
            while not stop.is_set():
                text = "hello" if i % 2 == 0 else "thank you"
                try:
                    frames = chat.say(text, timeout=90)
                    replies = bot_texts(frames)
                    pushed = [f for f in frames if f.get("type") == "message" and f.get("sender") == "bot"]
                    repeated[0] += len(pushed) - len(replies)
                    sent.append((text, replies))
                except Exception as exc:  # noqa: BLE001 - a message without its reply: counted as dropped
                    sent.append((text, []))
                    errors.append(f"customer {n}: {exc!r}")
                i += 1
                time.sleep(0.3)
        finally:
            chat.close()

    before = live_model(stack)
    workers = [threading.Thread(target=customer, args=(n,), name=f"customer-{n}") for n in range(customers)]
    for w in workers:
        w.start()
    try:
        with stack.admin() as api:
            base = api.get("/api/studio/intents/greet").json()["languages"]["en"]["version"]
            started = time.monotonic()
            api.post("/api/studio/intents/greet/examples",
                     json={"language": "en", "text": f"hey support crew {uuid.uuid4().hex[:4]}",
                           "base": base}).raise_for_status()
            resp = api.post("/api/studio/publish", json={"message": "bench: one intent example"})
            resp.raise_for_status()
            run = wait_for_run(api, resp.json()["run"]["id"], 900)
        if run["state"] != "live":
            raise RuntimeError(f"the full publish ended {run['state']}: {run.get('error')} {run.get('gate')}")
        while live_model(stack) != f"{run['release']}.tar.gz":
            if time.monotonic() - started > 900:
                raise RuntimeError("Rasa never served the new model")
            time.sleep(0.2)
        full_s = time.monotonic() - started
        time.sleep(3)  # a few messages to the new model too
    finally:
        stop.set()
        for w in workers:
            w.join(120)
    dropped = sum(1 for _t, replies in sent if not replies)
    doubled = sum(1 for _t, replies in sent if len(replies) > 1)
    return {"full_s": round(full_s, 1), "stages_s": stage_seconds(run), "model_before": before,
            "model_after": live_model(stack), "messages_sent": len(sent), "dropped_messages": dropped,
            "doubled_messages": doubled, "repeated_frames": repeated[0], "errors": errors[:10]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kb-runs", type=int, default=3)
    parser.add_argument("--customers", type=int, default=3)
    parser.add_argument("--save", action="store_true", help="write benchmarks/results/publish.{json,md}")
    args = parser.parse_args(argv)

    print("[bench-publish] the starter model (trained once, reused while the content is unchanged)", flush=True)
    model = ensure_model(config=ROOT / "config.yml", out_dir=ROOT / "var" / "test-models", name="test")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-publish-") as tmp:
        settings, project = prepare(Path(tmp), model)
        print("[bench-publish] starting Rasa, the action server and the hub on a copy of the content", flush=True)
        with running(settings, project) as stack:
            print(f"[bench-publish] {args.kb_runs} FAQ-only publishes", flush=True)
            kb = kb_only(stack, args.kb_runs)
            print(f"[bench-publish] kb_only_s = {kb['median_s']} s; now a full publish with {args.customers} "
                  "customers writing", flush=True)
            fl = full(stack, args.customers)
            print(f"[bench-publish] full_s = {fl['full_s']} s, {fl['messages_sent']} messages, "
                  f"{fl['dropped_messages']} dropped, {fl['doubled_messages']} doubled", flush=True)
    result = {
        "kb_only_s": kb["median_s"], "full_s": fl["full_s"], "dropped_messages": fl["dropped_messages"],
        "doubled_messages": fl["doubled_messages"], "messages_during_full_publish": fl["messages_sent"],
        "targets": TARGETS, "kb_only": kb, "full": fl,
        "load_average": {"before": [round(x, 2) for x in load_before],
                         "after": [round(x, 2) for x in os.getloadavg()]},
        "cpus": os.cpu_count(), "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    print(json.dumps({k: result[k] for k in ("kb_only_s", "full_s", "dropped_messages", "doubled_messages")}))
    if args.save:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "publish.json").write_text(json.dumps(result, indent=2) + "\n")
        (RESULTS / "publish.md").write_text(_markdown(result))
    return 0


def _markdown(r: dict[str, Any]) -> str:
    def met(key: str) -> str:
        return "met" if r[key] <= TARGETS[key] else "**not met**"

    kb_runs = ", ".join(f"{x['save_to_answer_s']} s" for x in r["kb_only"]["runs"])
    stages = ", ".join(f"{k} {v} s" for k, v in r["full"]["stages_s"].items() if v is not None)
    kb_stages = ", ".join(f"{k} {v} s" for k, v in r["kb_only"]["runs"][0]["stages_s"].items() if v is not None)
    return f"""# Publishing from the studio ({r['date']})

`make bench-publish` (`python -m benchmarks.bench_publish --save`): the real stack on a private copy of the
content; {r['cpus']} cores, load average {r['load_average']['before']} before, {r['load_average']['after']} after.

| | measured | target | |
|---|---|---|---|
| `kb_only_s` — save one FAQ answer → a customer gets it | {r['kb_only_s']} s (median; runs: {kb_runs}) | ≤ 5 s | {met('kb_only_s')} |
| `full_s` — save one intent example → the new model serves | {r['full_s']} s | ≤ 90 s | {met('full_s')} |
| `dropped_messages` during the full publish | {r['dropped_messages']} of {r['messages_during_full_publish']} | 0 | {met('dropped_messages')} |
| `doubled_messages` during the full publish | {r['doubled_messages']} | 0 | |
| bot messages pushed twice on the socket (same id, shown once) | {r['full'].get('repeated_frames', 0)} | | |

Stages of the FAQ-only publish (first run): {kb_stages}.
Stages of the full publish: {stages} (the gate runs beside the training).
"""


if __name__ == "__main__":
    raise SystemExit(main())
