"""What is stored reads back exactly: payload bytes, ids, timestamps and hashes, on both databases.

The payload is stored as the text of the canonical JSON its content_hash was computed on, so
no number in it is rewritten (JSONB turned `-0.0` into `0` and `1e+16` into
`10000000000000000`), a copy between databases keeps every byte, and `db doctor` agrees.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from tests.helpers import DATA, Cli, invoke, make_trace, write_jsonl

# Numbers JSONB (or a careless serialiser) would rewrite, written exactly like this.
ADVERSARIAL = [
    "-0.0",
    "0.0",
    "-0",
    "1e16",
    "1.5e300",
    "5e-324",
    "1.7976931348623157e308",
    "-1.7976931348623157e308",
    "0.1",
    "123456789012345678",
    "-9223372036854775808",
    "9223372036854775807",
    "1E+2",
    "1.0",
    "1e-7",
    "2.5E-5",
    "10000000000000000",
]
STEPS = '[{"i":0,"type":"t","content":"c"}]'


def _line(prompt: str, meta: str) -> str:
    head = f'{{"trace_version":"1.0","prompt":"{prompt}","final_answer":"x","steps":{STEPS}'
    return f'{head},"meta":{meta}}}\n'


def adversarial_file(path: Path) -> Path:
    """One trace per number (bare, in a list, nested in objects), plus mixes of all of them."""
    lines = [
        _line(f"number {n}", f'{{"n":{v},"list":[{v},[{v}]],"obj":{{"a":{{"b":{v}}}}}}}')
        for n, v in enumerate(ADVERSARIAL)
    ]
    every = ",".join(ADVERSARIAL)
    keyed = ",".join(f'"k{n}":{v}' for n, v in enumerate(ADVERSARIAL))
    lines.append(
        _line("all of them", f'{{"list":[{every}],"obj":{{{keyed}}},"deep":[[{{"x":[{every}]}}]]}}')
    )
    lines.append(_line("float and int 1e16", '{"f":1e16,"i":10000000000000000,"z":[0.0,-0.0]}'))
    path.write_text("".join(lines), encoding="utf-8")
    return path


def canonical(line: str) -> bytes:
    """The canonical JSON of one input trace, computed here independently of tunix-rt."""
    return orjson.dumps(json.loads(line), option=orjson.OPT_SORT_KEYS)


def raw_rows(url: str) -> dict[str, tuple[str, bytes]]:
    """id -> (content_hash, payload bytes) read with raw SQL, under no tunix-rt code."""
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            rows = conn.execute("SELECT id, content_hash, payload FROM traces").fetchall()
            out = {str(_uuid(i)): (h, p.encode()) for i, h, p in rows}
        conn.close()
        return out
    with psycopg.connect(url) as pg:
        rows = pg.execute("SELECT id::text, content_hash, payload FROM traces").fetchall()
    return {i: (h, p.encode()) for i, h, p in rows}


def _uuid(hex32: str) -> str:
    import uuid

    return str(uuid.UUID(hex=hex32))


def raw_sql(url: str, sql: str, params: tuple[Any, ...] = ()) -> None:
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            conn.execute(sql.replace("%s", "?"), params)
        conn.close()
    else:
        with psycopg.connect(url, autocommit=True) as pg:
            pg.execute(sql, params)  # type: ignore[arg-type]


def export(url: str) -> str:
    result = invoke(["--db", url, "trace", "list", "--all", "--jsonl"])
    assert result.exit_code == 0, result.stderr
    return result.stdout


def doctor_data(url: str) -> tuple[int, dict[str, Any]]:
    result = invoke(["--db", url, "db", "doctor", "--deep", "--json"])
    assert "Traceback" not in result.stderr
    checks = {c["name"]: c for c in result.json()["checks"]}
    return result.exit_code, checks["data"]


def assert_exact(url: str) -> dict[str, tuple[str, bytes]]:
    """Every stored payload is canonical JSON hashing to its content_hash; doctor agrees."""
    rows = raw_rows(url)
    for ident, (digest, payload) in rows.items():
        assert hashlib.sha256(payload).hexdigest() == digest, ident
        assert orjson.dumps(orjson.loads(payload), option=orjson.OPT_SORT_KEYS) == payload
    code, data = doctor_data(url)
    assert (code, data["status"]) == (0, "ok"), data
    return rows


def upload_data_folder(url: str) -> int:
    """Every file of tests/data, one by one; --skip-invalid for the ones with bad records."""
    stored = 0
    for path in sorted(DATA.glob("*.jsonl")):
        dry = invoke(["--db", url, "trace", "upload", str(path), "--dry-run", "--quiet"])
        flags = [] if dry.exit_code == 0 else ["--skip-invalid"]
        result = invoke(["--db", url, "trace", "upload", str(path), "--quiet", *flags])
        assert result.exit_code == 0, result.stderr
        stored += len(result.lines())
    return stored


def test_adversarial_numbers_are_stored_as_canonical_bytes(
    cli: Cli, db_url: str, tmp_path: Path
) -> None:
    """Stored bytes are the canonical JSON: -0.0, 1e+16, 1.5e+300 stay as they are."""
    path = adversarial_file(tmp_path / "numbers.jsonl")
    result = cli("trace", "upload", str(path), "--json")
    assert result.exit_code == 0, result.stderr
    created = result.json()["created"]
    assert len(created) == len(ADVERSARIAL) + 2
    rows = raw_rows(db_url)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    for item in created:
        expected = canonical(lines[item["line"] - 1])
        assert rows[item["id"]] == (hashlib.sha256(expected).hexdigest(), expected)
    stored = b"\n".join(payload for _, payload in rows.values())
    for literal in (b'"n":-0.0,', b'"n":1e+16,', b'"n":1.5e+300,', b'"n":5e-324,', b'"n":0,'):
        assert literal in stored
    assert b'"f":1e+16,"i":10000000000000000,"z":[0.0,-0.0]' in stored
    assert_exact(db_url)


def test_reads_give_back_the_stored_numbers(cli: Cli, tmp_path: Path) -> None:
    """`trace show --json` and `trace list --jsonl` print the numbers that were stored."""
    path = adversarial_file(tmp_path / "numbers.jsonl")
    ids = cli("trace", "upload", str(path), "-q").lines()
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    for ident, line in zip(ids, lines, strict=True):
        shown = cli("trace", "show", ident, "--json").json()
        assert orjson.dumps(shown["payload"], option=orjson.OPT_SORT_KEYS) == canonical(line)
    for record in map(json.loads, cli("trace", "list", "--all", "--jsonl").lines()):
        again = orjson.dumps(record["payload"], option=orjson.OPT_SORT_KEYS)
        assert hashlib.sha256(again).hexdigest() == record["content_hash"]


@pytest.mark.postgres
def test_copy_sqlite_postgres_sqlite_is_byte_for_byte(fresh_pg_url: str, tmp_path: Path) -> None:
    """tests/data and adversarial numbers: SQLite -> PostgreSQL -> SQLite keeps every byte."""
    first, last = (f"sqlite:///{tmp_path / n}" for n in ("first.db", "last.db"))
    assert invoke(["--db", fresh_pg_url, "db", "upgrade"]).exit_code == 0
    stored = upload_data_folder(first)
    numbers = invoke(
        ["--db", first, "trace", "upload", str(adversarial_file(tmp_path / "n.jsonl")), "-q"]
    )
    assert numbers.exit_code == 0, numbers.stderr
    total = stored + len(numbers.lines())
    assert total > 900

    from_first = export(first)
    to_pg = invoke(["--db", fresh_pg_url, "trace", "upload", "-"], input=from_first)
    assert to_pg.exit_code == 0, to_pg.stderr
    assert f"stored {total}, duplicates 0" in to_pg.stderr
    from_pg = export(fresh_pg_url)
    to_last = invoke(["--db", last, "trace", "upload", "-"], input=from_pg)
    assert to_last.exit_code == 0, to_last.stderr
    assert f"stored {total}, duplicates 0" in to_last.stderr
    from_last = export(last)

    # Same ids, created_at, hashes and payloads, printed identically from every database.
    assert from_first == from_pg == from_last
    assert len(from_last.splitlines()) == total
    rows = [assert_exact(url) for url in (first, fresh_pg_url, last)]
    assert rows[0] == rows[1] == rows[2]

    again = invoke(["--db", fresh_pg_url, "trace", "upload", "-"], input=from_last)
    assert f"stored 0, duplicates {total}" in again.stderr


def test_doctor_reports_any_stored_payload_without_crashing(
    cli: Cli, db_url: str, tmp_path: Path
) -> None:
    """Payloads written outside tunix-rt are reported one by one; nothing raises."""
    records = [make_trace(n, meta={"big": 1.5e300, "neg": -0.0}) for n in range(6)]
    ids = cli("trace", "upload", str(write_jsonl(tmp_path / "t.jsonl", records)), "-q").lines()
    assert_exact(db_url)
    spaced = json.dumps(records[2])  # valid and hashing right, but not the canonical bytes
    damage = ["not json", "[1, 2]", spaced, '{"trace_version": "1.0"}', ""]
    for ident, text in zip(ids, damage, strict=False):
        key = ident.replace("-", "") if db_url.startswith("sqlite") else ident
        raw_sql(db_url, "UPDATE traces SET payload = %s WHERE id = %s", (text, key))
    code, data = doctor_data(db_url)
    assert (code, data["status"]) == (1, "fail")
    assert "5 of 6 checked traces are damaged" in data["detail"]

    listed = cli("trace", "list")
    assert listed.exit_code == 1
    assert "is damaged" in listed.stderr
    assert "Traceback" not in listed.stderr
    shown = cli("trace", "show", ids[0])
    assert shown.exit_code == 1
    assert f"trace {ids[0]} is damaged" in shown.stderr
    assert cli("trace", "show", ids[5], "--json").exit_code == 0


def _old_schema(url: str) -> None:
    result = invoke(["--db", url, "db", "upgrade", "81321f8ddcd5"])
    assert result.exit_code == 0, result.stderr


def _old_rows(payloads: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    out = []
    for n, payload in enumerate(payloads):
        digest = hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()
        out.append((f"00000000-0000-4000-8000-{n:012d}", digest, json.dumps(payload)))
    return out


OLD_PAYLOADS = [
    make_trace(0, meta={"x": -0.0, "list": [-0.0]}),
    make_trace(1, meta={"x": 1e16, "nested": {"y": [1e16, 2e20]}}),
    make_trace(2, meta={"x": 1.5e300, "tiny": 5e-324, "max": 1.7976931348623157e308}),
    make_trace(3, meta={"x": 0.1, "i": 123456789012345678, "min": -9223372036854775808}),
    make_trace(4, meta={"x": 1.0, "e": 1e-7}),
]


def test_migration_makes_old_sqlite_payloads_canonical(tmp_path: Path) -> None:
    """A file from before the TEXT payload (JSON column, formatted text) is rewritten exactly."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    _old_schema(url)
    with sqlite3.connect(tmp_path / "old.db") as conn:
        conn.executemany(
            "INSERT INTO traces VALUES (?, '2026-01-01 00:00:00.000000', '1.0', ?, ?)",
            [(i.replace("-", ""), h, p) for i, h, p in _old_rows(OLD_PAYLOADS)],
        )
    conn.close()
    listed = invoke(["--db", url, "trace", "list"])  # migrates the file on first use
    assert listed.exit_code == 0, listed.stderr
    assert "migrated" in listed.stderr
    rows = assert_exact(url)
    assert len(rows) == len(OLD_PAYLOADS)
    assert invoke(["--db", url, "db", "downgrade", "81321f8ddcd5", "--yes"]).exit_code == 0
    assert invoke(["--db", url, "db", "upgrade"]).exit_code == 0
    assert assert_exact(url) == rows


