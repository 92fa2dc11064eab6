"""The stored-record shape, defined once.

`TraceRow` is a trace as stored (what repositories return); `NewRow` a validated trace on its
way in (its payload already canonical JSON). `to_record` is the stable JSON shape that
`trace list --jsonl`, `trace show --json` and the `jsonl` export print, and that upload reads
back: `{"id", "created_at", "trace_version", "content_hash", "payload", "tags"}`, the payload's
keys in schema order whatever order the database kept them in. `tags` (sorted) are the trace's
curation labels: stored in their own table, never part of the payload or its hash; upload
applies a record's tags to the trace it stores or finds (RECORD_KEYS lists what may appear).

A payload is stored as the text of its canonical JSON (the bytes its content hash was
computed on) and parsed back with orjson by `parse_payload`. `created_at` lies within
[CREATED_AT_MIN, CREATED_AT_MAX] (UTC): one day inside Python's year 1..9999 at each end, so
that a PostgreSQL session in any time zone (offsets reach +-15:59) still hands back a value
Python can hold.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson

from tunix_rt.errors import TunixRtError

RECORD_KEYS = frozenset({"id", "created_at", "trace_version", "content_hash", "payload", "tags"})
_TRACE_ORDER = ("trace_version", "prompt", "final_answer", "steps", "meta")
_STEP_ORDER = ("i", "type", "content")
CREATED_AT_MIN = datetime(1, 1, 2, tzinfo=UTC)
CREATED_AT_MAX = datetime(9999, 12, 30, 23, 59, 59, 999_999, tzinfo=UTC)


class DamagedTraceError(TunixRtError):
    """A stored payload cannot be read back (changed outside tunix-rt)."""


def parse_payload(text: str | bytes, trace_id: uuid.UUID) -> dict[str, Any]:
    """The stored canonical JSON of trace `trace_id`, parsed (orjson: the fast path)."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise DamagedTraceError(
            f"trace {trace_id} is damaged (its stored payload is not JSON: {exc}): "
            "run `tunix-rt db doctor --deep`"
        ) from None
    if not isinstance(value, dict):
        raise DamagedTraceError(
            f"trace {trace_id} is damaged (its stored payload is not a JSON object): "
            "run `tunix-rt db doctor --deep`"
        )
    return value


@dataclass(frozen=True, slots=True)
class TraceRow:
    """A stored trace."""

    id: uuid.UUID
    created_at: datetime
    trace_version: str
    content_hash: str
    payload: dict[str, Any]
    tags: tuple[str, ...] = ()  # sorted


class NewRow(NamedTuple):
    """A validated trace ready for the bulk path, in the forms the databases are sent.

    `id` is the UUID as text (36 characters, lower case: what every output prints);
    `created_at` the UTC moment as text, `YYYY-MM-DD HH:MM:SS.ffffff` (SQLite stores exactly
    this; PostgreSQL is sent it with `+00`); `payload` the canonical JSON. A named tuple: one
    is made per trace in the process that writes, where a frozen dataclass cost 6x as much.
    """

    id: str
    created_at: str
    trace_version: str
    content_hash: str
    payload: bytes
    tags: tuple[str, ...] = ()  # from a stored record's `tags`: applied once stored or found


def _in_order(obj: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    ordered = {key: obj[key] for key in order if key in obj}
    ordered.update((key, value) for key, value in obj.items() if key not in ordered)
    return ordered


def schema_ordered(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload with keys in schema order, whatever order the database kept them in."""
    out = _in_order(payload, _TRACE_ORDER)
    steps = out.get("steps")
    if isinstance(steps, list):
        out["steps"] = [_in_order(s, _STEP_ORDER) if isinstance(s, dict) else s for s in steps]
    return out


def to_record(row: TraceRow) -> dict[str, Any]:
    """The stable JSON shape of a stored trace."""
    return {
        "id": str(row.id),
        "created_at": row.created_at.isoformat(),
        "trace_version": row.trace_version,
        "content_hash": row.content_hash,
        "payload": schema_ordered(row.payload),
        "tags": list(row.tags),
    }
