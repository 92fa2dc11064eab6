"""SQL for `trace stats`: the selected payloads (unordered, streamed) and tag counts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Connection

from tunix_rt.models import Trace, TraceTag

traces = Trace.__table__  # type: ignore[attr-defined]
trace_tags = TraceTag.__table__  # type: ignore[attr-defined]


def payload_texts(*, conn: Connection, where: Sequence[ColumnElement[bool]]) -> Iterator[str]:
    """The payload text of every selected trace, in no particular order."""
    stmt = sa.select(traces.c.payload)
    if where:
        stmt = stmt.where(*where)
    for batch in conn.execution_options(yield_per=5000).execute(stmt).scalars().partitions():
        yield from batch


def ids_and_payload_texts(
    *, conn: Connection, where: Sequence[ColumnElement[bool]]
) -> Iterator[tuple[uuid.UUID, str]]:
    """(id, payload text) of every selected trace, in no particular order."""
    stmt = sa.select(traces.c.id, traces.c.payload)
    if where:
        stmt = stmt.where(*where)
    for row in conn.execution_options(yield_per=5000).execute(stmt):
        yield row[0], row[1]


def tag_counts(*, conn: Connection, where: Sequence[ColumnElement[bool]]) -> list[tuple[str, int]]:
    """Each tag on the selected traces with how many of them carry it, most common first."""
    stmt = (
        sa.select(trace_tags.c.tag, sa.func.count())
        .select_from(trace_tags.join(traces, trace_tags.c.trace_id == traces.c.id))
        .group_by(trace_tags.c.tag)
        .order_by(sa.func.count().desc(), trace_tags.c.tag)
    )
    if where:
        stmt = stmt.where(*where)
    return [(str(tag), int(n)) for tag, n in conn.execute(stmt)]


def tagged_count(*, conn: Connection, where: Sequence[ColumnElement[bool]]) -> int:
    """How many selected traces have at least one tag."""
    has_tag = sa.exists().where(trace_tags.c.trace_id == traces.c.id)
    stmt = sa.select(sa.func.count()).select_from(traces).where(has_tag, *where)
    return int(conn.execute(stmt).scalar_one())


def tags_by_trace(
    *, conn: Connection, where: Sequence[ColumnElement[bool]]
) -> dict[uuid.UUID, list[str]]:
    stmt = sa.select(trace_tags.c.trace_id, trace_tags.c.tag).select_from(
        trace_tags.join(traces, trace_tags.c.trace_id == traces.c.id)
    )
    if where:
        stmt = stmt.where(*where)
    out: dict[uuid.UUID, list[str]] = {}
    for trace_id, tag in conn.execution_options(yield_per=5000).execute(stmt):
        out.setdefault(trace_id, []).append(tag)
    return out
