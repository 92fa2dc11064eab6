"""Record validation: one raw input record -> a row ready to store, or located errors.

One validator and one error wording for everything that checks traces: `trace upload`,
`db doctor` and (round 2) `trace lint`. Errors name the field as a path such as
`steps[0].i`, or `payload.steps[0].i` inside a stored-record envelope.

Pure code: no database, no terminal.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson
from pydantic import ValidationError

from tunix_rt.filters import FilterValueError, parse_tag
from tunix_rt.ingest.readers import Location, RawRecord
from tunix_rt.records import CREATED_AT_MAX, CREATED_AT_MIN, RECORD_KEYS, NewRow
from tunix_rt.schema import canonical_json, content_hash, validate_trace


@dataclass(frozen=True, slots=True)
class RecordError:
    location: Location
    field: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.location}: {self.field}" if self.field else str(self.location)
        return f"{where}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "message": self.message}


class Prepared(NamedTuple):
    """A valid record ready to store, and where it came from (one per trace, hence a tuple)."""

    location: Location
    row: NewRow


def _field_path(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _pydantic_errors(location: Location, exc: ValidationError, prefix: str) -> list[RecordError]:
    out = []
    for err in exc.errors(include_url=False):
        path = _field_path(err["loc"])
        if prefix:
            path = f"{prefix}.{path}" if path else prefix
        kind = err["type"]
        if kind == "extra_forbidden":
            message = "unknown field (not part of trace schema v1)"
        elif kind == "missing":
            message = "field required"
        else:
            message = str(err["msg"]).removeprefix("Value error, ")
        out.append(RecordError(location, path or None, message))
    return out


_TIMESTAMP_RULE = (
    "must be an ISO 8601 date and time with a UTC offset, e.g. 2026-11-25T20:22:24+00:00"
)
_RANGE_RULE = (
    f"must lie between {CREATED_AT_MIN.isoformat()} and {CREATED_AT_MAX.isoformat()} in UTC"
)
# Extended format only: date, `T` or a space, hours and minutes, optional seconds with up to
# 6 fractional digits (what is stored), then `Z` or an offset. ASCII digits only.
_DATE_TIME = r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?"
_TIMESTAMP = re.compile(_DATE_TIME + r"(?:Z|[+-][0-9]{2}(?::?[0-5][0-9])?)")
_NAIVE = re.compile(_DATE_TIME)
_JSON_TYPES = {bool: "boolean", int: "number", float: "number", dict: "object", list: "array"}


def _timestamp(value: Any) -> tuple[datetime | None, str | None]:
    """An envelope's `created_at` in UTC, or why it cannot be stored.

    Within [CREATED_AT_MIN, CREATED_AT_MAX] so that Python and both databases, in any session
    time zone, can hold it: PostgreSQL alone would accept `9999-12-31T23:59:59-10:00` (year
    10000 in UTC), which no reader could load again.
    """
    if not isinstance(value, str):
        kind = "null" if value is None else _JSON_TYPES.get(type(value), type(value).__name__)
        return None, f"{_TIMESTAMP_RULE}, not a JSON {kind}"
    shown = repr(value if len(value) <= 40 else value[:40] + "...")
    if not _TIMESTAMP.fullmatch(value):
        if _NAIVE.fullmatch(value):
            return None, f"{_TIMESTAMP_RULE}: {shown} has no UTC offset"
        return None, f"{_TIMESTAMP_RULE}, not {shown}"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        return None, f"{_TIMESTAMP_RULE}: {shown} is not a valid date and time ({exc})"
    try:
        utc = parsed.astimezone(UTC)
    except OverflowError:  # beyond year 1..9999 once in UTC
        return None, f"{_RANGE_RULE}: {shown} is out of range"
    if not CREATED_AT_MIN <= utc <= CREATED_AT_MAX:
        return None, f"{_RANGE_RULE}: {shown} is out of range"
    return utc, None


def _envelope(
    value: dict[str, Any], loc: Location
) -> tuple[dict[str, Any], uuid.UUID | None, datetime | None, str | None, list[RecordError]]:
    """Split an exported record ({id, created_at, ..., payload}) into its parts."""
    errors = [
        RecordError(loc, key, "unknown field (not part of a tunix-rt record)")
        for key in value
        if key not in RECORD_KEYS
    ]
    trace_id: uuid.UUID | None = None
    created_at: datetime | None = None
    if "id" in value:
        try:
            trace_id = uuid.UUID(str(value["id"]))
        except ValueError:
            errors.append(RecordError(loc, "id", "must be a UUID"))
    if "created_at" in value:
        created_at, problem = _timestamp(value["created_at"])
        if problem is not None:
            errors.append(RecordError(loc, "created_at", problem))
    payload = value["payload"]
    if not isinstance(payload, dict):
        errors.append(RecordError(loc, "payload", "must be a JSON object"))
        payload = {}
    claimed = value.get("content_hash")
    return payload, trace_id, created_at, claimed if isinstance(claimed, str) else None, errors


def _record_tags(value: Any, loc: Location, errors: list[RecordError]) -> tuple[str, ...]:
    """A stored record's `tags`: a list of tag names (sorted and unique on the way in)."""
    if value is None:
        return ()
    if not isinstance(value, list):
        errors.append(RecordError(loc, "tags", "must be a JSON array of tag names"))
        return ()
    tags: set[str] = set()
    for n, item in enumerate(value):
        try:
            if not isinstance(item, str):
                raise FilterValueError(f"{item!r} is not a tag name: tags are strings")
            if parse_tag(item) != item:
                raise FilterValueError(f"{item!r} is not a tag name: no surrounding spaces")
            tags.add(item)
        except FilterValueError as exc:
            errors.append(RecordError(loc, f"tags[{n}]", str(exc)))
    return tuple(sorted(tags))


