"""Upload: read, validate and store traces, all or nothing, at the speed of the hardware.

Pipeline: records stream from the readers, are validated one by one and inserted in batches
of BATCH_SIZE, so memory stays flat whatever the input size; stored and duplicate outcomes are
spooled to a temporary file. Big JSON Lines inputs are validated in a worker process (see
`_Validator`) and batches are written on a background thread (see `_Writer`), so reading,
validating and writing overlap on two cores.

Transaction: the whole upload is one transaction. With any invalid record (and no
`skip_invalid`), inserting stops, validation goes on so one pass reports every problem, and
the transaction is rolled back. `dry_run` runs the same path and always rolls back, so its
new / duplicate counts are exact. A process killed mid-upload leaves nothing behind.

Duplicates (already stored, stored by a concurrent upload, or repeated within this upload)
are left to the database's conflict handling and reported with the stored trace's id.

Tags: a stored record's `tags` (as `trace list --jsonl` prints them) are added to the trace
it stored or found, duplicates included, with one multi-row insert per batch after the
traces; upload never removes a tag. A batch without tags pays one pass over it.
"""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import tempfile
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Any

import orjson
from sqlalchemy import Connection
from sqlalchemy.engine import make_url

from tunix_rt.db.database import Database
from tunix_rt.db.engine import sqlite_path, translate_errors, writing
from tunix_rt.ingest import Location, RawRecord, expand_inputs, input_size, read_records
from tunix_rt.ingest.chunks import die_with_parent, validate_chunk
from tunix_rt.ingest.readers import parse_line
from tunix_rt.ingest.validate import Prepared, RecordError, clock, prepare
from tunix_rt.records import NewRow
from tunix_rt.repositories import tags as tag_repo
from tunix_rt.repositories import traces as repo

BATCH_SIZE = 5000
CHUNK_SIZE = 2000
PARALLEL_AFTER = 5000
MAX_CHUNKS_IN_FLIGHT = 4
EARLY_WORKERS_BYTES = 16 << 20  # inputs this big will certainly pass PARALLEL_AFTER records
UPLOAD_CACHE_KIB = 65_536
UPLOAD_BUSY_TIMEOUT_MS = 600_000  # a writer waits up to 10 min for another writer (SQLite)


@dataclass(frozen=True, slots=True)
class Outcome:
    location: Location
    id: uuid.UUID
    content_hash: str


class _Spool:
    """Outcomes on disk (memory is spent only past 4 MiB of them), replayed in order."""

    def __init__(self) -> None:
        self._file = tempfile.SpooledTemporaryFile(max_size=4 << 20)  # noqa: SIM115
        self.count = 0

    # One line per outcome: "<id>\t<hash>\t<line>\t<index>\t<source as JSON>". The id comes
    # first at a fixed width, so printing the ids is a slice per line.

    def add(self, outcome: Outcome) -> None:
        self.put(outcome.location, str(outcome.id), outcome.content_hash)

    def put(self, loc: Location, ident: str, digest: str) -> None:
        index = -1 if loc.index is None else loc.index
        head = f"{ident}\t{digest}\t{loc.line}\t{index}\t".encode()
        self._file.write(head + orjson.dumps(loc.source) + b"\n")
        self.count += 1

    def ids(self) -> Iterator[str]:
        self._file.seek(0)
        for line in self._file:
            yield line[:36].decode()

    def __iter__(self) -> Iterator[Outcome]:
        self._file.seek(0)
        for line in self._file:
            ident, digest, line_no, index, source = line.split(b"\t", 4)
            loc = Location(
                orjson.loads(source), int(line_no), None if index == b"-1" else int(index)
            )
            yield Outcome(loc, uuid.UUID(ident.decode()), digest.decode())

    def close(self) -> None:
        self._file.close()


