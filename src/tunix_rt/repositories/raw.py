"""Stored traces read as stored: the fast read path of `trace list --jsonl` and exports.

Rows come back as `records.RawRow`: the payload is the stored canonical JSON, never decoded
here; id, time and tags are turned into the text every output prints. The order is the one of
every list, newest first with ties broken by id (descending), and the selection is any
`repositories.where` condition, so a filter means the same here as everywhere else.

Under SQLAlchemy, straight to the driver (no per-row type processing): the statement is built
and compiled by SQLAlchemy once, then run on the driver's own cursor.

- SQLite: the sqlite3 cursor, a thousand rows per fetch; `CAST(payload AS BLOB)` hands the
  stored UTF-8 over as bytes.
- PostgreSQL: `COPY (SELECT ...) TO STDOUT` in CSV with U+0001 as delimiter and U+0002 as
  quote. COPY streams rows without a server-side cursor's round trips, and CSV escapes
  nothing: canonical JSON holds no raw control character, so each row arrives as
  `id␁created_at␁content_hash␁tags␁payload` and the payload's bytes are the stored ones. A
  payload that needed quoting (a raw newline, say) was changed outside tunix-rt: it is
  reported as damaged. Parameters are bound on the client by psycopg, as COPY needs.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Generator, Sequence
from contextlib import closing
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import ColumnElement, Connection

from tunix_rt.models import Trace, TraceTag
from tunix_rt.records import DamagedTraceError, RawRow, line_bytes
from tunix_rt.repositories.traces import _newest_first

traces = Trace.__table__  # type: ignore[attr-defined]
trace_tags = TraceTag.__table__  # type: ignore[attr-defined]
FETCH = 1000  # SQLite rows per fetch
PG_BATCH = 10_000  # PostgreSQL rows per COPY statement
_UTC = "(traces.created_at AT TIME ZONE 'UTC')"
# created_at as `datetime.isoformat()` writes a UTC moment (no fraction when it is zero)
_PG_TIME = (
    f"to_char({_UTC}, CASE WHEN date_trunc('second', {_UTC}) = {_UTC} "
    'THEN \'YYYY-MM-DD"T"HH24:MI:SS"+00:00"\' '
    'ELSE \'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"\' END)'
)
_PG_COPY = "COPY ({}) TO STDOUT WITH (FORMAT csv, DELIMITER E'\\x01', QUOTE E'\\x02')"


def driver_sql(conn: Connection, stmt: sa.Select[Any]) -> tuple[str, Any]:
    """`stmt` as the driver runs it: SQL text and parameters (bind processors applied)."""
    compiled = stmt.compile(dialect=conn.dialect)
    state = compiled.construct_expanded_state()
    # What SQLAlchemy's own execution does: the compiled statement's processors, plus those
    # of the parameters an IN list expanded into.
    processors: dict[str, Any] = {**compiled._bind_processors, **state.processors}
    params = {
        key: processors[key](value) if processors.get(key) is not None else value
        for key, value in state.parameters.items()
    }
    if state.positiontup is not None:
        return state.statement, tuple(params[key] for key in state.positiontup)
    return state.statement, params


def _tags_text(conn: Connection) -> ColumnElement[Any]:
    """The trace's tags as one space-separated text (NULL without tags); sorted in Python,
    since a PostgreSQL collation would not sort them by code point. A database without any
    tag is asked nothing per row."""
    if conn.execute(sa.select(sa.exists().select_from(trace_tags))).scalar_one() is False:
        return sa.null()
    agg = sa.func.group_concat if conn.dialect.name == "sqlite" else sa.func.string_agg
    return (
        sa.select(agg(trace_tags.c.tag, sa.literal_column("' '")))
        .where(trace_tags.c.trace_id == traces.c.id)
        .scalar_subquery()
    )


def _tags_json(text: bytes | None) -> bytes:
    return orjson.dumps(sorted(text.decode().split(" "))) if text else b"[]"


def _tags(text: str | None) -> tuple[str, ...]:
    return tuple(sorted(text.split(" "))) if text else ()


def _sqlite_time(text: str) -> str:
    """SQLAlchemy's SQLite DATETIME text of a UTC moment, as `datetime.isoformat()` + UTC."""
    if len(text) == 26 and text[10] == " " and text[19] == ".":
        if text.endswith(".000000"):  # isoformat leaves out zero microseconds
            return f"{text[:10]}T{text[11:19]}+00:00"
        return f"{text[:10]}T{text[11:]}+00:00"
    return datetime.fromisoformat(text).replace(tzinfo=UTC).isoformat()  # pragma: no cover


