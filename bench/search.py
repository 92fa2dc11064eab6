"""Search benchmark: `trace list -q` against a full scan of the same text, and upload with the
search index in place against without it.

Generates deterministic traces like bench/ingest.py (2-12 steps of English-like words, about
1.7 KB per trace), a few of them carrying rare words (one trace in 5,000 per word: English,
Chinese, Japanese, Arabic, and a rare phrase), then, all in this one run:

1. uploads them with `tunix-rt trace upload` (SQLite: --traces, default 1,000,000;
   PostgreSQL: --pg-traces, default 100,000, when TUNIX_RT_BENCH_POSTGRES_URL or
   TUNIX_RT_TEST_POSTGRES_URL is set);
2. times the one-time catch-up (the first search indexes every trace);
3. for each query, times the first page (20 traces) of `trace list -q QUERY` in process
   (`services.traces.list_page`, median of 5 after a warm-up; this includes the catch-up
   check every search makes) against the baseline: `instr(payload, term)` (SQLite) /
   `strpos(payload, term)` (PostgreSQL) over every row's stored payload, median of 3; the
   same scan limited to the newest-first first page is shown too (it stops early for common
   words). Also the whole `tunix-rt trace list -q WORD` process;
4. uploads --upload-traces (default 100,000) traces into fresh databases at head, with the
   search objects in place and with them dropped (same schema otherwise, same code: upload
   never touches the index), interleaved, median of --runs (3), and prints the ratio.

Prints times and ratios; asserts nothing. Run:
    .venv/bin/python bench/search.py [--traces N] [--pg-traces N] [--upload-traces N]
        [--runs N] [--no-upload | --upload-only]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

BIN = Path(sys.executable).parent
TUNIX = str(BIN / "tunix-rt")
WORDS = [
    *("the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "with", "was", "on"),
    *("be", "by", "this", "are", "from", "at", "or", "an", "which", "number", "step", "result"),
    *("value", "answer", "total", "sum", "product", "divide", "multiply", "add", "subtract"),
    *("check", "therefore", "because", "since", "first", "then", "next", "finally", "compute"),
    *("verify", "equation", "solve"),
]
RARE = ("zephyrine", "学习中文", "東京タワー", "القاهرة", "quixotical answer")
RARE_EVERY = 5000  # one trace in this many carries each rare word
QUERIES = [
    ("rare English word", "zephyrine"),
    ("rare Chinese (4 characters)", "学习中文"),
    ("rare Japanese (5 characters)", "東京タワー"),
    ("rare Arabic", "القاهرة"),
    ("rare phrase", '"quixotical answer"'),
    ("rare word AND common word", "zephyrine therefore"),
    ("common word (most traces)", "therefore"),
    ("short: 2 characters, rare", "学习"),
    ("short: 2 characters, common", "is"),
]
FIRST_PAGE = 20


def sentence(rng: random.Random, chars: int) -> str:
    out: list[str] = []
    size = 0
    while size < chars:
        word = rng.choice(WORDS)
        out.append(word)
        size += len(word) + 1
    return " ".join(out)[:chars].strip() or "x"


def generate(path: Path, count: int, seed: int = 2026) -> float:
    """Write `count` traces; return the mean bytes per trace."""
    rng = random.Random(seed)
    total = 0
    with path.open("wb") as fh:
        for n in range(count):
            steps = [
                {"i": i, "type": rng.choice(["parse", "plan", "compute", "check", "answer"]),
                 "content": sentence(rng, int(40 + 560 * rng.random() ** 3))}
                for i in range(rng.randint(2, 12))
            ]  # fmt: skip
            for word in RARE:
                if rng.randrange(RARE_EVERY) == 0:
                    step = rng.choice(steps)
                    step["content"] = f"{step['content']} {word}"
            trace = {
                "trace_version": "1.0",
                "prompt": f"Problem {n}: " + sentence(rng, rng.randint(40, 200)),
                "final_answer": str(rng.randint(0, 10**6)),
                "steps": steps,
                "meta": {"source": "bench", "seed": seed, "n": n},
            }
            line = orjson.dumps(trace) + b"\n"
            total += len(line)
            fh.write(line)
    return total / count


def run(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        cmd,
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.decode(errors='replace')}")
    return elapsed


def median_time(fn: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:9.1f} ms"


def baseline_sql(dialect: str, terms: tuple[str, ...], limit: int | None) -> sa.TextClause:
    contains = "instr(payload, :t{n}) > 0" if dialect == "sqlite" else "strpos(payload, :t{n}) > 0"
    where = " AND ".join(contains.format(n=n) for n in range(len(terms)))
    if limit is None:
        return sa.text(f"SELECT count(*) FROM traces WHERE {where}")
    return sa.text(
        f"SELECT id FROM traces WHERE {where} ORDER BY created_at DESC, id DESC LIMIT {limit}"
    )


def vacuum(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE traces")
        conn.execute("VACUUM ANALYZE trace_search")


def measure(url: str, count: int, env: dict[str, str], *, catch_up: bool = True) -> None:
    """Catch-up time, then each query: ours vs the full scan, in this process."""
    from tunix_rt.db.database import open_database
    from tunix_rt.filters import TraceFilter, parse_search
    from tunix_rt.repositories import search
    from tunix_rt.services import traces as service
    from tunix_rt.settings import load_settings

    with open_database(load_settings(url), note=lambda _m: None) as db:
        if catch_up:
            start = time.perf_counter()
            done = search.catch_up(db.engine)
            took = time.perf_counter() - start
            print(
                f"  catch-up (once, the first search): {took:.1f} s for {count:,} traces, "
                f"{count / took:,.0f} traces/s{'' if done else ' (NOT finished)'}"
            )
        dialect = db.engine.dialect.name
        print(
            f"  {'query':32s} {'matches':>8s} {'first page':>12s} {'scan, every row':>16s} "
            f"{'ratio':>7s} {'scan, 1st page':>15s} {'ratio':>7s}"
        )
        for label, text in QUERIES:
            query = parse_search(text)
            selection = TraceFilter(search=query)

            def ours(selection: TraceFilter = selection) -> Any:
                return service.list_page(db, limit=FIRST_PAGE, cursor=None, selection=selection)

            def scan(limit: int | None, terms: tuple[str, ...] = query.terms) -> Any:
                params = {f"t{n}": term for n, term in enumerate(terms)}
                with db.engine.connect() as conn:
                    return conn.execute(baseline_sql(dialect, terms, limit), params).all()

            page = ours()  # warm-up
            t_ours = median_time(ours, 5)
            matches = scan(None)[0][0]
            t_full = median_time(lambda: scan(None), 3)
            t_first = median_time(lambda: scan(FIRST_PAGE), 3)
            shown = len(page.rows)
            print(
                f"  {label:32s} {matches:8,d} {ms(t_ours)}{'' if shown else ' *'} "
                f"{ms(t_full):>16s} {t_full / t_ours:6.1f}x {ms(t_first):>15s} "
                f"{t_first / t_ours:6.1f}x"
            )
    word = QUERIES[0][1]
    cli_search = statistics.median(
        run([TUNIX, "--db", url, "trace", "list", "-q", word], env) for _ in range(3)
    )
    cli_plain = statistics.median(run([TUNIX, "--db", url, "trace", "list"], env) for _ in range(3))
    print(
        f"  whole process: `trace list -q {word}` {cli_search * 1000:.0f} ms, "
        f"`trace list` {cli_plain * 1000:.0f} ms (median of 3)"
    )


SQLITE_DROP = (
    "DROP TRIGGER trace_search_ad",
    "DROP TRIGGER trace_search_au",
    "DROP TABLE trace_search_fts",
    "DROP TABLE trace_search_state",
    "DROP TABLE trace_search",
)


def drop_search(url: str) -> None:
    """The same schema without the search objects (the revision stays at head)."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as conn:
            statements = SQLITE_DROP if url.startswith("sqlite") else ("DROP TABLE trace_search",)
            for statement in statements:
                conn.execute(sa.text(statement))
    finally:
        engine.dispose()


