"""The `trace_scores` table: store scores (replacing those of the same trace, name and step)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import Connection

from tunix_rt.models import TraceScore

scores = TraceScore.__table__  # type: ignore[attr-defined]
WHOLE_TRACE = -1


@dataclass(frozen=True)
class NewScore:
    trace_id: uuid.UUID
    value: float
    details: str | None


def replace(
    *,
    conn: Connection,
    name: str,
    source: str,
    at: datetime,
    rows: Sequence[NewScore],
    step: int = WHOLE_TRACE,
) -> None:
    """Store `rows` under `name` and `step`, replacing what those traces had under them."""
    if not rows:
        return
    ids = [row.trace_id for row in rows]
    conn.execute(
        sa.delete(scores).where(
            scores.c.name == name, scores.c.step == step, scores.c.trace_id.in_(ids)
        )
    )
    conn.execute(
        sa.insert(scores),
        [
            {
                "trace_id": row.trace_id,
                "name": name,
                "step": step,
                "value": row.value,
                "details": row.details,
                "source": source,
                "created_at": at,
            }
            for row in rows
        ],
    )


def for_trace(*, conn: Connection, trace_id: uuid.UUID) -> list[tuple[str, int, float]]:
    """A trace's scores as (name, step, value), by name then step."""
    stmt = (
        sa.select(scores.c.name, scores.c.step, scores.c.value)
        .where(scores.c.trace_id == trace_id)
        .order_by(scores.c.name, scores.c.step)
    )
    return [(r[0], r[1], r[2]) for r in conn.execute(stmt)]
