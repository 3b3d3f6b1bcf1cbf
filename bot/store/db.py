"""The hub's database: engine, migrations, and the unit of work every state change goes through.

SQLite (WAL) by default; any SQLAlchemy URL (PostgreSQL) works. Each `Database.write(fn, ...)` is **one
transaction**: `fn(tx, ...)` runs in a worker thread on one connection, may read and write as much as it needs,
and records events with `tx.emit(...)`; the events are published only after the commit (never for a rollback).
That is the whole discipline: one function per state change, which commits, then notifies.

On SQLite a write transaction starts with `BEGIN IMMEDIATE`: a transaction that reads and then writes would
otherwise fail with "database is locked" when another connection wrote in between (WAL snapshot upgrade).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Concatenate, ParamSpec, Protocol, TypeVar

import anyio
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from tenacity import Retrying, before_sleep_log, retry_if_exception, stop_after_delay, wait_exponential

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

T = TypeVar("T")
P = ParamSpec("P")


def make_engine(url: str) -> Engine:
    """An engine; for SQLite, create the folder and switch on WAL, foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 15})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (below), as SQLAlchemy's docs advise
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=15000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("write") else "BEGIN")

        return engine
    # No pre-ping (a round trip before every unit of work): a pooled connection the server dropped fails its
    # unit of work, which `Database` runs again on a fresh connection (the pool is invalidated on a disconnect).
    return create_engine(url, pool_size=10, max_overflow=10)


MIGRATION_LOCK = 8_723_645_001  # a PostgreSQL advisory lock: hub processes starting together migrate one by one


def migrate(engine: Engine) -> None:
    """Bring the schema up to the newest Alembic revision (safe when several hub processes start at once)."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.connect() as conn:
        conn.info["write"] = True
        with conn.begin():
            if engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        conn.info.pop("write", None)
    log.info("database schema is current (%s)", engine.url.render_as_string(hide_password=True))


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """ORM sessions, for the few cold paths that use them (agent accounts)."""
    return sessionmaker(engine, expire_on_commit=False)


@dataclass
class Event:
    """Something that happened to a conversation (or the system), published after its transaction committed."""

    type: str
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, **self.data}


class Publisher(Protocol):
    async def publish(self, events: list[Event]) -> None: ...


@dataclass
class Tx:
    """One transaction: its connection, and the events to publish once it has committed."""

    conn: Connection
    events: list[Event] = field(default_factory=list)

    def emit(self, event_type: str, **data: Any) -> None:
        self.events.append(Event(event_type, data))


def _server_unreachable(exc: BaseException) -> bool:
    """The database server went away (a restart, a failover): the transaction rolled back and can run again.
    SQLite's own errors ("database is locked" after its busy timeout) are not outages."""
    if not isinstance(exc, DBAPIError):
        return False
    return bool(exc.connection_invalidated) or (isinstance(exc, OperationalError)
                                                and "sqlite" not in type(exc.orig).__module__)


class Database:
    """Runs units of work in worker threads so database I/O never blocks the event loop. A unit of work the
    database server drops (a PostgreSQL restart) is run again for up to `outage_s` before the error surfaces:
    a customer's message written during a restart waits seconds instead of being refused."""

    def __init__(self, engine: Engine, publisher: Publisher | None = None, *, outage_s: float = 30.0) -> None:
        self.engine = engine
        self.publisher = publisher
        self.outage_s = outage_s

    def _retrying(self) -> Retrying:
        return Retrying(retry=retry_if_exception(_server_unreachable), stop=stop_after_delay(self.outage_s),
                        wait=wait_exponential(multiplier=0.2, max=2.0), reraise=True,
                        before_sleep=before_sleep_log(log, logging.WARNING))

    def _run_write(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[T, list[Event]]:
        return self._retrying()(self._write_once, fn, args, kwargs)

    def _run_read(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        return self._retrying()(self._read_once, fn, args, kwargs)

    def _write_once(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[T, list[Event]]:
        with self.engine.connect() as conn:
            conn.info["write"] = True
            try:
                with conn.begin():
                    tx = Tx(conn)
                    result = fn(tx, *args, **kwargs)
            finally:
                conn.info.pop("write", None)
        return result, tx.events

    def _read_once(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        with self.engine.connect() as conn:
            with conn.begin():
                return fn(conn, *args, **kwargs)

    async def write(self, fn: Callable[Concatenate[Tx, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn(tx, ...)` in one transaction; after the commit, publish the events it emitted."""
        result, events = await self.write_deferred(fn, *args, **kwargs)
        if events:
            await self.publish(events)
        return result

    async def write_deferred(self, fn: Callable[Concatenate[Tx, P], T], *args: P.args,
                             **kwargs: P.kwargs) -> tuple[T, list[Event]]:
        """Like `write`, but hand the committed transaction's events back to publish later (in order, after
        work that must come first, such as delivering the messages the transaction stored)."""
        return await anyio.to_thread.run_sync(self._run_write, fn, args, kwargs)

    async def read(self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn(conn, ...)` in one read transaction."""
        return await anyio.to_thread.run_sync(self._run_read, fn, args, kwargs)

    async def publish(self, events: list[Event]) -> None:
        if self.publisher is not None and events:
            await self.publisher.publish(events)

    def write_sync(self, fn: Callable[Concatenate[Tx, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`write` for synchronous callers (command-line tools, tests); events are dropped."""
        return self._run_write(fn, args, kwargs)[0]

    def read_sync(self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        return self._run_read(fn, args, kwargs)