@dataclass
class UploadResult:
    created: _Spool = field(default_factory=_Spool)
    duplicates: _Spool = field(default_factory=_Spool)
    errors: list[RecordError] = field(default_factory=list)  # the first `max_errors`
    error_count: int = 0
    invalid_records: int = 0
    records: int = 0
    committed: bool = False
    dry_run: bool = False
    max_errors: int = 20

    def add_invalid(self, errors: list[RecordError]) -> None:
        """Count one invalid record; keep its errors while fewer than `max_errors` are kept."""
        self.invalid_records += 1
        self.error_count += len(errors)
        room = self.max_errors - len(self.errors)
        self.errors.extend(errors[: max(room, 0)])

    def close(self) -> None:
        self.created.close()
        self.duplicates.close()


@dataclass(frozen=True)
class Progress:
    bytes_done: int
    bytes_total: int | None
    records: int
    invalid: int


ProgressFn = Callable[[Progress], None]
RejectFn = Callable[[RawRecord, list[RecordError]], None]


def _store(
    conn: Connection,
    batch: list[Prepared],
    result: UploadResult,
    lock: threading.Lock,
    state: repo.BulkState | None = None,
) -> None:
    """Insert one batch and record each record's outcome, in input order."""
    first: dict[str, NewRow] = {}
    for item in batch:
        first.setdefault(item.row.content_hash, item.row)
    inserted, existing = repo.bulk_insert(conn=conn, rows=list(first.values()), state=state)
    if any(item.row.tags for item in batch):
        tag_repo.add_pairs(conn=conn, pairs=_tag_pairs(batch, {**existing, **inserted}))
    with lock:
        _record_outcomes(batch, inserted, existing, result)


def _tag_pairs(batch: list[Prepared], stored: dict[str, Any]) -> list[tuple[str, str]]:
    """(stored id, tag) for each record's `tags`: on new and duplicate traces alike."""
    return [
        (str(stored[item.row.content_hash]), tag)
        for item in batch
        if item.row.tags and item.row.content_hash in stored
        for tag in item.row.tags
    ]


def _record_outcomes(
    batch: list[Prepared],
    inserted: dict[str, str],
    existing: dict[str, str],
    result: UploadResult,
) -> None:
    reported: set[str] = set()
    for item in batch:
        digest = item.row.content_hash
        if digest in inserted and digest not in reported:
            reported.add(digest)
            result.created.put(item.location, inserted[digest], digest)
        elif digest in inserted or digest in existing:
            stored = inserted.get(digest) or existing[digest]
            result.duplicates.put(item.location, stored, digest)
        else:
            message = f"{item.row.id} is already stored with other content"
            result.add_invalid([RecordError(item.location, "id", message)])


class _Writer:
    """Runs `_store` on one background thread, in order, one batch queued behind the running one.

    The drivers release the GIL while the database works (psycopg while it waits on the server,
    sqlite3 inside each step), so reading and bookkeeping here overlap with the write.
    """

    def __init__(self, conn: Connection, result: UploadResult, lock: threading.Lock) -> None:
        self.conn, self.result, self.lock = conn, result, lock
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tunix-rt-writer")
        self.pending: deque[Future[None]] = deque()
        self.state = repo.BulkState()

    def submit(self, batch: list[Prepared]) -> None:
        args = (self.conn, batch, self.result, self.lock, self.state)
        self.pending.append(self.pool.submit(_store, *args))
        while len(self.pending) > 1:
            self.pending.popleft().result()

    def finish(self) -> None:
        while self.pending:
            self.pending.popleft().result()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def _records(sources: list[str], stdin: IO[bytes] | None, max_bytes: int) -> Iterator[RawRecord]:
    for source in sources:
        yield from read_records(source, stdin, parse_lines=False, max_bytes=max_bytes)


def _worker_count(url: str) -> int:
    """Validation worker processes: one per core, less the core this process writes on, and
    less one more for a PostgreSQL server on this machine, which does the inserts.

    Measured on 2 cores with the server on loopback: 100,000 traces took 8% less time with
    no worker than with one (the worker's CPU and its pickling competed with the server).
    """
    cores = os.cpu_count() or 1
    target = make_url(url)
    local_server = target.get_backend_name() != "sqlite" and target.host in _LOCAL_HOSTS
    return max(0, cores - 1 - int(local_server))


