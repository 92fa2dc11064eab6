"""Search (`-q TEXT`) over prompt, step contents and final answer, on SQLite and PostgreSQL.

What a match is, identically on both databases: every term of `SearchQuery.terms` (already
folded by `filters.fold`: NFC, Unicode case folding, whitespace runs as one space) occurs as
a substring of the trace's *body*: its prompt, step contents (ascending `i`) and final answer,
each folded by the same Python function and joined by U+001F. Folding is done in Python, never
by the database, so `STRASSE` finds `straße` and `cafe` does not find `café` on both; U+001F
cannot occur in folded text (it is whitespace to `str.split`), so a phrase never spans two
fields. The databases only test exact substrings (`instr` / `strpos` / an escaped `LIKE`).

Where bodies live: `trace_search` (one row per trace, ON DELETE CASCADE), filled lazily:
`condition()` first catches up on traces not yet indexed, in its own short transactions,
so an upload never pays for the index. Indexes:

- SQLite: FTS5 `trace_search_fts` with the trigram tokenizer (case-sensitive: the text is
  already folded; detail=none, so a term is looked up as the AND of its trigrams and every
  candidate is checked with `instr`). Which traces are indexed is a watermark on
  `traces.rowid` (`trace_search_state`): every trace at or below it is indexed. Rowids can be
  reused after a delete, and VACUUM may renumber them; both leave the trace with the highest
  rowid at or below the watermark unindexed, which the catch-up checks (one lookup) before
  trusting the watermark, and then re-checks every trace once (an anti-join).
- PostgreSQL: a GIN `gin_trgm_ops` index on `body`. Whether a trace is missing is one
  comparison of two counts (index-only scans: every `trace_search` row belongs to its own
  existing trace, so equal counts mean none is missing); the missing ones are then streamed
  with an anti-join. The index only narrows (`LIKE` with `%`, `_` and `\\` escaped is the
  exact test); it cannot help terms under 3 characters, nor CJK text in a database whose
  character type is `C` (pg_trgm extracts no trigrams from it): those searches are correct,
  but scan.

How a search runs: it first *probes* for at most PROBE_LIMIT + 1 matching traces, through
the index when a term has 3+ characters, else by scanning bodies until it has that many. When
there are no more than PROBE_LIMIT, the condition is "id in these ids" (the page query then
sorts a few rows). When there are more (a common word), the condition checks each trace's body
as the newest-first page query walks `ix_traces_created_at`, which stops after one page.

When the catch-up cannot run (SQLite: another process holds the write lock, e.g. an upload;
PostgreSQL: another catch-up is running, or the user may not write) the traces not yet
indexed are read and matched in Python, so a search always sees every committed trace.

Deleting traces needs nothing from here: `trace_search` rows go by ON DELETE CASCADE (SQLite
enforces it because every tunix-rt connection turns `foreign_keys` on) and, on SQLite, the
trigger `trace_search_ad` takes them out of the FTS5 index.

Results are newest first like every list; ranking by relevance is not offered (FTS5's bm25
and pg_trgm's similarity would order the same traces differently on the two databases).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Connection, Engine

from tunix_rt.db.engine import SQLITE_BUSY_TIMEOUT_MS
from tunix_rt.filters import SearchQuery, fold
from tunix_rt.models import Trace, TraceSearch
from tunix_rt.records import parse_payload

traces = Trace.__table__  # type: ignore[attr-defined]
trace_search = TraceSearch.__table__  # type: ignore[attr-defined]

SEPARATOR = "\x1f"  # between the folded fields of a body; folding never produces it
MIN_INDEXED = 3  # trigram indexes serve terms of at least 3 characters
PROBE_LIMIT = 2000  # more matches than this: check bodies while walking newest first
BATCH = 1000  # traces indexed per catch-up transaction
VACUUM_AFTER = 10_000  # PostgreSQL: vacuum after indexing at least this many traces
YIELD_SECONDS = 0.01  # pause between catch-up transactions, so a waiting writer gets in
# A fixed 64-bit advisory-lock key: one catch-up at a time per PostgreSQL database.
PG_LOCK_KEY = int.from_bytes(b"tunix-sq", "big")


# --- the body: pure -----------------------------------------------------------------------


def fold_field(text: str) -> str:
    """`filters.fold`, with a fast path for ASCII text (where casefold is lower and NFC is a
    no-op); the result is always identical to `fold(text)`."""
    if text.isascii():
        return " ".join(text.lower().split())
    return fold(text)


def search_body(payload: Mapping[str, Any]) -> str:
    """The searchable text of a trace: prompt, step contents (ascending `i`) and final
    answer, each folded, joined by U+001F."""
    steps = sorted(payload.get("steps") or (), key=lambda step: step.get("i", 0))
    fields = [payload.get("prompt", ""), *(s.get("content", "") for s in steps)]
    fields.append(payload.get("final_answer", ""))
    return SEPARATOR.join(fold_field(f if isinstance(f, str) else str(f)) for f in fields)


def body_matches(body: str, terms: Iterable[str]) -> bool:
    """Every term occurs in the body (the definition the databases implement)."""
    return all(term in body for term in terms)


def fts5_query(terms: Iterable[str]) -> str:
    """An FTS5 MATCH expression for a trigram table with detail=none: the AND of trigrams
    covering each term (every third one, and the last), each a quoted string. A superset of
    the matches: the caller checks each candidate's body."""
    grams: dict[str, None] = {}
    for term in terms:
        starts = [*range(0, len(term) - MIN_INDEXED + 1, MIN_INDEXED), len(term) - MIN_INDEXED]
        for start in starts:
            grams[term[start : start + MIN_INDEXED]] = None
    return " AND ".join('"' + gram.replace('"', '""') + '"' for gram in grams)


