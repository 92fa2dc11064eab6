"""Delete benchmark: `tunix-rt trace delete` by filter against a raw `DELETE ... WHERE`.

Builds one SQLite database of N traces (default 1,000,000; small generated traces with
`meta.bucket` 0..9, created over 100 days, 10% tagged `stale`, 10% tagged `keep`), then, for
each filter that selects 10% of them, deletes on a fresh copy of that file:

- ours: `tunix-rt trace delete FILTER --yes`, a whole process (start-up, schema check,
  the selection written down, counts, preview, the delete with its tag cascade, commit);
- raw: a whole `python -c` process doing `PRAGMA foreign_keys = ON; BEGIN IMMEDIATE;
  DELETE FROM traces WHERE <the same condition, hand-written>; COMMIT` on the same tables
  (foreign keys on, so the tags go in both).

Each pair runs interleaved (raw, ours, raw, ours, ...) on fresh copies; the ratio of the
medians is printed as speed relative to raw (raw time / our time; the goal is >= 0.5).
Nothing is asserted: this prints numbers.

Run: .venv/bin/python bench/delete.py [--traces N] [--runs R] [--profile]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

TUNIX = str(Path(sys.executable).parent / "tunix-rt")
DAYS = 100

RAW = r"""
import sqlite3, sys
path, sql = sys.argv[1], sys.argv[2]
conn = sqlite3.connect(path, isolation_level=None)
conn.execute("PRAGMA foreign_keys = ON")
conn.execute("BEGIN IMMEDIATE")
print(conn.execute(sql, sys.argv[3:]).rowcount)
conn.execute("COMMIT")
"""


def build(path: Path, count: int, env: dict[str, str]) -> datetime:
    """A migrated SQLite file with `count` traces; returns the 10%-oldest cutoff time."""
    subprocess.run(
        [TUNIX, "--db", f"sqlite:///{path}", "db", "upgrade"],
        check=True,
        env=env,
        stderr=subprocess.DEVNULL,
    )
    rng = random.Random(2026)
    start = datetime.now(UTC) - timedelta(days=DAYS)
    step = timedelta(days=DAYS) / count
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA cache_size = -262144")
    conn.execute("BEGIN")
    rows, tags = [], []
    for n in range(count):
        payload = {
            "final_answer": str(n),
            "meta": {"bucket": n % 10, "source": "bench"},
            "prompt": f"Problem {n}: what is {rng.randint(0, 10**6)} plus {rng.randint(0, 999)}?",
            "steps": [
                {"content": f"Add the numbers of problem {n}", "i": 0, "type": "compute"},
                {"content": "Check the sum", "i": 1, "type": "check"},
            ],
            "trace_version": "1.0",
        }
        encoded = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
        ident = uuid.UUID(int=rng.getrandbits(128), version=4).hex
        created = (start + step * n).replace(tzinfo=None).isoformat(" ", "microseconds")
        rows.append((ident, created, "1.0", hashlib.sha256(encoded).hexdigest(), encoded.decode()))
        if n % 10 == 7:
            tags.append((ident, "stale"))
        if n % 10 == 3:
            tags.append((ident, "keep"))
        if len(rows) == 50_000:
            _insert(conn, rows, tags)
            rows, tags = [], []
    _insert(conn, rows, tags)
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return start + step * (count // 10)


def _insert(
    conn: sqlite3.Connection, rows: list[tuple[str, ...]], tags: list[tuple[str, str]]
) -> None:
    conn.executemany(
        "INSERT INTO traces (id, created_at, trace_version, content_hash, payload) "
        "VALUES (?, ?, ?, ?, ?)",
        rows,
    )
    conn.executemany("INSERT INTO trace_tags (trace_id, tag) VALUES (?, ?)", tags)


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, env=env, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.decode(errors='replace')}")
    return elapsed, (proc.stdout + proc.stderr).decode()


def fresh_copy(base: Path, work: Path, name: str) -> Path:
    target = work / f"{name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(base, target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--traces", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="cProfile one run of ours")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, {platform.platform()}")
    print(f"SQLite {sqlite3.sqlite_version}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {**os.environ, "HOME": tmp, "XDG_DATA_HOME": str(work / "data")}
        env = {k: v for k, v in env.items() if not k.startswith("TUNIX_RT_")}
        base = work / "base.db"
        started = time.perf_counter()
        cutoff = build(base, args.traces, env)
        size = base.stat().st_size
        print(
            f"{args.traces:,} traces, {size / 1e6:.0f} MB file, built in "
            f"{time.perf_counter() - started:.0f} s; median of {args.runs} interleaved runs"
        )
        stamp = cutoff.replace(tzinfo=None).isoformat(" ", "microseconds")
        cases = [
            (
                "--until (created before: index range)",
                ["--until", cutoff.isoformat()],
                "DELETE FROM traces WHERE created_at < ?",
                [stamp],
            ),
            (
                "--tag stale (tag table)",
                ["--tag", "stale"],
                "DELETE FROM traces WHERE id IN "
                "(SELECT trace_id FROM trace_tags WHERE tag = 'stale')",
                [],
            ),
            (
                "--meta bucket=3 (JSON in every row)",
                ["--meta", "bucket=3"],
                "DELETE FROM traces WHERE json_extract(payload, '$.meta.bucket') = 3",
                [],
            ),
        ]
        for title, filter_args, sql, params in cases:
            # A migration added meanwhile (a busy checkout) must not land inside the timing.
            subprocess.run(
                [TUNIX, "--db", f"sqlite:///{base}", "db", "upgrade"],
                check=True,
                env=env,
                capture_output=True,
            )
            ours_times, raw_times = [], []
            deleted = ""
            for _ in range(args.runs):
                raw_db = fresh_copy(base, work, "raw")
                t_raw, out = timed([sys.executable, "-c", RAW, str(raw_db), sql, *params], env)
                raw_times.append(t_raw)
                raw_count = int(out.split()[0])
                ours_db = fresh_copy(base, work, "ours")
                cmd = [TUNIX, "--db", f"sqlite:///{ours_db}", "trace", "delete", *filter_args]
                t_ours, out = timed([*cmd, "--yes"], env)
                ours_times.append(t_ours)
                deleted = next(x for x in out.splitlines() if x.startswith("deleted"))
            ours, raw = statistics.median(ours_times), statistics.median(raw_times)
            print(f"{title}")
            print(f"  raw DELETE ... WHERE:  {raw:6.2f} s  ({raw_count:,} traces)")
            print(f"  tunix-rt trace delete: {ours:6.2f} s  ({deleted})")
            print(f"  speed vs raw: {raw / ours:.2f} (goal >= 0.5)")
        if args.profile:
            ours_db = fresh_copy(base, work, "ours")
            out_file = work / "delete.prof"
            subprocess.run(
                [sys.executable, "-m", "cProfile", "-o", str(out_file), TUNIX,
                 "--db", f"sqlite:///{ours_db}", "trace", "delete", "--meta", "bucket=3", "--yes"],
                check=True, env=env, capture_output=True,
            )  # fmt: skip
            import pstats

            print("profile of `trace delete --meta bucket=3 --yes`, tunix-rt's own functions:")
            stats = pstats.Stats(str(out_file)).sort_stats("cumulative")
            stats.print_stats(r"tunix_rt/(services|repositories|db)/", 12)


if __name__ == "__main__":
    main()
