"""Engine construction and database-error translation.

One engine per process, built once from settings. Server databases get a QueuePool sized by
the pool settings with pre-ping on; SQLite gets WAL, a busy timeout and foreign keys on every
new connection. `translate_errors` turns driver failures into one-line `TunixRtError`s so no
traceback reaches a user when a database is down or a file is not a database.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection, create_engine, event, exc
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import NullPool

from tunix_rt.errors import DatabaseUnavailableError
from tunix_rt.settings import Settings, mask_url, printable, redact

SQLITE_BUSY_TIMEOUT_MS = 30_000
WRITE_OPTION = "tunix_rt_write"


def is_sqlite(url: str | URL) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_path(url: str | URL) -> Path | None:
    """The file behind a SQLite URL; None for another database or an in-memory one."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser()


def _sqlite_on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
    # Autocommit at the driver level so that SQLAlchemy's BEGIN (emitted below) is the only
    # transaction control: pysqlite's implicit BEGIN would defer locking until the first write.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys = ON")
    cur.execute("PRAGMA journal_mode = WAL")
    cur.execute("PRAGMA synchronous = NORMAL")
    cur.close()


def _sqlite_on_begin(conn: Any) -> None:
    # Writers ask for IMMEDIATE so that two writers queue on the busy timeout instead of
    # deadlocking on a lock upgrade ("database is locked"); readers stay DEFERRED.
    immediate = conn.get_execution_options().get(WRITE_OPTION, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(settings: Settings, *, connect_timeout: int | None = None) -> Engine:
    """Build the process's engine from settings."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    connect_args: dict[str, Any] = {"connect_timeout": connect_timeout or 10}
    return create_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_pre_ping=True,
        connect_args=connect_args,
    )


def make_probe_engine(settings: Settings, *, connect_timeout: int) -> Engine:
    """An engine for diagnosis: never creates a SQLite file, never changes its journal mode."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        path = sqlite_path(url)
        # A URI filename: `?`, `#` and `%` in the path must be escaped, or SQLite would cut
        # the name there and open (and create) another file.
        target = f"file:{quote(str(path))}?mode=rw" if path is not None else ":memory:"
        return create_engine(
            "sqlite://",
            creator=lambda: sqlite3.connect(target, uri=True, timeout=connect_timeout),
        )
    return create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": connect_timeout})


def describe_db_error(error: BaseException, url: str) -> str:
    """A one-line, password-free explanation of a database failure."""
    return printable(redact(_describe(error, url), url))


def _describe(error: BaseException, url: str) -> str:
    orig = getattr(error, "orig", None) or error
    text = " ".join(str(orig).split())
    masked = mask_url(url)
    low = text.lower()
    if is_sqlite(url):
        if "not a database" in low:
            return f"{masked} is not a SQLite database (file is not a database)"
        if "malformed" in low:
            return f"{masked} is damaged ({text}): run `tunix-rt db doctor`"
        if "readonly database" in low or "read-only" in low:
            return f"cannot write to {masked}: the file or its directory is read-only for this user"
        if "unable to open database file" in low:
            return (
                f"cannot open {masked}: check that the file and its directory exist and that "
                "this user may read and write both"
            )
        if "disk is full" in low or "disk i/o error" in low:
            return f"cannot write to {masked}: {text}"
    if "database is locked" in low:
        return f"{masked} is locked by another process for too long: try again"
    return f"cannot use database {masked}: {text}"


@contextlib.contextmanager
def translate_errors(url: str) -> Iterator[None]:
    """Re-raise driver and SQLAlchemy operational errors as DatabaseUnavailableError."""
    try:
        yield
    except (exc.OperationalError, exc.InterfaceError, exc.DatabaseError) as error:
        raise DatabaseUnavailableError(describe_db_error(error, url)) from None
    except sqlite3.Error as error:
        raise DatabaseUnavailableError(describe_db_error(error, url)) from None


def writing(conn: Connection) -> Connection:
    """Mark a connection as a writer (SQLite takes the write lock at BEGIN)."""
    return conn.execution_options(**{WRITE_OPTION: True})
