"""`tunix-rt dataset`: build, list, show, delete, export, verify, diff, on both databases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.helpers import Cli, invoke, make_trace, write_jsonl
from tunix_rt.filters import fold


@pytest.fixture
def cli(cli: Cli, db_url: str) -> Cli:
    """The shared `cli`, with no datasets left from an earlier test: the PostgreSQL session
    database truncates traces between tests, and datasets have no foreign key to them."""
    if db_url.startswith("postgresql"):
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("TRUNCATE datasets CASCADE")
    return cli


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.stderr
    return result


def upload(cli: Cli, tmp_path: Path, traces: list[Any], name: str = "t") -> list[str]:
    lines: list[str] = ok(
        cli("trace", "upload", str(write_jsonl(tmp_path / f"{name}.jsonl", traces)))
    ).lines()
    return lines


def varied(n: int) -> dict[str, Any]:
    """Trace n; every third repeats an earlier prompt up to case and whitespace."""
    if n % 3 == 2:
        return make_trace(n, prompt=f"  WHAT IS {n - 1}   +  {n - 1}? ", final_answer=f"x{n}")
    return make_trace(n)


def split_prompts(folder: Path) -> dict[str, set[str]]:
    """Normalised prompts per split of a `--to jsonl` export."""
    out: dict[str, set[str]] = {}
    for path in sorted(folder.glob("*.jsonl")):
        out[path.stem] = {
            fold(json.loads(line)["payload"]["prompt"])
            for line in path.read_text(encoding="utf-8").splitlines()
        }
    return out


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_build_names_versions_list_show(cli: Cli, tmp_path: Path) -> None:
    upload(cli, tmp_path, [make_trace(n) for n in range(30)])
    built = ok(cli("dataset", "build", "dev", "--split", "train=0.8,test=0.2", "--json"))
    info = built.json()
    assert info["label"] == "dev@v1"
    assert info["trace_count"] == 30
    assert sum(info["splits"].values()) == 30
    again = cli("dataset", "build", "dev")
    assert again.exit_code == 1
    assert "dataset dev exists (v1); build a new version as dev@v2" in again.stderr
    ok(cli("dataset", "build", "dev@v2", "--limit", "10"))
    assert cli("dataset", "build", "dev@v2").exit_code == 1
    listed = ok(cli("dataset", "list", "--json")).json()
    assert [(d["label"], d["trace_count"]) for d in listed] == [("dev@v1", 30), ("dev@v2", 10)]
    shown = ok(cli("dataset", "show", "dev", "--json")).json()  # the newest version
    assert shown["label"] == "dev@v2"
    assert shown["splits"] == {"train": 10}
    assert shown["stats"] == {
        "trace_count": 10,
        "avg_step_count": 2.0,
        "min_step_count": 2,
        "max_step_count": 2,
        "avg_total_chars": shown["stats"]["avg_total_chars"],
    }
    text = ok(cli("dataset", "show", "dev@v1")).stdout
    assert "train=0.8,test=0.2" in text
    assert f"  train      {info['splits']['train']}" in text
    assert "steps        2..2, 2 on average" in text
    missing = cli("dataset", "show", "nope")
    assert missing.exit_code == 1
    assert "dataset nope not found" in missing.stderr
    bad = cli("dataset", "build", "x", "--split", "train=0.5")
    assert bad.exit_code == 2
    assert "add up to 0.5" in bad.stderr
    empty = cli("dataset", "build", "none", "--meta", "source=elsewhere")
    assert empty.exit_code == 1
    assert "Dataset is empty. No traces matched the filters." in empty.stderr


def test_no_normalised_prompt_in_two_splits(cli: Cli, tmp_path: Path) -> None:
    upload(cli, tmp_path, [varied(n) for n in range(300)])
    split = "train=0.5,validation=0.25,test=0.25"
    ok(cli("dataset", "build", "d", "--split", split, "--seed", "3"))
    ok(cli("dataset", "export", "d", "--to", "jsonl", "--out", str(tmp_path / "out")))
    prompts = split_prompts(tmp_path / "out")
    assert set(prompts) == {"train", "validation", "test"}
    assert all(prompts.values())
    seen: set[str] = set()
    for group in prompts.values():
        assert not seen & group
        seen |= group


def test_splits_are_stable_when_more_data_is_added(cli: Cli, tmp_path: Path) -> None:
    upload(cli, tmp_path, [varied(n) for n in range(200)])
    args = ("--split", "train=0.8,validation=0.1,test=0.1", "--seed", "42")
    ok(cli("dataset", "build", "d", *args))
    upload(cli, tmp_path, [varied(n) for n in range(200, 220)], name="more")
    ok(cli("dataset", "build", "d@v2", *args))
    diff = ok(cli("dataset", "diff", "d@v1", "d@v2", "--json")).json()
    assert len(diff["added"]) == 20
    assert diff["removed"] == []
    assert diff["moved"] == []
    assert diff["unchanged"] == 200
    text = cli("dataset", "diff", "d@v1", "d@v2")
    assert "20 added, 0 removed, 0 moved between splits, 200 unchanged" in text.stderr
    assert sum(line.startswith("+ ") for line in text.lines()) == 20
    ok(cli("dataset", "build", "d@v3", "--split", "train=0.5,test=0.5", "--seed", "42"))
    moved = ok(cli("dataset", "diff", "d@v2", "d@v3", "--json")).json()
    assert moved["moved"]  # other ratios move some traces


def test_random_pick_is_reproducible(cli: Cli, tmp_path: Path) -> None:
    upload(cli, tmp_path, [make_trace(n) for n in range(100)])
    ok(cli("dataset", "build", "a", "--limit", "10", "--pick", "random", "--seed", "5"))
    ok(cli("dataset", "build", "b", "--limit", "10", "--pick", "random", "--seed", "5"))
    ok(cli("dataset", "build", "c", "--limit", "10", "--pick", "random", "--seed", "6"))
    ok(cli("dataset", "build", "newest", "--limit", "10"))
    same = ok(cli("dataset", "diff", "a", "b", "--json")).json()
    assert (same["added"], same["removed"], same["unchanged"]) == ([], [], 10)
    other = ok(cli("dataset", "diff", "a", "c", "--json")).json()
    assert other["added"]
    newest = ok(cli("dataset", "diff", "a", "newest", "--json")).json()
    assert newest["added"]  # random is not just the newest ten
    assert cli("dataset", "build", "z", "--pick", "oldest").exit_code == 2


def test_export_manifest_card_and_determinism(cli: Cli, tmp_path: Path) -> None:
    upload(cli, tmp_path, [make_trace(n) for n in range(40)])
    ok(cli("dataset", "build", "d", "--split", "train=0.75,validation=0.25", "--seed", "1"))
    first, second = tmp_path / "one", tmp_path / "two"
    ok(cli("dataset", "export", "d", "--to", "tunix-sft", "--out", str(first)))
    refused = cli("dataset", "export", "d", "--to", "tunix-sft", "--out", str(first))
    assert refused.exit_code == 1
    assert "add --force to replace" in refused.stderr
    ok(cli("dataset", "delete", "d", "--yes"))  # rebuild from the same data, same bytes
    ok(cli("dataset", "build", "d", "--split", "train=0.75,validation=0.25", "--seed", "1"))
    ok(cli("dataset", "export", "d", "--to", "tunix-sft", "--out", str(second)))
    assert files(first) == files(second)
    assert sorted(files(first)) == ["README.md", "manifest.json", "train.jsonl", "validation.jsonl"]
    manifest = json.loads((first / "manifest.json").read_text())
    for key in (
        "dataset_key", "build_id", "dataset_name", "dataset_version", "dataset_schema_version",
        "created_at", "filters", "selection_strategy", "seed", "trace_ids", "trace_count",
        "stats", "session_id", "parent_dataset_id", "training_run_id", "provenance",
        "tool_version", "format", "split_ratios", "splits", "files",
    ):  # fmt: skip
        assert key in manifest, key
    assert manifest["format"] == "tunix-sft"
    assert manifest["split_ratios"] == {"train": "0.75", "validation": "0.25"}
    assert manifest["trace_count"] == 40
    assert manifest["stats"]["min_step_count"] == 2
    lines = (first / "train.jsonl").read_text().splitlines()
    assert manifest["splits"]["train"]["count"] == len(lines)
    ids = {json.loads(line)["id"] for line in lines}
    assert {t["id"] for t in manifest["splits"]["train"]["traces"]} == ids
    assert manifest["files"]["train.jsonl"]["bytes"] == (first / "train.jsonl").stat().st_size
    card = (first / "README.md").read_text()
    assert card.startswith("---\nconfigs:\n- config_name: default\n  data_files:\n")
    assert '  - split: "validation"\n    path: "validation.jsonl"\n' in card


def test_verify_catches_edited_missing_and_extra_files(tmp_path: Path, cli: Cli) -> None:
    upload(cli, tmp_path, [make_trace(n) for n in range(20)])
    ok(cli("dataset", "build", "d", "--split", "train=0.5,test=0.5"))
    out = tmp_path / "out"
    ok(cli("dataset", "export", "d", "--to", "trl-messages", "--out", str(out)))
    good = invoke(["dataset", "verify", str(out)])
    assert good.exit_code == 0
    assert "ok: 3 files match" in good.stderr
    with (out / "train.jsonl").open("ab") as handle:
        handle.write(b"\n")
    (out / "test.jsonl").unlink()
    (out / "notes.txt").write_text("hi")
    bad = invoke(["dataset", "verify", str(out)])
    assert bad.exit_code == 1
    assert "changed: train.jsonl" in bad.stderr
    assert "missing: test.jsonl" in bad.stderr
    assert "extra: notes.txt" in bad.stderr
    (out / "manifest.json").unlink()
    gone = invoke(["dataset", "verify", str(out)])
    assert gone.exit_code == 1
    assert "manifest.json is missing" in gone.stderr


def test_an_export_loads_with_hugging_face_datasets(cli: Cli, tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    upload(cli, tmp_path, [make_trace(n) for n in range(30)])
    ok(cli("dataset", "build", "d", "--split", "train=0.7,validation=0.3", "--seed", "2"))
    out = tmp_path / "hf"
    ok(cli("dataset", "export", "d", "--to", "tunix-sft", "--out", str(out)))
    manifest = json.loads((out / "manifest.json").read_text())
    loaded = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache"))
    assert set(loaded) == {"train", "validation"}
    assert loaded["train"].num_rows == manifest["splits"]["train"]["count"]
    assert loaded["validation"].num_rows == manifest["splits"]["validation"]["count"]
    row = loaded["train"][0]
    assert row["prompt"] + row["completion"] == row["prompts"]
    plain = datasets.load_dataset(
        "json", data_files={"train": str(out / "train.jsonl")}, cache_dir=str(tmp_path / "c2")
    )
    assert plain["train"].num_rows == manifest["splits"]["train"]["count"]


def test_delete_needs_confirmation_and_trace_delete_refuses_members(
    cli: Cli, tmp_path: Path
) -> None:
    ids = upload(cli, tmp_path, [make_trace(n) for n in range(5)])
    (tmp_path / "ids").write_text(ids[0] + "\n" + ids[1] + "\n")
    ok(cli("dataset", "build", "d", "--ids-from", str(tmp_path / "ids")))
    refused = cli("trace", "delete", ids[0], "--yes")
    assert refused.exit_code == 1
    assert "a frozen dataset holds 1 of the 1 selected traces: nothing deleted" in refused.stderr
    ok(cli("trace", "delete", ids[3], "--yes"))  # not a member
    ok(cli("trace", "delete", ids[0], "--yes", "--force"))
    broken = cli("dataset", "export", "d", "--to", "jsonl", "--out", str(tmp_path / "o"))
    assert broken.exit_code == 1
    assert f"1 of its traces were deleted or changed since it was built ({ids[0]})" in (
        broken.stderr
    )
    unasked = cli("dataset", "delete", "d")
    assert unasked.exit_code == 1
    assert "not deleting dataset d@v1 (2 traces" in unasked.stderr
    ok(cli("dataset", "delete", "d", "--yes"))
    assert ok(cli("dataset", "list", "--json")).json() == []
    ok(cli("trace", "delete", ids[1], "--yes"))  # no longer held
