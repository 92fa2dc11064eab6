"""`trace score --with MODULE:FUNCTION` (reward functions), `trace score set` (human labels),
per-step scores, and where scores show up: `trace show`, `trace export --to trl-stepwise
--labels`, `trace dupes --keep best-score:NAME`. Through the CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Cli, make_trace, query_rows, write_jsonl

REWARDS = Path(__file__).resolve().parents[1] / "data" / "rewards.py"


def spec(fn: str) -> str:
    return f"{REWARDS}:{fn}"


def upload(cli: Cli, tmp_path: Path, traces: list[dict[str, Any]]) -> list[str]:
    result = cli("trace", "upload", "--ids", str(write_jsonl(tmp_path / "t.jsonl", traces)))
    assert result.exit_code == 0, result.stderr
    return result.lines()


def stored(db_url: str) -> list[tuple[str, str, int, float, str]]:
    """Every stored score: (trace id hex, name, step, value, source), sorted."""
    rows = query_rows(db_url, "SELECT trace_id, name, step, value, source FROM trace_scores")
    return sorted((str(r[0]).replace("-", ""), r[1], r[2], r[3], r[4]) for r in rows)


def hexid(ident: str) -> str:
    return ident.replace("-", "")


def test_reward_function_scores_and_stores(cli: Cli, db_url: str, tmp_path: Path) -> None:
    good = make_trace(1)
    bad = make_trace(2, final_answer="5")  # the steps say 4; the answer tag holds 5: still exact
    ids = upload(cli, tmp_path, [good, bad])
    result = cli("trace", "score", "--with", spec("exact_answer"), "--json")
    assert result.exit_code == 0, result.stderr
    out = result.json()
    assert out["name"] == "exact_answer"
    assert out["scored"] == 2
    assert out["source"] == spec("exact_answer")
    assert (out["mean"], out["min"], out["max"]) == (1.0, 1.0, 1.0)
    rows = stored(db_url)
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == sorted(
        (hexid(i), "exact_answer", -1, 1.0) for i in ids
    )
    assert "scored 2 traces as exact_answer: mean 1, min 1, max 1" in result.stderr
    named = cli("trace", "score", "--with", spec("exact_answer"), "--name", "exact", ids[0])
    assert named.exit_code == 0, named.stderr
    assert [r[1] for r in stored(db_url)].count("exact") == 1


def test_reward_inputs_are_the_tunix_grpo_columns(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """prompts, completions and answer are the tunix-grpo export's prompts, completion and
    answer; question, trace_id and meta come as keyword arguments; batches of --batch-size."""
    traces = [make_trace(n, meta={"n": n}) for n in range(5)]
    upload(cli, tmp_path, traces)
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("REWARD_LOG", str(log))
    result = cli("trace", "score", "--with", spec("record_inputs"), "--batch-size", "2")
    assert result.exit_code == 0, result.stderr
    calls = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert [len(c["prompts"]) for c in calls] == [2, 2, 1]
    exported = cli("trace", "export", "--to", "tunix-grpo")
    assert exported.exit_code == 0, exported.stderr
    rows = [json.loads(line) for line in exported.lines()]
    flat: dict[str, list[Any]] = {}
    for call in calls:
        for key, values in call.items():
            flat.setdefault(key, []).extend(values)
    assert flat["prompts"] == [r["prompts"] for r in rows]
    assert flat["completions"] == [r["completion"] for r in rows]
    assert flat["answer"] == [r["answer"] for r in rows]
    assert flat["question"] == [r["question"] for r in rows]
    assert flat["trace_id"] == [r["id"] for r in rows]
    assert sorted(m["n"] for m in flat["meta"]) == list(range(5))


def test_a_raising_function_names_the_trace_and_stores_nothing(
    cli: Cli, db_url: str, tmp_path: Path
) -> None:
    traces = [make_trace(n) for n in range(6)]
    traces[2]["prompt"] = "BOOM: what is 2 + 2?"
    ids = upload(cli, tmp_path, traces)
    for size in ("1", "4", "64"):
        result = cli("trace", "score", "--with", spec("fails_on_marker"), "--batch-size", size)
        assert result.exit_code == 1
        assert result.stderr.count("\n") == 1, result.stderr
        assert "Traceback" not in result.stderr
        assert f"reward function {spec('fails_on_marker')} raised ValueError" in result.stderr
        assert f"cannot score this one on trace {ids[2]}" in result.stderr
        assert stored(db_url) == []


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        ("wrong_length", "returned 3 scores for 2 items"),
        ("not_a_number", "returned 'high' for trace"),
        ("nan_score", "returned nan for trace"),
        ("bigint", "scores must be finite numbers"),
        ("as_dict", "returned a dict, not a list of 2 numbers"),
        ("as_matrix", "returned a ndarray of shape (2, 1), not a list of 2 numbers"),
        ("base_exception", "raised BaseException: base on trace"),
    ],
)
def test_unusable_results_store_nothing(
    cli: Cli, db_url: str, tmp_path: Path, fn: str, message: str
) -> None:
    upload(cli, tmp_path, [make_trace(0), make_trace(1)])
    result = cli("trace", "score", "--with", spec(fn))
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr
    assert spec(fn) in result.stderr
    assert stored(db_url) == []


def test_loading_errors_are_one_line(cli: Cli, tmp_path: Path) -> None:
    upload(cli, tmp_path, [make_trace(0)])
    broken = tmp_path / "broken.py"
    broken.write_text("def f(:\n", encoding="utf-8")
    raising = tmp_path / "raising.py"
    raising.write_text("raise SystemExit(3)\n", encoding="utf-8")
    cases = {
        "no_such_module_xyz:fn": "no module named 'no_such_module_xyz'",
        f"{tmp_path}/missing.py:fn": "no such file",
        f"{broken}:f": "importing",
        f"{raising}:f": "SystemExit",
        spec("nope"): "has no 'nope'",
        spec("NOT_CALLABLE"): "is a int, not a function",
    }
    for given, message in cases.items():
        result = cli("trace", "score", "--with", given)
        assert result.exit_code == 1, (given, result.stderr)
        assert result.stderr.count("\n") == 1, result.stderr
        assert message in result.stderr, result.stderr


def test_dotted_module_from_the_current_directory(
    cli: Cli, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "myrewards_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "graders.py").write_text(
        "def two(prompts, completions, answer, **kw):\n    return [2] * len(prompts)\n",
        encoding="utf-8",
    )
    upload(cli, tmp_path, [make_trace(0)])
    monkeypatch.chdir(tmp_path)
    result = cli("trace", "score", "--with", "myrewards_pkg.graders:two")
    assert result.exit_code == 0, result.stderr
    assert [(r[1], r[3], r[4]) for r in stored(db_url)] == [
        ("two", 2.0, "myrewards_pkg.graders:two")
    ]


def test_per_step_scores_become_stepwise_labels(cli: Cli, db_url: str, tmp_path: Path) -> None:
    trace = make_trace(
        0,
        steps=[
            {"i": 5, "type": "a", "content": "x" * 3},
            {"i": 2, "type": "b", "content": "y" * 8},
        ],
    )
    [ident] = upload(cli, tmp_path, [trace])
    result = cli("trace", "score", "--with", spec("step_length"), "--per-step", "--name", "prm")
    assert result.exit_code == 0, result.stderr
    assert "(2 step scores)" in result.stderr
    assert [(r[1], r[2], r[3]) for r in stored(db_url)] == [("prm", 2, 0.8), ("prm", 5, 0.3)]
    line = cli("trace", "export", "--to", "trl-stepwise", "--labels", "prm")
    assert line.exit_code == 0, line.stderr
    assert json.loads(line.stdout) == {
        "prompt": trace["prompt"],
        "completions": ["y" * 8, "x" * 3],
        "labels": [True, False],
    }
    lower = cli(
        "trace", "export", "--to", "trl-stepwise", "--labels", "prm", "--label-threshold", "0.3"
    )
    assert json.loads(lower.stdout)["labels"] == [True, True]
    shown = cli("trace", "show", ident[:8], "--json").json()
    assert [(s["name"], s["step"], s["value"]) for s in shown["scores"]] == [
        ("prm", 2, 0.8),
        ("prm", 5, 0.3),
    ]


def test_labels_missing_for_a_step_is_an_error_naming_the_trace(cli: Cli, tmp_path: Path) -> None:
    ids = upload(cli, tmp_path, [make_trace(0), make_trace(1)])
    assert cli("trace", "score", "set", "ok", "1", ids[0], "--step", "0").exit_code == 0
    assert cli("trace", "score", "set", "ok", "1", ids[0], "--step", "1").exit_code == 0
    assert cli("trace", "score", "set", "ok", "0", ids[1], "--step", "0").exit_code == 0
    out = tmp_path / "sw.jsonl"
    result = cli("trace", "export", "--to", "trl-stepwise", "--labels", "ok", "-o", str(out))
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert f"trace {ids[1]} step 1 has no score ok" in result.stderr
    assert not out.exists()
    assert cli("trace", "score", "set", "ok", "0", ids[1], "--step", "1").exit_code == 0
    done = cli("trace", "export", "--to", "trl-stepwise", "--labels", "ok", "-o", str(out))
    assert done.exit_code == 0, done.stderr
    labels = {
        json.loads(x)["prompt"]: json.loads(x)["labels"] for x in out.read_text().splitlines()
    }
    assert labels == {"What is 0 + 0?": [True, True], "What is 1 + 1?": [False, False]}


def test_score_set_records_human_labels(cli: Cli, db_url: str, tmp_path: Path) -> None:
    ids = upload(cli, tmp_path, [make_trace(0), make_trace(1)])
    result = cli("trace", "score", "set", "quality", "0.75", ids[0][:8], ids[1])
    assert result.exit_code == 0, result.stderr
    assert "scored 2 traces as quality" in result.stderr
    negative = cli("trace", "score", "set", "quality", "--", "-1", ids[1])
    assert negative.exit_code == 0, negative.stderr
    assert stored(db_url) == sorted(
        [
            (hexid(ids[0]), "quality", -1, 0.75, "human"),
            (hexid(ids[1]), "quality", -1, -1.0, "human"),
        ]
    )
    listed = cli("trace", "list", "--all", "--jsonl", "--score", "quality>=0")
    assert [json.loads(x)["id"] for x in listed.lines()] == [ids[0]]
    table = cli("trace", "show", ids[0])
    assert "Scores (1)" in table.stdout
    assert "quality" in table.stdout
    assert "human" in table.stdout
    assert cli("trace", "show", ids[0], "--json").json()["scores"] == [
        {"name": "quality", "step": None, "value": 0.75, "source": "human", "details": None}
    ]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["set", "q", "1", "ffffffff"], 1, "trace ffffffff not found"),
        (["set", "q", "1", "{id}", "--step", "7"], 1, "has no step 7 (its steps: 0, 1)"),
        (["set", "q", "high", "{id}"], 2, "'high' is not a number"),
        (["set", "q", "nan", "{id}"], 2, "is not a number"),
        (["set", "Bad!", "1", "{id}"], 2, "is not a score name"),
        (["set", "a=b", "1", "{id}"], 2, "is not a score name"),
        (["set", "q", "1"], 2, "trace score set NAME VALUE ID"),
        (["set", "q", "1", "{id}", "--tag", "x"], 2, "takes ids"),
        (["{id}", "--step", "0"], 2, "--per-step"),
        (["--per-step"], 2, "the baseline scores whole traces"),
    ],
)
def test_bad_score_commands(
    cli: Cli, db_url: str, tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    [ident] = upload(cli, tmp_path, [make_trace(0)])
    result = cli("trace", "score", *[a.replace("{id}", ident) for a in args])
    assert result.exit_code == code, result.stderr
    assert message in " ".join(result.stderr.split()), result.stderr
    assert stored(db_url) == []


def test_dupes_keeps_the_best_score(cli: Cli, tmp_path: Path) -> None:
    same = [make_trace(0, meta={"copy": n}) for n in range(3)]
    ids = upload(cli, tmp_path, same)
    refused = cli("trace", "dupes", "--keep", "best-score:quality")
    assert refused.exit_code == 1
    assert "no trace has a whole-trace score named quality" in refused.stderr
    assert cli("trace", "score", "set", "quality", "0.2", ids[0]).exit_code == 0
    assert cli("trace", "score", "set", "quality", "0.9", ids[1]).exit_code == 0
    result = cli("trace", "dupes", "--keep", "best-score:quality", "--json")
    assert result.exit_code == 0, result.stderr
    [cluster] = result.json()["clusters"]
    assert [m["id"] for m in cluster["members"]] == [ids[1], ids[0], ids[2]]


def test_a_trace_deleted_while_scoring_is_left_out(
    cli: Cli, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = upload(cli, tmp_path, [make_trace(n) for n in range(3)])
    monkeypatch.setenv("REWARD_DELETE_URL", db_url)
    monkeypatch.setenv("REWARD_DELETE_ID", ids[1])
    result = cli("trace", "score", "--with", spec("deletes_one"), "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["scored"] == 2
    assert result.json()["deleted_meanwhile"] == 1
    assert "1 trace was deleted while scoring" in result.stderr
    assert sorted(r[0] for r in stored(db_url)) == sorted(hexid(i) for i in (ids[0], ids[2]))


def test_huge_but_finite_scores_are_stored_and_summarised(
    cli: Cli, db_url: str, tmp_path: Path
) -> None:
    upload(cli, tmp_path, [make_trace(0), make_trace(1)])
    result = cli("trace", "score", "--with", spec("huge"), "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["mean"] == 1e308
    assert [r[3] for r in stored(db_url)] == [1e308, 1e308]


def test_numpy_arrays_and_a_vandal_function(cli: Cli, db_url: str, tmp_path: Path) -> None:
    """A 1-D NumPy array is a list of scores; a function that prints, clears sys.path and
    closes stdout harms neither the JSON on stdout nor the command."""
    upload(cli, tmp_path, [make_trace(0)])
    assert cli("trace", "score", "--with", spec("as_array")).exit_code == 0
    result = cli("trace", "score", "--with", spec("vandal"), "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["scored"] == 1
    assert sorted(r[1] for r in stored(db_url)) == ["as_array", "vandal"]


def test_default_name_is_the_function_name_in_lower_case(
    cli: Cli, db_url: str, tmp_path: Path
) -> None:
    upload(cli, tmp_path, [make_trace(0)])
    result = cli("trace", "score", "--with", spec("MixedCase"))
    assert result.exit_code == 0, result.stderr
    assert [r[1] for r in stored(db_url)] == ["mixedcase"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--with", ""], "empty"),
        (["--batch-size", "8"], "only a reward function is called in batches"),
        (["--with", "a/b:ok:"], "--with"),
    ],
)
def test_more_usage_errors(cli: Cli, tmp_path: Path, args: list[str], message: str) -> None:
    upload(cli, tmp_path, [make_trace(0)])
    result = cli("trace", "score", *args)
    assert result.exit_code in (1, 2), result.stderr
    assert message in result.stderr
    assert "🆗" not in result.stderr


def test_emoji_codes_in_messages_stay_literal(cli: Cli, tmp_path: Path) -> None:
    [ident] = upload(cli, tmp_path, [make_trace(0)])
    result = cli("trace", "score", "--with", "pkg/sub/m:ok:")
    assert result.exit_code == 1
    assert ":ok:" in result.stderr
    named = cli("trace", "score", "set", "h:ok:", "1", ident)
    assert named.exit_code == 0, named.stderr
    assert "scored 1 trace as h:ok:" in named.stderr


def test_score_names_are_checked_everywhere(cli: Cli, tmp_path: Path) -> None:
    upload(cli, tmp_path, [make_trace(0)])
    listed = cli("trace", "list", "--score", "Baseline>=5")
    assert listed.exit_code == 2
    assert "is not a score name" in " ".join(listed.stderr.split())
    labels = cli("trace", "export", "--to", "trl-stepwise", "--labels", "Q")
    assert labels.exit_code == 2
    assert "is not a score name" in " ".join(labels.stderr.split())


def test_a_module_that_prints_or_closes_stdout_on_import(
    cli: Cli, db_url: str, tmp_path: Path
) -> None:
    upload(cli, tmp_path, [make_trace(0)])
    module = tmp_path / "loud.py"
    module.write_text(
        "import sys\nprint('IMPORT TIME')\nsys.stdout.close()\n"
        "def f(prompts, completions, answer, **kw):\n    return [1.0] * len(prompts)\n",
        encoding="utf-8",
    )
    result = cli("trace", "score", "--with", f"{module}:f", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["scored"] == 1
    assert [r[1] for r in stored(db_url)] == ["f"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1_000", "is not a number"),
        ("\uff11", "is not a number"),  # a full-width digit one
        (" 1", "is not a number"),
        ("1e309", "is out of range"),
        ("1e-400", "is out of range"),
    ],
)
def test_score_set_values_are_plain_numbers(
    cli: Cli, db_url: str, tmp_path: Path, value: str, message: str
) -> None:
    [ident] = upload(cli, tmp_path, [make_trace(0)])
    result = cli("trace", "score", "set", "q", value, ident)
    assert result.exit_code == 2
    assert message in result.stderr
    assert stored(db_url) == []


def test_negative_zero_is_zero(cli: Cli, db_url: str, tmp_path: Path) -> None:
    [ident] = upload(cli, tmp_path, [make_trace(0)])
    assert cli("trace", "score", "set", "q", "--", "-0.0", ident).exit_code == 0
    shown = cli("trace", "show", ident, "--json").json()["scores"][0]["value"]
    assert str(shown) == "0.0"
