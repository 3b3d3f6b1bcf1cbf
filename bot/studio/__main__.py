"""Publish from a terminal or CI: `python -m bot.studio publish`.

    python -m bot.studio publish [--message "..."] [--check] [--hub URL | --offline]
    python -m bot.studio releases
    python -m bot.studio rollback release-0007

By default it asks the running hub (HUB settings; `--hub` names another) to publish, with ADMIN_API_TOKEN, and
follows the publish step by step; without a hub (or with `--offline`) the publish runs in this process against
the Rasa servers and action server of the settings. `--check` validates, rebuilds the index, trains and runs the
evaluation gate, and publishes nothing: what a CI job runs on a change before it is merged.

Exit status: 0 published (or nothing to publish, or the check passed), 1 refused by the evaluation gate,
2 failed (the message says why; the live bot is unchanged).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

import httpx

from core.settings import HubSettings, SettingsError

EXIT = {"live": 0, "unchanged": 0, "passed": 0, "refused": 1}


def say(text: str) -> None:
    print(f"[studio] {text}", flush=True)


def report(run: dict[str, Any], seen: dict[str, str]) -> None:
    """Print the steps that changed since the last call."""
    for stage in run["stages"]:
        line = f"{stage['title']}: {stage['state']}" + (f" — {stage['detail']}" if stage["detail"] else "")
        if seen.get(stage["name"]) != line and stage["state"] != "pending":
            seen[stage["name"]] = line
            say(line)


def finish(run: dict[str, Any]) -> int:
    state = run["state"]
    gate = run.get("gate") or {}
    for check in gate.get("checks", []):
        say(f"gate {check['title']}: live {check['live']:.1%}, new {check['candidate']:.1%}"
            + ("" if check["passed"] else "  ← too low"))
    for worse in gate.get("worse", [])[:10]:
        say(f"  worse: {worse['intent']} ({worse['title']}) {worse['live']:.0%} → "
            f"{'removed' if worse['removed'] else format(worse['candidate'], '.0%')}")
    say(f"{state}{': ' + run['release'] if run.get('release') else ''}{' — ' + run['error'] if run.get('error') else ''}"
        f" ({run['seconds']} s)")
    return EXIT.get(state, 2)


def via_hub(url: str, token: str, args: argparse.Namespace) -> int:
    with httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {token}", "X-Agent": "ci"}) as api:
        resp = api.post("/api/studio/publish", json={"message": args.message, "check_only": args.check})
        if resp.status_code != 202:
            say(f"the hub refused: {resp.status_code} {resp.text[:300]}")
            return 2
        run = resp.json()["run"]
        seen: dict[str, str] = {}
        deadline = time.monotonic() + args.timeout
        while run["state"] == "running":
            if time.monotonic() > deadline:
                say(f"still running after {args.timeout:.0f} s; follow it in the studio")
                return 2
            time.sleep(1)
            run = api.get(f"/api/studio/publish/{run['id']}").json()["run"]
            report(run, seen)
        report(run, seen)
        return finish(run)


async def in_process(settings: HubSettings, args: argparse.Namespace) -> int:
    from bot.clients.actions import ActionServerClient
    from bot.clients.rasa import RasaClient
    from bot.store.db import Database, make_engine, migrate
    from bot.studio.content import Author
    from bot.studio.service import Studio

    from bot.ops import secrets

    settings = secrets.resolve(settings)  # the Rasa token the launcher generated
    engine = make_engine(settings.db_url)
    migrate(engine)
    rasa = RasaClient(settings.rasa_endpoints, timeout_s=settings.rasa_timeout_s, retries=0,
                      auth_token=settings.rasa_auth_token.get_secret_value())
    actions = ActionServerClient(settings.action_server_url)
    studio = Studio.build(settings, db=Database(engine), rasa=rasa, actions=actions, detector=None)
    try:
        run = await studio.publisher.start(Author("ci", "CI"), args.message, check_only=args.check)
        seen: dict[str, str] = {}
        while not run.done.is_set():
            await asyncio.sleep(1)
            report(run.view(), seen)
        report(run.view(), seen)
        return finish(run.view())
    finally:
        await studio.stop()
        await rasa.aclose()
        await actions.aclose()
        engine.dispose()


def hub_answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health/live", timeout=2).is_success
    except httpx.HTTPError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.studio", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    publish = sub.add_parser("publish", help="publish the content (or --check it)")
    publish.add_argument("--message", default="", help="what changed, for the audit log")
    publish.add_argument("--check", action="store_true", help="everything but going live")
    publish.add_argument("--hub", default=None, help="the hub's URL (default: from the settings)")
    publish.add_argument("--offline", action="store_true", help="publish from this process, not through a hub")
    publish.add_argument("--timeout", type=float, default=900.0)
    sub.add_parser("releases", help="list the releases kept")
    rollback = sub.add_parser("rollback", help="serve an earlier release again (through the hub)")
    rollback.add_argument("release")
    rollback.add_argument("--hub", default=None)
    args = parser.parse_args(argv)
    try:
        settings = HubSettings.from_env()
    except SettingsError as exc:
        say(f"error: {exc}")
        return 2
    token = settings.admin_api_token.get_secret_value()
    if args.command == "releases":
        from bot.studio.releases import ReleaseStore

        store = ReleaseStore(settings.releases_dir, keep=settings.studio_keep_releases)
        live = store.live_id()
        for r in store.all():
            print(f"{r.id}{' (live)' if r.id == live else ''}  {r.created_at}  {r.author_name}  {r.kind}  {r.summary}")
        return 0
    url = (args.hub or settings.hub_url).rstrip("/")
    if args.command == "rollback":
        resp = httpx.post(f"{url}/api/studio/releases/{args.release}/rollback", timeout=300,
                          headers={"Authorization": f"Bearer {token}", "X-Agent": "ci"})
        if resp.status_code != 200:
            say(f"the hub refused: {resp.status_code} {resp.text[:300]}")
            return 2
        return finish(resp.json()["run"])
    if not args.offline and hub_answers(url):
        say(f"publishing through the hub at {url}")
        return via_hub(url, token, args)
    if not args.offline and args.hub:
        say(f"no hub answers at {url}")
        return 2
    say("publishing from this process" + ("" if args.offline else f" (no hub answers at {url})"))
    return asyncio.run(in_process(settings, args))


if __name__ == "__main__":
    sys.exit(main())
