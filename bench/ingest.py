"""Bulk-ingest benchmark: tunix-rt against the tools a user would otherwise reach for.

Generates a deterministic set of realistic traces (2-12 steps of 40-600 characters, about
1.5 KB per trace, seeded), then times whole processes (median of 3, all in this one run) and
prints records/s, MB/s, peak RSS and these ratios (speed ratio = their time / our time):

- SQLite, 100,000 traces: `tunix-rt trace upload` into a fresh file (created and migrated by
  tunix-rt itself, inside the timing) vs `sqlite-utils insert --nl` into a fresh file
  (goal >= 1.5); and vs a minimal loader (orjson per line, one `sqlite3.executemany` in one
  transaction, no validation) into the same table and indexes (goal >= 0.8);
- PostgreSQL, 100,000 traces (when TUNIX_RT_BENCH_POSTGRES_URL or TUNIX_RT_TEST_POSTGRES_URL
  is set): vs a minimal psycopg 3 COPY loader into the same table (goal >= 0.75);
- memory: peak RSS uploading 1,000,000 traces vs 100,000 (goal <= 1.2).

Run: .venv/bin/python bench/ingest.py [--small]   (--small: 20,000 / 100,000 traces)
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
from pathlib import Path

import orjson

BIN = Path(sys.executable).parent
TUNIX = str(BIN / "tunix-rt")
WORDS = (
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "that",
    "for",
    "it",
    "as",
    "with",
    "was",
    "on",
    "be",
    "by",
    "this",
    "are",
    "from",
    "at",
    "or",
    "an",
    "which",
    "number",
    "step",
    "result",
    "value",
    "answer",
    "total",
    "sum",
    "product",
    "divide",
    "multiply",
    "add",
    "subtract",
    "check",
    "therefore",
    "because",
    "since",
    "first",
    "then",
    "next",
    "finally",
    "compute",
    "verify",
    "equation",
    "solve",
)

MINIMAL_SQLITE = r"""
import sqlite3, sys, uuid, hashlib, datetime, orjson
db, path = sys.argv[1], sys.argv[2]
conn = sqlite3.connect(db, isolation_level=None)
conn.execute("BEGIN")
now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
def rows():
    with open(path, "rb") as fh:
        for line in fh:
            obj = orjson.loads(line)
            yield (uuid.uuid4().hex, now, obj["trace_version"],
                   hashlib.sha256(line).hexdigest(), line.decode())
conn.executemany("INSERT INTO traces (id, created_at, trace_version, content_hash, payload) "
                 "VALUES (?, ?, ?, ?, ?)", rows())
conn.execute("COMMIT")
"""

MINIMAL_COPY = r"""
import sys, uuid, hashlib, datetime, orjson, psycopg
url, path = sys.argv[1], sys.argv[2]
now = datetime.datetime.now(datetime.UTC)
with psycopg.connect(url) as conn, conn.cursor() as cur:
    with cur.copy("COPY traces (id, created_at, trace_version, content_hash, payload) "
                  "FROM STDIN") as copy, open(path, "rb") as fh:
        for line in fh:
            obj = orjson.loads(line)
            copy.write_row((uuid.uuid4(), now, obj["trace_version"],
                            hashlib.sha256(line).hexdigest(), line.decode().rstrip("\n")))
