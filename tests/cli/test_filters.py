"""The filter language through `trace list`, on both databases, checked against the files."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import DATA, Cli, invoke, make_trace, write_jsonl

TRACE_FILES = [
    "e2e_ingest.jsonl",
    "curriculum_stage_a.jsonl",
    "curriculum_stage_b.jsonl",
    "curriculum_stage_c.jsonl",
    "self_correct.jsonl",
    "injected_errors.jsonl",
]


def _load() -> list[dict[str, Any]]:
    out = []
    for name in TRACE_FILES:
        out.extend(json.loads(line) for line in (DATA / name).read_text().splitlines() if line)
    return out


def _key(trace: dict[str, Any]) -> str:
    return json.dumps(trace, sort_keys=True)


def _selected(cli: Cli, *args: str) -> list[dict[str, Any]]:
    result = cli("trace", "list", "--all", "--jsonl", *args)
    assert result.exit_code == 0, result.stderr
    return [json.loads(line) for line in result.lines()]


@pytest.fixture
def shared(cli: Cli) -> Cli:
    for name in TRACE_FILES:
        assert cli("trace", "upload", str(DATA / name), "-q").exit_code == 0
    return cli


def _expect(pred: Any) -> set[str]:
    return {_key(t) for t in _load() if pred(t)}


def _got(cli: Cli, *args: str) -> set[str]:
    return {_key(r["payload"]) for r in _selected(cli, *args)}


def test_meta_category_matches_a_hand_check(shared: Cli) -> None:
    """Acceptance: --meta category=edge_case finds exactly what a check over the files finds."""
    expected = _expect(lambda t: (t.get("meta") or {}).get("category") == "edge_case")
    assert expected  # the data has some
    assert _got(shared, "--meta", "category=edge_case") == expected


def test_meta_number_matches_number_and_string(shared: Cli) -> None:
    """Acceptance: --meta template_id=2 finds 2 (and would find "2")."""
    expected = _expect(lambda t: str((t.get("meta") or {}).get("template_id")) == "2")
    assert expected
    assert _got(shared, "--meta", "template_id=2") == expected
    assert _got(shared, "--meta", "template_id=2.0") == expected


def test_meta_text_number_list_nested_and_literals(cli: Cli, tmp_path: Path) -> None:
    traces = [
        make_trace(0, meta={"template_id": 2}),
        make_trace(1, meta={"template_id": "2"}),
        make_trace(2, meta={"template_id": 2.5}),
        make_trace(3, meta={"tags": ["math", "easy"], "run": {"seed": 7, "ok": True}}),
        make_trace(4, meta={"tags": "math"}),
        make_trace(5, meta={"tags": {"math": 1}, "run": {"seed": "7", "ok": None}}),
        make_trace(6, meta={"big": 9223372036854775807, "neg": -0.0}),
        make_trace(7),
    ]
    del traces[7]["meta"]
    assert cli("trace", "upload", str(write_jsonl(tmp_path / "m.jsonl", traces))).exit_code == 0

    def answers(*args: str) -> set[str]:
        return {r["payload"]["final_answer"] for r in _selected(cli, *args)}

    assert answers("--meta", "template_id=2") == {"0", "2"}
    assert answers("--meta", "template_id=2.5") == {"4"}
    assert answers("--meta", "tags=math") == {"6", "8"}  # a list containing it, or equal
    assert answers("--meta", "run.seed=7") == {"6", "10"}
    assert answers("--meta", "run.ok=true") == {"6"}
    assert answers("--meta", "run.ok=null") == {"10"}
    assert answers("--meta", "big=9223372036854775807") == {"12"}
    assert answers("--meta", "neg=0") == {"12"}
    assert answers("--meta", "tags=math", "--meta", "run.seed=7") == {"6"}
    assert answers("--meta", "missing=1") == set()
    assert answers("--meta", "meta.template_id=2") == {"0", "2"}  # an explicit meta. prefix


def test_steps_version_and_time(cli: Cli, tmp_path: Path) -> None:
    def steps(n: int) -> list[dict[str, Any]]:
        return [{"i": i, "type": "t", "content": f"s{i}"} for i in range(n)]

    now = datetime.now(UTC)
    records = [
        {
            "id": f"00000000-0000-4000-8000-00000000000{n}",
            "created_at": (now - timedelta(days=age)).isoformat(),
            "payload": make_trace(n, steps=steps(n + 1), trace_version=version),
        }
        for n, (age, version) in enumerate([(40, "1.0"), (10, "1.0"), (3, "2.0"), (0, "2.0")])
    ]
    assert cli("trace", "upload", str(write_jsonl(tmp_path / "r.jsonl", records))).exit_code == 0

    def ids(*args: str) -> list[int]:
        return [int(r["id"][-1]) for r in _selected(cli, *args)]

    assert ids() == [3, 2, 1, 0]  # newest first
    assert ids("--steps", "2..3") == [2, 1]
    assert ids("--steps", "3..") == [3, 2]
    assert ids("--steps", "..1") == [0]
    assert ids("--steps", "4") == [3]
    assert ids("--version", "2.0") == [3, 2]
    assert ids("--version", "2.0", "--version", "1.0") == [3, 2, 1, 0]
    assert ids("--since", "7d") == [3, 2]
    assert ids("--until", "7d") == [1, 0]
    assert ids("--since", "30d", "--until", "1d") == [2, 1]
    day = (now - timedelta(days=3)).date().isoformat()
    assert 2 in ids("--since", day)  # a bare date: its start in UTC, inclusive
    assert 2 not in ids("--until", day)
    assert ids("--since", "7d", "--version", "1.0") == []


def test_keyset_pages_through_a_filter(cli: Cli, tmp_path: Path) -> None:
    traces = [make_trace(n, meta={"even": n % 2 == 0}) for n in range(25)]
    assert cli("trace", "upload", str(write_jsonl(tmp_path / "p.jsonl", traces))).exit_code == 0
    seen: list[str] = []
    cursor: list[str] = []
    for _ in range(5):
        page = cli("trace", "list", "--meta", "even=true", "-n", "5", "--json", *cursor).json()
        seen += [r["id"] for r in page["data"]]
        if not page["next_cursor"]:
            break
        cursor = ["--cursor", page["next_cursor"]]
    assert len(seen) == len(set(seen)) == 13
    everything = {r["id"] for r in _selected(cli, "--meta", "even=true")}
    assert set(seen) == everything


def test_ids_from_pipe_file_prefixes_and_table(cli: Cli, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [make_trace(n) for n in range(6)])
    assert cli("trace", "upload", str(path)).exit_code == 0
    records = _selected(cli)
    wanted = records[1:3]
    jsonl = "".join(json.dumps(r) + "\n" for r in wanted)
    assert [r["id"] for r in _selected_input(cli, jsonl)] == [r["id"] for r in wanted]
    prefixes = "# a comment\n\n" + "".join(r["id"][:8] + "\n" for r in wanted)
    assert [r["id"] for r in _selected_input(cli, prefixes)] == [r["id"] for r in wanted]
    table = cli("trace", "list", "-n", "2").stdout
    assert len(_selected_input(cli, table)) == 2
    file = tmp_path / "ids.txt"
    file.write_text("\n".join(r["id"] for r in wanted) + "\n")
    assert len(_selected(cli, "--ids-from", str(file))) == 2
    assert _selected_input(cli, "") == []  # no ids: nothing, not everything


def _selected_input(cli: Cli, text: str) -> list[dict[str, Any]]:
    result = cli("trace", "list", "--all", "--jsonl", "--ids-from", "-", input=text)
    assert result.exit_code == 0, result.stderr
    return [json.loads(line) for line in result.lines()]


def test_ids_from_unknown_and_ambiguous(cli: Cli, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [make_trace(n) for n in range(40)])
    assert cli("trace", "upload", str(path)).exit_code == 0
    missing = cli("trace", "list", "--ids-from", "-", input="0" * 32 + "\n")
    assert missing.exit_code == 1
    assert "not found" in missing.stderr
    ambiguous = cli("trace", "list", "--ids-from", "-", input="\n".join("0123456789abcdef"))
    assert ambiguous.exit_code == 1
    assert "ambiguous" in ambiguous.stderr or "not found" in ambiguous.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--since", "yesterday"], "--since"),
        (["--until", "2026-13-01"], "--until"),
        (["--since", "0000-01-01"], "--since"),
        (["--steps", "8..3"], "--steps"),
        (["--steps", "a..b"], "--steps"),
        (["--steps", "..1001"], "--steps"),
        (["--meta", "novalue"], "--meta"),
        (["--meta", "a..b=1"], "--meta"),
        (["--tag", "Has Space"], "--tag"),
        (["--no-tag", "x" * 65], "--no-tag"),
        (["--version", ""], "--version"),
        (["--ids-from", "/nonexistent/ids.txt"], "--ids-from"),
    ],
)
def test_bad_values_are_usage_errors(cli: Cli, args: list[str], needle: str) -> None:
    result = cli("trace", "list", *args)
    assert result.exit_code == 2, result.stderr
    assert needle in result.stderr


def test_ids_from_garbage_line_names_the_line(cli: Cli) -> None:
    result = cli("trace", "list", "--ids-from", "-", input="0123abcd\nnot-an-id!\n")
    assert result.exit_code == 2
    assert "<stdin>:2" in result.stderr


def test_same_selection_on_both_databases(tmp_path: Path, pg_session_db: str) -> None:
    """Every filter selects the same ids on SQLite and PostgreSQL (a copied database)."""
    import psycopg

    with psycopg.connect(pg_session_db, autocommit=True) as conn:
        conn.execute("TRUNCATE traces CASCADE")
    lite = f"sqlite:///{tmp_path / 'a.db'}"
    for name in TRACE_FILES:
        assert invoke(["--db", lite, "trace", "upload", str(DATA / name), "-q"]).exit_code == 0
    dump = invoke(["--db", lite, "trace", "list", "--all", "--jsonl"]).stdout
    assert invoke(["--db", pg_session_db, "trace", "upload", "-", "-q"], input=dump).exit_code == 0
    filters = [
        ["--meta", "category=edge_case"],
        ["--meta", "template_id=2"],
        ["--meta", "seed=42", "--steps", "3..4"],
        ["--meta", "task_type=string_reverse"],
        ["--steps", "6.."],
        ["--version", "1.0", "--steps", "..2"],
        ["--meta", "index=13"],
    ]
    for args in filters:
        a = invoke(["--db", lite, "trace", "list", "--all", "--jsonl", *args]).lines()
        b = invoke(["--db", pg_session_db, "trace", "list", "--all", "--jsonl", *args]).lines()
        assert [json.loads(x)["id"] for x in a] == [json.loads(x)["id"] for x in b], args
        assert a, args


def test_ids_from_without_newlines_is_refused_in_bounded_memory(cli: Cli) -> None:
    """`--ids-from /dev/zero` stops at the first over-long line instead of eating memory."""
    result = cli("trace", "list", "--ids-from", "/dev/zero")
    assert result.exit_code == 2
    assert "/dev/zero:1: line longer than" in result.stderr
