"""Input formats and hostile input for `trace upload`, on SQLite and PostgreSQL.

Each hostile kind has one defined outcome, the same on both databases: the record is
rejected with its location and nothing is stored.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tests.helpers import Cli, make_trace, write_jsonl


def _count(cli: Cli) -> int:
    return len(cli("trace", "list", "--all", "--jsonl").lines())


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b'{"trace_version": NaN}', "NaN and Infinity are not allowed"),
        (b'{"trace_version": "1.0", "x": -Infinity}', "NaN and Infinity are not allowed"),
        (b'{"trace_version": 123456789012345678901234567890}', "outside the signed 64-bit range"),
        (b'{"a": ' * 100 + b"1" + b"}" * 100, "nesting is deeper than 64 levels"),
        (b'{"prompt": "\xff\xfe"}', "invalid UTF-8"),
        (b'{"prompt": ', "invalid JSON"),
        (b"[1, 2]", "must be a JSON object"),
    ],
)
def test_hostile_line_rejected_with_location(
    cli: Cli, tmp_path: Path, line: bytes, message: str
) -> None:
    """Each hostile input kind is one located error; the good lines are not stored."""
    good = json.dumps(make_trace()).encode()
    path = tmp_path / "h.jsonl"
    path.write_bytes(good + b"\n" + line + b"\n")
    result = cli("trace", "upload", str(path))
    assert result.exit_code == 1
    assert f"{path}:2: " in result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert _count(cli) == 0


def test_nul_character_rejected_on_both_databases(cli: Cli, tmp_path: Path) -> None:
    """U+0000 (which PostgreSQL JSONB cannot hold) is rejected everywhere, with the field."""
    path = write_jsonl(tmp_path / "n.jsonl", [make_trace(meta={"k": "a\u0000b"})])
    result = cli("trace", "upload", str(path))
    assert result.exit_code == 1
    assert "U+0000" in result.stderr
    assert _count(cli) == 0


def test_escaped_backslash_u0000_is_not_nul(cli: Cli, tmp_path: Path) -> None:
    """The six characters `\\u0000` typed literally are ordinary text."""
    path = write_jsonl(tmp_path / "n.jsonl", [make_trace(prompt="literal \\u0000 text")])
    assert cli("trace", "upload", str(path)).exit_code == 0


def test_bom_blank_lines_and_gzip(cli: Cli, tmp_path: Path) -> None:
    """A UTF-8 BOM and blank lines are accepted; .jsonl.gz is decompressed."""
    body = "\n\n".join(json.dumps(make_trace(n)) for n in range(3)) + "\n\n"
    (tmp_path / "bom.jsonl").write_bytes(b"\xef\xbb\xbf" + body.encode())
    assert "stored 3" in cli("trace", "upload", str(tmp_path / "bom.jsonl")).stderr
    with gzip.open(tmp_path / "more.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.write("".join(json.dumps(make_trace(n)) + "\n" for n in range(3, 6)))
    assert "stored 3" in cli("trace", "upload", str(tmp_path / "more.jsonl.gz")).stderr


def test_pretty_printed_objects_one_after_another(cli: Cli, tmp_path: Path) -> None:
    """Several pretty-printed objects in one .json file are each a record, located by line."""
    text = "\n".join(json.dumps(make_trace(n), indent=2) for n in range(2))
    bad = json.dumps(make_trace(9, prompt=""), indent=2)
    path = tmp_path / "pretty.json"
    path.write_text(text + "\n" + bad + "\n", encoding="utf-8")
    result = cli("trace", "upload", str(path))
    assert result.exit_code == 1
    line = text.count("\n") + 2
    assert f"{path}:{line}: prompt: String should have at least 1 character" in result.stderr
    path.write_text(text, encoding="utf-8")
    assert "stored 2" in cli("trace", "upload", str(path)).stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[{"a": 1} {"b": 2}]', "expected ',' or ']'"),
        ("[]  junk", "extra data after array"),
        ("[{]", "invalid JSON"),
        ('{"a": 1} {', "invalid JSON"),
    ],
)
def test_broken_documents(cli: Cli, tmp_path: Path, text: str, message: str) -> None:
    """Malformed arrays and documents are one located error, never a traceback."""
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    result = cli("trace", "upload", str(path))
    assert result.exit_code == 1
    assert message in result.stderr


def test_empty_array_and_empty_file_store_nothing(cli: Cli, tmp_path: Path) -> None:
    """An empty array or empty file is valid and stores nothing."""
    (tmp_path / "e.json").write_text("[ ]\n", encoding="utf-8")
    (tmp_path / "z.jsonl").write_text("", encoding="utf-8")
    for name in ("e.json", "z.jsonl"):
        result = cli("trace", "upload", str(tmp_path / name))
        assert result.exit_code == 0
        assert "stored 0, duplicates 0" in result.stderr


def test_invalid_utf8_document(cli: Cli, tmp_path: Path) -> None:
    """Invalid UTF-8 in a JSON document names the line of the bad byte."""
    path = tmp_path / "bad.json"
    path.write_bytes(b'[\n{"prompt": "\xff"}\n]')
    result = cli("trace", "upload", str(path))
    assert f"{path}:2: invalid UTF-8" in result.stderr


def test_exported_records_round_trip(cli: Cli, tmp_path: Path) -> None:
    """`trace list --jsonl` output uploads into another database with the same ids and hashes."""
    cli(
        "trace", "upload", str(write_jsonl(tmp_path / "t.jsonl", [make_trace(n) for n in range(5)]))
    )
    exported = cli("trace", "list", "--all", "--jsonl").stdout
    other = f"sqlite:///{tmp_path / 'copy.db'}"
    from tests.helpers import invoke

    copied = invoke(["--db", other, "trace", "upload", "-"], input=exported)
    assert copied.exit_code == 0, copied.stderr
    back = invoke(["--db", other, "trace", "list", "--all", "--jsonl"]).stdout
    by_id = {r["id"]: r for r in map(json.loads, exported.splitlines())}
    copy = {r["id"]: r for r in map(json.loads, back.splitlines())}
    assert copy == by_id  # same ids, created_at, hashes and payloads (key order may differ)


def test_show_json_reuploads_as_duplicate(cli: Cli, tmp_path: Path) -> None:
    """A `trace show --json` record uploaded again is a duplicate of itself."""
    ids = cli("trace", "upload", str(write_jsonl(tmp_path / "t.jsonl", [make_trace()]))).lines()
    (tmp_path / "rec.json").write_text(cli("trace", "show", ids[0], "--json").stdout)
    result = cli("trace", "upload", str(tmp_path / "rec.json"))
    assert f"duplicate of trace {ids[0]}" in result.stderr


def test_bad_record_envelope(cli: Cli, tmp_path: Path) -> None:
    """A record with a bad id, naive created_at, wrong hash or extra key names each field."""
    record = {
        "id": "not-a-uuid",
        "created_at": "2026-01-01T00:00:00",
        "content_hash": "0" * 64,
        "extra": 1,
        "payload": make_trace(),
    }
    result = cli("trace", "upload", str(write_jsonl(tmp_path / "r.jsonl", [record])))
    assert result.exit_code == 1
    for text in (
        "id: must be a UUID",
        "created_at: must be an ISO 8601",
        "content_hash: does not",
        "extra: unknown field",
    ):
        assert text in result.stderr
    bad_payload = {"id": "00000000-0000-4000-8000-000000000001", "payload": [1]}
    result = cli("trace", "upload", str(write_jsonl(tmp_path / "p.jsonl", [bad_payload])))
    assert "payload: must be a JSON object" in result.stderr


def test_same_id_other_content_is_an_error(cli: Cli, tmp_path: Path) -> None:
    """Re-using a stored id for a different trace is refused, storing nothing."""
    ident = "00000000-0000-4000-8000-0000000000aa"
    cli(
        "trace",
        "upload",
        str(write_jsonl(tmp_path / "a.jsonl", [{"id": ident, "payload": make_trace(1)}])),
    )
    result = cli(
        "trace",
        "upload",
        str(write_jsonl(tmp_path / "b.jsonl", [{"id": ident, "payload": make_trace(2)}])),
    )
    assert result.exit_code == 1
    assert "already stored with other content" in result.stderr
    assert _count(cli) == 1


def test_upload_json_report_on_failure(cli: Cli, tmp_path: Path) -> None:
    """`--json` on a failed upload still prints one JSON object with the errors."""
    path = write_jsonl(tmp_path / "t.jsonl", [make_trace(), {"prompt": 1}])
    result = cli("trace", "upload", str(path), "--json")
    assert result.exit_code == 1
    report = result.json()
    assert report["stored"] == 0
    assert report["invalid"] == 1
    assert {e["line"] for e in report["errors"]} == {2}


def test_many_duplicates_summarised(cli: Cli, tmp_path: Path) -> None:
    """More than 20 duplicates are summarised on stderr instead of listed."""
    path = write_jsonl(tmp_path / "t.jsonl", [make_trace(n) for n in range(25)])
    cli("trace", "upload", str(path))
    result = cli("trace", "upload", str(path))
    assert "... and 5 more duplicates" in result.stderr


def test_special_characters_survive_the_bulk_path(cli: Cli, tmp_path: Path) -> None:
    """Backslashes, tabs, newlines and quotes round-trip through COPY and executemany."""
    tricky = 'a\\b\tc\nd"e\\\\n'
    trace = make_trace(prompt=tricky, trace_version="v\\1\t2", meta={"k\\": ["\t", "\\n"]})
    (trace_id,) = cli("trace", "upload", str(write_jsonl(tmp_path / "t.jsonl", [trace]))).lines()
    record = cli("trace", "show", trace_id, "--json").json()
    assert record["payload"] == trace
    assert record["trace_version"] == "v\\1\t2"
