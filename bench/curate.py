"""Curation benchmark: filtered paging and `trace stats`, with ratios measured in one run.

Prints, for SQLite (and PostgreSQL when TUNIX_RT_BENCH_POSTGRES_URL or TUNIX_RT_TEST_POSTGRES_URL
is set):

- deep page / first page of the same filter (`--since`, `--tag`, `--meta`), timed in process
  through the service (median of 15 interleaved calls): goal <= 1.5;
- `trace stats` / `trace list --all --jsonl` on the same traces, whole processes (median of 3
  interleaved runs): goal <= 0.5.

Run: .venv/bin/python bench/curate.py [--traces N]   (default 100,000)
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
TUNIX = str(Path(sys.executable).parent / "tunix-rt")
WORDS = [
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
    "number",
    "step",
    "result",
    "value",
    "answer",
    "total",
]


def generate(path: Path, count: int, seed: int = 7) -> None:
    """Stored-record lines with spread-out timestamps, 2-12 steps, meta for filters."""
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with path.open("wb") as out:
        for n in range(count):
            steps = [
                {"i": i, "type": rng.choice(("plan", "calc", "check")), "content": _text(rng, 80)}
                for i in range(rng.randint(2, 12))
            ]
            payload = {
                "trace_version": "1.0",
                "prompt": f"Question {n}: " + _text(rng, 120),
                "final_answer": str(rng.randint(0, 10_000)),
                "steps": steps,
                "meta": {"category": f"c{n % 5}", "template_id": n % 10, "seed": 42},
            }
            record = {
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "created_at": (start + timedelta(seconds=30 * n)).isoformat(),
                "payload": payload,
            }
            out.write(orjson.dumps(record) + b"\n")


def _text(rng: random.Random, chars: int) -> str:
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < chars:
        words.append(rng.choice(WORDS))
    return " ".join(words)


def tag_every_tenth(url: str) -> None:
    """Tag 10% of the traces `bench` through SQL (the benchmark measures reads, not tagging)."""
    import sqlalchemy as sa

    from tunix_rt.db.engine import make_engine
    from tunix_rt.settings import load_settings

    engine = make_engine(load_settings(url))
    with engine.begin() as conn:
        ids = conn.execute(sa.text("SELECT id FROM traces ORDER BY created_at")).scalars().all()
        conn.execute(
            sa.text("INSERT INTO trace_tags (trace_id, tag) VALUES (:i, 'bench')"),
            [{"i": i} for i in ids[::10]],
        )
    engine.dispose()


def _median_pair(
    a: Callable[[], object], b: Callable[[], object], runs: int
) -> tuple[float, float]:
    ta: list[float] = []
    tb: list[float] = []
    for n in range(runs + 2):
        start = time.perf_counter()
        a()
        mid = time.perf_counter()
        b()
        end = time.perf_counter()
        if n >= 2:
            ta.append(mid - start)
            tb.append(end - mid)
    return statistics.median(ta), statistics.median(tb)


def deep_vs_first(url: str, label: str, count: int) -> None:
    from tunix_rt.cli._options import build_filter
    from tunix_rt.db.database import open_database
    from tunix_rt.services import traces as service
    from tunix_rt.settings import load_settings

    # the data spans `count` x 30 s from 2026-01-01: --since its middle selects half
    middle = (datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=15 * count)).date().isoformat()
    filters = {
        f"--since {middle}": {"since": middle},
        "--tag bench": {"tag": ["bench"]},
        "--meta category=c3": {"meta": ["category=c3"]},
    }
    with open_database(load_settings(url), note=lambda _m: None) as db:
        for name, values in filters.items():
            selection = build_filter(values)
            matches = sum(1 for _ in service.iter_all(db, selection=selection))
            depth = matches * 9 // 10
            deep_cursor = service.list_page(db, limit=depth, cursor=None, selection=selection)
            cursor = deep_cursor.next_cursor

            def first(sel: object = selection) -> object:
                return service.list_page(db, limit=20, cursor=None, selection=sel)  # type: ignore[arg-type]

            def deep(sel: object = selection, cur: str | None = cursor) -> object:
                return service.list_page(db, limit=20, cursor=cur, selection=sel)  # type: ignore[arg-type]

            t_first, t_deep = _median_pair(first, deep, 15)
            print(
                f"{label}: {name:<22} {matches:>8,} matches; first page {t_first * 1000:7.2f} ms, "
                f"page at {depth:,} {t_deep * 1000:7.2f} ms: ratio {t_deep / t_first:.2f} "
                "(goal <= 1.5)"
            )


def _process(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def stats_vs_list(url: str, label: str, count: int) -> None:
    stats_cmd = [TUNIX, "--db", url, "trace", "stats", "--json"]
    list_cmd = [TUNIX, "--db", url, "trace", "list", "--all", "--jsonl"]
    a: list[float] = []
    b: list[float] = []
    for _ in range(3):
        a.append(_process(stats_cmd))
        b.append(_process(list_cmd))
    ts, tl = statistics.median(a), statistics.median(b)
    print(
        f"{label}: trace stats {ts:.2f} s, trace list --all --jsonl {tl:.2f} s on {count:,} "
        f"traces: ratio {ts / tl:.2f} (goal <= 0.5)"
    )


def load(url: str, data: Path) -> None:
    subprocess.run([TUNIX, "--db", url, "db", "upgrade"], check=True, capture_output=True)
    subprocess.run(
        [TUNIX, "--db", url, "trace", "upload", str(data), "-q"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    tag_every_tenth(url)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--traces", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "traces.jsonl"
        generate(data, args.traces)
        lite = f"sqlite:///{Path(tmp) / 'bench.db'}"
        load(lite, data)
        deep_vs_first(lite, "SQLite", args.traces)
        stats_vs_list(lite, "SQLite", args.traces)
        admin = os.environ.get("TUNIX_RT_BENCH_POSTGRES_URL") or os.environ.get(
            "TUNIX_RT_TEST_POSTGRES_URL"
        )
        if admin:
            import psycopg

            name = f"tunix_rt_bench_{uuid.uuid4().hex[:8]}"
            base = admin.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0]
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
            try:
                pg = f"{base}/{name}"
                load(pg, data)
                deep_vs_first(pg, "PostgreSQL", args.traces)
                stats_vs_list(pg, "PostgreSQL", args.traces)
            finally:
                with psycopg.connect(admin, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
