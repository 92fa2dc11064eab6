"""`dataset build` over many traces: time and peak memory (issue 9: "state the time and what
bounds it").

Fills a SQLite file (tunix-rt's migrated table, written directly: this measures the build,
not the upload) with the traces of bench/ingest.py (2-12 steps, about 1.8 KB each), one in
ten of them an exact duplicate of the one before (only `meta` differs), then times whole
processes, once each:

- `dataset build a --split train=0.9,validation=0.05,test=0.05` (duplicates collapsed);
- the same with `--keep-duplicates`;
- `--pick random --limit 100000` (the collapse, then the pick).

Run: .venv/bin/python bench/dataset_build.py [--traces N]   (default 1,000,000)
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from export import TUNIX, run  # whole processes, peak RSS by GNU time
from ingest import generate  # the same traces as the ingest benchmark


def _rows(data: Path, count: int) -> Iterator[tuple[str, str, str, str, str]]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    previous: dict[str, object] = {}
    with data.open("rb") as lines:
        for n, line in enumerate(lines):
            if n == count:
                return
            trace = orjson.loads(line)
            if n % 10 == 9:  # an exact duplicate of the one before: only meta differs
                trace = {**previous, "meta": {"source": "bench", "copy_of": n - 1}}
            previous = trace
            payload = orjson.dumps(trace, option=orjson.OPT_SORT_KEYS)
            when = (start + timedelta(milliseconds=n)).replace(tzinfo=None)
            yield (
                uuid.UUID(int=n + 1, version=4).hex,
                when.isoformat(" ", "microseconds"),
                "1.0",
                hashlib.sha256(payload).hexdigest(),
                payload.decode(),
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--traces", type=int, default=1_000_000, help="default 1,000,000")
    args = parser.parse_args()
    count = args.traces
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, {platform.platform()}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {**os.environ, "HOME": tmp, "XDG_DATA_HOME": str(work / "data")}
        data = work / "traces.jsonl"
        began = time.perf_counter()
        generate(data, count)
        url = f"sqlite:///{work / 'bench.db'}"
        run([TUNIX, "--db", url, "db", "upgrade"], env)
        conn = sqlite3.connect(work / "bench.db")
        with conn:
            conn.executemany(
                "INSERT INTO traces (id, created_at, trace_version, content_hash, payload) "
                "VALUES (?, ?, ?, ?, ?)",
                _rows(data, count),
            )
        conn.close()
        data.unlink()
        size = (work / "bench.db").stat().st_size
        print(
            f"{count:,} traces ({count // 10:,} exact duplicates), {size / 1e9:.2f} GB SQLite, "
            f"filled in {time.perf_counter() - began:.0f} s"
        )
        split = ("--split", "train=0.9,validation=0.05,test=0.05")
        for name, extra in (
            ("build, duplicates collapsed", ()),
            ("build --keep-duplicates", ("--keep-duplicates",)),
            ("build --pick random --limit 100000", ("--pick", "random", "--limit", "100000")),
        ):
            label = f"d{abs(hash(name)) % 10**6}"
            result = run([TUNIX, "--db", url, "dataset", "build", label, *split, *extra], env)
            print(
                f"{name:<40} {result.seconds:7.1f} s  {result.cpu:7.1f} s CPU  "
                f"{result.rss_kib / 1024:7.0f} MB peak RSS"
            )


if __name__ == "__main__":
    main()