_LOCAL_HOSTS = (None, "", "localhost", "127.0.0.1", "::1")

Validated = tuple[RawRecord | None, "Prepared | list[RecordError]"]


class _Validator:
    """Validates records in input order; big JSON Lines inputs go to worker processes.

    Parsing and validation cost more CPU than the database write, and a thread cannot share
    it (the GIL), so after the first PARALLEL_AFTER records the JSON Lines records are sent in
    chunks to `cpu_count - 1` worker processes while this process writes. At most
    MAX_CHUNKS_IN_FLIGHT chunks are outstanding, so memory stays bounded.
    """

    def __init__(self, max_bytes: int, workers: int) -> None:
        self.max_bytes = max_bytes
        self.bytes_read = 0
        self.workers = workers
        self.pool: ProcessPoolExecutor | None = None
        self.pending: deque[tuple[str, Future[list[tuple[Any, ...]]]] | Validated] = deque()
        self.chunks = 0
        self.chunk: list[RawRecord] = []
        self.boot: Future[int] | None = None

    def start(self) -> None:
        """Start the workers now (they take ~0.4 s to boot; a big upload starts them early)."""
        if self.pool is not None or not self.workers:
            return
        # spawn, not fork: a forked worker would inherit the open database connection and,
        # if this process were killed, keep its transaction (and locks) alive. A spawned one
        # holds nothing, and `die_with_parent` ends it with this process.
        self.pool = ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=die_with_parent,
            initargs=(os.getpid(),),
        )
        self.boot = self.pool.submit(int)  # boot the workers while this process validates

    def _local(self, raw: RawRecord) -> Validated:
        if not raw.parsed:
            value, error = parse_line(raw.raw)
            raw = RawRecord(raw.location, raw.raw, value, error)
        outcome = prepare(raw, self.max_bytes)
        return (raw if isinstance(outcome, list) else None), outcome

    def _submit(self) -> None:
        if not self.chunk:
            return
        assert self.pool is not None
        source = self.chunk[0].location.source
        lines = [(r.location.line, r.raw) for r in self.chunk]
        first = clock.reserve(len(lines))  # the chunk's timestamps, in input order
        future = self.pool.submit(validate_chunk, source, lines, self.max_bytes, first)
        self.pending.append((source, future))
        self.chunks += 1
        self.chunk = []

    def _resolve(self, entry: tuple[str, Future[list[tuple[Any, ...]]]]) -> Iterator[Validated]:
        source, future = entry
        self.chunks -= 1
        for item in future.result():
            loc = Location(source, item[0])
            if len(item) == 3:
                errors = [RecordError(loc, name, message) for name, message in item[1]]
                yield RawRecord(loc, item[2]), errors
            else:
                yield None, Prepared(loc, NewRow(*item[1:]))

    def _drain(self, keep: int) -> Iterator[Validated]:
        while self.pending:
            head = self.pending[0]
            if isinstance(head[1], Future):
                if self.chunks <= keep:
                    return
                self.pending.popleft()
                yield from self._resolve(head)
            else:
                self.pending.popleft()
                yield head

    def run(self, records: Iterator[RawRecord]) -> Iterator[Validated]:
        try:
            for n, raw in enumerate(records):
                self.bytes_read += len(raw.raw) + 1
                if self.boot is not None and self.boot.done():
                    self.boot = None  # the workers are up: stop asking (it takes a lock)
                booting = self.boot is not None
                if raw.parsed or not self.workers or n < PARALLEL_AFTER or booting:
                    self._submit()
                    self.pending.append(self._local(raw))
                else:
                    self.start()
                    if self.chunk and self.chunk[0].location.source != raw.location.source:
                        self._submit()
                    self.chunk.append(raw)
                    if len(self.chunk) >= CHUNK_SIZE:
                        self._submit()
                yield from self._drain(MAX_CHUNKS_IN_FLIGHT)
            self._submit()
            yield from self._drain(0)
        finally:
            if self.pool is not None:
                self.pool.shutdown(wait=True, cancel_futures=True)


