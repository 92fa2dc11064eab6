"""Alembic driven in code: upgrade, downgrade, current, history.

The migration scripts ship inside the wheel as `tunix_rt/migrations`; in a source checkout
(editable install) they are the top-level `migrations/` folder. Only `db` commands and the
first use of a SQLite file import this module, so Alembic stays off the hot path.

Migrations are serialised: two `tunix-rt db upgrade` (or two first uses of a new SQLite file)
at once must not both create the tables. Each migration runs in one transaction on one
connection that first takes a lock - on PostgreSQL a session advisory lock
(`pg_advisory_lock(MIGRATION_LOCK_KEY)`, released by unlock or when the connection ends), on
SQLite the database's write lock (`BEGIN IMMEDIATE`). The schema revision is read after the
lock is held, so whoever waited finds the work done and Alembic has nothing left to do.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from tunix_rt.db.engine import SQLITE_BUSY_TIMEOUT_MS, sqlite_path, writing
from tunix_rt.db.revisions import SchemaState, read_state

# A fixed 64-bit key, the same in every tunix-rt: the bytes of "tunix-rt".
MIGRATION_LOCK_KEY = int.from_bytes(b"tunix-rt", "big")
# How long a SQLite migration waits for another writer (an upload may hold the lock long).
MIGRATION_BUSY_TIMEOUT_MS = 600_000
Wait = Callable[[str], None]


def migrations_dir() -> Path:
    packaged = Path(__file__).resolve().parent.parent / "migrations"
    if (packaged / "env.py").is_file():
        return packaged
    checkout = Path(__file__).resolve().parents[3] / "migrations"
    if (checkout / "env.py").is_file():
        return checkout
    raise FileNotFoundError("tunix-rt migrations are missing from this installation")


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    return cfg


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


@contextmanager
def _locked(engine: Engine, on_wait: Wait | None) -> Iterator[Connection]:
    """A connection holding the migration lock, inside a transaction the caller commits."""
    with engine.connect() as conn:
        if conn.dialect.name != "postgresql":
            with _sqlite_write_lock(conn, on_wait):
                yield conn
            return
        key = {"key": MIGRATION_LOCK_KEY}
        if not conn.execute(text("SELECT pg_try_advisory_lock(:key)"), key).scalar_one():
            if on_wait is not None:
                on_wait("another tunix-rt is migrating this database: waiting for it to finish")
            conn.execute(text("SELECT pg_advisory_lock(:key)"), key)
        conn.commit()  # the advisory lock belongs to the session, not to this transaction
        try:
            with conn.begin():
                yield conn
        except BaseException:
            conn.invalidate()  # closing the session releases the lock, whatever state it is in
            raise
        conn.execute(text("SELECT pg_advisory_unlock(:key)"), key)
        conn.commit()


@contextmanager
def _sqlite_write_lock(conn: Connection, on_wait: Wait | None) -> Iterator[None]:
    """BEGIN IMMEDIATE, waiting as long as an upload would for another writer (and saying so).

    Another process may hold the write lock for a whole upload, so the usual 30 s busy
    timeout is too short here; a probe without timeout tells whether there is a wait at all.
    """
    raw: sqlite3.Connection = conn.connection.dbapi_connection  # type: ignore[assignment]
    raw.execute("PRAGMA busy_timeout = 0")
    try:
        raw.execute("BEGIN IMMEDIATE")
        raw.execute("ROLLBACK")
    except sqlite3.OperationalError:
        if on_wait is not None:
            on_wait(
                f"another process is writing to {sqlite_path(conn.engine.url)}: waiting for it "
                f"to finish (up to {MIGRATION_BUSY_TIMEOUT_MS // 60_000} minutes)"
            )
    raw.execute(f"PRAGMA busy_timeout = {MIGRATION_BUSY_TIMEOUT_MS}")
    try:
        with writing(conn).begin():  # BEGIN IMMEDIATE: SQLite's one write lock
            yield
    finally:
        raw.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")


def run(
    engine: Engine,
    action: str,
    revision: str,
    *,
    check: Callable[[SchemaState], None] | None = None,
    on_wait: Wait | None = None,
) -> tuple[SchemaState, SchemaState]:
    """Upgrade or downgrade to `revision` under the migration lock; (before, after).

    `check` sees the state read under the lock and may raise to stop before Alembic runs;
    `on_wait` is told (one line for the user) when another process holds the lock.
    """
    cfg = alembic_config()
    with _locked(engine, on_wait) as conn:
        before = read_state(conn)
        if check is not None:
            check(before)
        cfg.attributes["connection"] = conn
        if action == "upgrade":
            command.upgrade(cfg, revision)
        else:
            command.downgrade(cfg, revision)
        after = read_state(conn)
    return before, after


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@dataclass(frozen=True)
class RevisionInfo:
    revision: str
    down_revision: str | None
    message: str
    is_head: bool
    is_current: bool


def history(current_revision: str | None) -> list[RevisionInfo]:
    """Every revision, newest first."""
    script = script_directory()
    heads = set(script.get_heads())
    out: list[RevisionInfo] = []
    for rev in script.walk_revisions():
        down = rev.down_revision
        out.append(
            RevisionInfo(
                revision=rev.revision,
                down_revision=down if isinstance(down, str) or down is None else ",".join(down),
                message=rev.doc or "",
                is_head=rev.revision in heads,
                is_current=rev.revision == current_revision,
            )
        )
    return out
