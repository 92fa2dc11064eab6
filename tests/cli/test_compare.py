"""`trace compare A B` through the CLI, on SQLite and PostgreSQL: alignment on reordered,
edited, inserted and deleted steps, identical traces, different answers, unknown and
ambiguous ids, and the Rich view with literal-escaped text."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from tests.helpers import Cli, write_jsonl


def trace(steps: list[str], answer: str = "4", prompt: str = "What is 2 + 2?") -> dict[str, Any]:
    return {
        "trace_version": "1.0",
        "prompt": prompt,
        "final_answer": answer,
        "steps": [{"i": i, "type": "step", "content": c} for i, c in enumerate(steps)],
    }


def upload(cli: Cli, tmp_path: Path, *payloads: dict[str, Any]) -> list[str]:
    records = [
        {"id": str(uuid.UUID(int=n + 1, version=4)), "payload": p} for n, p in enumerate(payloads)
    ]
    run = cli("trace", "upload", str(write_jsonl(tmp_path / "t.jsonl", records)), "-q")
    assert run.exit_code == 0, run.stderr
    return [str(r["id"]) for r in records]


def compare(cli: Cli, a: str, b: str) -> dict[str, Any]:
    run = cli("trace", "compare", a, b, "--json")
    assert run.exit_code == 0, run.stderr
    result: dict[str, Any] = run.json()
    return result


def ops(result: dict[str, Any]) -> list[tuple[str, int | None, int | None]]:
    return [(p["op"], p["a"], p["b"]) for p in result["pairs"]]


BASE = ["Read the question", "Add 2 and 2", "2 + 2 = 4", "Check the sum"]


def test_compare_with_itself(cli: Cli, tmp_path: Path) -> None:
    (a,) = upload(cli, tmp_path, trace(BASE))
    result = compare(cli, a, a[:8])
    assert ops(result) == [("equal", i, i) for i in range(4)]
    assert result["first_divergence"] is None
    assert result["answers_agree"] is True
    assert result["a"]["id"] == result["b"]["id"] == a
    assert result["scores"] == {"a": {}, "b": {}}


def test_compare_edited_step_word_diff(cli: Cli, tmp_path: Path) -> None:
    edited = [*BASE[:2], "2 + 2 = 5", BASE[3]]
    a, b = upload(cli, tmp_path, trace(BASE), trace(edited, answer="5"))
    result = compare(cli, a, b)
    assert ops(result) == [("equal", 0, 0), ("equal", 1, 1), ("replace", 2, 2), ("equal", 3, 3)]
    assert result["first_divergence"] == 2
    changed = [w for w in result["pairs"][2]["words"] if w["op"] != "equal"]
    assert changed == [{"op": "replace", "a": "4", "b": "5"}]
    assert result["answers_agree"] is False


def test_compare_reordered_steps(cli: Cli, tmp_path: Path) -> None:
    reordered = [BASE[0], BASE[2], BASE[3], BASE[1]]
    a, b = upload(cli, tmp_path, trace(BASE), trace(reordered))
    result = compare(cli, a, b)
    equal = [(p["a"], p["b"]) for p in result["pairs"] if p["op"] == "equal"]
    assert equal == [(0, 0), (2, 1), (3, 2)]
    assert ("delete", 1, None) in ops(result)
    assert ("insert", None, 3) in ops(result)
    assert result["first_divergence"] == 1
    assert result["answers_agree"] is True


def test_compare_inserted_and_deleted_steps(cli: Cli, tmp_path: Path) -> None:
    other = [BASE[0], "Write both numbers down", *BASE[1:3]]
    a, b = upload(cli, tmp_path, trace(BASE), trace(other, answer=" 4 "))
    result = compare(cli, a, b)
    assert ops(result) == [
        ("equal", 0, 0),
        ("insert", None, 1),
        ("equal", 1, 2),
        ("equal", 2, 3),
        ("delete", 3, None),
    ]
    assert result["first_divergence"] == 1
    assert result["answers_agree"] is True


def test_compare_case_and_whitespace_are_not_differences(cli: Cli, tmp_path: Path) -> None:
    loud = [s.upper().replace(" ", "   ") for s in BASE]
    a, b = upload(cli, tmp_path, trace(BASE, answer="Four"), trace(loud, answer="  FOUR\n"))
    result = compare(cli, a, b)
    assert {p["op"] for p in result["pairs"]} == {"equal"}
    assert result["answers_agree"] is True


def test_compare_unknown_and_ambiguous_ids(cli: Cli, tmp_path: Path) -> None:
    (a,) = upload(cli, tmp_path, trace(BASE), trace(["x"]))[:1]
    missing = str(uuid.uuid4())
    run = cli("trace", "compare", a, missing)
    assert run.exit_code == 1
    assert missing in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    run = cli("trace", "compare", "0000", a)  # both uploaded ids start 00000000
    assert run.exit_code == 1
    assert "ambiguous" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_compare_view_is_side_by_side_and_literal(cli: Cli, tmp_path: Path) -> None:
    hostile = [BASE[0], "Add 2 and 2\x1b[31m", *BASE[2:]]
    a, b = upload(cli, tmp_path, trace(BASE), trace(hostile, answer="5"))
    run = cli("trace", "compare", a, b)
    assert run.exit_code == 0, run.stderr
    assert "\x1b" not in run.stdout
    assert "\\x1b[31m" in run.stdout
    assert f"A {a[:8]}" in run.stdout
    assert f"B {b[:8]}" in run.stdout
    assert "first divergence at aligned pair 1" in run.stdout
    assert "final answers differ" in run.stdout


def test_compare_shows_stored_scores(cli: Cli, tmp_path: Path) -> None:
    a, b = upload(cli, tmp_path, trace(BASE), trace(BASE[:3]))
    assert cli("trace", "score", "set", "baseline", "0.5", a).exit_code == 0
    assert cli("trace", "score", "set", "human", "1", b, "--step", "2").exit_code == 0
    result = compare(cli, a, b)
    assert result["scores"] == {"a": {"baseline": 0.5}, "b": {"human@2": 1.0}}
    run = cli("trace", "compare", a, b)
    assert "baseline=0.5" in run.stdout
    assert "human@2=1" in run.stdout