def like_pattern(term: str) -> str:
    """`%term%` for LIKE with the default escape character (backslash)."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# --- the condition ------------------------------------------------------------------------


def condition(*, conn: Connection, query: SearchQuery) -> ColumnElement[bool]:
    """A condition on `traces` selecting the traces whose body contains every term.

    Catches up on unindexed traces first (on its own connection, committed), so call it
    before anything else reads on `conn` (on SQLite the first read fixes the snapshot).
    """
    terms = list(query.terms)
    caught_up = catch_up(conn.engine)
    # What is still unindexed, matched in Python. SQLite: always asked, in this snapshot
    # (cheap when caught up); PostgreSQL: only when the catch-up did not finish.
    tail: list[Any] = []
    if conn.dialect.name == "sqlite":
        tail = _sqlite_tail(conn, terms)
    elif not caught_up:
        tail = _postgres_tail(conn, terms)
    found = _probe(conn, terms)
    if found is not None:
        return _id_in(conn, [*found, *tail])
    checked = _checked_per_trace(conn, terms)
    return sa.or_(checked, _id_in(conn, tail)) if tail else checked


def _id_in(conn: Connection, ids: Sequence[Any]) -> ColumnElement[bool]:
    """`traces.id` is one of `ids` (as the driver returns them), bound as one parameter."""
    if not ids:
        return sa.false()
    if conn.dialect.name == "sqlite":
        values: sa.Select[Any] = sa.select(sa.column("value")).select_from(
            sa.func.json_each(sa.literal(json.dumps(list(dict.fromkeys(ids)))))
        )
        return traces.c.id.in_(values)  # type: ignore[no-any-return]
    from sqlalchemy.dialects.postgresql import ARRAY

    unique = list(dict.fromkeys(ids))
    return traces.c.id == sa.any_(sa.literal(unique, ARRAY(sa.Uuid())))  # type: ignore[no-any-return]


def _checked_per_trace(conn: Connection, terms: Sequence[str]) -> ColumnElement[bool]:
    """Each trace's body contains every term (looked up by trace, no index on the text)."""
    contains = sa.func.instr if conn.dialect.name == "sqlite" else sa.func.strpos
    return sa.exists().where(
        trace_search.c.trace_id == traces.c.id,
        *(contains(trace_search.c.body, sa.literal(term)) > 0 for term in terms),
    )


