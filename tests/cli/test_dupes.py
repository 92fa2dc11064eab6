"""`trace dupes` through the CLI, on SQLite and PostgreSQL: the shared curriculum data against
an independent count, planted exact and near clusters (edits, reordered and truncated steps,
CJK, very short texts), the keeper rules, tagging, determinism and the stored sketches."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import DATA, Cli, write_jsonl
from tunix_rt import dupes as algo

CURRICULUM = [str(DATA / f"curriculum_stage_{s}.jsonl") for s in "abc"]
LONG = (
    "First we read the question carefully and write down every number it gives, then we add "
    "the two numbers together column by column, carry the tens, and check the total twice "
    "before we write the final answer in the box at the bottom of the page"
)
CJK = (  # \uff0c is the fullwidth comma
    "机器学习是人工智能的一个分支\uff0c它研究计算机如何从数据中自动学习规律\uff0c"
    "并用这些规律对新的数据做出预测和判断。"
)


def trace(prompt: str, steps: list[str], answer: str, **extra: Any) -> dict[str, Any]:
    return {
        "trace_version": "1.0",
        "prompt": prompt,
        "final_answer": answer,
        "steps": [{"i": i, "type": "step", "content": c} for i, c in enumerate(steps)],
        **extra,
    }


def envelope(n: int, payload: dict[str, Any], second: int = 0) -> dict[str, Any]:
    """A record with a chosen id and time (upload keeps both)."""
    return {
        "id": str(uuid.UUID(int=n, version=4)),
        "created_at": f"2026-01-01T00:00:{second:02d}+00:00",
        "payload": payload,
    }


def upload(cli: Cli, tmp_path: Path, records: list[Any], name: str = "t.jsonl") -> list[str]:
    run = cli("trace", "upload", str(write_jsonl(tmp_path / name, records)), "-q")
    assert run.exit_code == 0, run.stderr
    return run.lines()


def dupes(cli: Cli, *args: str) -> dict[str, Any]:
    run = cli("trace", "dupes", "--json", *args)
    assert run.exit_code == 0, run.stderr
    result: dict[str, Any] = run.json()
    return result


def member_sets(result: dict[str, Any]) -> set[frozenset[str]]:
    return {frozenset(m["id"] for m in c["members"]) for c in result["clusters"]}


# --- the shared data, against an independent count ------------------------------------------


def independent_groups(records: list[dict[str, Any]]) -> dict[tuple[str, ...], list[str]]:
    """Records grouped by prompt, steps (by i) and answer, each lowered and with its spaces
    collapsed: written from the issue's definition, not from the code."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for r in records:
        p = r["payload"]
        steps = [s["content"] for s in sorted(p["steps"], key=lambda s: s["i"])]
        parts = [p["prompt"], *steps, p["final_answer"]]
        groups.setdefault(tuple(" ".join(x.casefold().split()) for x in parts), []).append(r["id"])
    return groups


def test_curriculum_files_have_32_groups_and_74_duplicates(cli: Cli) -> None:
    """Acceptance: 550 traces, 32 groups, 74 records beyond the keepers, the same groups as
    an independent check finds; --near finds nothing more at 0.8."""
    run = cli("trace", "upload", *CURRICULUM, "-q")
    assert run.exit_code == 0, run.stderr
    stored = [json.loads(line) for line in cli("trace", "list", "--all", "--jsonl").lines()]
    assert len(stored) == 550
    expected = {frozenset(ids) for ids in independent_groups(stored).values() if len(ids) > 1}
    assert len(expected) == 32
    assert sum(len(g) - 1 for g in expected) == 74

    result = dupes(cli)
    assert result["checked"] == 550
    assert len(result["clusters"]) == 32
    assert result["duplicates"] == 74
    assert member_sets(result) == expected
    assert {c["kind"] for c in result["clusters"]} == {"exact"}

    near = dupes(cli, "--near")
    assert member_sets(near) == expected
    assert near["duplicates"] == 74

    text = cli("trace", "dupes")
    assert "32 groups of exact duplicates in 550 traces: 106 traces, 74 beyond the keepers" in (
        text.stderr
    )


# --- planted clusters -----------------------------------------------------------------------


