"""SQL for `trace dupes`: the selected traces with what was computed for them before
(`trace_sketches`), storing what was computed now, and payloads and times by id."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Connection

from tunix_rt.models import Trace, TraceSketch

traces = Trace.__table__  # type: ignore[attr-defined]
sketches = TraceSketch.__table__  # type: ignore[attr-defined]
CHUNK = 500  # ids per IN (...) list
STORE_CHUNK = 2000  # rows per executemany


class Scanned(NamedTuple):
    """A selected trace: its stored sketch when it is still valid, else its payload. The id
    is text as the database writes it (32 hex digits on SQLite, the dashed form on
    PostgreSQL: either sorts like the UUIDs), so a scan builds no UUID objects."""

    id: str
    content_hash: str
    exact_key: str | None
    signature: bytes | None
    payload: str | None


def scan(
    *,
    conn: Connection,
    where: Sequence[ColumnElement[bool]],
    scheme: str,
    signature_bytes: int | None,
) -> Iterator[Scanned]:
    """Every selected trace (unordered). The payload is read only for a trace whose sketch
    is missing or stale (other content hash or scheme) or, when signatures of
    `signature_bytes` are wanted, has none of that size."""
    near = signature_bytes is not None
    valid = sa.and_(
        sketches.c.trace_id == traces.c.id,
        sketches.c.content_hash == traces.c.content_hash,
        sketches.c.scheme == scheme,
    )
    missing = sketches.c.trace_id.is_(None)
    if near:
        missing = sa.or_(
            missing,
            sketches.c.signature.is_(None),
            sa.func.length(sketches.c.signature) != signature_bytes,
        )
    stmt = sa.select(
        sa.cast(traces.c.id, sa.Text()),
        traces.c.content_hash,
        sketches.c.exact_key,
        sketches.c.signature if near else sa.null(),
        sa.case((missing, traces.c.payload), else_=sa.null()),
    ).select_from(traces.outerjoin(sketches, valid))
    if where:
        stmt = stmt.where(*where)
    for part in conn.execute(stmt.execution_options(yield_per=5000)).partitions():
        for row in part:
            yield Scanned(row[0], row[1], row[2], row[3], row[4])


def store(*, conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert or replace sketches (`trace_id`, `content_hash`, `scheme`, `exact_key`,
    `signature`)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert

        pg = insert(sketches)
        stmt: sa.Insert = pg.on_conflict_do_update(
            index_elements=[sketches.c.trace_id],
            set_={
                name: pg.excluded[name]
                for name in ("content_hash", "scheme", "exact_key", "signature")
            },
        )
    else:
        # The driver directly: SQLAlchemy's per-row processing would double the cost. Ids
        # are stored as SQLAlchemy's Uuid stores them on SQLite (32 hex digits).
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.executemany(
            "INSERT OR REPLACE INTO trace_sketches "
            "(trace_id, content_hash, scheme, exact_key, signature) VALUES (?, ?, ?, ?, ?)",
            (
                (r["trace_id"].hex, r["content_hash"], r["scheme"], r["exact_key"], r["signature"])
                for r in rows
            ),
        )
        return
    for start in range(0, len(rows), STORE_CHUNK):
        conn.execute(stmt, list(rows[start : start + STORE_CHUNK]))


def created(*, conn: Connection, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, datetime]:
    """When each of `ids` was stored."""
    out: dict[uuid.UUID, datetime] = {}
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), CHUNK):
        chunk = unique[start : start + CHUNK]
        stmt = sa.select(traces.c.id, traces.c.created_at).where(traces.c.id.in_(chunk))
        out.update((row[0], row[1]) for row in conn.execute(stmt))
    return out