def _probe(conn: Connection, terms: Sequence[str]) -> list[Any] | None:
    """The ids of the indexed traces matching, or None when more than PROBE_LIMIT do.

    Terms of 3+ characters are looked up in the index; without one, bodies are scanned until
    PROBE_LIMIT + 1 matches are found (quick for a common term; all of them for a rare one).
    """
    long = [term for term in terms if len(term) >= MIN_INDEXED]
    params: dict[str, Any] = {"n": PROBE_LIMIT + 1}
    if conn.dialect.name == "sqlite":
        checks = []
        for n, term in enumerate(terms):
            params[f"t{n}"] = term
            checks.append(f"instr(s.body, :t{n}) > 0")
        if long:
            params["q"] = fts5_query(long)
            sql = (
                "SELECT s.trace_id FROM trace_search_fts AS f "
                "JOIN trace_search AS s ON s.doc_id = f.rowid "
                f"WHERE trace_search_fts MATCH :q AND {' AND '.join(checks)} LIMIT :n"
            )
        else:  # no index helps: a scan that stops at PROBE_LIMIT + 1 matches
            sql = f"SELECT s.trace_id FROM trace_search AS s WHERE {' AND '.join(checks)} LIMIT :n"
    else:
        checks = []
        for n, term in enumerate(terms):
            if len(term) >= MIN_INDEXED:
                params[f"t{n}"] = like_pattern(term)
                checks.append(f"body LIKE :t{n}")
            else:
                params[f"t{n}"] = term
                checks.append(f"strpos(body, :t{n}) > 0")
        sql = f"SELECT trace_id FROM trace_search WHERE {' AND '.join(checks)} LIMIT :n"
    found = list(conn.execute(sa.text(sql), params).scalars())
    return found if len(found) <= PROBE_LIMIT else None


# --- what is not indexed yet: matched in Python ---------------------------------------------


def _matching(rows: Iterable[Any], terms: Sequence[str]) -> list[Any]:
    out = []
    for ident, payload in rows:
        trace_id = ident if isinstance(ident, uuid.UUID) else uuid.UUID(hex=ident)
        if body_matches(search_body(parse_payload(payload, trace_id)), terms):
            out.append(ident)
    return out


_PREFIX_OK = (
    "SELECT EXISTS (SELECT 1 FROM trace_search AS s WHERE s.trace_id = t.id) "
    "FROM (SELECT id FROM traces WHERE rowid <= :w ORDER BY rowid DESC LIMIT 1) AS t"
)
_UNINDEXED = "NOT EXISTS (SELECT 1 FROM trace_search AS s WHERE s.trace_id = t.id)"


def _sqlite_tail(conn: Connection, terms: Sequence[str]) -> list[Any]:
    """The unindexed traces (in this connection's snapshot) that match."""
    w = int(conn.execute(sa.text("SELECT watermark FROM trace_search_state")).scalar_one())
    top = conn.execute(sa.text("SELECT max(rowid) FROM traces")).scalar() or 0
    prefix = conn.execute(sa.text(_PREFIX_OK), {"w": w}).scalar()
    if prefix is None or prefix:
        if top <= w:
            return []
        sql = "SELECT t.id, t.payload FROM traces AS t WHERE t.rowid > :w"
    else:  # rowids were reused or renumbered: check every trace
        sql = f"SELECT t.id, t.payload FROM traces AS t WHERE {_UNINDEXED}"
    # yield_per on the statement, not the connection: the caller goes on writing on `conn`
    # (`trace delete -q`), and a connection option would make every later statement a
    # server-side cursor on PostgreSQL.
    rows = conn.execute(sa.text(sql).execution_options(yield_per=BATCH), {"w": w})
    return _matching(rows, terms)


def _postgres_tail(conn: Connection, terms: Sequence[str]) -> list[Any]:
    sql = f"SELECT t.id, t.payload FROM traces AS t WHERE {_UNINDEXED}"
    return _matching(conn.execute(sa.text(sql).execution_options(yield_per=BATCH)), terms)


# --- catching up --------------------------------------------------------------------------


