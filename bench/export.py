"""Export benchmark: the read path against the tools a user would otherwise reach for.

Builds the same deterministic traces as bench/ingest.py (2-12 steps, about 1.8 KB per trace,
seeded) into a SQLite file (written straight into tunix-rt's migrated table: this measures
reading, not uploading) and, when TUNIX_RT_BENCH_POSTGRES_URL or TUNIX_RT_TEST_POSTGRES_URL is
set, into a PostgreSQL database (`tunix-rt trace upload`). Then it times whole processes,
stdout to /dev/null, interleaved (ours, baseline, ours, ...; median of --runs after a warm-up),
and prints the ratios (speed ratio = baseline time / our time):

- SQLite: `trace export --to jsonl` and `trace list --all --jsonl` vs
  `sqlite-utils rows DB traces --nl` on the same file (goal >= 2);
- SQLite: `trace export --to tunix-sft` time / `--to jsonl` time (goal <= 1.5);
- PostgreSQL: `trace export --to jsonl` vs `psql -c "\\copy (select payload from traces) to
  stdout"` on the same table (goal >= 0.5);
- memory: peak RSS of `trace export --to jsonl` and `--to tunix-sft` over 10x the traces
  (1,000,000 by default) / over the base count (goal <= 1.2).

Run: .venv/bin/python bench/export.py [--traces N] [--runs R] [--no-memory]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import generate  # the same traces as the ingest benchmark

BIN = Path(sys.executable).parent
TUNIX = str(BIN / "tunix-rt")
SQLITE_UTILS = str(BIN / "sqlite-utils")


TIME = "/usr/bin/time"  # GNU time: the peak RSS and CPU time of the command alone


class Result(NamedTuple):
    seconds: float  # wall
    rss_kib: int  # peak resident set
    cpu: float  # user + system seconds (the command and the processes it waited for)


def run(cmd: list[str], env: dict[str, str]) -> Result:
    """One whole process, stdout to /dev/null.

    Peak RSS and CPU come from GNU time when it is installed: a child's ru_maxrss as seen by
    this (large) process would include the memory it had while forking.
    """
    wrapped = [TIME, "-f", "%M %U %S", *cmd] if os.path.exists(TIME) else cmd
    start = time.perf_counter()
    proc = subprocess.Popen(wrapped, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {err.decode(errors='replace')}")
    if wrapped is cmd:
        return Result(elapsed, usage.ru_maxrss, usage.ru_utime + usage.ru_stime)
    peak, user, system = err.decode().strip().splitlines()[-1].split()
    return Result(elapsed, int(peak), float(user) + float(system))


def interleaved(
    commands: dict[str, list[str]], env: dict[str, str], runs: int
) -> dict[str, Result]:
    """Median wall and CPU time, and max peak RSS, of each command over `runs` interleaved
    rounds (after one that warms the page cache)."""
    results: dict[str, list[Result]] = {name: [] for name in commands}
    for n in range(runs + 1):
        for name, cmd in commands.items():
            result = run(cmd, env)
            if n:
                results[name].append(result)
    return {
        name: Result(
            statistics.median(r.seconds for r in rs),
            max(r.rss_kib for r in rs),
            statistics.median(r.cpu for r in rs),
        )
        for name, rs in results.items()
    }


def _stored_rows(data: Path, count: int) -> Iterator[tuple[str, str, str, str, str]]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with data.open("rb") as lines:
        for n, line in enumerate(lines):
            if n == count:
                return
            payload = orjson.dumps(orjson.loads(line), option=orjson.OPT_SORT_KEYS)
            when = (start + timedelta(milliseconds=n)).replace(tzinfo=None)
            yield (
                uuid.UUID(int=n + 1, version=4).hex,
                when.isoformat(" ", "microseconds"),
                "1.0",
                hashlib.sha256(payload).hexdigest(),
                payload.decode(),
            )


def fill_sqlite(path: Path, data: Path, count: int, env: dict[str, str]) -> str:
    """A tunix-rt SQLite file (created and migrated by tunix-rt) holding `count` traces."""
    url = f"sqlite:///{path}"
    run([TUNIX, "--db", url, "db", "upgrade"], env)
    conn = sqlite3.connect(path)
    with conn:
        conn.executemany(
            "INSERT INTO traces (id, created_at, trace_version, content_hash, payload) "
            "VALUES (?, ?, ?, ?, ?)",
            _stored_rows(data, count),
        )
    conn.close()
    return url


def pg_admin_url() -> str | None:
    url = os.environ.get("TUNIX_RT_BENCH_POSTGRES_URL") or os.environ.get(
        "TUNIX_RT_TEST_POSTGRES_URL"
    )
    return url.replace("postgresql+psycopg://", "postgresql://") if url else None


def row(name: str, result: Result, count: int, size: int) -> None:
    seconds = result.seconds
    print(
        f"  {name:56s} {seconds:6.2f} s {count / seconds:8,.0f} traces/s "
        f"{size / seconds / 1e6:6.1f} MB/s  CPU {result.cpu:5.2f} s  "
        f"peak RSS {result.rss_kib / 1024:4.0f} MiB"
    )


def ratio(name: str, value: float, goal: str, cpu: float | None = None) -> None:
    by_cpu = f"   (by CPU time {cpu:.2f})" if cpu is not None else ""
    print(f"  {name:56s} {value:6.2f}   goal {goal}{by_cpu}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--traces", type=int, default=100_000, help="traces (default 100,000)")
    parser.add_argument("--runs", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--no-memory", action="store_true", help="skip the 10x-traces run")
    args = parser.parse_args()
    count = args.traces
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, {platform.platform()}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {**os.environ, "HOME": tmp, "XDG_DATA_HOME": str(work / "data")}
        data = work / "traces.jsonl"
        generate(data, count)
        lite = fill_sqlite(work / "bench.db", data, count, env)
        size = len(subprocess.run([TUNIX, "--db", lite, "trace", "export", "--to", "jsonl"],
                                  capture_output=True, check=True, env=env).stdout)  # fmt: skip
        print(f"{count:,} traces, {size / 1e6:.1f} MB as JSON Lines; median of {args.runs}")

        print("SQLite")
        results = interleaved(
            {
                "export jsonl": [TUNIX, "--db", lite, "trace", "export", "--to", "jsonl"],
                "list jsonl": [TUNIX, "--db", lite, "trace", "list", "--all", "--jsonl"],
                "export tunix-sft": [TUNIX, "--db", lite, "trace", "export", "--to", "tunix-sft"],
                "sqlite-utils": [SQLITE_UTILS, "rows", str(work / "bench.db"), "traces", "--nl"],
            },
            env,
            args.runs,
        )
        export, listing = results["export jsonl"], results["list jsonl"]
        sft, su = results["export tunix-sft"], results["sqlite-utils"]
        row("tunix-rt trace export --to jsonl", export, count, size)
        row("tunix-rt trace list --all --jsonl", listing, count, size)
        row("tunix-rt trace export --to tunix-sft", sft, count, size)
        row("sqlite-utils rows DB traces --nl", su, count, size)
        ratio(
            "speed, export --to jsonl vs sqlite-utils",
            su.seconds / export.seconds,
            ">= 2",
            su.cpu / export.cpu,
        )
        ratio(
            "speed, list --all --jsonl vs sqlite-utils",
            su.seconds / listing.seconds,
            ">= 2",
            su.cpu / listing.cpu,
        )
        ratio(
            "time, --to tunix-sft / --to jsonl",
            sft.seconds / export.seconds,
            "<= 1.5",
            sft.cpu / export.cpu,
        )

        admin = pg_admin_url()
        if admin:
            import psycopg

            name = f"tunix_rt_bench_{uuid.uuid4().hex[:10]}"
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
            pg = f"{admin.rpartition('/')[0]}/{name}"
            try:
                run([TUNIX, "--db", pg, "db", "upgrade"], env)
                records = work / "records.jsonl"
                subprocess.run(
                    [TUNIX, "--db", lite, "trace", "export", "--to", "jsonl", "-o", str(records)],
                    check=True,
                    env=env,
                    capture_output=True,
                )
                run([TUNIX, "--db", pg, "trace", "upload", "-q", str(records)], env)
                records.unlink()
                with psycopg.connect(pg, autocommit=True) as conn:
                    conn.execute("VACUUM ANALYZE traces")
                psql = shutil.which("psql") or "psql"
                copy = r"\copy (select payload from traces) to stdout"
                print("PostgreSQL")
                results = interleaved(
                    {
                        "export jsonl": [TUNIX, "--db", pg, "trace", "export", "--to", "jsonl"],
                        "psql": [psql, pg, "-X", "-q", "-c", copy],
                    },
                    env,
                    args.runs,
                )
                ours, psql_run = results["export jsonl"], results["psql"]
                row("tunix-rt trace export --to jsonl", ours, count, size)
                row(
                    'psql -c "\\copy (select payload from traces) to stdout"', psql_run, count, size
                )
                ratio(
                    "speed, export --to jsonl vs psql \\copy",
                    psql_run.seconds / ours.seconds,
                    ">= 0.5",
                )
            finally:
                with psycopg.connect(admin, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]
        else:
            print("PostgreSQL: skipped (set TUNIX_RT_BENCH_POSTGRES_URL)")

        if args.no_memory:
            return
        big = count * 10
        print(f"Memory (SQLite, {big:,} traces)")
        (work / "bench.db").unlink()
        generate(data, big)
        large = fill_sqlite(work / "big.db", data, big, env)
        data.unlink()
        for fmt, base in (("jsonl", export), ("tunix-sft", sft)):
            result = run([TUNIX, "--db", large, "trace", "export", "--to", fmt], env)
            row(f"tunix-rt trace export --to {fmt}, {big:,} traces", result, big, size * 10)
            ratio(
                f"peak RSS, --to {fmt}: {big:,} / {count:,} traces",
                result.rss_kib / base.rss_kib,
                "<= 1.2",
            )


if __name__ == "__main__":
    main()
