"""SQL for the `traces` table.

Bulk inserts go through SQLAlchemy Core with the database's own conflict handling
(`ON CONFLICT DO NOTHING ... RETURNING`), so concurrent uploads of the same trace store it
once without a read-then-write race. Reads use keyset pagination on (created_at, id).
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

traces = Trace.__table__  # type: ignore[attr-defined]
_COLUMNS = (
    traces.c.id,
    traces.c.created_at,
    traces.c.trace_version,
    traces.c.content_hash,
    traces.c.payload,
)


@dataclass(frozen=True, slots=True)
class TraceRow:
    id: uuid.UUID
    created_at: datetime
    trace_version: str
    content_hash: str
    payload: dict[str, Any]


def _row(row: Any) -> TraceRow:
    return TraceRow(row[0], row[1], row[2], row[3], row[4])


def insert_new(*, conn: Connection, rows: Sequence[dict[str, Any]]) -> dict[str, uuid.UUID]:
    """Insert rows whose content_hash (or id) is not stored yet; return hash -> id inserted."""
    if not rows:
        return {}
    # Imported here: the PostgreSQL dialect costs SQLite-only commands start-up time.
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        base = pg_insert(traces)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        base = sqlite_insert(traces)  # type: ignore[assignment]
    stmt = base.on_conflict_do_nothing().returning(traces.c.content_hash, traces.c.id)
    result = conn.execute(stmt, list(rows))
    return {row[0]: row[1] for row in result}


def ids_by_hash(*, conn: Connection, hashes: Sequence[str]) -> dict[str, uuid.UUID]:
    if not hashes:
        return {}
    stmt = sa.select(traces.c.content_hash, traces.c.id).where(
        traces.c.content_hash.in_(list(hashes))
    )
    return {row[0]: row[1] for row in conn.execute(stmt)}


def page(
    *, conn: Connection, limit: int | None, after: tuple[datetime, uuid.UUID] | None
) -> Iterator[TraceRow]:
    """Newest first, ties broken by id (descending); `after` is the last row already seen."""
    stmt = sa.select(*_COLUMNS).order_by(traces.c.created_at.desc(), traces.c.id.desc())
    if after is not None:
        stmt = stmt.where(
            sa.tuple_(traces.c.created_at, traces.c.id)
            < sa.tuple_(sa.literal(after[0], UTCDateTime()), sa.literal(after[1], sa.Uuid()))
        )
    if limit is not None:
        stmt = stmt.limit(limit)
    for row in conn.execution_options(yield_per=1000).execute(stmt):
        yield _row(row)


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
