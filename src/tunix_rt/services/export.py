"""Export: stored traces out as JSON Lines, in any format of `tunix_rt.formats`.

The rows stream from the database as stored (`repositories.raw`: the payload's canonical JSON
is never decoded for `jsonl`), each is rendered by the format's pure renderer, and the lines
are written in chunks of about a megabyte: constant memory whatever the number of traces.
The order is the one of every list, newest first with ties broken by id (descending), so the
same selection of the same data always gives the same bytes, on SQLite and PostgreSQL alike.

`write_lines` is the core that `dataset export` reuses with its own rows; `export` selects
with a TraceFilter; `page` / `stream` are `trace list --jsonl`'s read path. Where the bytes
go (stdout, an atomic file) is the caller's choice.
"""

from __future__ import annotations

import base64
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, BinaryIO

import orjson
from sqlalchemy import ColumnElement, Connection

from tunix_rt.db.database import Database
from tunix_rt.db.engine import translate_errors
from tunix_rt.errors import TunixRtError
from tunix_rt.filters import TraceFilter
from tunix_rt.formats import (
    CONTROL_TOKENS_LEFT,
    FORMATS,
    RAW,
    REWARD_MISMATCH,
    SANITIZED,
    Options,
    Renderer,
    trl_stepwise,
)
from tunix_rt.records import RawRow, line_of
from tunix_rt.repositories import raw as repo
from tunix_rt.repositories import scores as score_repo
from tunix_rt.services import selection as select
from tunix_rt.services.traces import decode_cursor

CHUNK_BYTES = 1 << 20  # write when this much is waiting
EXAMPLES = 5  # ids kept per kind of problem, for the report
FLAGS = (CONTROL_TOKENS_LEFT, SANITIZED, REWARD_MISMATCH)


class NoStepScoresError(TunixRtError):
    """`--labels NAME`: a selected trace has a step without a score NAME."""


@dataclass
class ExportReport:
    """What an export wrote, and the traces its format reported.

    `flagged[FLAG]` counts the traces a renderer flagged (`formats.CONTROL_TOKENS_LEFT`,
    `SANITIZED`, `REWARD_MISMATCH`); `examples[FLAG]` holds the first ids.
    """

    format: str
    count: int = 0
    bytes: int = 0
    flagged: dict[int, int] = field(default_factory=lambda: dict.fromkeys(FLAGS, 0))
    examples: dict[int, list[str]] = field(default_factory=lambda: {f: [] for f in FLAGS})

    @property
    def problems(self) -> int:
        """Traces that `--strict` fails on: control tokens left in, reward mismatches."""
        return self.flagged[CONTROL_TOKENS_LEFT] + self.flagged[REWARD_MISMATCH]

    def flag(self, flags: int, ident: str) -> None:
        for flag in FLAGS:
            if flags & flag:
                self.flagged[flag] += 1
                if len(self.examples[flag]) < EXAMPLES:
                    self.examples[flag].append(ident)


class _Sink:
    """Lines on their way to `out`, written in chunks of about CHUNK_BYTES."""

    def __init__(self, out: BinaryIO, report: ExportReport) -> None:
        self.out, self.report = out, report
        self.parts: list[bytes] = []
        self.waiting = 0

    def add(self, data: bytes, lines: int) -> None:
        self.parts.append(data)
        self.waiting += len(data)
        self.report.count += lines
        if self.waiting >= CHUNK_BYTES:
            self.flush()

    def flush(self) -> None:
        if self.parts:
            self.out.write(b"".join(self.parts))
            self.report.bytes += self.waiting
            self.parts.clear()
            self.waiting = 0


def _pass_through(rows: Iterator[RawRow], sink: _Sink) -> None:
    """`jsonl` from rows: each stored record's line (`records.line_of`), a thousand to a
    block."""

    def blocks() -> Iterator[tuple[bytes, int]]:
        while batch := list(islice(rows, 1000)):
            yield b"".join([line_of(*row) for row in batch]), len(batch)

    sink.flush()
    write_record_lines(blocks(), sink.out, sink.report)


def write_record_lines(
    blocks: Iterable[tuple[bytes, int]], out: BinaryIO, report: ExportReport
) -> None:
    """Blocks of stored-record lines (`repositories.raw.lines`: bytes, how many lines) to
    `out` as they come: the hot path of `trace list --jsonl` and `--to jsonl`."""
    for data, count in blocks:
        out.write(data)
        report.count += count
        report.bytes += len(data)


def _render_here(
    rows: Iterator[Any],
    render: Renderer,
    options: Options,
    sink: _Sink,
    limit: int | None,
    make: Callable[[Any], RawRow] | None,
) -> bool:
    """Render up to `limit` rows (all when None) in this process; True when rows are left."""
    report = sink.report
    for n, source in enumerate(rows, start=1):
        row = source if make is None else make(source)
        line, flags = render(row, options)
        if flags:
            report.flag(flags, row.id)
        sink.add(line, 1)
        if n == limit:
            return True
    return False