def _has_nul(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _too_big(loc: Location, prefix: str, max_bytes: int) -> RecordError:
    return RecordError(loc, prefix or None, f"trace exceeds maximum of {max_bytes} bytes")


def prepare(raw: RawRecord, max_bytes: int) -> Prepared | list[RecordError]:
    """Validate one raw record against schema v1 and compute its identity."""
    checked = check(raw, max_bytes)
    if isinstance(checked, list):
        return checked
    return Prepared(raw.location, new_row(*checked))


Checked = tuple[uuid.UUID | None, datetime | None, str, str, bytes, tuple[str, ...]]


def check(raw: RawRecord, max_bytes: int) -> Checked | list[RecordError]:
    """Validate one raw record; its identity without id and timestamp (see `prepare`)."""
    loc = raw.location
    return check_value(loc.source, loc.line, raw.raw, raw.value, raw.error, max_bytes, loc.index)


def check_value(
    source: str,
    line: int,
    raw: bytes,
    value: Any,
    error: str | None,
    max_bytes: int,
    index: int | None = None,
) -> Checked | list[RecordError]:
    """`check` for a record given by parts: its `Location` is made only for an error report
    (a worker validating a chunk of lines saves two dataclasses per valid trace)."""
    if error is not None:
        return [RecordError(Location(source, line, index), None, error)]
    if not isinstance(value, dict):
        return [RecordError(Location(source, line, index), None, "must be a JSON object (a trace)")]
    trace_id: uuid.UUID | None = None
    created_at: datetime | None = None
    claimed: str | None = None
    errors: list[RecordError] = []
    prefix = ""
    tags: tuple[str, ...] = ()
    if "payload" in value:
        envelope = value
        loc = Location(source, line, index)
        value, trace_id, created_at, claimed, errors = _envelope(envelope, loc)
        tags = _record_tags(envelope.get("tags"), loc, errors)
        prefix = "payload"
    if len(raw) > max_bytes and len(canonical_json(value)) > max_bytes:
        return [_too_big(Location(source, line, index), prefix, max_bytes)]
    try:
        canonical = validate_trace(value)
    except ValidationError as exc:
        return errors + _pydantic_errors(Location(source, line, index), exc, prefix)
    try:
        encoded = canonical_json(canonical)
    except orjson.JSONEncodeError as exc:
        loc = Location(source, line, index)
        return [*errors, RecordError(loc, prefix or None, f"cannot be encoded: {exc}")]
    if len(encoded) > max_bytes:
        errors.append(_too_big(Location(source, line, index), prefix, max_bytes))
    if b"\\u0000" in encoded and _has_nul(canonical):
        message = "contains the character U+0000, which cannot be stored"
        errors.append(RecordError(Location(source, line, index), prefix or None, message))
    digest = hashlib.sha256(encoded).hexdigest()
    if claimed is not None and claimed != digest:
        loc = Location(source, line, index)
        errors.append(RecordError(loc, "content_hash", "does not match the payload"))
    if errors:
        return errors
    return trace_id, created_at, canonical["trace_version"], digest, encoded, tags


_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def content_id(digest: str) -> str:
    """The id of a trace that brings none: its content hash's first 122 bits as a UUID
    (version 8, RFC 9562). The same trace gets the same id on every database, so uploading
    the same files twice, anywhere, gives the same ids and the same exports."""
    h = digest
    return f"{h[:8]}-{h[8:12]}-8{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


def utc_text(moment: datetime) -> str:
    """A moment as `NewRow.created_at` text: UTC, `YYYY-MM-DD HH:MM:SS.ffffff`."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


class Clock:
    """The moments traces are accepted at, in microseconds, strictly increasing.

    Strictly increasing (by one microsecond when the clock has not moved), so the order of a
    file survives as time order even within one microsecond. `reserve(n)` hands out n
    consecutive moments at once, for a chunk of lines validated in a worker process.
    """

    def __init__(self) -> None:
        self.last = 0

    def reserve(self, count: int) -> int:
        """The first of `count` consecutive moments from now (microseconds since the epoch)."""
        first = max(time.time_ns() // 1000, self.last + 1)
        self.last = first + count - 1
        return first


class _StampText:
    """Microseconds as `NewRow.created_at` text, the date and time of day cached per second
    (a datetime and `isoformat` per trace cost 4x as much)."""

    def __init__(self) -> None:
        self.second = -1
        self.prefix = ""

    def __call__(self, micros: int) -> str:
        second, fraction = divmod(micros, 1_000_000)
        if second != self.second:
            self.second = second
            self.prefix = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(second))
        return f"{self.prefix}.{fraction:06d}"


clock = Clock()
_stamp_text = _StampText()


def new_row(
    trace_id: uuid.UUID | None,
    created_at: datetime | None,
    version: str,
    digest: str,
    encoded: bytes,
    tags: tuple[str, ...] = (),
    *,
    at: int | None = None,
) -> NewRow:
    """The row to store; `at` is the moment it was accepted (reserved on `clock`, now if None),
    unless the record brought its own `created_at`."""
    if created_at is not None:
        stamp = utc_text(created_at)
    else:
        # The moment each trace was accepted: a file's order survives as time order.
        stamp = _stamp_text(clock.reserve(1) if at is None else at)
    return NewRow(
        content_id(digest) if trace_id is None else str(trace_id),
        stamp,
        version,
        digest,
        encoded,
        tags,
    )


def stored_payload_problem(stored: str | bytes, stored_hash: str) -> str | None:
    """Why a stored payload text is not a valid trace kept exactly as the canonical JSON its
    `content_hash` was computed on (None when it is). Never raises."""
    encoded = stored.encode("utf-8", "surrogatepass") if isinstance(stored, str) else stored
    try:
        payload = orjson.loads(encoded)
    except orjson.JSONDecodeError as exc:
        return f"stored payload is not JSON ({exc})"
    problem = payload_problem(payload, stored_hash)
    if problem is not None:
        return problem
    if canonical_json(validate_trace(payload)) != encoded:
        return "stored payload is not its canonical JSON (changed outside tunix-rt)"
    return None


def payload_problem(payload: Any, stored_hash: str) -> str | None:
    """Why a stored payload is no longer a valid trace with this hash (None when it is)."""
    try:
        trace = validate_trace(payload)
    except ValidationError as exc:
        first = _pydantic_errors(Location("payload", 0), exc, "")[0]
        return f"no longer valid ({first.field or 'payload'}: {first.message})"
    try:
        digest = content_hash(trace)
    except orjson.JSONEncodeError as exc:
        return f"cannot be encoded ({exc})"
    if digest != stored_hash:
        return "content_hash does not match the payload"
    return None
