"""SQL for the `traces` table.

Bulk inserts go under the ORM to the driver (executemany on SQLite, COPY on PostgreSQL) with
the database's own conflict handling, so concurrent uploads of the same trace store it once.
Reads use keyset pagination on (created_at, id).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from tunix_rt.models import Trace, UTCDateTime
from tunix_rt.records import NewRow, TraceRow, parse_payload

traces = Trace.__table__  # type: ignore[attr-defined]
_COLUMNS = (
    traces.c.id,
    traces.c.created_at,
    traces.c.trace_version,
    traces.c.content_hash,
    traces.c.payload,
)


def _row(row: Any) -> TraceRow:
    return TraceRow(row[0], row[1], row[2], row[3], parse_payload(row[4], row[0]))


@dataclass
class BulkState:
    """What one upload has learnt about its batches so far.

    `direct`: write the next batch straight into `traces` under a savepoint, which is the
    cheap path when its traces are new (the common case); once a batch conflicts (a trace
    already stored, by this upload or a concurrent one) later batches look up the stored
    hashes first, until one finds none again.
    """

    direct: bool = True


Stored = tuple[dict[str, str], dict[str, str]]


def bulk_insert(
    *, conn: Connection, rows: Sequence[NewRow], state: BulkState | None = None
) -> Stored:
    """Insert rows whose content_hash is new; return (inserted, already stored) hash -> id.

    `rows` must have distinct hashes. Under the ORM, straight to the driver. A batch goes in
    one of two ways (`BulkState` chooses): directly (SQLite: one `executemany`; PostgreSQL:
    one COPY into `traces`) under a savepoint that is rolled back when any row conflicts;
    or the careful way, which lets the database's conflict handling skip what is already
    stored (SQLite: look the hashes up, then `INSERT ... ON CONFLICT DO NOTHING`;
    PostgreSQL: COPY into a staging table, then one `INSERT ... SELECT ... ON CONFLICT DO
    NOTHING RETURNING`). A concurrent upload of the same trace makes the direct way fail or
    wait, never store it twice: the unique index decides either way.
    """
    if not rows:
        return {}, {}
    state = state if state is not None else BulkState()
    if conn.dialect.name == "postgresql":
        return _bulk_postgres(conn, rows, state)
    return _bulk_sqlite(conn, rows, state)


_SQLITE_VARS = 900  # stay far below SQLite's bound-variable limit
_SQLITE_INSERT = (
    "INSERT INTO traces (id, created_at, trace_version, content_hash, payload) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)


def _text_id(hex32: str) -> str:
    return f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:]}"


def _sqlite_existing(cur: Any, hashes: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for start in range(0, len(hashes), _SQLITE_VARS):
        chunk = hashes[start : start + _SQLITE_VARS]
        marks = ",".join("?" * len(chunk))
        query = f"SELECT content_hash, id FROM traces WHERE content_hash IN ({marks})"
        for digest, ident in cur.execute(query, chunk):
            found[digest] = _text_id(ident)
    return found


def _sqlite_params(rows: Sequence[NewRow]) -> list[tuple[str, str, str, str, str]]:
    return [
        (
            r.id.replace("-", ""),  # sa.Uuid on SQLite: 32 hex digits
            r.created_at,  # SQLAlchemy's SQLite DATETIME text, UTC
            r.trace_version,
            r.content_hash,
            r.payload.decode("utf-8"),
        )
        for r in rows
    ]


def _bulk_sqlite(conn: Connection, rows: Sequence[NewRow], state: BulkState) -> Stored:
    # The caller holds SQLite's write lock (BEGIN IMMEDIATE) for the whole upload, so no
    # other writer can slip in between a lookup and the insert.
    cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if state.direct:
            cur.execute("SAVEPOINT tunix_rt_batch")
            cur.executemany(_SQLITE_INSERT, _sqlite_params(rows))
            if cur.rowcount == len(rows):
                cur.execute("RELEASE tunix_rt_batch")
                return {r.content_hash: r.id for r in rows}, {}
            cur.execute("ROLLBACK TO tunix_rt_batch")
            cur.execute("RELEASE tunix_rt_batch")
        existing = _sqlite_existing(cur, [r.content_hash for r in rows])
        state.direct = not existing
        fresh = [r for r in rows if r.content_hash not in existing]
        cur.executemany(_SQLITE_INSERT, _sqlite_params(fresh))
        if cur.rowcount == len(fresh):
            return {r.content_hash: r.id for r in fresh}, existing
        # Something else conflicted (an id stored with other content): ask the table.
        stored = _sqlite_existing(cur, [r.content_hash for r in fresh])
        inserted = {r.content_hash: r.id for r in fresh if stored.get(r.content_hash) == r.id}
        return inserted, existing
    finally:
        cur.close()


_PG_COLUMNS = "(id, created_at, trace_version, content_hash, payload)"
_PG_STAGING = (
    "CREATE TEMP TABLE IF NOT EXISTS tunix_rt_staging "
    "(id uuid, created_at timestamptz, trace_version text, content_hash text, payload text) "
    "ON COMMIT DROP"
)
_PG_MOVE = (
    f"INSERT INTO traces {_PG_COLUMNS} "
    "SELECT id, created_at, trace_version, content_hash, payload FROM tunix_rt_staging "
    "ON CONFLICT DO NOTHING RETURNING content_hash, id::text"
)


def _copy_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _copy_text(rows: Sequence[NewRow]) -> bytes:
    """The rows in COPY's text format, written directly: psycopg's per-row adaptation
    (`write_row`) cost more than the server's work. Canonical JSON holds no raw tab or
    newline, so doubling its backslashes is all the escaping it needs."""
    buf = bytearray()
    for r in rows:
        version = _copy_escape(r.trace_version)
        buf += f"{r.id}\t{r.created_at}+00\t{version}\t{r.content_hash}\t".encode()
        buf += r.payload.replace(b"\\", b"\\\\")
        buf += b"\n"
    return bytes(buf)


def _pg_direct(cur: Any, data: bytes) -> bool:
    """COPY straight into `traces` under a savepoint; False (and nothing written) when a row
    conflicts with a stored one, or with one a concurrent upload is writing."""
    from psycopg import errors

    cur.execute("SAVEPOINT tunix_rt_batch")
    try:
        with cur.copy(f"COPY traces {_PG_COLUMNS} FROM STDIN") as copy:
            copy.write(data)
    except (errors.UniqueViolation, errors.DeadlockDetected):
        cur.execute("ROLLBACK TO SAVEPOINT tunix_rt_batch")
        cur.execute("RELEASE SAVEPOINT tunix_rt_batch")
        return False
    cur.execute("RELEASE SAVEPOINT tunix_rt_batch")
    return True


def _bulk_postgres(conn: Connection, rows: Sequence[NewRow], state: BulkState) -> Stored:
    raw = conn.connection.dbapi_connection
    data = _copy_text(rows)
    with raw.cursor() as cur:  # type: ignore[union-attr]
        if state.direct and _pg_direct(cur, data):
            return {r.content_hash: r.id for r in rows}, {}
        cur.execute(_PG_STAGING)
        cur.execute("TRUNCATE tunix_rt_staging")
        with cur.copy(f"COPY tunix_rt_staging {_PG_COLUMNS} FROM STDIN") as copy:
            copy.write(data)
        cur.execute(_PG_MOVE)
        inserted = dict(cur.fetchall())
        missing = [r.content_hash for r in rows if r.content_hash not in inserted]
        existing: dict[str, str] = {}
        if missing:
            cur.execute(
                "SELECT content_hash, id::text FROM traces WHERE content_hash = ANY(%s)", (missing,)
            )
            existing = dict(cur.fetchall())
        state.direct = not missing
    return inserted, existing


def _newest_first(
    columns: Sequence[Any],
    limit: int | None,
    after: tuple[datetime, uuid.UUID] | None,
    where: Sequence[sa.ColumnElement[bool]] = (),
) -> sa.Select[Any]:
    stmt = sa.select(*columns).order_by(traces.c.created_at.desc(), traces.c.id.desc())
    if where:
        stmt = stmt.where(*where)
    if after is not None:
        stmt = stmt.where(
            sa.tuple_(traces.c.created_at, traces.c.id)
            < sa.tuple_(sa.literal(after[0], UTCDateTime()), sa.literal(after[1], sa.Uuid()))
        )
    if limit is not None:
        stmt = stmt.limit(limit)
    return stmt


def page(
    *,
    conn: Connection,
    limit: int | None,
    after: tuple[datetime, uuid.UUID] | None,
    where: Sequence[sa.ColumnElement[bool]] = (),
) -> Iterator[TraceRow]:
    """Newest first, ties broken by id (descending); `after` is the last row already seen;
    `where` the conditions of a filter (`repositories.where`).

    Streamed (yield_per) by an option on the statement: `Connection.execution_options`
    would change the caller's connection, and every later statement on it (a DELETE
    included) would then run as a server-side cursor on PostgreSQL."""
    stmt = _newest_first(_COLUMNS, limit, after, where).execution_options(yield_per=1000)
    for row in conn.execute(stmt):
        yield _row(row)


def stored_payloads(*, conn: Connection, limit: int | None) -> Iterator[tuple[uuid.UUID, str, str]]:
    """(id, content_hash, payload text exactly as stored), newest first: for checking data."""
    columns = (traces.c.id, traces.c.content_hash, traces.c.payload)
    stmt = _newest_first(columns, limit, None).execution_options(yield_per=1000)
    for row in conn.execute(stmt):
        yield row[0], row[1], row[2]


def by_id_prefix(
    *, conn: Connection, low: uuid.UUID, high: uuid.UUID, limit: int
) -> list[TraceRow]:
    stmt = (
        sa.select(*_COLUMNS)
        .where(traces.c.id.between(low, high))
        .order_by(traces.c.id)
        .limit(limit)
    )
    return [_row(row) for row in conn.execute(stmt)]


def count(*, conn: Connection) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(traces)).scalar_one())


def payloads_of(*, conn: Connection, ids: Sequence[uuid.UUID]) -> Iterator[tuple[uuid.UUID, str]]:
    """(id, stored payload text) of each of `ids` that is stored, 500 ids per query."""
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), 500):
        stmt = sa.select(traces.c.id, traces.c.payload).where(
            traces.c.id.in_(unique[start : start + 500])
        )
        for row in conn.execute(stmt):
            yield row[0], row[1]


def missing_ids(*, conn: Connection, ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    """The ids (in the given order) that no stored trace has."""
    found: set[uuid.UUID] = set()
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        found.update(conn.execute(sa.select(traces.c.id).where(traces.c.id.in_(chunk))).scalars())
    return [i for i in unique if i not in found]