def _say_if_waiting(raw_conn: Any, db: Database) -> None:
    """Tell the user when another process holds SQLite's write lock (the upload then waits).

    A probe with no busy timeout: BEGIN IMMEDIATE fails at once if another writer is active.
    """
    raw_conn.execute("PRAGMA busy_timeout = 0")
    try:
        raw_conn.execute("BEGIN IMMEDIATE")
        raw_conn.execute("ROLLBACK")
    except sqlite3.OperationalError:
        minutes = UPLOAD_BUSY_TIMEOUT_MS // 60_000
        db.note(
            f"another process is writing to {sqlite_path(db.url)}: waiting for it to finish "
            f"(up to {minutes} minutes)"
        )


def upload(
    db: Database,
    sources: list[str],
    *,
    stdin: IO[bytes] | None = None,
    skip_invalid: bool = False,
    dry_run: bool = False,
    max_errors: int = 20,
    on_reject: RejectFn | None = None,
    progress: ProgressFn | None = None,
    before_end: Callable[[], None] | None = None,
) -> UploadResult:
    """Validate every record of every source; store them all, or nothing (see module doc).

    `sources` are files, folders and `-` (`stdin`), as `expand_inputs` takes them; a source
    that cannot be read raises `InvalidInputError` and nothing is stored. `before_end` runs
    once every record has been read, before the transaction commits or rolls back: if it
    raises (say the rejects file could not be written), nothing is stored.
    """
    max_bytes = db.settings.trace_max_bytes
    files = expand_inputs(sources)
    total = input_size(files)
    result = UploadResult(dry_run=dry_run, max_errors=max_errors)
    # A dry run writes every valid record (to count new and duplicate exactly), then rolls back.
    keep_writing = skip_invalid or dry_run
    with translate_errors(db.url), db.engine.connect() as conn:
        if conn.dialect.name == "sqlite":  # on the driver: SQLAlchemy would autobegin
            raw_conn = conn.connection.dbapi_connection
            _say_if_waiting(raw_conn, db)
            raw_conn.execute(f"PRAGMA busy_timeout = {UPLOAD_BUSY_TIMEOUT_MS}")  # type: ignore[union-attr]
            # Random ids and hashes touch index pages all over the file: a 64 MiB page
            # cache (bounded, whatever the input size) keeps them in memory.
            raw_conn.execute(f"PRAGMA cache_size = -{UPLOAD_CACHE_KIB}")  # type: ignore[union-attr]
        writer_conn = writing(conn)
        with writer_conn.begin() as tx:
            batch: list[Prepared] = []
            validator = _Validator(max_bytes, _worker_count(db.url))
            if total is not None and total > EARLY_WORKERS_BYTES:
                validator.start()
            lock = threading.Lock()
            writer = _Writer(writer_conn, result, lock)

            def report() -> None:
                if progress is not None:
                    done = validator.bytes_read
                    progress(Progress(done, total, result.records, result.invalid_records))

            try:
                for raw, outcome in validator.run(_records(files, stdin, max_bytes)):
                    result.records += 1
                    if isinstance(outcome, list):
                        with lock:
                            result.add_invalid(outcome)
                        if on_reject is not None and raw is not None:
                            on_reject(raw, outcome)
                        continue
                    if result.invalid_records and not keep_writing:
                        continue  # nothing will be stored: keep validating, stop writing
                    batch.append(outcome)
                    if len(batch) >= BATCH_SIZE:
                        writer.submit(batch)
                        batch = []
                        report()
                if batch and (keep_writing or not result.invalid_records):
                    writer.submit(batch)
                writer.finish()
            finally:
                writer.close()
            report()
            if before_end is not None:
                before_end()
            if dry_run or (result.invalid_records and not skip_invalid):
                tx.rollback()
            else:
                result.committed = True
    return result