def write_lines(
    rows: Iterable[Any],
    to: str,
    options: Options,
    out: BinaryIO,
    report: ExportReport,
    *,
    workers: int | None = None,
    make: Callable[[Any], RawRow] | None = None,
    render: Renderer | None = None,
) -> ExportReport:
    """Render every row in format `to` and write the lines to `out`, in order, in large
    chunks; counts and flagged traces go to `report`.

    Rendering (a JSON parse, the text, a JSON dump) costs more than reading the row, so after
    the first PARALLEL_AFTER rows the rest can go in batches to `workers` processes (default:
    `default_workers()`; 0: none) while this process reads and writes; at most IN_FLIGHT per
    worker are outstanding, so memory stays bounded, and results are written in the order
    the rows came, so the bytes are the same either way. `jsonl` is never parallel: it only
    joins bytes. With `make` (`repositories.raw.sources`), `rows` are the driver's rows and
    `make` turns each into a RawRow where it is rendered (in the workers, when they run).
    """
    render = render or FORMATS[to]
    sink = _Sink(out, report)
    remaining = iter(rows)
    count = default_workers() if workers is None else workers
    if to in RAW:
        _pass_through(remaining if make is None else map(make, remaining), sink)
    elif count < 1:
        _render_here(remaining, render, options, sink, None, make)
    elif _render_here(remaining, render, options, sink, PARALLEL_AFTER, make):
        _render_in_workers(remaining, to, options, sink, count, make)
    sink.flush()
    return report


# --- rendering in worker processes ----------------------------------------------------------

PARALLEL_AFTER = 2_000  # rows rendered here first: small exports never start a worker
BATCH = 500  # rows per worker task
IN_FLIGHT = 3  # batches per worker outstanding
MIN_CPUS = 4  # fewer: render in this process (see default_workers)
_worker_render: Renderer | None = None
_worker_options = Options()
_worker_make: Callable[[Any], RawRow] | None = None


def default_workers() -> int:
    """Worker processes for an export: one per CPU but the one this process reads and writes
    on (at most 8); none with fewer than four CPUs or off Linux.

    Measured on two CPUs: the workers cost more than they saved (sending the rows and the
    rendered lines between processes took as much CPU as rendering, and this process needs
    a CPU of its own to read and write), so there the export renders in this process. The
    workers are forked, and only Linux can tie their lives to this process.
    """
    if not sys.platform.startswith("linux"):
        return 0
    cpus = len(os.sched_getaffinity(0))
    return 0 if cpus < MIN_CPUS else min(cpus - 1, 8)


def _worker_start(  # pragma: no cover - runs in the worker process
    parent: int, to: str, options: Options, make: Callable[[Any], RawRow] | None
) -> None:
    """Worker initializer: render format `to`; die with this export, even on SIGKILL.

    Ctrl-C and SIGTERM are left to the parent, which stops the workers: a worker that took
    them too would print a traceback of its own.
    """
    global _worker_render, _worker_options, _worker_make
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)
    _worker_render, _worker_options, _worker_make = FORMATS[to], options, make


def _render_batch(batch: list[Any]) -> tuple[bytes, int, list[tuple[str, int]]]:
    """In a worker: the batch's lines joined, their number, and the flagged (id, flags)."""
    render, options, make = _worker_render, _worker_options, _worker_make
    assert render is not None
    lines: list[bytes] = []
    flagged: list[tuple[str, int]] = []
    for source in batch:
        row = source if make is None else make(source)
        line, flags = render(row, options)
        lines.append(line)
        if flags:
            flagged.append((row.id, flags))
    return b"".join(lines), len(lines), flagged