def pg_url() -> str | None:
    url = os.environ.get("TUNIX_RT_BENCH_POSTGRES_URL") or os.environ.get(
        "TUNIX_RT_TEST_POSTGRES_URL"
    )
    return url.replace("postgresql+psycopg://", "postgresql://") if url else None


class PgDatabases:
    def __init__(self, admin: str) -> None:
        self.admin = admin
        self.base = admin.rpartition("/")[0]
        self.names: list[str] = []

    def create(self) -> str:
        import psycopg

        name = f"tunix_rt_bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
        self.names.append(name)
        return f"{self.base}/{name}"

    def drop(self) -> None:
        import psycopg

        with psycopg.connect(self.admin, autocommit=True) as conn:
            for name in self.names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]
        self.names.clear()


def compare_uploads(work: Path, count: int, runs: int, env: dict[str, str]) -> None:
    data = work / "upload.jsonl"
    generate(data, count, seed=7)
    print(f"Upload, {count:,} traces: search objects in place vs dropped, median of {runs}")

    def sqlite_upload(with_search: bool) -> float:
        db = work / f"u-{uuid.uuid4().hex}.db"
        url = f"sqlite:///{db}"
        run([TUNIX, "--db", url, "db", "upgrade"], env)
        if not with_search:
            drop_search(url)
        took = run([TUNIX, "--db", url, "trace", "upload", "-q", str(data)], env)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        return took

    report("SQLite", sqlite_upload, runs, count)
    admin = pg_url()
    if not admin:
        return
    dbs = PgDatabases(admin)

    def pg_upload(with_search: bool) -> float:
        url = dbs.create()
        try:
            run([TUNIX, "--db", url, "db", "upgrade"], env)
            if not with_search:
                drop_search(url)
            return run([TUNIX, "--db", url, "trace", "upload", "-q", str(data)], env)
        finally:
            dbs.drop()

    report("PostgreSQL", pg_upload, runs, count)


