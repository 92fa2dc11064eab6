"""Bulk ingest: modes, rejects, round trips, concurrency and crash safety, on both databases."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from tests.helpers import DATA, Cli, invoke, make_trace, write_jsonl


def count(url: str) -> int:
    return len(invoke(["--db", url, "trace", "list", "--all", "--jsonl"]).lines())


def tunix(*args: str, **kwargs: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "tunix_rt", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kwargs,
    )


def test_shared_folder_all_or_nothing(cli: Cli, db_url: str) -> None:
    """The shared data folder: the eval set is invalid, so nothing is stored, exit 1."""
    result = cli("trace", "upload", str(DATA))
    assert result.exit_code == 1
    assert "evalset_v2.jsonl:1: trace_version: field required" in result.stderr
    assert "... and 780 more errors (800 in all)" in result.stderr
    assert "100 invalid records: nothing stored" in result.stderr
    assert count(db_url) == 0


def test_shared_folder_skip_invalid_with_rejects(cli: Cli, db_url: str, tmp_path: Path) -> None:
    """--skip-invalid stores 915, counts 286 duplicates and writes the 100 rejects."""
    rejects = tmp_path / "rejects.jsonl"
    result = cli("trace", "upload", str(DATA), "--skip-invalid", "--rejects", str(rejects))
    assert result.exit_code == 0, result.stderr
    assert "stored 915, duplicates 286, skipped 100 invalid records" in result.stderr
    assert len(result.lines()) == 915
    lines = [json.loads(x) for x in rejects.read_text().splitlines()]
    assert len(lines) == 100
    assert {r["file"] for r in lines} == {str(DATA / "evalset_v2.jsonl")}
    assert [r["line"] for r in lines] == list(range(1, 101))
    assert json.loads(lines[0]["raw"])["id"] == "eval-v2-001"
    assert {"field": "steps", "message": "field required"} in lines[0]["errors"]
    assert count(db_url) == 915


def test_rejects_hold_exactly_the_bad_records(cli: Cli, tmp_path: Path) -> None:
    """Only invalid records go to --rejects, with their raw text byte for byte."""
    records = [make_trace(n) for n in range(6)]
    records[1]["prompt"] = ""
    records[4] = {"nope": True}
    path = write_jsonl(tmp_path / "t.jsonl", records)
    rejects = tmp_path / "r.jsonl"
    result = cli("trace", "upload", str(path), "--skip-invalid", "--rejects", str(rejects))
    assert "stored 4, duplicates 0, skipped 2 invalid records" in result.stderr
    rows = [json.loads(x) for x in rejects.read_text().splitlines()]
    assert [r["line"] for r in rows] == [2, 5]
    assert [json.loads(r["raw"]) for r in rows] == [records[1], records[4]]


def test_dry_run_writes_nothing(cli: Cli, db_url: str, tmp_path: Path) -> None:
    """--dry-run reports exact new/duplicate/invalid counts and stores nothing."""
    cli("trace", "upload", str(write_jsonl(tmp_path / "a.jsonl", [make_trace(0)])))
    records = [make_trace(0), make_trace(1), make_trace(1), {"x": 1}]
    result = cli("trace", "upload", str(write_jsonl(tmp_path / "b.jsonl", records)), "--dry-run")
    assert result.exit_code == 1  # an invalid record makes a dry run fail, like a real one
    assert "dry run: 1 new, 2 duplicates, 1 invalid record; nothing written" in result.stderr
    assert result.stdout == ""
    clean = cli("trace", "upload", str(write_jsonl(tmp_path / "c.jsonl", records[:3])), "--dry-run")
    assert clean.exit_code == 0
    assert count(db_url) == 1


def test_max_errors_limits_printed_errors(cli: Cli, tmp_path: Path) -> None:
    """--max-errors N prints N errors, then the total."""
    path = write_jsonl(tmp_path / "t.jsonl", [{"bad": n} for n in range(10)])
    result = cli("trace", "upload", str(path), "--max-errors", "3")
    printed = [line for line in result.stderr.splitlines() if line.startswith(f"{path}:")]
    assert len(printed) == 3
    assert "... and 47 more errors (50 in all)" in result.stderr
    assert "10 invalid records: nothing stored" in result.stderr


def test_quiet_silences_summary(cli: Cli, tmp_path: Path) -> None:
    """--quiet prints ids only, no summary or duplicates."""
    path = write_jsonl(tmp_path / "t.jsonl", [make_trace(1), make_trace(1)])
    result = cli("trace", "upload", str(path), "--quiet")
    assert result.exit_code == 0
    assert result.stderr == ""
    assert len(result.lines()) == 1


def test_rejects_file_unwritable(cli: Cli, tmp_path: Path) -> None:
    """An unwritable --rejects path is a one-line error before anything is read."""
    path = write_jsonl(tmp_path / "t.jsonl", [make_trace()])
    result = cli("trace", "upload", str(path), "--rejects", str(tmp_path / "no" / "r.jsonl"))
    assert result.exit_code == 1
    assert "cannot write --rejects" in result.stderr


def test_batches_beyond_one_are_all_or_nothing(cli: Cli, db_url: str, tmp_path: Path) -> None:
    """An error after several full batches still leaves nothing stored."""
    records = [make_trace(n) for n in range(12_001)]
    records[-1] = {"broken": True}
    path = write_jsonl(tmp_path / "t.jsonl", records)
    result = cli("trace", "upload", str(path))
    assert result.exit_code == 1
    assert f"{path}:12001: broken: unknown field" in result.stderr
    assert count(db_url) == 0
    ok = cli("trace", "upload", str(path), "--skip-invalid", "--quiet")
    assert ok.exit_code == 0
    assert count(db_url) == 12_000


@pytest.mark.postgres
def test_round_trip_between_sqlite_and_postgres(fresh_pg_url: str, tmp_path: Path) -> None:
    """SQLite -> PostgreSQL -> SQLite copies keep ids, created_at and content hashes."""
    lite, lite2 = (f"sqlite:///{tmp_path / n}" for n in ("a.db", "b.db"))
    invoke(["--db", fresh_pg_url, "db", "upgrade"])
    first = invoke(["--db", lite, "trace", "upload", str(DATA), "--skip-invalid", "-q"])
    assert first.exit_code == 0
    exported = invoke(["--db", lite, "trace", "list", "--all", "--jsonl"]).stdout
    to_pg = invoke(["--db", fresh_pg_url, "trace", "upload", "-"], input=exported)
    assert "stored 915, duplicates 0" in to_pg.stderr
    from_pg = invoke(["--db", fresh_pg_url, "trace", "list", "--all", "--jsonl"]).stdout
    back = invoke(["--db", lite2, "trace", "upload", "-"], input=from_pg)
    assert "stored 915, duplicates 0" in back.stderr
    final = invoke(["--db", lite2, "trace", "list", "--all", "--jsonl"]).stdout

    def key(text: str) -> dict[str, tuple[str, str, object]]:
        rows = map(json.loads, text.splitlines())
        return {r["id"]: (r["created_at"], r["content_hash"], r["payload"]) for r in rows}

    assert key(exported) == key(from_pg) == key(final)
    assert len(key(final)) == 915


def _overlapping_files(tmp_path: Path, parts: int, size: int) -> list[Path]:
    files = []
    for p in range(parts):
        start = p * size // 2  # each file shares half its traces with the next
        files.append(
            write_jsonl(
                tmp_path / f"part{p}.jsonl", [make_trace(n) for n in range(start, start + size)]
            )
        )
    return files


@pytest.mark.postgres
def test_four_concurrent_uploads_postgres(fresh_pg_url: str, tmp_path: Path) -> None:
    """4 processes upload overlapping files at once: all exit 0, each trace stored once."""
    invoke(["--db", fresh_pg_url, "db", "upgrade"])
    files = _overlapping_files(tmp_path, 4, 6000)
    procs = [tunix("--db", fresh_pg_url, "trace", "upload", "-q", str(f)) for f in files]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], [o[1] for o in outputs]
    distinct = 6000 // 2 * 3 + 6000
    assert count(fresh_pg_url) == distinct
    stored = sum(len(o[0].splitlines()) for o in outputs)
    assert stored == distinct  # every id printed belongs to exactly one process


def test_two_concurrent_uploads_sqlite(tmp_path: Path) -> None:
    """2 processes on one SQLite file both succeed: no "database is locked" reaches the user."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    invoke(["--db", url, "db", "upgrade"])
    files = _overlapping_files(tmp_path, 2, 8000)
    procs = [tunix("--db", url, "trace", "upload", "-q", str(f)) for f in files]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1] for o in outputs]
    assert all(b"locked" not in o[1] for o in outputs)
    assert count(url) == 12_000