def planted() -> dict[str, list[dict[str, Any]]]:
    """Named clusters of traces that belong together, and loners that belong to none."""
    words = LONG.split()
    edited = " ".join("slowly" if w == "carefully" else w for w in words)
    cut = LONG.rsplit(" ", 3)[0]  # the last three words gone
    return {
        "exact": [
            trace("What is 27 + 19?", ["Add the units", "27 + 19 = 46"], "46"),
            trace("  WHAT is 27 +  19?", ["add the units", "27 + 19 = 46"], "46", meta={"m": 1}),
        ],
        "near": [
            trace("Add 27 and 19.", [LONG, "27 + 19 = 46", "Check: 46 - 19 = 27"], "46"),
            trace("Add 27 and 19.", [edited, "27 + 19 = 46", "Check: 46 - 19 = 27"], "46"),
            trace("Add 27 and 19.", ["27 + 19 = 46", LONG, "Check: 46 - 19 = 27"], "46"),
            trace("Add 27 and 19", [LONG + ".", "27 + 19 = 46!", "Check: 46 - 19 = 27"], "46"),
            trace(
                "Add 27 and 19.",
                [cut, "27 + 19 = 46", "Check: 46 - 19 = 27"],
                "46",
            ),
        ],
        "cjk": [
            trace(CJK, ["首先理解问题的意思", "机器学习让计算机从数据中自动学习规律"], "是"),
            trace(
                CJK.replace("如何", "怎样"),
                ["首先理解问题的意思", "机器学习让计算机从数据中自动学习规律"],
                "是",
            ),
        ],
        "short": [
            trace("Hi", ["Hello"], "ok"),
            trace("hi!", ["hello."], "OK"),
            trace("HI?", ["  hello "], "ok"),
        ],
        "loners": [
            trace("Add 28 and 19.", [LONG.replace("two", "2"), "28 + 19 = 47"], "47"),
            trace("What is 28 + 19?", ["Add the units", "28 + 19 = 47"], "47"),
            trace("Hi", ["Bye"], "ok"),
            trace("你好", ["再见"], "好"),
            trace(CJK[:20], ["完全不同的推理步骤"], "否"),
        ],
    }


def test_planted_exact_and_near_clusters(cli: Cli, tmp_path: Path) -> None:
    """Exact mode groups only same-text traces; --near finds word edits, reordered and
    truncated steps, punctuation, CJK and very short texts, and nothing of the loners."""
    groups = planted()
    ids: dict[str, list[str]] = {}
    for name, traces in groups.items():
        ids[name] = upload(cli, tmp_path, traces, f"{name}.jsonl")

    exact = dupes(cli)
    assert member_sets(exact) == {frozenset(ids["exact"])}

    near = dupes(cli, "--near")
    want = {frozenset(ids[name]) for name in ("exact", "near", "cjk", "short")}
    assert member_sets(near) == want
    kinds = {frozenset(m["id"] for m in c["members"]): c["kind"] for c in near["clusters"]}
    assert kinds[frozenset(ids["exact"])] == "exact"
    assert kinds[frozenset(ids["near"])] == "near"
    assert near["lsh"]["bands"] == 21
    assert near["lsh"]["rows"] == 6
    assert near["duplicates"] == 1 + 4 + 1 + 2


def test_every_reported_pair_reaches_the_threshold(cli: Cli, tmp_path: Path) -> None:
    """No false positives: each member's similarity to the keeper, recomputed from the
    shingle sets, is what is reported, and each member reaches the threshold with some
    other member of its cluster."""
    upload(cli, tmp_path, [t for ts in planted().values() for t in ts])
    stored = {
        r["id"]: algo.shingles(algo.folded_parts(r["payload"]))
        for r in map(json.loads, cli("trace", "list", "--all", "--jsonl").lines())
    }
    for threshold in ("0.8", "0.95"):
        result = dupes(cli, "--near", "--threshold", threshold)
        for c in result["clusters"]:
            ms = [m["id"] for m in c["members"]]
            for m in c["members"]:
                assert m["similarity"] == pytest.approx(
                    algo.jaccard(stored[ms[0]], stored[m["id"]]), abs=1e-6
                )
                best = max(algo.jaccard(stored[m["id"]], stored[o]) for o in ms if o != m["id"])
                assert best >= float(threshold)
    strict = dupes(cli, "--near", "--threshold", "1")
    assert all(m["similarity"] == 1.0 for c in strict["clusters"] for m in c["members"])


