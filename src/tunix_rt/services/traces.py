"""Read use cases: list (keyset-paginated) and show (by id or unique prefix).

Rows come back with their tags (`TraceRow.tags`): one extra query per page, or per
thousand rows of a stream.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from tunix_rt.db.database import Database
from tunix_rt.db.engine import translate_errors
from tunix_rt.errors import AmbiguousIdError, CursorError, TraceNotFoundError
from tunix_rt.filters import TraceFilter
from tunix_rt.records import TraceRow
from tunix_rt.repositories import scores as score_repo
from tunix_rt.repositories import tags as tag_repo
from tunix_rt.repositories import traces as repo
from tunix_rt.services import selection as select

MAX_CANDIDATES = 10


def encode_cursor(row: TraceRow) -> str:
    raw = f"{row.created_at.isoformat()}|{row.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        stamp, _, ident = raw.partition("|")
        when = datetime.fromisoformat(stamp)
        if when.tzinfo is None:
            raise ValueError("naive timestamp")
        # In UTC and within what both databases store (year 1..9999): anything else was
        # never printed by `trace list`.
        when = when.astimezone(UTC)
        return when, uuid.UUID(ident)
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError):
        raise CursorError(
            f"invalid --cursor {token[:40]!r}{'...' if len(token) > 40 else ''}: "
            "pass the token printed by a previous `trace list`"
        ) from None


@dataclass
class Page:
    rows: list[TraceRow]
    next_cursor: str | None


def list_page(
    db: Database, *, limit: int, cursor: str | None, selection: TraceFilter | None = None
) -> Page:
    after = decode_cursor(cursor) if cursor is not None else None
    with translate_errors(db.url), db.engine.connect() as conn:
        where = select.conditions(conn=conn, selection=selection or TraceFilter())
        rows = list(repo.page(conn=conn, limit=limit + 1, after=after, where=where))
        more = len(rows) > limit
        rows = tag_repo.attach(conn=conn, rows=rows[:limit])
    return Page(rows, encode_cursor(rows[-1]) if more and rows else None)


def iter_all(
    db: Database, *, cursor: str | None = None, selection: TraceFilter | None = None
) -> Iterator[TraceRow]:
    """Every selected trace, newest first, streamed from the server (constant memory)."""
    after = decode_cursor(cursor) if cursor is not None else None
    with translate_errors(db.url), db.engine.connect() as conn:
        where = select.conditions(conn=conn, selection=selection or TraceFilter())
        rows = repo.page(conn=conn, limit=None, after=after, where=where)
        yield from tag_repo.attach_stream(conn=conn, rows=rows)


def _prefix_bounds(prefix: str) -> tuple[uuid.UUID, uuid.UUID]:
    digits = prefix.strip().lower().replace("-", "")
    if not digits or len(digits) > 32 or any(c not in "0123456789abcdef" for c in digits):
        raise TraceNotFoundError(f"trace {prefix} not found (ids are hexadecimal UUIDs)")
    return uuid.UUID(digits.ljust(32, "0")), uuid.UUID(digits.ljust(32, "f"))


def show(db: Database, ident: str) -> TraceRow:
    low, high = _prefix_bounds(ident)
    with translate_errors(db.url), db.engine.connect() as conn:
        rows = repo.by_id_prefix(conn=conn, low=low, high=high, limit=MAX_CANDIDATES + 1)
        if len(rows) == 1:
            rows = tag_repo.attach(conn=conn, rows=rows)
            found = tuple(score_repo.for_trace(conn=conn, trace_id=rows[0].id))
            rows = [dataclasses.replace(rows[0], scores=found)]
    if not rows:
        raise TraceNotFoundError(f"trace {ident} not found")
    if len(rows) > 1:
        shown = ", ".join(str(r.id) for r in rows[:MAX_CANDIDATES])
        more = " and more" if len(rows) > MAX_CANDIDATES else ""
        raise AmbiguousIdError(
            f"id prefix {ident} is ambiguous: it matches {shown}{more}; give more characters"
        )
    return rows[0]
