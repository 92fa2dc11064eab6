"""`created_at` of uploaded records: what both databases (and Python) can hold, or a clear error.

The accepted range is 0001-01-02T00:00:00 .. 9999-12-30T23:59:59.999999 in UTC (README, "The
trace"): one day inside Python's years 1..9999, so a PostgreSQL session in any time zone still
hands back a value Python can hold.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Cli, make_trace, write_jsonl

ACCEPTED = [  # as written -> as read back (UTC)
    ("0001-01-02T00:00:00+00:00", "0001-01-02T00:00:00+00:00"),
    ("0001-01-01T23:00:00-01:00", "0001-01-02T00:00:00+00:00"),
    ("9999-12-30T23:59:59.999999+00:00", "9999-12-30T23:59:59.999999+00:00"),
    ("9999-12-31T09:59:59+10:00", "9999-12-30T23:59:59+00:00"),
    ("2026-11-25T20:22:24Z", "2026-11-25T20:22:24+00:00"),
    ("2026-11-25 20:22:24.5+0530", "2026-11-25T14:52:24.500000+00:00"),
    ("2026-11-25T20:22-08", "2026-11-26T04:22:00+00:00"),
    ("1969-12-31T23:59:59.000001+00:00", "1969-12-31T23:59:59.000001+00:00"),
]

RANGE = "must lie between 0001-01-02T00:00:00+00:00 and 9999-12-30T23:59:59.999999+00:00 in UTC"
FORMAT = "must be an ISO 8601 date and time with a UTC offset"
REJECTED: list[tuple[Any, str]] = [
    ("9999-12-31T23:59:59-10:00", RANGE),  # year 10000 in UTC: PostgreSQL alone would take it
    ("9999-12-31T00:00:00+00:00", RANGE),
    ("9999-12-31T23:59:59+14:00", RANGE),
    ("0001-01-01T23:59:59.999999+00:00", RANGE),
    ("0001-01-01T00:00:00+05:00", RANGE),  # before year 1 in UTC
    (
        "2026-11-25T20:22:24",
        f"{FORMAT}, e.g. 2026-11-25T20:22:24+00:00: '2026-11-25T20:22:24' has no",
    ),
    ("2026-11-25", FORMAT),
    ("garbage", f"{FORMAT}, e.g. 2026-11-25T20:22:24+00:00, not 'garbage'"),
    ("", FORMAT),
    ("2026-11-25T20:22:24\x00Z", FORMAT),
    ("2026-11-25T20:22:24.1234567Z", FORMAT),  # finer than the microseconds that are stored
    ("20261125T202224Z", FORMAT),
    ("10000-01-01T00:00:00Z", FORMAT),
    ("0000-01-01T00:00:00Z", "is not a valid date and time"),
    ("2026-02-30T00:00:00Z", "is not a valid date and time (day is out of range for month)"),
    ("2026-11-25T24:00:00Z", "is not a valid date and time"),
    ("2026-11-25T23:59:60Z", "is not a valid date and time"),
    ("2026-11-25T20:22:24+24:00", "is not a valid date and time"),
    ("2026-11-25T20:22:24+05:60", FORMAT),
    (1764102144, f"{FORMAT}, e.g. 2026-11-25T20:22:24+00:00, not a JSON number"),
    (None, "not a JSON null"),
    (["2026-11-25T20:22:24Z"], "not a JSON array"),
]


def _record(n: int, created_at: Any) -> dict[str, Any]:
    return {
        "id": f"00000000-0000-4000-8000-{n:012d}",
        "created_at": created_at,
        "payload": make_trace(n),
    }


def _listed(cli: Cli) -> list[dict[str, Any]]:
    result = cli("trace", "list", "--all", "--jsonl")
    assert result.exit_code == 0, result.stderr
    return [json.loads(line) for line in result.lines()]


def test_edge_timestamps_are_stored_and_read_back(cli: Cli, tmp_path: Path) -> None:
    """The first and last storable instants (in any offset) read back in UTC, in order."""
    records = [_record(n, stamp) for n, (stamp, _) in enumerate(ACCEPTED)]
    result = cli("trace", "upload", str(write_jsonl(tmp_path / "t.jsonl", records)))
    assert result.exit_code == 0, result.stderr
    assert f"stored {len(ACCEPTED)}, duplicates 0" in result.stderr
    listed = _listed(cli)
    by_id = {r["id"]: r["created_at"] for r in listed}
    assert by_id == {r["id"]: want for r, (_, want) in zip(records, ACCEPTED, strict=True)}
    stamps = [r["created_at"] for r in listed]
    assert stamps[0].startswith("9999-12-30T23:59:59.999999")
    assert stamps[-1].startswith("0001-01-02")

    table = cli("trace", "list", "--limit", "100")
    assert table.exit_code == 0, table.stderr
    assert "9999-12-30 23:59:59" in table.stdout
    assert "1-01-02 00:00:00" in table.stdout  # (strftime prints year 1 as "1" on glibc)
    shown = cli("trace", "show", records[2]["id"], "--json")
    assert shown.json()["created_at"] == "9999-12-30T23:59:59.999999+00:00"
    doctor = cli("db", "doctor", "--deep")
    assert doctor.exit_code == 0, doctor.stdout + doctor.stderr


def test_pages_walk_across_the_edges(cli: Cli, tmp_path: Path) -> None:
    """Cursors made from the first and last instants page on without skips or repeats."""
    records = [_record(n, stamp) for n, (stamp, _) in enumerate(ACCEPTED)]
    cli("trace", "upload", str(write_jsonl(tmp_path / "t.jsonl", records)))
    seen: list[str] = []
    cursor: list[str] = []
    while True:
        page = cli("trace", "list", "--limit", "1", "--json", *cursor).json()
        seen += [r["id"] for r in page["data"]]
        if not page["next_cursor"]:
            break
        cursor = ["--cursor", page["next_cursor"]]
    assert seen == [r["id"] for r in _listed(cli)]
    assert len(seen) == len(ACCEPTED)


@pytest.mark.parametrize(("created_at", "message"), REJECTED, ids=lambda v: repr(v)[:30])
def test_unstorable_timestamps_are_record_errors(
    cli: Cli, tmp_path: Path, created_at: Any, message: str
) -> None:
    """Out of range, no offset, garbage, not a string: FILE:LINE: created_at: ...; none stored."""
    records = [_record(0, "2026-11-25T20:22:24Z"), _record(1, created_at)]
    path = write_jsonl(tmp_path / "t.jsonl", records)
    result = cli("trace", "upload", str(path))
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith(f"{path}:")]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith(f"{path}:2: created_at: ")
    assert message in errors[0]
    assert "1 invalid record: nothing stored" in result.stderr
    assert "Traceback" not in result.stderr
    assert _listed(cli) == []


def test_skip_invalid_keeps_the_storable_ones(cli: Cli, tmp_path: Path) -> None:
    """With --skip-invalid every out-of-range record is rejected and the rest stored."""
    stamps = [stamp for stamp, _ in ACCEPTED] + [s for s, _ in REJECTED]
    records = [_record(n, stamp) for n, stamp in enumerate(stamps)]
    path = write_jsonl(tmp_path / "t.jsonl", records)
    result = cli("trace", "upload", str(path), "--skip-invalid")
    assert result.exit_code == 0, result.stderr
    assert f"skipped {len(REJECTED)} invalid records" in result.stderr
    assert len(_listed(cli)) == len(ACCEPTED)
    assert cli("trace", "list").exit_code == 0


@pytest.mark.postgres
@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Etc/GMT+12"])
def test_edges_read_back_in_any_session_time_zone(
    fresh_pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, zone: str
) -> None:
    """A PostgreSQL session at UTC+14 or UTC-12 still reads the edge instants (in UTC)."""
    from tests.helpers import invoke

    monkeypatch.setenv("PGTZ", zone)  # libpq sets the session time zone from it
    assert invoke(["--db", fresh_pg_url, "db", "upgrade"]).exit_code == 0
    records = [_record(n, stamp) for n, (stamp, _) in enumerate(ACCEPTED)]
    path = write_jsonl(tmp_path / "t.jsonl", records)
    assert invoke(["--db", fresh_pg_url, "trace", "upload", str(path)]).exit_code == 0
    listed = invoke(["--db", fresh_pg_url, "trace", "list", "--all", "--jsonl"])
    assert listed.exit_code == 0, listed.stderr
    by_id = {r["id"]: r["created_at"] for r in map(json.loads, listed.lines())}
    assert by_id == {r["id"]: want for r, (_, want) in zip(records, ACCEPTED, strict=True)}