def rows(
    *,
    conn: Connection,
    where: Sequence[ColumnElement[bool]] = (),
    after: tuple[datetime, uuid.UUID] | None = None,
    limit: int | None = None,
) -> Generator[RawRow, None, None]:
    """The selected traces, newest first (ties by id, descending), as stored.

    `after` is the (created_at, id) of the last row already seen (keyset paging), `limit`
    the most rows to return.
    """
    found, make = sources(conn=conn, where=where, after=after, limit=limit)
    # Closed explicitly, even when this raises: a PostgreSQL COPY left open would make the
    # connection's rollback wait for the server forever.
    with closing(found):
        for source in found:
            yield make(source)


def sources(
    *,
    conn: Connection,
    where: Sequence[ColumnElement[bool]] = (),
    after: tuple[datetime, uuid.UUID] | None = None,
    limit: int | None = None,
) -> tuple[Generator[Any, None, None], Callable[[Any], RawRow]]:
    """The rows of `rows` as the driver hands them over, and the pure function that makes a
    RawRow of one: an export makes them in its worker processes, not in the process that
    reads (close the generator when done, as `rows` does)."""
    if conn.dialect.name == "postgresql":
        return _batches(conn, _pg_columns(conn), where, after, limit, _row_key), pg_raw_row
    return _sqlite(conn, after, limit, where), sqlite_raw_row


def sqlite_raw_row(source: tuple[str, str, str, str | None, bytes]) -> RawRow:
    """A RawRow of a SQLite row: (hex id, created_at text, content_hash, tags, payload)."""
    ident, created, digest, tags, payload = source
    return RawRow(
        f"{ident[:8]}-{ident[8:12]}-{ident[12:16]}-{ident[16:20]}-{ident[20:]}",
        _sqlite_time(created),
        digest,
        payload,
        _tags(tags) if tags else (),
    )


def pg_raw_row(source: bytes) -> RawRow:
    """A RawRow of a COPY row: id, created_at, content_hash, tags, payload."""
    field = source.split(b"\x01", 4)
    if field[4][:1] == b"\x02":  # quoted: it holds raw control characters
        raise _damaged(field[0].decode())
    return RawRow(
        field[0].decode(),
        field[1].decode(),
        field[2].decode(),
        field[4][:-1],
        _tags(field[3].decode()) if field[3] else (),
    )


def lines(
    *,
    conn: Connection,
    where: Sequence[ColumnElement[bool]] = (),
    after: tuple[datetime, uuid.UUID] | None = None,
    limit: int | None = None,
) -> Generator[tuple[bytes, int], None, None]:
    """The same traces as `rows`, as their JSON lines (`records.line_bytes`), in blocks of
    a thousand: (complete lines, each ending in a newline; how many). `trace list --jsonl` and
    `trace export --to jsonl`: the fields stay the bytes the driver hands over, no RawRow is
    made and nothing is encoded.

    (Building the lines in PostgreSQL instead cost the server more per trace than this
    process spends: `concat`, `to_json` and the sort `string_agg` needs; the columns COPY
    sends here cost it about what `psql \\copy` of the payloads does.)
    """
    parts: list[bytes] = []
    if conn.dialect.name == "postgresql":
        columns = _pg_columns(conn)
        with closing(_batches(conn, columns, where, after, limit, _row_key)) as copied:
            for data in copied:
                ident, created, digest, tags, payload = data.split(b"\x01", 4)
                if payload[:1] == b"\x02":  # quoted: it holds raw control characters
                    raise _damaged(ident.decode())
                parts.append(line_bytes(ident, created, digest, payload[:-1], _tags_json(tags)))
                if len(parts) == FETCH:
                    yield b"".join(parts), FETCH
                    parts = []
    else:
        for hex_id, stamp, digest, tags, payload in _sqlite(conn, after, limit, where, blob=True):
            ident = b"-".join((hex_id[:8], hex_id[8:12], hex_id[12:16], hex_id[16:20], hex_id[20:]))
            if len(stamp) == 26 and stamp[19:20] == b".":  # SQLAlchemy's SQLite DATETIME text
                created = (
                    stamp[:10]
                    + b"T"
                    + (stamp[11:19] if stamp[20:] == b"000000" else stamp[11:])
                    + b"+00:00"
                )
            else:  # pragma: no cover - not written by tunix-rt
                created = _sqlite_time(stamp.decode()).encode()
            parts.append(line_bytes(ident, created, digest, payload, _tags_json(tags)))
            if len(parts) == FETCH:
                yield b"".join(parts), FETCH
                parts = []
    if parts:
        yield b"".join(parts), len(parts)


