"""From a TraceFilter to the SQL conditions that select its traces, inside one connection.

Shared by every command that selects traces. Ids and unique prefixes are resolved here (each
must name exactly one stored trace); the search condition comes from `repositories.search`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Connection

from tunix_rt.errors import AmbiguousIdError, TraceNotFoundError
from tunix_rt.filters import TraceFilter
from tunix_rt.repositories import traces as repo
from tunix_rt.repositories import where

SHOWN = 5


def prefix_bounds(prefix: str) -> tuple[uuid.UUID, uuid.UUID]:
    digits = prefix.strip().lower().replace("-", "")
    if not digits or len(digits) > 32 or any(c not in "0123456789abcdef" for c in digits):
        raise TraceNotFoundError(f"trace {prefix} not found (ids are hexadecimal UUIDs)")
    return uuid.UUID(digits.ljust(32, "0")), uuid.UUID(digits.ljust(32, "f"))


def resolve_ids(*, conn: Connection, given: Sequence[str]) -> list[uuid.UUID]:
    """Each id or prefix as the one stored id it names; an error names the first that does
    not (not found, or ambiguous)."""
    full: list[uuid.UUID] = []
    out: list[uuid.UUID] = []
    for item in given:
        digits = item.strip().lower().replace("-", "")
        if len(digits) == 32:
            low, _ = prefix_bounds(digits)
            full.append(low)
            out.append(low)
            continue
        low, high = prefix_bounds(item)
        rows = repo.by_id_prefix(conn=conn, low=low, high=high, limit=2)
        if not rows:
            raise TraceNotFoundError(f"trace {item} not found")
        if len(rows) > 1:
            raise AmbiguousIdError(
                f"id prefix {item} is ambiguous: it matches {rows[0].id}, {rows[1].id} and "
                "maybe more; give more characters"
            )
        out.append(rows[0].id)
    if full:
        missing = repo.missing_ids(conn=conn, ids=full)
        if missing:
            shown = ", ".join(str(i) for i in missing[:SHOWN])
            more = f" and {len(missing) - SHOWN} more" if len(missing) > SHOWN else ""
            raise TraceNotFoundError(f"trace {shown}{more} not found")
    return list(dict.fromkeys(out))


def conditions(*, conn: Connection, selection: TraceFilter) -> list[ColumnElement[bool]]:
    """The WHERE conditions for `selection`, ready for this connection."""
    dialect = conn.dialect.name
    search = None
    if selection.search is not None:  # first: it catches up before this snapshot begins
        from tunix_rt.repositories import search as search_repo

        search = search_repo.condition(conn=conn, query=selection.search)
    ids = None
    if selection.ids_given:
        resolved = resolve_ids(conn=conn, given=selection.ids)
        ids = where.ids_condition(conn=conn, ids=resolved) if resolved else sa.false()
    return where.conditions(selection, dialect=dialect, ids=ids, search=search)