"""


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


def run(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one whole process."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, **(env or {})}
    )
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {err.decode(errors='replace')}")
    return elapsed, usage.ru_maxrss


def median_of(n: int, fn: object) -> tuple[float, int]:
    results = [fn() for _ in range(n)]  # type: ignore[operator]
    return statistics.median(r[0] for r in results), max(r[1] for r in results)


def line(name: str, seconds: float, rss_kib: int, count: int, size: int) -> None:
    print(
        f"  {name:44s} {seconds:7.2f} s  {count / seconds:9,.0f} rec/s  "
        f"{size / seconds / 1e6:6.1f} MB/s  peak RSS {rss_kib / 1024:6.0f} MiB"
    )


def pg_url() -> str | None:
    url = os.environ.get("TUNIX_RT_BENCH_POSTGRES_URL") or os.environ.get(
        "TUNIX_RT_TEST_POSTGRES_URL"
    )
    return url.replace("postgresql+psycopg://", "postgresql://") if url else None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", action="store_true", help="20k / 100k traces (quick check)")
    parser.add_argument("--no-memory", action="store_true", help="skip the 1,000,000-trace run")
    args = parser.parse_args()
    count, big = (20_000, 100_000) if args.small else (100_000, 1_000_000)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, {platform.platform()}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {"HOME": tmp, "XDG_DATA_HOME": str(work / "data")}
        data = work / "traces.jsonl"
        mean = generate(data, count)
        size = data.stat().st_size
        print(f"{count:,} traces, {size / 1e6:.1f} MB, {mean:.0f} bytes per trace; median of 3")

        def fresh(name: str) -> Path:
            return work / f"{name}-{uuid.uuid4().hex}.db"

        def ours_sqlite() -> tuple[float, int]:
            db = fresh("ours")  # created and migrated by tunix-rt inside the timing
            return run([TUNIX, "--db", f"sqlite:///{db}", "trace", "upload", "-q", str(data)], env)

        def ours_premigrated() -> tuple[float, int]:
            db = fresh("ours")
            run([TUNIX, "--db", f"sqlite:///{db}", "db", "upgrade"], env)  # as for the minimal
            return run([TUNIX, "--db", f"sqlite:///{db}", "trace", "upload", "-q", str(data)], env)

        def sqlite_utils() -> tuple[float, int]:
            db = fresh("su")
            return run([str(BIN / "sqlite-utils"), "insert", str(db), "traces", str(data), "--nl"])

        def minimal() -> tuple[float, int]:
            db = fresh("min")
            run([TUNIX, "--db", f"sqlite:///{db}", "db", "upgrade"], env)  # same table, untimed
            return run([sys.executable, "-c", MINIMAL_SQLITE, str(db), str(data)])

        print("SQLite")
        t_ours, rss_ours = median_of(3, ours_sqlite)
        t_su, rss_su = median_of(3, sqlite_utils)
        t_pre, rss_pre = median_of(3, ours_premigrated)
        t_min, rss_min = median_of(3, minimal)
        line("tunix-rt trace upload, fresh file", t_ours, rss_ours, count, size)
        line("sqlite-utils insert --nl, fresh file", t_su, rss_su, count, size)
        line("tunix-rt trace upload, migrated file", t_pre, rss_pre, count, size)
        line("minimal orjson + executemany, same table", t_min, rss_min, count, size)
        print(f"  ratio vs sqlite-utils: {t_su / t_ours:.2f}x faster (goal >= 1.5)")
        print(f"  ratio vs minimal loader: {t_min / t_pre:.2f} of its speed (goal >= 0.8)")

        url = pg_url()
        if url:
            import psycopg

            base, _, _ = url.rpartition("/")

            def fresh_pg() -> str:
                name = f"tunix_rt_bench_{uuid.uuid4().hex[:10]}"
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
                target = f"{base}/{name}"
                run([TUNIX, "--db", target, "db", "upgrade"], env)
                return target

            def drop_all() -> None:
                with psycopg.connect(url, autocommit=True) as conn:
                    names = conn.execute(
                        "SELECT datname FROM pg_database WHERE datname LIKE 'tunix_rt_bench_%'"
                    ).fetchall()
                    for (name,) in names:
                        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')  # type: ignore[arg-type]

            def ours_pg() -> tuple[float, int]:
                target = fresh_pg()
                return run([TUNIX, "--db", target, "trace", "upload", "-q", str(data)], env)

            def copy_pg() -> tuple[float, int]:
                target = fresh_pg()
                return run([sys.executable, "-c", MINIMAL_COPY, target, str(data)])

            try:
                print("PostgreSQL")
                t_pg, rss_pg = median_of(3, ours_pg)
                t_copy, rss_copy = median_of(3, copy_pg)
                line("tunix-rt trace upload", t_pg, rss_pg, count, size)
                line("minimal psycopg COPY loader", t_copy, rss_copy, count, size)
                print(f"  ratio vs COPY loader: {t_copy / t_pg:.2f} of its speed (goal >= 0.75)")
            finally:
                drop_all()
        else:
            print("PostgreSQL: skipped (set TUNIX_RT_BENCH_POSTGRES_URL)")

        if args.no_memory:
            return
        print("Memory (SQLite, JSON Lines)")
        big_data = work / "big.jsonl"
        generate(big_data, big)
        big_size = big_data.stat().st_size
        t_big, rss_big = run(
            [TUNIX, "--db", f"sqlite:///{fresh('big')}", "trace", "upload", "-q", str(big_data)],
            env,
        )
        line(f"tunix-rt trace upload, {big:,} traces", t_big, rss_big, big, big_size)
        print(f"  peak RSS {big:,} / {count:,}: {rss_big / rss_ours:.2f} (goal <= 1.2)")


if __name__ == "__main__":
    main()