def _damaged(ident: str) -> DamagedTraceError:
    return DamagedTraceError(
        f"trace {ident} is damaged (its stored payload is not canonical JSON): "
        "run `tunix-rt db doctor --deep`"
    )


def _pg_columns(conn: Connection) -> tuple[Any, ...]:
    """id, created_at (as isoformat writes it), content_hash, tags text, payload."""
    return (
        sa.cast(traces.c.id, sa.Text),
        sa.literal_column(_PG_TIME),
        traces.c.content_hash,
        _tags_text(conn),
        traces.c.payload,
    )


def _sqlite(
    conn: Connection,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int | None,
    where: Sequence[ColumnElement[bool]],
    *,
    blob: bool = False,
) -> Generator[Any, None, None]:
    """(hex id, created_at text, content_hash, tags text, payload bytes), FETCH at a time;
    with `blob` every field as bytes (SQLite hands text over as it stores it: UTF-8)."""

    def field(column: Any) -> Any:
        return sa.cast(column, sa.LargeBinary) if blob else column

    columns = (
        field(traces.c.id),
        field(traces.c.created_at),
        field(traces.c.content_hash),
        field(_tags_text(conn)),
        sa.cast(traces.c.payload, sa.LargeBinary),
    )
    sql, params = driver_sql(conn, _newest_first(columns, limit, after, where))
    cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cur.execute(sql, params)
        while batch := cur.fetchmany(FETCH):
            yield from batch
    finally:
        cur.close()


def snapshot(conn: Connection) -> None:
    """Make `conn` read one snapshot of the database for its whole transaction (call before
    anything runs on it): PostgreSQL reads a big selection in keyset batches (`_batches`),
    which must all see the same data. SQLite reads it in one statement anyway."""
    if conn.dialect.name == "postgresql":
        conn.execution_options(isolation_level="REPEATABLE READ")  # in place


def _row_key(data: bytes) -> tuple[datetime, uuid.UUID]:
    ident, created, _ = data.split(b"\x01", 2)
    return datetime.fromisoformat(created.decode()), uuid.UUID(ident.decode())


def _batches(
    conn: Connection,
    columns: Sequence[Any],
    where: Sequence[ColumnElement[bool]],
    after: tuple[datetime, uuid.UUID] | None,
    limit: int | None,
    key: Callable[[bytes], tuple[datetime, uuid.UUID]],
) -> Generator[bytes, None, None]:
    """The selection, newest first, as COPY rows, PG_BATCH rows per statement.

    One ordered statement over a whole big table lets PostgreSQL's planner pick a sequential
    scan and a sort, spilled to disk: slower than the psql baseline by 5x. With a LIMIT it
    walks the (created_at, id) index, and each batch starts after the last row of the one
    before (`key` reads that row's position from it). Call `snapshot` first.
    """
    remaining = limit
    while True:
        size = PG_BATCH if remaining is None else min(PG_BATCH, remaining)
        stmt = _newest_first(columns, size, after, where).select_from(traces)
        count = 0
        last: bytes | None = None
        with closing(_copy(conn, stmt)) as copied:
            for last in copied:
                count += 1
                yield last
        if count < size or last is None:
            return
        if remaining is not None:
            remaining -= count
            if not remaining:
                return
        after = key(last)


def _copy(conn: Connection, stmt: sa.Select[Any]) -> Generator[bytes, None, None]:
    """The rows of `stmt` as COPY hands them over: one buffer per row, fields separated by
    U+0001, ending in a newline."""
    import psycopg

    sql, params = driver_sql(conn, stmt)
    copy_sql = _PG_COPY.format(sql)
    raw = conn.connection.dbapi_connection
    try:
        with raw.cursor() as cur, cur.copy(copy_sql, params) as copy:  # type: ignore[union-attr]
            for data in copy:
                yield bytes(data)
    except psycopg.Error as error:
        raise sa.exc.DBAPIError.instance(
            copy_sql, params, error, psycopg.Error
        ) from None  # translate_errors turns it into one line