def report(name: str, upload: Callable[[bool], float], runs: int, count: int) -> None:
    with_search: list[float] = []
    without: list[float] = []
    for _ in range(runs):  # interleaved: drift in the machine's load hits both alike
        with_search.append(upload(True))
        without.append(upload(False))
    a, b = statistics.median(with_search), statistics.median(without)
    print(
        f"  {name:10s} with search {a:6.2f} s ({count / a:,.0f}/s), without {b:6.2f} s "
        f"({count / b:,.0f}/s): speed with / without {b / a:.3f} (goal >= 0.9)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--traces", type=int, default=1_000_000, help="SQLite traces")
    parser.add_argument("--pg-traces", type=int, default=100_000, help="PostgreSQL traces")
    parser.add_argument("--upload-traces", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3, help="upload runs per variant")
    parser.add_argument("--no-upload", action="store_true", help="skip the upload comparison")
    parser.add_argument("--upload-only", action="store_true", help="only the upload comparison")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, {platform.platform()}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {"HOME": tmp, "XDG_DATA_HOME": str(work / "data")}
        if args.upload_only:
            compare_uploads(work, args.upload_traces, args.runs, env)
            return

        data = work / "traces.jsonl"
        mean = generate(data, args.traces)
        print(f"SQLite, {args.traces:,} traces ({mean:.0f} bytes per trace)")
        url = f"sqlite:///{work / 'search.db'}"
        took = run([TUNIX, "--db", url, "trace", "upload", "-q", str(data)], env)
        print(f"  upload: {took:.1f} s, {args.traces / took:,.0f} traces/s")
        data.unlink()
        measure(url, args.traces, env)
        size = sum(p.stat().st_size for p in work.glob("search.db*"))
        print(f"  database file with the index: {size / 1e6:,.0f} MB")
        for p in work.glob("search.db*"):
            p.unlink()

        admin = pg_url()
        if admin:
            dbs = PgDatabases(admin)
            try:
                mean = generate(data, args.pg_traces)
                print(f"PostgreSQL, {args.pg_traces:,} traces ({mean:.0f} bytes per trace)")
                target = dbs.create()
                run([TUNIX, "--db", target, "db", "upgrade"], env)
                took = run([TUNIX, "--db", target, "trace", "upload", "-q", str(data)], env)
                print(f"  upload: {took:.1f} s, {args.pg_traces / took:,.0f} traces/s")
                data.unlink()
                measure(target, args.pg_traces, env)
                # Index-only scans (the catch-up check) need the visibility map that
                # (auto)vacuum maintains; this server may run without autovacuum.
                vacuum(target)
                print("  after VACUUM ANALYZE (what autovacuum does):")
                measure(target, args.pg_traces, env, catch_up=False)
            finally:
                dbs.drop()
        else:
            print("PostgreSQL: skipped (set TUNIX_RT_BENCH_POSTGRES_URL)")

        if not args.no_upload:
            compare_uploads(work, args.upload_traces, args.runs, env)


if __name__ == "__main__":
    main()
