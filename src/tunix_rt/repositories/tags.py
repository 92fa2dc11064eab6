"""SQL for `trace_tags`: curation labels, one row per (trace, tag).

Tags live in their own table and never touch a trace's payload or content hash. Deleting a
trace deletes its tags (ON DELETE CASCADE). Adding a tag a trace already has is not an error
(the primary key (trace_id, tag) turns it into nothing), so counts of what changed come from
the database's own row counts.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Connection

from tunix_rt.models import Trace, TraceTag
from tunix_rt.records import TraceRow

traces = Trace.__table__  # type: ignore[attr-defined]
trace_tags = TraceTag.__table__  # type: ignore[attr-defined]
_CHUNK = 500  # ids per IN (...) list
ATTACH_CHUNK = 1000  # rows of a stream given their tags at a time


def _insert_ignoring_duplicates(conn: Connection) -> sa.Insert:
    """INSERT INTO trace_tags that skips (trace, tag) pairs already stored."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert

        return insert(trace_tags).on_conflict_do_nothing()
    # OR IGNORE covers the primary key only; a trace that is gone still fails its foreign key.
    return sa.insert(trace_tags).prefix_with("OR IGNORE")


def add(*, conn: Connection, tag: str, where: Sequence[ColumnElement[bool]]) -> int:
    """Give `tag` to every trace `where` selects; return how many did not have it yet."""
    chosen = sa.select(traces.c.id, sa.literal(tag, sa.String())).where(*where)
    stmt = _insert_ignoring_duplicates(conn).from_select(["trace_id", "tag"], chosen)
    return int(conn.execute(stmt, execution_options={"preserve_rowcount": True}).rowcount)


def remove(*, conn: Connection, tag: str, where: Sequence[ColumnElement[bool]]) -> int:
    """Take `tag` off every trace `where` selects; return how many had it."""
    chosen = sa.select(traces.c.id).where(*where)
    stmt = sa.delete(trace_tags).where(trace_tags.c.tag == tag, trace_tags.c.trace_id.in_(chosen))
    return int(conn.execute(stmt).rowcount)


_SQLITE_ADD_PAIRS = "INSERT OR IGNORE INTO trace_tags (trace_id, tag) VALUES (?, ?)"
_PG_ADD_PAIRS = (
    "INSERT INTO trace_tags (trace_id, tag) "
    "SELECT * FROM unnest(%s::uuid[], %s::text[]) ON CONFLICT DO NOTHING"
)


def add_pairs(*, conn: Connection, pairs: Iterable[tuple[str | uuid.UUID, str]]) -> None:
    """Store (trace id, tag) pairs, skipping those already stored: upload's path.

    Under SQLAlchemy, straight to the driver, as the traces of the batch went: one prepared
    `executemany` on SQLite (ids as the 32 hex digits SQLite stores), one statement over two
    arrays on PostgreSQL. Sorted first: the ids are random, and inserting a batch in key
    order visits each page of the (trace_id, tag) index once (200,000 pairs into SQLite in
    batches of 10,000: 1.5 s sorted, 2.9 s as they came).
    """
    unique = sorted({(str(ident), tag) for ident, tag in pairs})
    if not unique:
        return
    raw = conn.connection.dbapi_connection
    assert raw is not None
    cur = raw.cursor()
    try:
        if conn.dialect.name == "postgresql":
            cur.execute(_PG_ADD_PAIRS, ([i for i, _ in unique], [t for _, t in unique]))
        else:
            cur.executemany(_SQLITE_ADD_PAIRS, [(i.replace("-", ""), t) for i, t in unique])
    finally:
        cur.close()


def count_on(*, conn: Connection, where: Sequence[ColumnElement[bool]]) -> int:
    """How many tags the traces `where` selects carry in all."""
    chosen = sa.select(traces.c.id).where(*where)
    stmt = sa.select(sa.func.count()).select_from(trace_tags)
    return int(conn.execute(stmt.where(trace_tags.c.trace_id.in_(chosen))).scalar_one())


def counts(*, conn: Connection, where: Sequence[ColumnElement[bool]] = ()) -> list[tuple[str, int]]:
    """Every tag with the number of traces (of those `where` selects) that carry it, by name.

    Sorted here, by code point: a PostgreSQL collation would order `a-b`, `a_b` and `ab`
    differently from SQLite."""
    stmt = sa.select(trace_tags.c.tag, sa.func.count()).group_by(trace_tags.c.tag)
    if where:
        stmt = stmt.where(trace_tags.c.trace_id.in_(sa.select(traces.c.id).where(*where)))
    return sorted((tag, int(n)) for tag, n in conn.execute(stmt))


def of(*, conn: Connection, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, tuple[str, ...]]:
    """The tags of each of `ids` (sorted; traces without tags are left out)."""
    found: dict[uuid.UUID, list[str]] = {}
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), _CHUNK):
        chunk = unique[start : start + _CHUNK]
        stmt = sa.select(trace_tags.c.trace_id, trace_tags.c.tag).where(
            trace_tags.c.trace_id.in_(chunk)
        )
        for ident, tag in conn.execute(stmt):
            found.setdefault(ident, []).append(tag)
    return {ident: tuple(sorted(tags)) for ident, tags in found.items()}


def attach(*, conn: Connection, rows: Sequence[TraceRow]) -> list[TraceRow]:
    """`rows` with their tags (one query per 500 rows)."""
    found = of(conn=conn, ids=[r.id for r in rows])
    return [replace(r, tags=found[r.id]) if r.id in found else r for r in rows]


def attach_stream(*, conn: Connection, rows: Iterable[TraceRow]) -> Iterator[TraceRow]:
    """A stream of rows with their tags, ATTACH_CHUNK rows at a time (constant memory)."""
    chunk: list[TraceRow] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == ATTACH_CHUNK:
            yield from attach(conn=conn, rows=chunk)
            chunk = []
    if chunk:
        yield from attach(conn=conn, rows=chunk)
