"""`tunix-rt trace upload/list/show` through the CLI, on SQLite and PostgreSQL.

Includes the original tunix-rt web service's 13 trace API cases in CLI form.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from tests.helpers import DATA, Cli, make_trace, write_jsonl

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def upload_one(cli: Cli, tmp_path: Path, trace: dict[str, object]) -> str:
    path = tmp_path / "one.json"
    path.write_text(json.dumps(trace), encoding="utf-8")
    result = cli("trace", "upload", str(path))
    assert result.exit_code == 0, result.stderr
    (trace_id,) = result.lines()
    return trace_id


# --- the original API's 13 cases -------------------------------------------------------


def test_create_trace_prints_its_id(cli: Cli, tmp_path: Path) -> None:
    """Uploading one valid trace stores it and prints its UUID on stdout."""
    trace_id = upload_one(cli, tmp_path, make_trace())
    assert UUID_RE.match(trace_id)


def test_create_then_show_returns_the_same_trace(cli: Cli, tmp_path: Path) -> None:
    """`trace show --json` returns the stored record with the uploaded payload."""
    trace = make_trace(7)
    trace_id = upload_one(cli, tmp_path, trace)
    record = cli("trace", "show", trace_id, "--json").json()
    assert record["id"] == trace_id
    assert record["payload"] == trace
    assert record["trace_version"] == "1.0"
    assert re.fullmatch(r"[0-9a-f]{64}", record["content_hash"])


def test_show_unknown_id_fails(cli: Cli) -> None:
    """An unknown id says "trace X not found" and exits 1."""
    missing = "00000000-0000-4000-8000-000000000000"
    result = cli("trace", "show", missing)
    assert result.exit_code == 1
    assert f"trace {missing} not found" in result.stderr


def test_missing_fields_are_named(cli: Cli, tmp_path: Path) -> None:
    """A trace without prompt and steps is rejected, naming both fields."""
    trace = make_trace()
    del trace["prompt"], trace["steps"]
    path = write_jsonl(tmp_path / "t.jsonl", [trace])
    result = cli("trace", "upload", str(path))
    assert result.exit_code == 1
    assert f"{path}:1: prompt: field required" in result.stderr
    assert f"{path}:1: steps: field required" in result.stderr


def test_empty_steps_rejected(cli: Cli, tmp_path: Path) -> None:
    """`steps: []` breaks the 1..1000 items rule."""
    path = write_jsonl(tmp_path / "t.jsonl", [make_trace(steps=[])])
    result = cli("trace", "upload", str(path))
    assert result.exit_code == 1
    assert "steps: List should have at least 1 item" in result.stderr


def test_duplicate_step_indices_mention_unique(cli: Cli, tmp_path: Path) -> None:
    """Two steps with the same `i` are rejected with a message containing "unique"."""
    steps = [{"i": 1, "type": "a", "content": "x"}, {"i": 1, "type": "b", "content": "y"}]
    path = write_jsonl(tmp_path / "t.jsonl", [make_trace(steps=steps)])
    result = cli("trace", "upload", str(path))
    assert result.exit_code == 1
    assert "unique" in result.stderr


def test_two_mib_prompt_exceeds_maximum(cli: Cli, tmp_path: Path) -> None:
    """A 2 MiB prompt breaks the per-trace byte limit: "exceeds maximum of 1048576 bytes"."""
    path = write_jsonl(tmp_path / "t.jsonl", [make_trace(prompt="x" * (2 * 1024 * 1024))])
    result = cli("trace", "upload", str(path))
    assert result.exit_code == 1
    assert "exceeds maximum of 1048576 bytes" in result.stderr


def test_list_empty_database(cli: Cli) -> None:
    """Listing an empty database gives an empty page and no cursor."""
    result = cli("trace", "list", "--json")
    assert result.exit_code == 0
    assert result.json() == {"data": [], "next_cursor": None}


def test_list_three_traces(cli: Cli, tmp_path: Path) -> None:
    """Three uploaded traces are listed, newest first."""
    path = write_jsonl(tmp_path / "t.jsonl", [make_trace(n) for n in range(3)])
    ids = cli("trace", "upload", str(path)).lines()
    data = cli("trace", "list", "--json").json()["data"]
    assert [d["id"] for d in data] == list(reversed(ids))


def test_pages_of_ten_cover_25_exactly_once(cli: Cli, tmp_path: Path) -> None:
    """25 traces paged by 10 come back as 10, 10, 5 with no repeats or gaps."""
    path = write_jsonl(tmp_path / "t.jsonl", [make_trace(n) for n in range(25)])
    ids = set(cli("trace", "upload", str(path)).lines())
    seen: list[str] = []
    sizes = []
    cursor: str | None = None
    while True:
        args = ["trace", "list", "--limit", "10", "--json"]
        page = cli(*args, *(["--cursor", cursor] if cursor else [])).json()
        sizes.append(len(page["data"]))
        seen += [d["id"] for d in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sizes == [10, 10, 5]
    assert len(seen) == 25
    assert set(seen) == ids


def test_limit_zero_rejected(cli: Cli) -> None:
    """`--limit 0` is a usage error (exit 2)."""
    result = cli("trace", "list", "--limit", "0")
    assert result.exit_code == 2
    assert "--limit" in result.stderr


def test_list_items_carry_id_created_at_and_version(cli: Cli, tmp_path: Path) -> None:
    """Every listed record has id, created_at (timezone-aware), trace_version and the hash."""
    upload_one(cli, tmp_path, make_trace())
    (item,) = cli("trace", "list", "--json").json()["data"]
    assert set(item) == {"id", "created_at", "trace_version", "content_hash", "payload", "tags"}
    assert item["created_at"].endswith("+00:00")
    assert item["trace_version"] == "1.0"


# --- duplicates, unknown keys, inputs, locations ----------------------------------------


def test_duplicate_is_reported_with_existing_id(cli: Cli, tmp_path: Path) -> None:
    """Uploading the same trace again stores nothing and names the stored id."""
    trace_id = upload_one(cli, tmp_path, make_trace())
    path = write_jsonl(tmp_path / "again.jsonl", [make_trace()])
    result = cli("trace", "upload", str(path))
    assert result.exit_code == 0
    assert result.stdout == ""
    assert f"duplicate of trace {trace_id}" in result.stderr
    assert "stored 0, duplicates 1" in result.stderr


def test_duplicate_within_one_upload_stored_once(cli: Cli, tmp_path: Path) -> None:
    """The same trace twice in one file is stored once; the second is a duplicate of it."""
    path = write_jsonl(tmp_path / "t.jsonl", [make_trace(1), make_trace(1), make_trace(2)])
    result = cli("trace", "upload", str(path), "--json")
    report = result.json()
    assert report["stored"] == 2
    assert report["duplicates_count"] == 1
    assert report["duplicates"][0]["id"] == report["created"][0]["id"]
    assert report["duplicates"][0]["line"] == 2


def test_formatting_does_not_change_identity(cli: Cli, tmp_path: Path) -> None:
    """Key order and whitespace do not matter: a reformatted trace is a duplicate."""
    upload_one(cli, tmp_path, make_trace())
    pretty = tmp_path / "pretty.json"
    trace = make_trace()
    pretty.write_text(json.dumps(dict(reversed(trace.items())), indent=4), encoding="utf-8")
    assert "duplicates 1" in cli("trace", "upload", str(pretty)).stderr


def test_unknown_top_level_key_named(cli: Cli, tmp_path: Path) -> None:
    """An unknown key is an error naming it; nothing is silently dropped."""
    path = write_jsonl(tmp_path / "t.jsonl", [make_trace(answer="42")])
    result = cli("trace", "upload", str(path))
    assert result.exit_code == 1
    assert f"{path}:1: answer: unknown field" in result.stderr


def test_unknown_step_key_named(cli: Cli, tmp_path: Path) -> None:
    """Unknown keys inside a step are named with their full path."""
    steps = [{"i": 0, "type": "a", "content": "x", "score": 1}]
    path = write_jsonl(tmp_path / "t.jsonl", [make_trace(steps=steps)])
    assert "steps[0].score: unknown field" in cli("trace", "upload", str(path)).stderr


def test_upload_from_stdin(cli: Cli) -> None:
    """`-` reads JSON Lines from stdin."""
    text = "".join(json.dumps(make_trace(n)) + "\n" for n in range(3))
    result = cli("trace", "upload", "-", input=text)
    assert result.exit_code == 0, result.stderr
    assert len(result.lines()) == 3
    assert "<stdin>" not in result.stderr


def test_upload_json_array_names_bad_index(cli: Cli, tmp_path: Path) -> None:
    """A JSON array is accepted; a bad element is reported with its line and index."""
    good = [make_trace(n) for n in range(3)]
    path = tmp_path / "arr.json"
    path.write_text(json.dumps(good, indent=2), encoding="utf-8")
    assert len(cli("trace", "upload", str(path)).lines()) == 3
    bad = [make_trace(10), make_trace(11, final_answer="")]
    path.write_text(json.dumps(bad, indent=2), encoding="utf-8")
    result = cli("trace", "upload", str(path))
    assert result.exit_code == 1
    line = json.dumps(bad, indent=2).splitlines().index("  {", 2) + 1
    assert f"{path}:{line} (item 1): final_answer: String should have at least 1 character" in (
        result.stderr
    )


def test_broken_line_three_stores_nothing(cli: Cli, tmp_path: Path) -> None:
    """A file whose line 3 is broken JSON names line 3 and stores none of the file."""
    path = tmp_path / "t.jsonl"
    lines = [json.dumps(make_trace(n)) for n in range(5)]
    lines[2] = lines[2][:-5]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = cli("trace", "upload", str(path))
    assert result.exit_code == 1
    assert f"{path}:3: invalid JSON" in result.stderr
    assert "nothing stored" in result.stderr
    assert cli("trace", "list", "--json").json()["data"] == []


def test_all_errors_reported_in_one_pass(cli: Cli, tmp_path: Path) -> None:
    """Every invalid line is reported, not just the first."""
    records = [make_trace(n) for n in range(10)]
    records[2]["steps"][1]["content"] = ""
    records[6]["trace_version"] = 1
    path = write_jsonl(tmp_path / "t.jsonl", records)
    result = cli("trace", "upload", str(path))
    assert f"{path}:3: steps[1].content" in result.stderr
    assert f"{path}:7: trace_version: Input should be a valid string" in result.stderr
    assert "2 invalid records: nothing stored" in result.stderr


def test_non_contiguous_step_indices_accepted(cli: Cli, tmp_path: Path) -> None:
    """Step indices need not be contiguous or sorted."""
    steps = [{"i": 5, "type": "a", "content": "x"}, {"i": 2, "type": "b", "content": "y"}]
    upload_one(cli, tmp_path, make_trace(steps=steps))


def test_negative_step_index_rejected(cli: Cli, tmp_path: Path) -> None:
    """Step `i` must be >= 0 and an integer (not a string)."""
    steps = [{"i": -1, "type": "a", "content": "x"}, {"i": "2", "type": "b", "content": "y"}]
    path = write_jsonl(tmp_path / "t.jsonl", [make_trace(steps=steps)])
    result = cli("trace", "upload", str(path))
    assert "steps[0].i: Input should be greater than or equal to 0" in result.stderr
    assert "steps[1].i: Input should be a valid integer" in result.stderr


def test_lengths_count_characters_not_bytes(cli: Cli, tmp_path: Path) -> None:
    """A 64-character non-ASCII trace_version is valid; 65 characters is not."""
    upload_one(cli, tmp_path, make_trace(trace_version="é" * 64))
    path = write_jsonl(tmp_path / "t.jsonl", [make_trace(trace_version="é" * 65)])
    assert "at most 64 characters" in cli("trace", "upload", str(path)).stderr


def test_shared_stage_c_uploads_341_then_all_duplicates(cli: Cli) -> None:
    """The 341-trace sample stores 341, then 0 with 341 duplicates; --all lists 341."""
    path = str(DATA / "curriculum_stage_c.jsonl")
    first = cli("trace", "upload", path)
    assert "stored 341, duplicates 0" in first.stderr
    again = cli("trace", "upload", path)
    assert again.stdout == ""
    assert "stored 0, duplicates 341" in again.stderr
    listed = cli("trace", "list", "--all", "--jsonl").lines()
    assert len(listed) == 341


def test_folder_upload_and_missing_file(cli: Cli, tmp_path: Path) -> None:
    """A folder is searched recursively; a missing path is a one-line error."""
    folder = tmp_path / "in" / "nested"
    folder.mkdir(parents=True)
    shutil.copy(DATA / "e2e_ingest.jsonl", folder)
    assert "stored 3" in cli("trace", "upload", str(tmp_path / "in")).stderr
    missing = cli("trace", "upload", str(tmp_path / "nope.jsonl"))
    assert missing.exit_code == 1
    assert "nope.jsonl: no such file or directory" in missing.stderr


# --- list and show -----------------------------------------------------------------------


def test_paging_with_shared_created_at_never_skips(cli: Cli, tmp_path: Path) -> None:
    """Traces sharing one created_at page by id without skips or repeats."""
    stamp = "2026-01-01T00:00:00+00:00"
    records = [
        {"id": f"00000000-0000-4000-8000-{n:012d}", "created_at": stamp, "payload": make_trace(n)}
        for n in range(7)
    ]
    path = write_jsonl(tmp_path / "same.jsonl", records)
    assert cli("trace", "upload", str(path)).exit_code == 0
    seen: list[str] = []
    cursor: str | None = None
    while True:
        extra = ["--cursor", cursor] if cursor else []
        page = cli("trace", "list", "--limit", "3", "--json", *extra).json()
        seen += [d["id"] for d in page["data"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == sorted((r["id"] for r in records), reverse=True)


def test_cursor_printed_on_stderr_when_more(cli: Cli, tmp_path: Path) -> None:
    """The table view prints the next cursor on stderr only when there is more."""
    write_jsonl(tmp_path / "t.jsonl", [make_trace(n) for n in range(3)])
    cli("trace", "upload", str(tmp_path / "t.jsonl"))
    assert "--cursor" in cli("trace", "list", "--limit", "2").stderr
    assert "--cursor" not in cli("trace", "list", "--limit", "3").stderr


def test_invalid_cursor_is_one_line_error(cli: Cli) -> None:
    """A garbage cursor is rejected with a clear message."""
    result = cli("trace", "list", "--cursor", "not-a-cursor")
    assert result.exit_code == 2  # a value the user typed: a usage error
    assert "invalid --cursor" in result.stderr


def test_all_json_streams_whole_table(cli: Cli, tmp_path: Path) -> None:
    """`--all --json` prints every record in the list shape with no cursor."""
    cli(
        "trace", "upload", str(write_jsonl(tmp_path / "t.jsonl", [make_trace(n) for n in range(4)]))
    )
    page = cli("trace", "list", "--all", "--json").json()
    assert len(page["data"]) == 4
    assert page["next_cursor"] is None


def test_table_shows_short_id_and_step_count(cli: Cli, tmp_path: Path) -> None:
    """The Rich table carries the short id, version, step count and prompt."""
    trace_id = upload_one(cli, tmp_path, make_trace(3))
    out = cli("trace", "list").stdout
    assert trace_id[:8] in out
    assert "What is 3 + 3?" in out
    assert re.search(r"1\.0\s+2\s", out)


def test_show_accepts_unique_prefix(cli: Cli, tmp_path: Path) -> None:
    """A unique id prefix finds the trace, as git does."""
    trace_id = upload_one(cli, tmp_path, make_trace())
    result = cli("trace", "show", trace_id[:6])
    assert result.exit_code == 0
    assert "What is 0 + 0?" in result.stdout


def test_show_ambiguous_prefix_lists_candidates(cli: Cli, tmp_path: Path) -> None:
    """A prefix matching two traces is an error that lists both."""
    records = [
        {"id": f"abcd0000-0000-4000-8000-00000000000{n}", "payload": make_trace(n)}
        for n in range(2)
    ]
    cli("trace", "upload", str(write_jsonl(tmp_path / "t.jsonl", records)))
    result = cli("trace", "show", "abcd")
    assert result.exit_code == 1
    assert "ambiguous" in result.stderr
    assert records[0]["id"] in result.stderr
    assert records[1]["id"] in result.stderr


def test_markup_and_escape_codes_print_literally(cli: Cli, tmp_path: Path) -> None:
    """Rich markup and terminal escapes in trace text are shown literally, never interpreted."""
    evil = "[bold]x[/bold] \x1b[31mred\x1b[0m \x07"
    trace_id = upload_one(cli, tmp_path, make_trace(prompt=evil, final_answer="[red]no[/red]"))
    for args in (("trace", "show", trace_id), ("trace", "list")):
        out = cli(*args).stdout
        assert "\x1b" not in out
        assert "\x07" not in out
        assert "[bold]x[/bold]" in out
        assert "\\x1b[31mred" in out
    assert "[red]no[/red]" in cli("trace", "show", trace_id).stdout


def test_list_all_table_and_flag_conflict(cli: Cli, tmp_path: Path) -> None:
    """`--all` renders every trace as a table; --json with --jsonl is a usage error."""
    cli(
        "trace", "upload", str(write_jsonl(tmp_path / "t.jsonl", [make_trace(n) for n in range(3)]))
    )
    out = cli("trace", "list", "--all").stdout
    assert all(f"What is {n} + {n}?" in out for n in range(3))
    conflict = cli("trace", "list", "--json", "--jsonl")
    assert conflict.exit_code == 2


def test_empty_list_table_hints_upload(cli: Cli) -> None:
    """An empty database's table view tells the user how to add traces."""
    result = cli("trace", "list")
    assert result.exit_code == 0
    assert "tunix-rt trace upload" in result.stderr


def test_show_json_payload_in_schema_order(cli: Cli, tmp_path: Path) -> None:
    """Payload keys come back in schema order on both databases (JSONB reorders keys)."""
    trace_id = upload_one(cli, tmp_path, make_trace())
    payload = cli("trace", "show", trace_id, "--json").json()["payload"]
    assert list(payload) == ["trace_version", "prompt", "final_answer", "steps", "meta"]
    assert list(payload["steps"][0]) == ["i", "type", "content"]
