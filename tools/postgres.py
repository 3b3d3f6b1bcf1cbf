"""A throw-away PostgreSQL server on loopback, from Debian's packages (`make test-deps` installs them): for the
test suite and the benchmarks, never for the product. As root it runs the server as the `postgres` user
(initdb refuses root)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class PostgresMissing(RuntimeError):
    pass


def pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


@contextmanager
def private_postgres(port: int, *, database: str = "supportbot") -> Iterator[str]:
    """Start a server on 127.0.0.1:`port` with an empty `database`; yields its SQLAlchemy URL; removes it all."""
    bindir = pg_bin()
    if bindir is None:
        raise PostgresMissing("PostgreSQL is not installed: `make test-deps` installs it")
    base = Path(tempfile.mkdtemp(prefix="supportbot-pg-"))
    data, sockets = base / "data", base / "sock"
    sockets.mkdir()
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(base, "postgres")
        shutil.chown(sockets, "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    subprocess.run(run_as + [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run(
        run_as + [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(base / "log"), "-w", "-o",
                  f"-h 127.0.0.1 -p {port} -k {sockets} -c fsync=off", "start"],
        check=True, stdout=subprocess.DEVNULL,
    )
    try:
        subprocess.run([str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", database],
                       check=True)
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/{database}"
    finally:
        subprocess.run(run_as + [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       stdout=subprocess.DEVNULL, check=False)
        shutil.rmtree(base, ignore_errors=True)
