"""The ONLY place a TraceFilter becomes SQL.

Every condition is written for SQLite and PostgreSQL side by side and means the same on both:
`tests/cli/test_filters.py` compares the ids each filter selects on the two databases.

The payload is TEXT holding canonical JSON; SQLite reads it with its JSON1 functions,
PostgreSQL with `payload::jsonb`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Connection

from tunix_rt.filters import MetaMatch, ScoreMatch, StepRange, TraceFilter
from tunix_rt.models import Trace, TraceScore, TraceTag, UTCDateTime

traces = Trace.__table__  # type: ignore[attr-defined]
trace_tags = TraceTag.__table__  # type: ignore[attr-defined]
trace_scores = TraceScore.__table__  # type: ignore[attr-defined]

ID_LIST_INLINE = 500  # more ids than this go through a temporary table


def step_count(dialect: str) -> ColumnElement[int]:
    """The number of steps of each trace, computed from the stored payload."""
    if dialect == "postgresql":
        return sa.func.jsonb_array_length(sa.cast(traces.c.payload, _jsonb()).op("->")("steps"))
    return sa.func.json_array_length(traces.c.payload, "$.steps")


def _jsonb() -> Any:
    from sqlalchemy.dialects.postgresql import JSONB

    return JSONB()


def _steps(rng: StepRange, dialect: str) -> ColumnElement[bool]:
    count = step_count(dialect)
    parts: list[ColumnElement[bool]] = []
    if rng.low is not None:
        parts.append(count >= rng.low)
    if rng.high is not None:
        parts.append(count <= rng.high)
    return sa.and_(*parts)


def _sqlite_path(path: tuple[str, ...]) -> str:
    return "$.meta" + "".join(f'."{key}"' for key in path)


def _meta(match: MetaMatch, dialect: str, n: int) -> ColumnElement[bool]:
    """The value at meta.PATH equals the text (or a number equal to it, or the literal), or
    is an array with such an element."""
    number = match.number
    literal = match.literal
    params: dict[str, Any] = {f"ms{n}": match.text}
    if dialect == "postgresql":
        alts = [f"(jsonb_typeof(j.v) = 'string' AND j.v #>> '{{}}' = :ms{n})"]
        if number is not None:
            alts.append(f"(jsonb_typeof(j.v) = 'number' AND (j.v #>> '{{}}')::numeric = :mn{n})")
            params[f"mn{n}"] = Decimal(number) if isinstance(number, int) else number
        if literal is not None:
            alts.append(f"(j.v = CAST(:ml{n} AS jsonb))")
            params[f"ml{n}"] = literal
        sql = (
            "EXISTS (SELECT 1 FROM (SELECT CAST(traces.payload AS jsonb) #> "
            f"CAST(:mp{n} AS text[]) AS x) AS s, "
            "jsonb_array_elements(CASE jsonb_typeof(s.x) WHEN 'array' THEN s.x "
            "WHEN 'object' THEN '[]'::jsonb ELSE jsonb_build_array(s.x) END) AS j(v) "
            f"WHERE s.x IS NOT NULL AND ({' OR '.join(alts)}))"
        )
        params[f"mp{n}"] = ["meta", *match.path]
        return sa.text(sql).bindparams(**params)  # type: ignore[return-value]
    alts = [f"(j.type = 'text' AND j.atom = :ms{n})"]
    if number is not None:
        alts.append(f"(j.type IN ('integer', 'real') AND j.atom = :mn{n})")
        params[f"mn{n}"] = number if isinstance(number, int) else float(number)
    if literal is not None:
        alts.append(f"(j.type = :ml{n})")
        params[f"ml{n}"] = literal
    sql = (
        f"EXISTS (SELECT 1 FROM json_each(traces.payload, :mp{n}) AS j "
        f"WHERE json_type(traces.payload, :mp{n}) != 'object' AND ({' OR '.join(alts)}))"
    )
    params[f"mp{n}"] = _sqlite_path(match.path)
    return sa.text(sql).bindparams(**params)  # type: ignore[return-value]


def _score(m: ScoreMatch) -> ColumnElement[bool]:
    """The trace's whole-trace score (step -1) named `m.name` compares to `m.value`."""
    value = trace_scores.c.value
    test = (
        value >= m.value if m.op == ">=" else value <= m.value if m.op == "<=" else value == m.value
    )
    return sa.exists().where(
        trace_scores.c.trace_id == traces.c.id,
        trace_scores.c.name == m.name,
        trace_scores.c.step == -1,
        test,
    )


def _has_tag(tag: str) -> ColumnElement[bool]:
    # An alias: a query that itself reads trace_tags (tag counts) must not correlate with it.
    tagged = trace_tags.alias("has_tag")
    return sa.exists().where(tagged.c.trace_id == traces.c.id, tagged.c.tag == tag)


def ids_condition(*, conn: Connection, ids: Sequence[uuid.UUID]) -> ColumnElement[bool]:
    """`traces.id` is one of `ids`: inline for a few, through a temporary table for many."""
    if len(ids) <= ID_LIST_INLINE:
        return traces.c.id.in_(list(ids))  # type: ignore[no-any-return]
    temp = sa.Table(
        "tunix_rt_selected_ids",
        sa.MetaData(),
        sa.Column("id", sa.Uuid(), primary_key=True),
        prefixes=["TEMPORARY"],
    )
    temp.drop(conn, checkfirst=True)
    temp.create(conn)
    conn.execute(temp.insert(), [{"id": i} for i in dict.fromkeys(ids)])
    return traces.c.id.in_(sa.select(temp.c.id))  # type: ignore[no-any-return]


def conditions(
    f: TraceFilter,
    *,
    dialect: str,
    ids: ColumnElement[bool] | None = None,
    search: ColumnElement[bool] | None = None,
) -> list[ColumnElement[bool]]:
    """The WHERE conditions of a filter (AND). `ids` and `search` come resolved from the
    repositories that own them (id prefixes, the search index)."""
    out: list[ColumnElement[bool]] = []
    if f.ids_given:
        out.append(ids if ids is not None else sa.false())
    if f.since is not None:
        out.append(traces.c.created_at >= sa.literal(f.since, UTCDateTime()))
    if f.until is not None:
        out.append(traces.c.created_at < sa.literal(f.until, UTCDateTime()))
    if f.versions:
        out.append(traces.c.trace_version.in_(list(f.versions)))
    out.extend(_meta(m, dialect, n) for n, m in enumerate(f.meta))
    out.extend(_has_tag(t) for t in f.tags)
    out.extend(~_has_tag(t) for t in f.no_tags)
    out.extend(_score(m) for m in f.scores)
    if f.steps is not None:
        out.append(_steps(f.steps, dialect))
    if f.search is not None:
        if search is None:
            raise ValueError("a search filter needs its condition from repositories.search")
        out.append(search)
    return out