def test_near_clusters_join_through_chains(cli: Cli, tmp_path: Path) -> None:
    """Clusters are connected components: A~B and B~C put A, B, C together even when A and
    C are further apart than the threshold."""
    words = (LONG + " " + LONG.upper()).split()
    b = list(words)
    b[5] = "changed"
    c = list(b)
    c[30] = "again"
    c[20] = "more"
    ids = upload(cli, tmp_path, [trace("p", [" ".join(w)], "a") for w in (words, b, c)])
    result = dupes(cli, "--near", "--threshold", "0.85")
    assert member_sets(result) == {frozenset(ids)}
    sims = sorted(m["similarity"] for m in result["clusters"][0]["members"])
    assert sims[0] < 0.85 <= sims[1]


# --- keeper rules ---------------------------------------------------------------------------


def test_keeper_rules_and_ties_by_id(cli: Cli, tmp_path: Path) -> None:
    """oldest keeps the first stored, newest the last; equal times go to the smallest id."""
    p = trace("Same", ["text"], "here")
    records = [
        envelope(5, p, second=3),
        envelope(3, {**p, "prompt": "SAME"}, second=1),
        envelope(9, {**p, "prompt": "same "}, second=1),
        envelope(7, {**p, "final_answer": "HERE"}, second=3),
    ]
    upload(cli, tmp_path, records)
    ident = {n: str(uuid.UUID(int=n, version=4)) for n in (3, 5, 7, 9)}

    def order(*args: str) -> list[str]:
        return [m["id"] for m in dupes(cli, *args)["clusters"][0]["members"]]

    assert order() == [ident[3], ident[9], ident[5], ident[7]]
    assert order("--keep", "oldest") == order()
    assert order("--keep", "newest") == [ident[5], ident[7], ident[3], ident[9]]
    assert dupes(cli, "--keep", "newest")["clusters"][0]["keeper"] == ident[5]


def test_best_score_needs_stored_scores(cli: Cli, tmp_path: Path) -> None:
    upload(cli, tmp_path, [trace("a", ["b"], "c")])
    run = cli("trace", "dupes", "--keep", "best-score:reward")
    assert run.exit_code == 1
    assert run.stderr.count("\n") == 1
    assert "no trace has a whole-trace score named reward" in run.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--keep", "best"],
        ["--keep", "best-score:"],
        ["--threshold", "0.9"],
        ["--near", "--threshold", "0.3"],
        ["--tag-as", "Bad Tag"],
    ],
)
def test_bad_options_are_usage_errors(cli: Cli, args: list[str]) -> None:
    assert cli("trace", "dupes", *args).exit_code == 2


# --- tagging --------------------------------------------------------------------------------


def test_tag_marks_exactly_the_non_keepers(cli: Cli, tmp_path: Path) -> None:
    """--tag-as dup, then `trace list --tag dup` lists every member but the keepers."""
    for name, traces in planted().items():
        upload(cli, tmp_path, traces, f"{name}.jsonl")
    result = dupes(cli, "--near", "--tag-as", "dup")
    non_keepers = {m["id"] for c in result["clusters"] for m in c["members"] if not m["keep"]}
    assert result["tagged"] == len(non_keepers) == result["duplicates"]
    listed = cli("trace", "list", "--tag", "dup", "--all", "--jsonl")
    assert {json.loads(line)["id"] for line in listed.lines()} == non_keepers
    # The tag is a filter like any other: the duplicates left after --no-tag dup are none.
    assert dupes(cli, "--near", "--no-tag", "dup")["clusters"] == []
    run = cli("trace", "dupes", "--near", "--tag-as", "dup")
    assert f"tagged {len(non_keepers)} traces with dup" in run.stderr


# --- selection, determinism and the stored sketches -----------------------------------------


def test_a_filter_limits_the_traces_compared(cli: Cli, tmp_path: Path) -> None:
    p = trace("Same", ["text"], "here")
    upload(cli, tmp_path, [{**p, "meta": {"batch": 0}}])
    upload(cli, tmp_path, [{**p, "prompt": "SAME", "meta": {"batch": 1}}], "b.jsonl")
    assert len(dupes(cli)["clusters"]) == 1
    only = dupes(cli, "--meta", "batch=1")
    assert only["checked"] == 1
    assert only["clusters"] == []
    run = cli("trace", "dupes", "--meta", "batch=7")
    assert run.exit_code == 0
    assert "no traces match: meta.batch=7" in run.stderr


