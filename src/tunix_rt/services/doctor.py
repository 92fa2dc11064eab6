"""`tunix-rt db doctor`: every check, in order, each with a status, a detail and a fix.

The doctor must work when everything else is broken, so every check catches its own failures
and turns them into a result; a check whose prerequisite failed is "skipped". It never changes
data: SQLite is opened without creating the file, and the write probe is rolled back. Every
detail and fix is scrubbed of the database password (`settings.redact`) before it leaves
this module, and an unexpected exception in a check becomes a failed check, never a crash.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy import Connection, Engine
from sqlalchemy.engine import make_url

from tunix_rt.db.engine import is_sqlite, make_probe_engine, sqlite_path
from tunix_rt.db.revisions import HEAD, SCHEMA_REVISIONS, SchemaState, read_state
from tunix_rt.errors import SettingsError
from tunix_rt.ingest.validate import stored_payload_problem
from tunix_rt.repositories import traces as repo
from tunix_rt.settings import (
    Settings,
    default_database_path,
    load_settings,
    mask_url,
    redact,
    setting_sources,
    sqlite_url,
)

Status = Literal["ok", "warn", "fail", "skipped"]
Progress = Callable[[int, int], None]
CONNECT_TIMEOUT_S = 3
SAMPLE_SIZE = 200
LOW_DISK_BYTES = 100 * 1024 * 1024
UPGRADE = "run `tunix-rt db upgrade`"


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Failed(Exception):
    """A check's verdict, raised from deep inside it."""

    def __init__(self, status: Status, detail: str, fix: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.fix = status, detail, fix


@dataclass
class _Context:
    settings: Settings
    engine: Engine
    url: str
    sqlite_file: Path | None
    state: SchemaState | None = None


def _classify_connect_error(error: BaseException, settings: Settings) -> tuple[str, str]:
    """(detail, fix) for a connection failure, by the driver's message."""
    text = " ".join(str(getattr(error, "orig", None) or error).split())
    low = text.lower()
    url = make_url(settings.database_url)
    host, port = url.host or "localhost", url.port or 5432
    user, dbname = url.username or os.environ.get("USER", "postgres"), url.database or ""
    if "connection refused" in low:
        return (
            f"the server is not reachable on {host}:{port} (connection refused): "
            "PostgreSQL is not running or not listening on that port",
            "start PostgreSQL (e.g. `sudo systemctl start postgresql`, or "
            "`pg_ctlcluster 15 main start`), or fix the host/port in the URL",
        )
    if any(
        phrase in low
        for phrase in (
            "translate host name",
            "resolve host",
            "name or service not known",
            "nodename nor servname",
            "temporary failure in name resolution",
            "no address associated",
        )
    ):
        return (f"unknown host {host!r}: {text}", "fix the host name in TUNIX_RT_DATABASE_URL")
    if "password authentication failed" in low or "authentication failed" in low:
        return (
            f"authentication failed for user {user!r}",
            "check the user name and password in TUNIX_RT_DATABASE_URL",
        )
    if "no password supplied" in low:
        return (
            f"the server wants a password for user {user!r} and the URL has none",
            "put it in the URL (postgresql://USER:PASSWORD@HOST/DBNAME) or in ~/.pgpass",
        )
    if "does not exist" in low and "database" in low:
        return (
            f"database {dbname!r} does not exist on {host}:{port}",
            f"create it: `createdb -h {host} -p {port} -U {user} {dbname}`",
        )
    if "does not exist" in low and "role" in low:
        return (
            f"user {user!r} does not exist on {host}:{port}",
            f"create it (`createuser -h {host} -p {port} {user}`) or fix the user in the URL",
        )
    if url.host is None and "socket" in low:
        return (
            f"no PostgreSQL server on the local socket (the URL names no host): {text}",
            "start PostgreSQL, or put the server's host in the URL "
            "(postgresql://USER@HOST:PORT/DBNAME)",
        )
    if "permission denied" in low or "not permitted to log in" in low:
        return (
            f"user {user!r} may not connect to database {dbname!r}: {text}",
            f"GRANT CONNECT ON DATABASE {dbname} TO {user}; (as the database owner)",
        )
    if "timeout" in low or "timed out" in low:
        return (
            f"no answer from {host}:{port} within {CONNECT_TIMEOUT_S} s (timeout)",
            "check the host, port and any firewall between here and the server",
        )
    if "too many" in low and "connection" in low:
        return (
            f"the server refuses more connections: {text}",
            "close idle clients, or raise max_connections on the server",
        )
    return (f"cannot connect: {text}", "check TUNIX_RT_DATABASE_URL")


def _sqlite_locked(path: Path) -> _Failed:
    return _Failed(
        "fail",
        f"{path} is locked by another process (still locked after {CONNECT_TIMEOUT_S} s)",
        f"wait for the other writer to finish (`fuser {path}` shows who holds it), then run "
        "the doctor again",
    )


def _check_settings(flag: str | None) -> tuple[Check, Settings | None]:
    try:
        settings = load_settings(flag)
        sources = setting_sources(flag)
    except SettingsError as exc:
        message = str(exc)
        if "DATABASE_URL" in message or message.startswith("--db"):
            fix = "fix the database URL (see `tunix-rt config` and the README's Settings)"
        elif ".env" in message and "cannot read" in message:
            fix = "make .env a readable UTF-8 file, or remove it"
        else:
            fix = "set the value within the allowed range"
        return Check("settings", "fail", message, fix), None
    if not is_sqlite(settings.database_url):
        try:
            import psycopg  # noqa: F401
        except ImportError:  # pragma: no cover - psycopg is a dependency of tunix-rt
            return (
                Check(
                    "settings",
                    "fail",
                    "PostgreSQL URL but the psycopg driver is not installed",
                    "pip install 'psycopg[binary]'",
                ),
                None,
            )
    non_default = [f"{k}={v}" for k, v in sources.items() if v != "default"]
    detail = (
        f"database {mask_url(settings.database_url)} (from {sources['database_url']}); "
        f"pool {settings.db_pool_size}+{settings.db_max_overflow}, "
        f"timeout {settings.db_pool_timeout} s, trace limit {settings.trace_max_bytes} bytes; "
        f"sources: {', '.join(non_default) if non_default else 'all defaults'}"
    )
    return Check("settings", "ok", detail), settings


def _check_connection(ctx: _Context) -> Check:
    path = ctx.sqlite_file
    if path is not None:
        _check_sqlite_path(path)
    try:
        with ctx.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
            if path is not None:
                conn.execute(sa.text("SELECT count(*) FROM sqlite_master"))
    except sa.exc.DBAPIError as exc:
        if path is not None:
            message = " ".join(str(exc.orig).split())
            if "not a database" in message:
                raise _Failed(
                    "fail",
                    f"{path} is not a SQLite database ({message})",
                    f"move it aside (`mv {path} {path}.bad`) and let tunix-rt create a new one, "
                    "or point TUNIX_RT_DATABASE_URL at the right file",
                ) from None
            if "malformed" in message:
                raise _Failed(
                    "fail",
                    f"{path} is damaged ({message})",
                    f"restore it from a backup, or move it aside (`mv {path} {path}.bad`) and "
                    "let tunix-rt create a new one",
                ) from None
            if "locked" in message:
                raise _sqlite_locked(path) from None
            raise _Failed("fail", f"cannot open {path}: {message}", "check the file") from None
        detail, fix = _classify_connect_error(exc, ctx.settings)
        raise _Failed("fail", detail, fix) from None
    where = str(path) if path is not None else mask_url(ctx.url)
    return Check("connection", "ok", f"connected to {where}")


def _check_sqlite_path(path: Path) -> None:
    """The file's directory, existence and permissions, before SQLite is asked to open it."""
    try:
        if path.is_dir():
            raise _Failed(
                "fail",
                f"{path} is a directory, not a SQLite database file",
                f"point TUNIX_RT_DATABASE_URL at a file, e.g. {sqlite_url(path / 'traces.db')}",
            )
        if path.exists() and not path.is_file():
            raise _Failed(
                "fail",
                f"{path} is not a regular file (a device, pipe or socket)",
                "point TUNIX_RT_DATABASE_URL at a file",
            )
        if path.is_symlink() and not path.exists():
            raise _Failed(
                "fail",
                f"{path} is a symbolic link to {os.readlink(path)}, which does not exist",
                f"create what it points to, or remove the link (`rm {path}`)",
            )
        try:  # os.stat, not Path.is_dir: a symlink loop must not read as "missing"
            parent_is_dir: bool | None = stat.S_ISDIR(os.stat(path.parent).st_mode)
        except FileNotFoundError:
            parent_is_dir = None
        if not parent_is_dir and path != default_database_path():
            what = "does not exist" if parent_is_dir is None else "is not a directory"
            raise _Failed(
                "fail",
                f"directory {path.parent} {what}",
                f"create it (`mkdir -p {path.parent}`) or point TUNIX_RT_DATABASE_URL elsewhere",
            )
        if not path.exists():
            raise _Failed(
                "warn",
                f"no database file yet at {path}; tunix-rt creates it on first use",
                "run `tunix-rt db upgrade` (or any trace command)",
            )
        if not os.access(path, os.R_OK):
            raise _Failed(
                "fail",
                f"{path} is not readable by this user",
                f"fix the permissions (`chmod u+rw {path}`) or use another file",
            )
        if not os.access(path.parent, os.W_OK) or not os.access(path, os.W_OK):
            raise _Failed(
                "fail",
                f"{path} or its directory is not writable by this user",
                f"fix the permissions (`chmod u+w {path} {path.parent}`) or use another file",
            )
    except OSError as exc:  # ENAMETOOLONG, ELOOP, EACCES on a parent directory...
        raise _Failed(
            "fail",
            f"cannot use {path}: {exc.strerror or exc}",
            "point TUNIX_RT_DATABASE_URL at a file with a shorter, reachable path",
        ) from None


def _check_server(ctx: _Context) -> Check:
    with ctx.engine.connect() as conn:
        if ctx.sqlite_file is None:
            return _check_postgres_server(ctx, conn)
        return _check_sqlite_file(ctx.sqlite_file, conn)


def _check_postgres_server(ctx: _Context, conn: Connection) -> Check:
    version = conn.execute(sa.text("SHOW server_version")).scalar_one()
    max_conn = int(conn.execute(sa.text("SHOW max_connections")).scalar_one())
    reserved = int(conn.execute(sa.text("SHOW superuser_reserved_connections")).scalar_one())
    in_use = int(conn.execute(sa.text("SELECT count(*) FROM pg_stat_activity")).scalar_one())
    wanted = ctx.settings.db_pool_size + ctx.settings.db_max_overflow
    free = max_conn - reserved - in_use
    detail = (
        f"PostgreSQL {version}; max_connections {max_conn} ({in_use} in use, {reserved} "
        f"reserved); this process may open up to {wanted}"
    )
    if wanted > free:
        return Check(
            "server",
            "warn",
            detail + f", but only {free} are free",
            "lower TUNIX_RT_DB_POOL_SIZE / TUNIX_RT_DB_MAX_OVERFLOW or raise max_connections",
        )
    return Check("server", "ok", detail)


def _check_sqlite_file(path: Path, conn: Connection) -> Check:
    try:
        size = path.stat().st_size
        free = shutil.disk_usage(path.parent).free
    except OSError as exc:
        raise _Failed("fail", f"cannot inspect {path}: {exc.strerror or exc}") from None
    journal = conn.execute(sa.text("PRAGMA journal_mode")).scalar_one()
    check = conn.execute(sa.text("PRAGMA quick_check")).scalars().all()
    detail = (
        f"SQLite {sqlite3.sqlite_version}; {path}, {size:,} bytes, {free / 2**30:.1f} GiB free; "
        f"journal mode {journal}; directory writable"
    )
    if check != ["ok"]:
        raise _Failed(
            "fail",
            f"PRAGMA quick_check reports corruption: {'; '.join(map(str, check[:3]))}",
            f"restore {path} from a backup, or copy out what is readable with "
            "`tunix-rt trace list --all --jsonl`",
        )
    if free < LOW_DISK_BYTES:
        return Check("server", "warn", detail, f"free disk space on {path.parent}")
    if str(journal).lower() != "wal":
        return Check(
            "server",
            "warn",
            detail,
            "run any tunix-rt command: it switches the file to WAL (readers never block)",
        )
    return Check("server", "ok", detail)


def _check_migrations(ctx: _Context) -> Check:
    with ctx.engine.connect() as conn:
        state = read_state(conn)
    ctx.state = state
    sqlite_hint = " (or any trace command: SQLite files are migrated automatically)"
    if state.at_head:
        return Check("migrations", "ok", f"at head {HEAD}")
    if state.revision is None and state.has_traces_table:
        raise _Failed(
            "fail",
            "a traces table exists but there is no alembic_version table: this schema was "
            "not created by tunix-rt's migrations",
            "back up the table, drop or rename it, then run `tunix-rt db upgrade` and upload "
            "the backup",
        )
    if state.revision is None:
        return Check(
            "migrations",
            "fail",
            f"the database is empty (no tables); this tunix-rt needs {HEAD}",
            UPGRADE + (sqlite_hint if ctx.sqlite_file is not None else ""),
        )
    if not state.known:
        raise _Failed(
            "fail",
            f"the database is at revision {state.revision}, which this tunix-rt does not know: "
            "the database is newer than this tunix-rt",
            "upgrade tunix-rt (`pip install -U tunix-rt`)",
        )
    pending = SCHEMA_REVISIONS[SCHEMA_REVISIONS.index(state.revision) + 1 :]
    return Check(
        "migrations",
        "fail",
        f"behind: at {state.revision}, head is {HEAD}; pending: {', '.join(pending)}",
        UPGRADE + (sqlite_hint if ctx.sqlite_file is not None else ""),
    )


def _check_schema(ctx: _Context) -> Check:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlmodel import SQLModel

    from tunix_rt.models import include_in_comparison

    with ctx.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": include_in_comparison})
        diffs = compare_metadata(context, SQLModel.metadata)
    flat = [d for group in diffs for d in (group if isinstance(group, list) else [group])]
    missing_indexes = [d[1] for d in flat if isinstance(d, tuple) and d[0] == "add_index"]
    others = [d for d in flat if not (isinstance(d, tuple) and d[0] == "add_index")]
    if others:
        raise _Failed(
            "fail",
            f"the database differs from this tunix-rt's models: {_describe_diffs(others)}",
            "restore the schema: `tunix-rt db downgrade base --yes` loses data; prefer "
            "exporting with `tunix-rt trace list --all --jsonl`, recreating the database "
            "and uploading again",
        )
    if missing_indexes:
        names = ", ".join(ix.name for ix in missing_indexes)
        sql = "; ".join(
            f"CREATE INDEX {ix.name} ON {ix.table.name} ({', '.join(c.name for c in ix.columns)})"
            for ix in missing_indexes
        )
        return Check(
            "schema",
            "warn",
            f"index missing: {names} (listing and paging get slow as the table grows)",
            f"recreate it: {sql}",
        )
    return Check("schema", "ok", "tables, columns, constraints and indexes match the models")


def _describe_diffs(diffs: list[Any]) -> str:
    out = []
    for diff in diffs[:5]:
        if isinstance(diff, tuple):
            names = [
                part if isinstance(part, str) else str(getattr(part, "name", ""))
                for part in diff[1:]
                if part is not None and not isinstance(part, dict)
            ]
            out.append(f"{diff[0]} {'.'.join(n for n in names if n)}")
        else:
            out.append(str(diff))
    return "; ".join(out)


def _check_access(ctx: _Context) -> Check:
    probe = {
        "id": uuid.uuid4(),
        "created_at": datetime.now(UTC),
        "trace_version": "doctor",
        "content_hash": f"doctor-probe-{uuid.uuid4().hex}",
        "payload": {},
    }
    try:
        with ctx.engine.connect() as conn:
            tx = conn.begin()
            try:
                conn.execute(repo.traces.insert(), probe)
            finally:
                tx.rollback()
    except sa.exc.DBAPIError as exc:
        message = " ".join(str(exc.orig).split())
        user = make_url(ctx.url).username or "this user"
        if ctx.sqlite_file is not None:
            if "locked" in message:
                raise _sqlite_locked(ctx.sqlite_file) from None
            raise _Failed(
                "fail",
                f"cannot write: {message}",
                f"fix the permissions (`chmod u+w {ctx.sqlite_file} {ctx.sqlite_file.parent}`)",
            ) from None
        raise _Failed(
            "fail",
            f"{user} cannot write to traces: {message}",
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON traces TO {user}; (as the table owner)",
        ) from None
    return Check("access", "ok", "can write (probe insert rolled back)")


def _check_data(ctx: _Context, deep: bool, progress: Progress | None) -> Check:
    bad: list[str] = []
    checked = 0
    with ctx.engine.connect() as conn:
        total = repo.count(conn=conn)
        limit = None if deep else SAMPLE_SIZE
        for trace_id, stored_hash, stored in repo.stored_payloads(conn=conn, limit=limit):
            checked += 1
            try:  # whatever is stored, one row's problem is reported, never raised
                problem = stored_payload_problem(stored, stored_hash)
            except Exception as exc:  # pragma: no cover - stored_payload_problem never raises
                problem = f"cannot be checked ({type(exc).__name__}: {exc})"
            if problem:
                bad.append(f"{trace_id}: {problem}")
            if progress is not None and checked % 500 == 0:
                progress(checked, total if deep else min(total, SAMPLE_SIZE))
    if progress is not None:
        progress(checked, checked)
    scope = "all" if deep or checked == total else f"newest {checked} of"
    if bad:
        return Check(
            "data",
            "fail",
            f"{len(bad)} of {checked} checked traces are damaged, e.g. {bad[0]}",
            "look at them with `tunix-rt trace show ID`; re-upload the originals",
        )
    hint = "" if deep or checked == total else " (--deep checks every trace)"
    return Check(
        "data", "ok", f"{total} traces; {scope} {checked} re-validate and hash correctly{hint}"
    )


def _check_latency(ctx: _Context) -> Check:
    samples = []
    with ctx.engine.connect() as conn:
        for _ in range(5):
            start = time.perf_counter()
            conn.execute(sa.text("SELECT 1")).scalar_one()
            samples.append((time.perf_counter() - start) * 1000)
    median = statistics.median(samples)
    detail = f"median round trip of SELECT 1: {median:.2f} ms"
    if median > 50:
        return Check("latency", "warn", detail, "the database is far away or overloaded")
    return Check("latency", "ok", detail)


@contextmanager
def _verdicts(name: str, out: list[Check], ctx: _Context) -> Iterator[None]:
    try:
        yield
    except _Failed as failed:
        out.append(Check(name, failed.status, failed.detail, failed.fix))
    except sa.exc.SQLAlchemyError as exc:
        message = " ".join(str(getattr(exc, "orig", None) or exc).split())
        if ctx.sqlite_file is not None and "database is locked" in message:
            locked = _sqlite_locked(ctx.sqlite_file)
            out.append(Check(name, locked.status, locked.detail, locked.fix))
        else:
            out.append(Check(name, "fail", f"database error: {message}", "see the detail"))
    except Exception as exc:  # the doctor reports, it never crashes
        out.append(
            Check(
                name,
                "fail",
                f"unexpected error: {type(exc).__name__}: {exc}",
                "report this as a tunix-rt bug, with this output",
            )
        )


def run(flag: str | None, *, deep: bool = False, progress: Progress | None = None) -> list[Check]:
    """Run every check in order; never raises for a broken setup."""
    checks: list[Check] = []
    settings_check, settings = _check_settings(flag)
    checks.append(settings_check)
    steps: list[tuple[str, Callable[[_Context], Check]]] = [
        ("connection", _check_connection),
        ("server", _check_server),
        ("migrations", _check_migrations),
        ("schema", _check_schema),
        ("access", _check_access),
        ("data", lambda c: _check_data(c, deep, progress)),
        ("latency", _check_latency),
    ]
    if settings is None:
        checks += [Check(n, "skipped", "skipped: settings are invalid") for n, _ in steps]
        return _scrub_all(checks, None, flag)
    try:
        engine = make_probe_engine(settings, connect_timeout=CONNECT_TIMEOUT_S)
    except Exception as exc:  # pragma: no cover - settings were validated
        checks.append(Check("connection", "fail", f"cannot build a connection: {exc}"))
        checks += [Check(n, "skipped", "skipped: connection check failed") for n, _ in steps[1:]]
        return _scrub_all(checks, settings.database_url, flag)
    url = settings.database_url
    ctx = _Context(settings, engine, url, sqlite_path(url) if is_sqlite(url) else None)
    blocked: str | None = None
    try:
        for name, step in steps:
            if blocked is not None:
                checks.append(Check(name, "skipped", f"skipped: {blocked}"))
                continue
            before = len(checks)
            with _verdicts(name, checks, ctx):
                checks.append(step(ctx))
            result = checks[before]
            blocked = _blocks(name, result, ctx)
    finally:
        engine.dispose()
    return _scrub_all(checks, settings.database_url, flag)


def _blocks(name: str, result: Check, ctx: _Context) -> str | None:
    """Why later checks cannot run after this result, or None."""
    if result.status == "fail" and name in ("connection", "server", "migrations"):
        return f"{name} check failed"
    if result.status == "warn" and name == "connection":
        return "no database file yet"
    if name == "migrations" and not (ctx.state is not None and ctx.state.at_head):
        return "schema is not at head"
    return None


def _scrub_all(checks: list[Check], url: str | None, flag: str | None) -> list[Check]:
    """Every detail and fix without the password of any URL this process was given."""
    urls = (url, flag, os.environ.get("TUNIX_RT_DATABASE_URL"))

    def scrub(text: str) -> str:
        return redact(text, *urls)

    return [
        Check(c.name, c.status, scrub(c.detail), scrub(c.fix) if c.fix else None) for c in checks
    ]
