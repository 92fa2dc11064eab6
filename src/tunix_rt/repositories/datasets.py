"""SQL for frozen datasets: `datasets` (one row per name and version) and `dataset_traces`
(one row per trace in a dataset: its content hash at build time and its split)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Connection

from tunix_rt.models import Dataset, DatasetTrace, Trace

traces = Trace.__table__  # type: ignore[attr-defined]
datasets = Dataset.__table__  # type: ignore[attr-defined]
members = DatasetTrace.__table__  # type: ignore[attr-defined]
_CHUNK = 1000  # member rows per INSERT
FETCH = 2000


def candidates(
    *, conn: Connection, where: Sequence[ColumnElement[bool]], limit: int | None
) -> Iterator[tuple[str, datetime, str, str]]:
    """(id, created_at, content_hash, stored payload) of the selected traces, streamed; with
    `limit`, the newest `limit` of them (ties by id, desc), newest first, else in no order."""
    stmt = sa.select(traces.c.id, traces.c.created_at, traces.c.content_hash, traces.c.payload)
    stmt = stmt.where(*where)
    if limit is not None:
        stmt = stmt.order_by(traces.c.created_at.desc(), traces.c.id.desc()).limit(limit)
    result = conn.execute(stmt.execution_options(yield_per=FETCH))
    for ident, created_at, digest, payload in result:
        yield str(ident), created_at, digest, payload


def find(*, conn: Connection, name: str, version: int | None) -> Any | None:
    """The dataset row (`version` None: the newest), or None."""
    stmt = sa.select(datasets).where(datasets.c.name == name)
    if version is not None:
        stmt = stmt.where(datasets.c.version == version)
    return conn.execute(stmt.order_by(datasets.c.version.desc()).limit(1)).first()


def versions(*, conn: Connection, name: str) -> list[int]:
    stmt = sa.select(datasets.c.version).where(datasets.c.name == name)
    return sorted(conn.execute(stmt).scalars())


def create(
    *,
    conn: Connection,
    name: str,
    version: int,
    created_at: datetime,
    filter_text: str,
    seed: int,
    pick: str,
    limit: int | None,
    ratios: str,
    tool_version: str,
    duplicates_dropped: int | None,
    rows: Sequence[tuple[str, str, str]],
) -> int:
    """Store a dataset and its members ((trace id, content hash, split)); return its id."""
    new_id = conn.execute(
        sa.insert(datasets)
        .values(
            name=name,
            version=version,
            created_at=created_at,
            filter=filter_text,
            seed=seed,
            pick=pick,
            limit=limit,
            ratios=ratios,
            tool_version=tool_version,
            duplicates_dropped=duplicates_dropped,
        )
        .returning(datasets.c.id)
    ).scalar_one()
    for start in range(0, len(rows), _CHUNK):
        conn.execute(
            sa.insert(members),
            [
                {"dataset_id": new_id, "trace_id": uuid.UUID(i), "content_hash": h, "split": s}
                for i, h, s in rows[start : start + _CHUNK]
            ],
        )
    return int(new_id)


def listing(*, conn: Connection) -> list[Any]:
    """Every dataset row, by name then version."""
    stmt = sa.select(datasets).order_by(datasets.c.name, datasets.c.version)
    return list(conn.execute(stmt))


def all_split_counts(*, conn: Connection) -> dict[int, dict[str, int]]:
    """Per dataset id, its member count per split (one query for `dataset list`)."""
    stmt = sa.select(members.c.dataset_id, members.c.split, sa.func.count()).group_by(
        members.c.dataset_id, members.c.split
    )
    out: dict[int, dict[str, int]] = {}
    for dataset_id, split, n in conn.execute(stmt):
        out.setdefault(int(dataset_id), {})[split] = int(n)
    return out


def split_counts(*, conn: Connection, dataset_id: int) -> dict[str, int]:
    stmt = (
        sa.select(members.c.split, sa.func.count())
        .where(members.c.dataset_id == dataset_id)
        .group_by(members.c.split)
    )
    return {split: int(n) for split, n in conn.execute(stmt)}


def member_rows(*, conn: Connection, dataset_id: int) -> list[tuple[str, str, str]]:
    """(trace id, content hash, split) of every member, by trace id."""
    stmt = (
        sa.select(members.c.trace_id, members.c.content_hash, members.c.split)
        .where(members.c.dataset_id == dataset_id)
        .order_by(members.c.trace_id)
    )
    rows = [(str(i), h, s) for i, h, s in conn.execute(stmt)]
    rows.sort()
    return rows


def payloads(*, conn: Connection, dataset_id: int) -> Iterator[str]:
    """The stored payload of every member trace still present (for the manifest stats)."""
    stmt = (
        sa.select(traces.c.payload)
        .select_from(members.join(traces, traces.c.id == members.c.trace_id))
        .where(members.c.dataset_id == dataset_id)
    )
    yield from conn.execute(stmt.execution_options(yield_per=FETCH)).scalars()


def in_split(dataset_id: int, split: str) -> ColumnElement[bool]:
    """Traces of a dataset's split (for `repositories.raw.rows`)."""
    chosen = sa.select(members.c.trace_id).where(
        members.c.dataset_id == dataset_id, members.c.split == split
    )
    condition: ColumnElement[bool] = traces.c.id.in_(chosen)
    return condition


def missing(*, conn: Connection, dataset_id: int) -> list[str]:
    """Members whose trace is gone or no longer has the content hash frozen at build time."""
    stmt = (
        sa.select(members.c.trace_id)
        .select_from(members.outerjoin(traces, traces.c.id == members.c.trace_id))
        .where(
            members.c.dataset_id == dataset_id,
            sa.or_(traces.c.id.is_(None), traces.c.content_hash != members.c.content_hash),
        )
        .order_by(members.c.trace_id)
    )
    return [str(i) for i in conn.execute(stmt).scalars()]


def delete(*, conn: Connection, dataset_id: int) -> None:
    conn.execute(sa.delete(members).where(members.c.dataset_id == dataset_id))
    conn.execute(sa.delete(datasets).where(datasets.c.id == dataset_id))