def test_the_same_store_gives_the_same_report(cli: Cli, tmp_path: Path) -> None:
    """Determinism: the same clusters, members and order, run after run."""
    upload(cli, tmp_path, [t for ts in planted().values() for t in ts])
    first = dupes(cli, "--near")
    second = dupes(cli, "--near")
    assert first["sketched"] > 0
    assert second["sketched"] == 0
    assert {**first, "sketched": 0} == {**second, "sketched": 0}
    assert cli("trace", "dupes", "--near").stdout == cli("trace", "dupes", "--near").stdout


def test_only_new_traces_are_sketched(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checked store is not checked again: adding traces sketches only those, and the
    result equals a run that sketches everything again."""
    groups = planted()
    upload(cli, tmp_path, groups["near"] + groups["loners"])
    assert dupes(cli)["sketched"] == 10  # exact mode stores keys, not signatures
    assert dupes(cli, "--near")["sketched"] == 10
    assert dupes(cli, "--near")["sketched"] == 0
    upload(cli, tmp_path, groups["cjk"] + groups["short"], "more.jsonl")
    result = dupes(cli, "--near")
    assert result["sketched"] == 5
    assert len(result["clusters"]) == 3
    monkeypatch.setattr(algo, "SCHEME", "everything-again")
    again = dupes(cli, "--near")
    assert again["sketched"] == 15
    assert again["clusters"] == result["clusters"]


def test_sketches_of_another_scheme_are_computed_again(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload(cli, tmp_path, planted()["cjk"])
    assert dupes(cli, "--near")["sketched"] == 2
    monkeypatch.setattr(algo, "SCHEME", "test-scheme")
    result = dupes(cli, "--near")
    assert result["sketched"] == 2
    assert len(result["clusters"]) == 1


def test_deleted_traces_leave_no_sketch_behind(cli: Cli, tmp_path: Path) -> None:
    ids = upload(cli, tmp_path, planted()["short"])
    assert len(dupes(cli, "--near")["clusters"]) == 1
    assert cli("trace", "delete", ids[0], "--yes").exit_code == 0
    result = dupes(cli, "--near")
    assert result["checked"] == 2
    assert member_sets(result) == {frozenset(ids[1:])}


def test_no_traces_and_no_duplicates(cli: Cli, tmp_path: Path) -> None:
    run = cli("trace", "dupes")
    assert run.exit_code == 0
    assert "no traces yet" in run.stderr
    upload(cli, tmp_path, planted()["loners"])
    run = cli("trace", "dupes", "--near")
    assert run.exit_code == 0
    assert run.stdout == ""
    assert "no duplicates in 5 traces" in run.stderr


def test_table_shows_clusters_and_the_keepers_prompt(cli: Cli, tmp_path: Path) -> None:
    upload(cli, tmp_path, planted()["near"] + planted()["exact"])
    run = cli("trace", "dupes", "--near")
    assert run.exit_code == 0
    lines = run.stdout.splitlines()
    assert any("near" in line and "Add 27 and 19." in line for line in lines)
    assert any("exact" in line and "What is 27 + 19?" in line for line in lines)
    assert "2 clusters (1 exact, 1 near at similarity >= 0.8) in 7 traces" in run.stderr
    assert "21 bands x 6 rows" in run.stderr


def test_a_damaged_signature_is_computed_again(cli: Cli, db_url: str, tmp_path: Path) -> None:
    """A stored signature of the wrong size (changed by hand) is replaced, not compared."""
    import sqlalchemy as sa

    upload(cli, tmp_path, planted()["cjk"])
    assert dupes(cli, "--near")["sketched"] == 2
    engine = sa.create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE trace_sketches SET signature = :b"), {"b": b"\x00"})
    engine.dispose()
    result = dupes(cli, "--near")
    assert result["sketched"] == 2
    assert len(result["clusters"]) == 1
    assert dupes(cli, "--near")["sketched"] == 0
