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
from collections.abc import Generator, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Connection

from tunix_rt.models import Trace, TraceTag
from tunix_rt.records import DamagedTraceError, RawRow
from tunix_rt.repositories.traces import _newest_first

traces = Trace.__table__  # type: ignore[attr-defined]
trace_tags = TraceTag.__table__  # type: ignore[attr-defined]
FETCH = 1000  # SQLite rows per fetch
_PG_TIME = "to_char(traces.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"
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


def _tags_text(dialect: str) -> ColumnElement[Any]:
    """The trace's tags as one space-separated text (NULL without tags); sorted in Python,
    since a PostgreSQL collation would not sort them by code point."""
    agg = sa.func.group_concat if dialect == "sqlite" else sa.func.string_agg
    return (
        sa.select(agg(trace_tags.c.tag, sa.literal_column("' '")))
        .where(trace_tags.c.trace_id == traces.c.id)
        .scalar_subquery()
    )


def _tags(text: str | None) -> tuple[str, ...]:
    return tuple(sorted(text.split(" "))) if text else ()


def _sqlite_time(text: str) -> str:
    """SQLAlchemy's SQLite DATETIME text of a UTC moment, as `datetime.isoformat()` + UTC."""
    if len(text) == 26 and text[10] == " " and text[19] == ".":
        if text.endswith(".000000"):  # isoformat leaves out zero microseconds
            return f"{text[:10]}T{text[11:19]}+00:00"
        return f"{text[:10]}T{text[11:]}+00:00"
    return datetime.fromisoformat(text).replace(tzinfo=UTC).isoformat()  # pragma: no cover


def _pg_time(text: str) -> str:
    if text.endswith(".000000"):
        return f"{text[:-7]}+00:00"
    return f"{text}+00:00"


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
    if conn.dialect.name == "postgresql":
        yield from _postgres_rows(conn, where, after, limit)
    else:
        yield from _sqlite_rows(conn, where, after, limit)


def _sqlite_rows(
    conn: Connection,
    where: Sequence[ColumnElement[bool]],
    after: tuple[datetime, uuid.UUID] | None,
    limit: int | None,
) -> Generator[RawRow, None, None]:
    columns = (
        traces.c.id,
        traces.c.created_at,
        traces.c.content_hash,
        _tags_text("sqlite"),
        sa.cast(traces.c.payload, sa.LargeBinary),
    )
    sql, params = driver_sql(conn, _newest_first(columns, limit, after, where))
    cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cur.execute(sql, params)
        while batch := cur.fetchmany(FETCH):
            for ident, created, digest, tags, payload in batch:
                yield RawRow(
                    f"{ident[:8]}-{ident[8:12]}-{ident[12:16]}-{ident[16:20]}-{ident[20:]}",
                    _sqlite_time(created),
                    digest,
                    payload,
                    _tags(tags) if tags else (),
                )
    finally:
        cur.close()


def _postgres_rows(
    conn: Connection,
    where: Sequence[ColumnElement[bool]],
    after: tuple[datetime, uuid.UUID] | None,
    limit: int | None,
) -> Generator[RawRow, None, None]:
    import psycopg

    columns: tuple[Any, ...] = (
        sa.cast(traces.c.id, sa.Text),
        sa.literal_column(_PG_TIME),
        traces.c.content_hash,
        _tags_text("postgresql"),
        traces.c.payload,
    )
    sql, params = driver_sql(conn, _newest_first(columns, limit, after, where))
    raw = conn.connection.dbapi_connection
    copy_sql = _PG_COPY.format(sql)
    try:
        with raw.cursor() as cur, cur.copy(copy_sql, params) as copy:  # type: ignore[union-attr]
            for data in copy:
                ident, created, digest, tags, payload = bytes(data).split(b"\x01", 4)
                if payload[:1] == b"\x02":
                    raise DamagedTraceError(
                        f"trace {ident.decode()} is damaged (its stored payload holds raw "
                        "control characters): run `tunix-rt db doctor --deep`"
                    )
                yield RawRow(
                    ident.decode(),
                    _pg_time(created.decode()),
                    digest.decode(),
                    payload[:-1],
                    _tags(tags.decode()) if tags else (),
                )
    except psycopg.Error as error:
        raise sa.exc.DBAPIError.instance(
            copy_sql, params, error, psycopg.Error
        ) from None  # translate_errors turns it into one line
