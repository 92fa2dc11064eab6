"""Upload: read, validate and store traces, all or nothing.

Records stream from the readers and are validated one by one; valid ones are inserted in
batches inside a single transaction, so memory stays flat for JSON Lines of any size. Once any
record is invalid, inserting stops but validation goes on, so one pass reports every problem;
at the end the transaction is committed only if nothing was invalid (or `skip_invalid`).
Duplicates (already stored, or repeated within the upload) are left to the database's
conflict handling and reported with the id of the stored trace.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

from pydantic import ValidationError
from sqlalchemy import Connection

from tunix_rt.db.engine import translate_errors
from tunix_rt.db.revisions import writing
from tunix_rt.ingest import Location, RawRecord, expand_inputs, read_records
from tunix_rt.repositories import traces as repo
from tunix_rt.schema import TraceV1, canonical_json, content_hash
from tunix_rt.services.database import Database

BATCH_SIZE = 2000
RECORD_KEYS = frozenset({"id", "created_at", "trace_version", "content_hash", "payload"})


@dataclass(frozen=True, slots=True)
class RecordError:
    location: Location
    field: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.location}: {self.field}" if self.field else str(self.location)
        return f"{where}: {self.message}"


@dataclass(frozen=True, slots=True)
class Prepared:
    location: Location
    id: uuid.UUID | None
    created_at: datetime | None
    payload: dict[str, Any]
    content_hash: str
    trace_version: str


@dataclass(frozen=True, slots=True)
class Outcome:
    location: Location
    id: uuid.UUID
    content_hash: str


@dataclass
class UploadResult:
    created: list[Outcome] = field(default_factory=list)
    duplicates: list[Outcome] = field(default_factory=list)
    errors: list[RecordError] = field(default_factory=list)
    invalid_records: int = 0
    committed: bool = False


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


def _parse_record_envelope(
    raw: RawRecord,
) -> tuple[dict[str, Any], uuid.UUID | None, datetime | None, str | None, str, list[RecordError]]:
    """Split an exported record ({id, created_at, ..., payload}) from a bare trace."""
    value = raw.value
    loc = raw.location
    if "payload" not in value:
        return value, None, None, None, "", []
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
        try:
            created_at = datetime.fromisoformat(str(value["created_at"]))
            if created_at.tzinfo is None:
                raise ValueError
        except ValueError:
            errors.append(
                RecordError(loc, "created_at", "must be an ISO 8601 timestamp with a timezone")
            )
    payload = value["payload"]
    if not isinstance(payload, dict):
        errors.append(RecordError(loc, "payload", "must be a JSON object"))
        payload = {}
    claimed = value.get("content_hash")
    return payload, trace_id, created_at, claimed, "payload", errors


def prepare(raw: RawRecord, max_bytes: int) -> Prepared | list[RecordError]:
    """Validate one raw record against schema v1 and compute its identity."""
    loc = raw.location
    if raw.error is not None:
        return [RecordError(loc, None, raw.error)]
    if not isinstance(raw.value, dict):
        return [RecordError(loc, None, "must be a JSON object (a trace)")]
    payload, trace_id, created_at, claimed, prefix, errors = _parse_record_envelope(raw)
    if raw.size > max_bytes and len(canonical_json(payload)) > max_bytes:
        return [RecordError(loc, prefix or None, f"trace exceeds maximum of {max_bytes} bytes")]
    try:
        trace = TraceV1.model_validate(payload)
    except ValidationError as exc:
        return errors + _pydantic_errors(loc, exc, prefix)
    canonical = trace.canonical()
    encoded = canonical_json(canonical)
    if len(encoded) > max_bytes:
        errors.append(
            RecordError(loc, prefix or None, f"trace exceeds maximum of {max_bytes} bytes")
        )
    if b"\\u0000" in encoded and _has_nul(canonical):
        errors.append(
            RecordError(
                loc, prefix or None, "contains the character U+0000, which cannot be stored"
            )
        )
    digest = content_hash(canonical)
    if claimed is not None and claimed != digest:
        errors.append(RecordError(loc, "content_hash", "does not match the payload"))
    if errors:
        return errors
    return Prepared(loc, trace_id, created_at, canonical, digest, trace.trace_version)


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


def _records(sources: list[str], stdin: IO[bytes] | None) -> Iterator[RawRecord]:
    for source in expand_inputs(sources):
        yield from read_records(source, stdin)


class _Batch:
    def __init__(self, conn: Connection, result: UploadResult) -> None:
        self.conn = conn
        self.result = result
        self.items: list[Prepared] = []

    def add(self, item: Prepared) -> None:
        self.items.append(item)
        if len(self.items) >= BATCH_SIZE:
            self.flush()

    def flush(self) -> None:
        if not self.items:
            return
        items, self.items = self.items, []
        rows = []
        first: dict[str, Prepared] = {}
        for item in items:
            if item.content_hash in first:
                continue
            first[item.content_hash] = item
            rows.append(
                {
                    "id": item.id or uuid.uuid4(),
                    # The moment each trace was accepted: file order survives as time order.
                    "created_at": item.created_at or datetime.now(UTC),
                    "trace_version": item.trace_version,
                    "content_hash": item.content_hash,
                    "payload": item.payload,
                }
            )
        inserted = repo.insert_new(conn=self.conn, rows=rows)
        missing = [h for h in first if h not in inserted]
        existing = repo.ids_by_hash(conn=self.conn, hashes=missing)
        created_now: set[str] = set()
        for item in items:
            digest = item.content_hash
            if digest in inserted and digest not in created_now:
                created_now.add(digest)
                self.result.created.append(Outcome(item.location, inserted[digest], digest))
            elif digest in inserted or digest in existing:
                stored = inserted.get(digest) or existing[digest]
                self.result.duplicates.append(Outcome(item.location, stored, digest))
            else:
                self.result.errors.append(
                    RecordError(
                        item.location, "id", f"{item.id} is already stored with other content"
                    )
                )
                self.result.invalid_records += 1


def upload(
    db: Database,
    sources: list[str],
    *,
    stdin: IO[bytes] | None = None,
) -> UploadResult:
    """Validate every record of every source; store them all, or nothing."""
    max_bytes = db.settings.trace_max_bytes
    result = UploadResult()
    with translate_errors(db.url), db.engine.connect() as conn:
        writer = writing(conn)
        with writer.begin() as tx:
            batch = _Batch(writer, result)
            for raw in _records(sources, stdin):
                outcome = prepare(raw, max_bytes)
                if isinstance(outcome, list):
                    result.errors.extend(outcome)
                    result.invalid_records += 1
                    batch.items.clear()
                elif not result.invalid_records:
                    batch.add(outcome)
            if not result.invalid_records:
                batch.flush()
            if result.invalid_records:
                tx.rollback()
                result.created.clear()
                result.duplicates.clear()
            else:
                result.committed = True
    return result