@pytest.mark.postgres
def test_migration_converts_jsonb_to_canonical_text(fresh_pg_url: str) -> None:
    """JSONB rows become canonical text; numbers JSONB rewrote are restored when the hash agrees."""
    _old_schema(fresh_pg_url)
    mixed = make_trace(9, meta={"f": 1e16, "i": 10**16})  # JSONB made these two the same
    rows = _old_rows([*OLD_PAYLOADS, mixed])
    with psycopg.connect(fresh_pg_url, autocommit=True) as pg, pg.cursor() as cur:
        cur.executemany(
            "INSERT INTO traces VALUES (%s, '2026-01-01T00:00:00Z', '1.0', %s, %s::jsonb)", rows
        )
    assert invoke(["--db", fresh_pg_url, "db", "upgrade"]).exit_code == 0
    stored = raw_rows(fresh_pg_url)
    for (ident, digest, _), payload in zip(rows, [*OLD_PAYLOADS, mixed], strict=True):
        assert stored[ident][0] == digest
        assert stored[ident][1] == orjson.dumps(payload, option=orjson.OPT_SORT_KEYS) or (
            payload is mixed
        )
    code, data = doctor_data(fresh_pg_url)
    assert code == 1
    assert "1 of 6 checked traces are damaged" in data["detail"]
    assert rows[-1][0] in data["detail"]
    down = invoke(["--db", fresh_pg_url, "db", "downgrade", "81321f8ddcd5", "--yes"])
    assert down.exit_code == 0, down.stderr
    with psycopg.connect(fresh_pg_url) as pg:
        kind = pg.execute("SELECT pg_typeof(payload)::text FROM traces LIMIT 1").fetchone()
    assert kind == ("jsonb",)
    assert invoke(["--db", fresh_pg_url, "db", "upgrade"]).exit_code == 0
    assert raw_rows(fresh_pg_url) == stored
