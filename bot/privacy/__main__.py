"""Personal data from the command line (uses DATABASE_URL / DATA_DIR / RASA_TRACKER_STORE_URL like the hub).

    python -m bot.privacy export --channel whatsapp --id whatsapp:+447700900123 [--out FILE] [--reference R]
    python -m bot.privacy export --customer-key jo@example.org
    python -m bot.privacy erase  --channel web --id <visitor id> [--reference R] [--yes]
    python -m bot.privacy retention [--days N]     # delete what is older than RETENTION_DAYS (or N days) now

`--no-linked` leaves out the conversations an agent linked to the customer's by a customer key. Every run is
recorded in the audit log as the shell user.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from pathlib import Path

from bot import audit
from bot.errors import DomainError
from bot.privacy.logs import LogFiles
from bot.privacy.service import Privacy, Subject
from bot.privacy.tracker import RasaTrackerStore
from bot.store.db import Database, make_engine, migrate
from core.settings import HubSettings


def _subject_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--channel", help="web, telegram, whatsapp, sms")
    p.add_argument("--id", dest="external_id", help="the customer's id on that channel")
    p.add_argument("--customer-key", help="the key that links the customer's conversations")
    p.add_argument("--no-linked", action="store_true", help="not the conversations linked by a customer key")
    p.add_argument("--reference", help="your request's reference, kept in the audit log")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.privacy", description="Export and erase personal data")
    sub = parser.add_subparsers(dest="command", required=True)
    export = sub.add_parser("export", help="write everything held about a customer as JSON")
    _subject_args(export)
    export.add_argument("--out", type=Path, help="the file to write (default: standard output)")
    erase = sub.add_parser("erase", help="erase everything held about a customer (irreversible)")
    _subject_args(erase)
    erase.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    retention = sub.add_parser("retention", help="delete conversations past the retention period now")
    retention.add_argument("--days", type=int, help="instead of RETENTION_DAYS")
    args = parser.parse_args(argv)

    settings = HubSettings.from_env()
    engine = make_engine(settings.db_url)
    migrate(engine)
    privacy = Privacy(Database(engine), RasaTrackerStore(settings.tracker_store_url),
                      LogFiles(settings.data_dir / "logs"), retention_days=settings.retention_days)
    who = audit.Who(f"cli:{getpass.getuser()}", via="cli")
    try:
        return asyncio.run(_run(args, privacy, who))
    except DomainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        privacy.tracker.dispose()
        engine.dispose()


async def _run(args: argparse.Namespace, privacy: Privacy, who: audit.Who) -> int:
    if args.command == "retention":
        days = args.days if args.days is not None else privacy.retention_days
        if days <= 0:
            print("RETENTION_DAYS is 0 (keep everything): pass --days N to delete what is older than N days",
                  file=sys.stderr)
            return 2
        report = await privacy.sweep(days=days, who=who)
        print(f"deleted {report['conversations']} conversations inactive since {report['cutoff']} "
              f"and {report['rasa_tracker_events']} Rasa tracker events", file=sys.stderr)
        return 0
    subject = Subject(channel=args.channel, external_id=args.external_id, customer_key=args.customer_key,
                      include_linked=not args.no_linked)
    if args.command == "export":
        document = await privacy.export(subject, who, reference=args.reference)
        text = json.dumps(document, ensure_ascii=False, indent=2)
        if args.out:
            args.out.write_text(text + "\n", encoding="utf-8")
        else:
            print(text)
        s = document["summary"]
        print(f"exported {s['conversations']} conversations, {s['rasa_tracker_events']} Rasa tracker events and "
              f"{s['log_lines']} log lines" + (f" to {args.out}" if args.out else ""), file=sys.stderr)
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            print("an erasure cannot be undone: add --yes to confirm", file=sys.stderr)
            return 2
        if input(f"Erase everything held about {subject.view()}? This cannot be undone. [y/N] ").lower() != "y":
            print("nothing erased", file=sys.stderr)
            return 1
    report = await privacy.erase(subject, who, reference=args.reference)
    e = report["erased"]
    print(f"erased {e['conversations']} conversations ({sum(e['records'].values())} records), "
          f"{e['rasa_tracker_events']} Rasa tracker events; {e['log_ids_masked']} ids masked in the logs",
          file=sys.stderr)
    for line in report["held_elsewhere"]:
        print(f"  not reached: {line}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