def _render_in_workers(
    rows: Iterator[Any],
    to: str,
    options: Options,
    sink: _Sink,
    workers: int,
    make: Callable[[Any], RawRow] | None,
) -> None:
    """Forked workers render batches; this process reads the rows and writes the results in
    order. Forking with the database connection open is safe here: the workers never touch
    it, end with `os._exit` (no finalizer closes anything) and die with this process."""
    import multiprocessing
    from concurrent.futures import Future, ProcessPoolExecutor

    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_worker_start,
        initargs=(os.getpid(), to, options, make),
    )
    pending: deque[Future[tuple[bytes, int, list[tuple[str, int]]]]] = deque()

    def collect() -> None:
        data, lines, flagged = pending.popleft().result()
        for ident, flags in flagged:
            sink.report.flag(flags, ident)
        sink.add(data, lines)

    try:
        while batch := list(islice(rows, BATCH)):
            pending.append(pool.submit(_render_batch, batch))
            if len(pending) >= workers * IN_FLIGHT:
                collect()
        while pending:
            collect()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def export(
    db: Database,
    *,
    to: str,
    out: BinaryIO,
    selection: TraceFilter | None = None,
    options: Options | None = None,
    labels: str | None = None,
    threshold: float = 0.5,
    workers: int | None = None,
) -> ExportReport:
    """Write the selected traces to `out` in format `to` (a FORMATS key), newest first;
    `workers` as for `write_lines`. With `labels` (trl-stepwise), every step of every
    selected trace must have a score of that name (checked before anything is written)."""
    report = ExportReport(to)
    with translate_errors(db.url), db.engine.connect() as conn:
        repo.snapshot(conn)
        where = select.conditions(conn=conn, selection=selection or TraceFilter())
        # closed before the connection, also when a renderer raises (a damaged trace)
        if to in RAW:
            with closing(repo.lines(conn=conn, where=where)) as lines:
                write_record_lines(lines, out, report)
        elif labels is not None:
            render = _labelled(conn, where, labels, threshold)
            found, make = repo.sources(conn=conn, where=where)
            with closing(found):
                write_lines(
                    found,
                    to,
                    options or Options(),
                    out,
                    report,
                    workers=0,
                    make=make,
                    render=render,
                )
        else:
            found, make = repo.sources(conn=conn, where=where)
            with closing(found):
                write_lines(
                    found, to, options or Options(), out, report, workers=workers, make=make
                )
    return report


def _labelled(
    conn: Connection, where: list[ColumnElement[bool]], name: str, threshold: float
) -> Renderer:
    """The trl-stepwise renderer with the per-step scores `name` as labels, after checking
    that every step of every selected trace has one (the error names the first that has not)."""
    scores = score_repo.steps(conn=conn, name=name, where=where)
    found, make = repo.sources(conn=conn, where=where)
    with closing(found):
        for source in found:
            row = make(source)
            missing = trl_stepwise.unlabelled_step(row, scores.get(row.id))
            if missing is not None:
                raise NoStepScoresError(
                    f"--labels {name}: trace {row.id} step {missing} has no score {name} "
                    f"(label it: trace score set {name} VALUE {row.id[:8]} --step {missing}; "
                    "or score every step: trace score --with MODULE:FN --per-step)"
                )

    def render(row: RawRow, options: Options) -> tuple[bytes, int]:
        try:
            return trl_stepwise.render_labelled(row, options, scores[row.id], threshold)
        except KeyError:  # stored while this export ran (SQLite reads without a snapshot)
            raise NoStepScoresError(
                f"--labels {name}: trace {row.id} was stored during the export without "
                f"scores {name}: export again"
            ) from None

    return render


# --- trace list --jsonl ---------------------------------------------------------------------


def cursor_of(row: RawRow) -> str:
    """The `--cursor` token that continues after `row` (as `services.traces.encode_cursor`)."""
    raw = f"{row.created_at}|{row.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor_of_line(line: bytes) -> str:
    record = orjson.loads(line)
    return cursor_of(RawRow(record["id"], record["created_at"], "", b""))


def page(
    db: Database,
    *,
    limit: int,
    cursor: str | None,
    out: BinaryIO,
    report: ExportReport,
    selection: TraceFilter | None = None,
) -> str | None:
    """Write one page of `trace list --jsonl` to `out` as it is read; return the cursor of
    the next page (None when this was the last)."""
    after = decode_cursor(cursor) if cursor is not None else None
    written = 0
    with translate_errors(db.url), db.engine.connect() as conn:
        repo.snapshot(conn)
        where = select.conditions(conn=conn, selection=selection or TraceFilter())
        found = repo.lines(conn=conn, where=where, after=after, limit=limit + 1)
        with closing(found) as blocks:
            previous = b""  # what was written last (whole lines)
            for data, count in blocks:
                if written + count <= limit:
                    write_record_lines([(data, count)], out, report)
                    written += count
                    previous = data
                    continue
                keep, end = limit - written, -1  # this block holds the line too many
                for _ in range(keep):
                    end = data.index(b"\n", end + 1)
                if keep:
                    previous = data[: end + 1]
                    write_record_lines([(previous, keep)], out, report)
                last = previous[previous.rfind(b"\n", 0, len(previous) - 1) + 1 : -1]
                return _cursor_of_line(last)
    return None


def stream(
    db: Database, *, cursor: str | None = None, selection: TraceFilter | None = None
) -> Iterator[tuple[bytes, int]]:
    """Every selected trace's stored-record line, newest first, in blocks (bytes, how many),
    streamed (constant memory)."""
    after = decode_cursor(cursor) if cursor is not None else None
    with translate_errors(db.url), db.engine.connect() as conn:
        repo.snapshot(conn)
        where = select.conditions(conn=conn, selection=selection or TraceFilter())
        with closing(repo.lines(conn=conn, where=where, after=after)) as blocks:
            yield from blocks