def catch_up(engine: Engine) -> bool:
    """Index every trace not indexed yet, in transactions of BATCH traces, on a connection
    of its own. False when it could not finish: another writer holds SQLite's lock (it never
    waits for one), another catch-up is running on PostgreSQL, or the database refuses the
    write (read-only file, replica, no INSERT right)."""
    if engine.dialect.name == "sqlite":
        return _sqlite_catch_up(engine)
    return _postgres_catch_up(engine)


def _bodies(rows: Iterable[Any]) -> list[tuple[Any, str]]:
    out = []
    for ident, payload in rows:
        trace_id = ident if isinstance(ident, uuid.UUID) else uuid.UUID(hex=ident)
        out.append((ident, search_body(parse_payload(payload, trace_id))))
    return out


def _sqlite_state(cur: Any) -> tuple[int, int, bool]:
    """(watermark, highest traces.rowid, whether the watermark can be trusted)."""
    w = int(cur.execute("SELECT watermark FROM trace_search_state").fetchone()[0])
    top = int(cur.execute("SELECT coalesce(max(rowid), 0) FROM traces").fetchone()[0])
    row = cur.execute(_PREFIX_OK.replace(":w", "?"), (w,)).fetchone()
    return w, top, row is None or bool(row[0])


def _sqlite_catch_up(engine: Engine) -> bool:
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        w, top, trusted = _sqlite_state(cur)
        if trusted and top == w:
            return True
        from concurrent.futures import ThreadPoolExecutor

        cur.execute("PRAGMA busy_timeout = 0")
        try:
            with ThreadPoolExecutor(1, thread_name_prefix="tunix-rt-fold") as folder:
                return _sqlite_batches(cur, folder)
        finally:
            cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        raw.close()


def _sqlite_batches(cur: Any, folder: Any) -> bool:
    """Index BATCH traces per transaction, by rowid; the next batch is folded on `folder`
    (a thread) while this one is written (sqlite3 lets go of the GIL while it works).

    Every transaction reads its batch under the write lock, so a batch folded ahead is used
    only if it is still exactly the next one. False when the write lock is not free.
    """
    ahead: tuple[list[Any], Any] | None = None  # (keys, future bodies) of the next batch
    while True:
        try:
            cur.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:  # locked by another writer, or read-only
            return False
        try:
            w, top, trusted = _sqlite_state(cur)
            keys = _next_batch(cur, w if trusted else 0)  # untrusted: check every trace
            if ahead is not None and ahead[0] == keys:
                bodies = ahead[1]
            else:
                bodies = folder.submit(_bodies, _payloads(cur, keys))
            done = len(keys) < BATCH
            ahead = None
            if not done:
                following = _next_batch(cur, keys[-1][0])
                ahead = (following, folder.submit(_bodies, _payloads(cur, following)))
            _insert_sqlite(cur, bodies.result())
            mark = top if done else keys[-1][0]
            cur.execute("UPDATE trace_search_state SET watermark = ?", (mark,))
            cur.execute("COMMIT")
        except sqlite3.OperationalError:  # e.g. the disk is full: search scans
            _rollback(cur)
            return False
        except BaseException:
            _rollback(cur)
            raise
        if done:
            return True
        time.sleep(YIELD_SECONDS)


def _rollback(cur: Any) -> None:
    with contextlib.suppress(sqlite3.OperationalError):  # no transaction left to roll back
        cur.execute("ROLLBACK")


def _next_batch(cur: Any, after: int) -> list[Any]:
    """(rowid, id) of the next BATCH unindexed traces with a rowid above `after`."""
    return cur.execute(  # type: ignore[no-any-return]
        f"SELECT t.rowid, t.id FROM traces AS t WHERE t.rowid > ? AND {_UNINDEXED} "
        "ORDER BY t.rowid LIMIT ?",
        (after, BATCH),
    ).fetchall()


def _payloads(cur: Any, keys: Sequence[Any]) -> list[tuple[Any, str]]:
    if not keys:
        return []
    marks = ",".join("?" * len(keys))  # BATCH is far below SQLite's variable limit
    return cur.execute(  # type: ignore[no-any-return]
        f"SELECT id, payload FROM traces WHERE rowid IN ({marks}) ORDER BY rowid",
        [rowid for rowid, _ident in keys],
    ).fetchall()


