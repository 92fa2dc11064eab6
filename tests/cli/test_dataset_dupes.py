"""`dataset build` holds each exact-duplicate group once (formats.md section 10), with the
notion of exact duplicate and the keeper of `trace dupes`; `--keep-duplicates` opts out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.helpers import DATA, Cli, make_trace, write_jsonl

STAGES = [DATA / f"curriculum_stage_{s}.jsonl" for s in "abc"]


@pytest.fixture
def cli(cli: Cli, db_url: str) -> Cli:
    """No datasets left from an earlier test (see tests/cli/test_datasets.py)."""
    if db_url.startswith("postgresql"):
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("TRUNCATE datasets CASCADE")
    return cli


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.stderr
    return result


def members(cli: Cli, tmp_path: Path, name: str) -> dict[str, str]:
    """id -> split of a dataset, from a `--to jsonl` export."""
    out = tmp_path / f"x-{name}"
    ok(cli("dataset", "export", name, "--to", "jsonl", "--out", str(out)))
    return {
        json.loads(line)["id"]: path.stem
        for path in out.glob("*.jsonl")
        for line in path.read_text(encoding="utf-8").splitlines()
    }


def test_shared_stages_hold_each_exact_duplicate_group_once(cli: Cli, tmp_path: Path) -> None:
    ok(cli("trace", "upload", *map(str, STAGES)))
    dupes = ok(cli("trace", "dupes", "--json")).json()
    assert (dupes["checked"], len(dupes["clusters"]), dupes["duplicates"]) == (550, 32, 74)
    dropped = {m["id"] for c in dupes["clusters"] for m in c["members"] if not m["keep"]}
    keepers = {c["keeper"] for c in dupes["clusters"]}

    args = ("--split", "train=0.8,test=0.2", "--seed", "7")
    built = ok(cli("dataset", "build", "d", *args, "--json"))
    info = built.json()
    assert (info["trace_count"], info["duplicates_dropped"]) == (476, 74)
    assert "476 traces" in built.stderr
    assert "74 exact duplicates dropped (the oldest of each group kept)" in built.stderr
    held = members(cli, tmp_path, "d")
    assert len(held) == 476
    assert keepers <= held.keys()
    assert not dropped & held.keys()
    shown = ok(cli("dataset", "show", "d"))
    assert "duplicates   74 exact duplicates dropped" in shown.stdout
    assert ok(cli("dataset", "show", "d", "--json")).json()["duplicates_dropped"] == 74
    out = tmp_path / "out"
    ok(cli("dataset", "export", "d", "--to", "tunix-sft", "--out", str(out)))
    assert json.loads((out / "manifest.json").read_bytes())["duplicates_dropped"] == 74
    assert "held once, the oldest of each group (74 dropped)" in (out / "README.md").read_text()

    kept = ok(cli("dataset", "build", "k", *args, "--keep-duplicates", "--json")).json()
    assert (kept["trace_count"], kept["duplicates_dropped"]) == (550, None)
    everything = members(cli, tmp_path, "k")
    for cluster in dupes["clusters"]:  # members of a group still share a split
        assert len({everything[m["id"]] for m in cluster["members"]}) == 1
    assert {i: s for i, s in everything.items() if i in held} == held  # same splits
    assert "exact duplicates kept" in ok(cli("dataset", "show", "k")).stdout
    out = tmp_path / "kept"
    ok(cli("dataset", "export", "k", "--to", "jsonl", "--out", str(out)))
    assert json.loads((out / "manifest.json").read_bytes())["duplicates_dropped"] is None

    # The collapse comes before the pick: --limit N gives N distinct traces.
    for pick in ("latest", "random"):
        name = f"r-{pick}"
        picked = ok(cli("dataset", "build", name, "--limit", "470", "--pick", pick, "--json"))
        assert picked.json()["trace_count"] == 470
        assert not dropped & members(cli, tmp_path, name).keys()


def test_the_keeper_is_the_oldest_and_a_filter_decides_the_group(cli: Cli, tmp_path: Path) -> None:
    """Members differ only in meta (and case and spacing, which are folded)."""
    first = make_trace(1, meta={"source": "a"})
    again = make_trace(1, meta={"source": "b"}, prompt="  WHAT is 1 + 1?")
    other = make_trace(2, meta={"source": "b"})
    ids = []
    for n, trace in enumerate([first, again, other]):
        path = write_jsonl(tmp_path / f"{n}.jsonl", [trace])
        ids += ok(cli("trace", "upload", str(path))).lines()
    assert len(set(ids)) == 3
    ok(cli("dataset", "build", "all"))
    assert set(members(cli, tmp_path, "all")) == {ids[0], ids[2]}  # the older of 0 and 1
    ok(cli("dataset", "build", "b", "--meta", "source=b"))  # the group is the filtered one
    assert set(members(cli, tmp_path, "b")) == {ids[1], ids[2]}
    ok(cli("dataset", "build", "one", "--limit", "2"))
    assert set(members(cli, tmp_path, "one")) == {ids[0], ids[2]}
