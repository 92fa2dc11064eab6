"""The stored-record shape, defined once.

`TraceRow` is a trace as stored (what repositories return); `NewRow` a validated trace on its
way in (its payload already canonical JSON). `to_record` is the stable JSON shape that
`trace show --json` and `trace list --json` print, and that upload reads back:
`{"id", "created_at", "trace_version", "content_hash", "payload", "tags"}`, the payload's
keys in schema order whatever order the database kept them in. `tags` (sorted) are the trace's
curation labels: stored in their own table, never part of the payload or its hash; upload
applies a record's tags to the trace it stores or finds (RECORD_KEYS lists what may appear).
`trace show --json` adds the trace's `scores`, which upload ignores.
`record_line` is the same record as one JSON line, built from a `RawRow` without decoding the
stored payload: what `trace list --jsonl` and `trace export --to jsonl` print.

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

# `scores` (`trace show --json`) is accepted and ignored: scores are not uploaded.
RECORD_KEYS = frozenset(
    {"id", "created_at", "trace_version", "content_hash", "payload", "tags", "scores"}
)
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
    scores: tuple[ScoreEntry, ...] | None = None  # None: not read (`trace show` reads them)


class ScoreEntry(NamedTuple):
    """One stored score: `step` None for the whole trace, else the step's `i`; `details`
    the canonical JSON text the scorer gave, or None."""

    name: str
    step: int | None
    value: float
    source: str
    details: str | None


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
    """The stable JSON shape of a stored trace (with `scores` when they were read)."""
    record: dict[str, Any] = {
        "id": str(row.id),
        "created_at": row.created_at.isoformat(),
        "trace_version": row.trace_version,
        "content_hash": row.content_hash,
        "payload": schema_ordered(row.payload),
        "tags": list(row.tags),
    }
    if row.scores is not None:
        record["scores"] = [
            {
                "name": e.name,
                "step": e.step,
                "value": e.value,
                "source": e.source,
                "details": None if e.details is None else orjson.loads(e.details),
            }
            for e in row.scores
        ]
    return record


# --- the read path: stored records passed through without decoding -----------------------

_PAYLOAD_START = b'{"final_answer":'
_VERSION_KEY = b',"trace_version":'


class RawRow(NamedTuple):
    """A stored trace as the database holds it, nothing decoded: what JSON Lines output and
    every export format read (`record_line`, `tunix_rt.formats`).

    `id` is the UUID as text (36 characters), `created_at` the UTC moment as
    `datetime.isoformat()` writes it, `payload` the stored canonical JSON (bytes), `tags`
    sorted.
    """

    id: str
    created_at: str
    content_hash: str
    payload: bytes
    tags: tuple[str, ...] = ()


def _damaged(ident: str, why: str) -> DamagedTraceError:
    return DamagedTraceError(
        f"trace {ident} is damaged (its stored payload {why}): run `tunix-rt db doctor --deep`"
    )


def version_json(payload: bytes, ident: str | bytes) -> bytes:
    """The `trace_version` of stored payload bytes as JSON text, cut from their end.

    Canonical JSON sorts keys and the schema allows no key after `trace_version` at the top
    level, so the payload ends with `,"trace_version":"..."}`; a quote inside a JSON string
    is always escaped, so the last `,"trace_version":` is that key. Bytes that do not have
    this shape were changed outside tunix-rt: a DamagedTraceError naming trace `ident`.
    """
    at = payload.rfind(_VERSION_KEY)
    if (
        at < 0
        or not payload.startswith(_PAYLOAD_START)
        or not payload.endswith(b'"}')
        or b"\n" in payload  # it would break the line
    ):
        shown = ident.decode(errors="replace") if isinstance(ident, bytes) else ident
        raise _damaged(shown, "is not canonical JSON")
    return payload[at + len(_VERSION_KEY) : -1]


def line_bytes(
    ident: bytes, created_at: bytes, content_hash: bytes, payload: bytes, tags: bytes
) -> bytes:
    """The JSON line of a stored record: `to_record`'s keys, compact, the payload verbatim.

    The payload is the stored canonical JSON (sorted keys, no whitespace: the bytes its
    `content_hash` was computed on), passed through without decoding; the rest is ASCII that
    needs no escaping (a UUID, an ISO time as `datetime.isoformat()` writes it, a hex digest)
    except `trace_version`, which is the payload's own JSON text of it, and `tags`, the JSON
    array of the sorted tags (`tags_json`). `orjson.loads(line)` equals `to_record` of the
    same trace. Everything is bytes already: the read path joins, and encodes nothing.
    """
    return b"".join(
        (
            b'{"id":"',
            ident,
            b'","created_at":"',
            created_at,
            b'","trace_version":',
            version_json(payload, ident),
            b',"content_hash":"',
            content_hash,
            b'","payload":',
            payload,
            b',"tags":',
            tags,
            b"}\n",
        )
    )


def tags_json(tags: tuple[str, ...]) -> bytes:
    """The `tags` of a record line: a JSON array of the sorted tags."""
    return orjson.dumps(tags) if tags else b"[]"


def line_of(
    ident: str, created_at: str, content_hash: str, payload: bytes, tags: tuple[str, ...]
) -> bytes:
    """`line_bytes` from a stored record's fields as text."""
    return line_bytes(
        ident.encode(), created_at.encode(), content_hash.encode(), payload, tags_json(tags)
    )


def record_line(row: RawRow) -> bytes:
    """The JSON line of a stored record (`line_of`)."""
    return line_of(*row)


def parse_raw(row: RawRow) -> dict[str, Any]:
    """The payload of a raw row, parsed (a damaged one is a DamagedTraceError naming it)."""
    try:
        value = orjson.loads(row.payload)
    except orjson.JSONDecodeError:
        raise _damaged(row.id, "is not JSON") from None
    if not isinstance(value, dict):
        raise _damaged(row.id, "is not a JSON object")
    return value