def _insert_sqlite(cur: Any, bodies: Sequence[tuple[Any, str]]) -> None:
    if not bodies:
        return
    before = cur.execute("SELECT coalesce(max(doc_id), 0) FROM trace_search").fetchone()[0]
    cur.executemany("INSERT INTO trace_search (trace_id, body) VALUES (?, ?)", bodies)
    # One statement for the batch: 2.5 times faster than a trigger per row.
    cur.execute(
        "INSERT INTO trace_search_fts (rowid, body) "
        "SELECT doc_id, body FROM trace_search WHERE doc_id > ?",
        (before,),
    )


# Every trace_search row belongs to its own existing trace (unique, ON DELETE CASCADE), so
# equal counts (in one snapshot; two index-only scans) mean that no trace is missing.
_PG_COMPLETE = "SELECT (SELECT count(*) FROM traces) = (SELECT count(*) FROM trace_search)"
_PG_MISSING = f"SELECT t.id, t.payload FROM traces AS t WHERE {_UNINDEXED}"
_PG_INSERT = (
    "INSERT INTO trace_search (trace_id, body) "
    "SELECT v.id, v.body FROM unnest(CAST(:ids AS uuid[]), CAST(:bodies AS text[])) AS v(id, body) "
    "WHERE EXISTS (SELECT 1 FROM traces AS t WHERE t.id = v.id) "
    "ON CONFLICT (trace_id) DO NOTHING"
)


def _postgres_batches(engine: Engine, writer: Connection) -> int:
    """Stream the missing traces; fold each batch on a thread while the previous one is
    written (psycopg lets go of the GIL while it waits for the server). How many."""
    from concurrent.futures import Future, ThreadPoolExecutor

    written = 0

    def write(bodies: Sequence[tuple[Any, str]]) -> None:
        nonlocal written
        ids, texts = [b[0] for b in bodies], [b[1] for b in bodies]
        writer.execute(sa.text(_PG_INSERT), {"ids": ids, "bodies": texts})
        writer.commit()
        written += len(bodies)

    with engine.connect() as reader, ThreadPoolExecutor(1) as folder:
        missing = reader.execution_options(yield_per=BATCH).execute(sa.text(_PG_MISSING))
        pending: Future[list[tuple[Any, str]]] | None = None
        for part in missing.partitions(BATCH):
            folding = folder.submit(_bodies, part)
            if pending is not None:
                write(pending.result())
            pending = folding
        if pending is not None:
            write(pending.result())
    return written


def _postgres_vacuum(engine: Engine) -> None:
    """After a big catch-up, what autovacuum would do soon: set the visibility map (the
    completeness check is two index-only scans; without it they visit the heap and cost ten
    times more) and the statistics. Skipped without waiting when a vacuum already runs; a
    user who does not own the tables gets a warning from the server, not an error."""
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")  # noqa: PLW2901
            conn.execute(sa.text("VACUUM (ANALYZE, SKIP_LOCKED) traces, trace_search"))
    except sa.exc.DBAPIError:  # a replica, or the server refuses: autovacuum will do it
        pass


def _postgres_catch_up(engine: Engine) -> bool:
    """Stream the missing traces (one anti-join, a server-side cursor on a second connection)
    and index them, committing every BATCH, under a session advisory lock."""
    lock = {"k": PG_LOCK_KEY}
    try:
        with engine.connect() as writer:
            if writer.execute(sa.text(_PG_COMPLETE)).scalar_one():
                writer.rollback()
                return True
            locked = writer.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), lock).scalar_one()
            writer.commit()
            if not locked:
                return False
            try:
                written = _postgres_batches(engine, writer)
            except BaseException:
                writer.invalidate()  # closing the session releases the lock, whatever its state
                raise
            writer.execute(sa.text("SELECT pg_advisory_unlock(:k)"), lock)
            writer.commit()
        if written >= VACUUM_AFTER:
            _postgres_vacuum(engine)
        return True
    except sa.exc.DBAPIError:  # read-only, no INSERT right, a concurrent delete: search scans
        return False