def _big_file(path: Path, n: int) -> Path:
    with path.open("wb") as fh:
        for i in range(n):
            fh.write(
                orjson.dumps(
                    {"trace_version": "1", "prompt": f"p{i}", "final_answer": "a",
                     "steps": [{"i": 0, "type": "t", "content": f"c{i}"}]}
                ) + b"\n"
            )  # fmt: skip
    return path


@pytest.mark.slow
def test_kill_9_mid_upload_leaves_nothing(db_url: str, tmp_path: Path) -> None:
    """kill -9 halfway through 200,000 traces: none stored, doctor healthy, rerun stores all."""
    invoke(["--db", db_url, "db", "upgrade"])
    data = _big_file(tmp_path / "big.jsonl", 200_000)
    proc = tunix("--db", db_url, "trace", "upload", "-q", str(data))
    wal = tmp_path / "traces.db-wal"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        started = wal.exists() and wal.stat().st_size > 4 << 20
        if started or (db_url.startswith("postgresql") and _pg_busy(db_url)):
            break
        time.sleep(0.05)
    assert proc.poll() is None, "upload finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert count(db_url) == 0
    doctor = invoke(["--db", db_url, "db", "doctor", "--json"])
    assert doctor.json()["ok"] is True, doctor.stdout
    # In a subprocess with a timeout: a worker that outlived its parent and kept the
    # transaction open would make this wait on its locks forever.
    again = tunix("--db", db_url, "trace", "upload", "-q", str(data))
    _, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert count(db_url) == 200_000


def _pg_busy(url: str) -> bool:
    """True once the upload is writing rows into its (uncommitted) transaction."""
    import psycopg

    dbname = url.rsplit("/", 1)[1]
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND state = 'active' "
            "AND (query ILIKE 'INSERT INTO traces%%' OR query ILIKE 'COPY traces%%')",
            (dbname,),
        ).fetchone()
    return bool(row and row[0])


def test_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    """With stderr on a terminal, upload draws a progress bar there and still succeeds."""
    path = write_jsonl(tmp_path / "t.jsonl", [make_trace(n) for n in range(6000)])
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tunix_rt", "--db", f"sqlite:///{tmp_path / 'p.db'}",
         "trace", "upload", str(path)],
        stdout=subprocess.DEVNULL, stderr=follower,
        env={**os.environ, "COLUMNS": "120", "TERM": "xterm"},
    )  # fmt: skip
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert proc.wait(timeout=60) == 0
    screen = b"".join(chunks).decode(errors="replace")
    assert "stored 6000" in screen
    assert "traces/s" in screen
