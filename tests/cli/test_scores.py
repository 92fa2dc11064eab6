"""`trace score --with baseline` through the CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.helpers import Cli, make_trace, query_rows, write_jsonl


def upload(cli: Cli, tmp_path: Path, traces: list[dict[str, Any]]) -> list[str]:
    result = cli("trace", "upload", str(write_jsonl(tmp_path / "t.jsonl", traces)))
    assert result.exit_code == 0, result.stderr
    return result.lines()


def stored(db_url: str) -> dict[str, tuple[str, int, float, dict[str, Any], str]]:
    """Every stored score by trace id (hex without dashes): name, step, value, details, source."""
    rows = query_rows(
        db_url, "SELECT trace_id, name, step, value, details, source FROM trace_scores"
    )
    return {str(r[0]).replace("-", ""): (r[1], r[2], r[3], json.loads(r[4]), r[5]) for r in rows}


def steps(*lengths: int) -> list[dict[str, Any]]:
    return [{"i": i, "type": "step", "content": "x" * n} for i, n in enumerate(lengths)]


def test_baseline_worked_cases(cli: Cli, db_url: str, tmp_path: Path) -> None:
    """formats.md 7 worked cases, stored with the original details."""
    cases = [((10,), 6.0), ((500,) * 10, 100.0), ((1000,) * 20, 100.0), ((5, 100, 400), 31.83)]
    ids = upload(cli, tmp_path, [make_trace(n, steps=steps(*c)) for n, (c, _) in enumerate(cases)])
    result = cli("trace", "score", "--with", "baseline", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json() == {"name": "baseline", "source": "baseline", "scored": 4, "scores": 4}
    scores = stored(db_url)
    for ident, (_, expected) in zip(ids, cases, strict=True):
        name, step, value, details, source = scores[ident.replace("-", "")]
        assert (name, step, value, source) == ("baseline", -1, expected, "baseline")
        assert details["criteria"] == "baseline"
    assert scores[ids[3].replace("-", "")][3] == {
        "step_count": 3,
        "avg_step_length": 168.33,
        "total_chars": 505,
        "step_score": 15.0,
        "length_score": 16.83,
        "criteria": "baseline",
    }


def test_score_filter_and_rescore(cli: Cli, db_url: str, tmp_path: Path) -> None:
    """A filter picks the traces; scoring again replaces, never duplicates; a delete cascades."""
    ids = upload(cli, tmp_path, [make_trace(n, meta={"source": "ab"[n % 2]}) for n in range(4)])
    result = cli("trace", "score", "--meta", "source=a")
    assert result.exit_code == 0, result.stderr
    assert len(stored(db_url)) == 2
    assert cli("trace", "score").exit_code == 0
    assert cli("trace", "score").exit_code == 0
    assert len(stored(db_url)) == 4
    assert cli("trace", "delete", ids[0], "--yes").exit_code == 0
    assert len(stored(db_url)) == 3


def test_unknown_scorer_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    upload(cli, tmp_path, [make_trace(0)])
    result = cli("trace", "score", "--with", "nope")
    assert result.exit_code == 2
    assert "nope" in result.stderr
    assert "MODULE:FUNCTION" in result.stderr


def test_score_filter_option(cli: Cli, tmp_path: Path) -> None:
    """`--score NAME>=X`, `<=`, `=` select by the stored whole-trace score; unscored never match."""
    traces = [make_trace(n, steps=steps(*c)) for n, c in enumerate([(10,), (500,) * 10, (5,)])]
    ids = upload(cli, tmp_path, traces)
    assert cli("trace", "score", ids[0], ids[1]).exit_code == 0

    def listed(*args: str) -> set[str]:
        result = cli("trace", "list", "--all", "--jsonl", *args)
        assert result.exit_code == 0, result.stderr
        return {json.loads(line)["id"] for line in result.lines()}

    assert listed("--score", "baseline>=50") == {ids[1]}
    assert listed("--score", "baseline<=50") == {ids[0]}
    assert listed("--score", "baseline=6") == {ids[0]}
    assert listed("--score", "baseline>=0", "--score", "baseline<=100") == {ids[0], ids[1]}
    assert listed("--score", "other>=0") == set()
    bad = cli("trace", "list", "--score", "baseline>x")
    assert bad.exit_code == 2
    assert "--score" in bad.stderr
