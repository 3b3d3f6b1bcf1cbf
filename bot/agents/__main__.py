"""Manage console accounts from the command line (uses DATABASE_URL / DATA_DIR like the hub).

    python -m bot.agents create-agent --email maria@example.com --name Maria [--admin] [--teams support,care]
                                       [--max-concurrent 3]      # asks for the password (or SUPPORTBOT_PASSWORD)
    python -m bot.agents set-password --email maria@example.com
    python -m bot.agents list-agents
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from core.settings import HubSettings
from bot import audit
from bot.agents.accounts import AccountError, AgentStore
from bot.store.db import make_engine, migrate


def _password(confirm: bool = True) -> str:
    from_env = os.environ.get("SUPPORTBOT_PASSWORD")
    if from_env:
        return from_env
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if confirm and getpass.getpass("Again: ") != first:
        raise SystemExit("the passwords differ")
    return first


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.agents", description="Agent console accounts")
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create-agent", help="create an agent (or admin) account")
    create.add_argument("--email", required=True)
    create.add_argument("--name", help="display name customers see (default: the part before @)")
    create.add_argument("--admin", action="store_true", help="role admin instead of agent")
    create.add_argument("--editor", action="store_true", help="role editor (content and reports) instead of agent")
    create.add_argument("--teams", default="", help="comma-separated team keys from handoff.yml")
    create.add_argument("--skills", default="")
    create.add_argument("--max-concurrent", type=int, default=3)
    setpw = sub.add_parser("set-password", help="set a new password (ends the agent's sessions)")
    setpw.add_argument("--email", required=True)
    sub.add_parser("list-agents", help="list the accounts")
    args = parser.parse_args(argv)

    settings = HubSettings.from_env()
    engine = make_engine(settings.db_url)
    migrate(engine)
    accounts = AgentStore(engine)
    who = audit.Who(f"cli:{getpass.getuser()}", via="cli")  # the audit log names the shell user
    try:
        if args.command == "create-agent":
            agent = accounts.create(
                email=args.email, password=_password(), display_name=args.name,
                role="admin" if args.admin else "editor" if args.editor else "agent",
                teams=[t.strip() for t in args.teams.split(",") if t.strip()],
                skills=[t.strip() for t in args.skills.split(",") if t.strip()],
                max_concurrent=args.max_concurrent, who=who,
            )
            print(f"created {agent.role} {agent.email} ({agent.display_name}), id {agent.id}")
        elif args.command == "set-password":
            agent = accounts.by_email(args.email)
            if agent is None:
                print(f"no agent {args.email}", file=sys.stderr)
                return 1
            accounts.update(agent.id, password=_password(), who=who)
            print(f"password of {agent.email} changed; their sessions were ended")
        else:
            for a in accounts.all():
                print(f"{a.id:4} {a.role:6} {'active' if a.active else 'off   '} {a.email:32} {a.display_name}"
                      f"  teams={','.join(a.teams or []) or '-'} max={a.max_concurrent}")
    except AccountError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
