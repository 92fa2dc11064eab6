"""`tunix-rt dataset`: a hostile user's findings, each one line, non-zero, no traceback.

On both databases where the database is touched."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.helpers import Cli, invoke, make_trace, write_jsonl


@pytest.fixture
def cli(cli: Cli, db_url: str, tmp_path: Path) -> Cli:
    """The shared `cli` with 20 traces and no datasets left from an earlier test."""
    if db_url.startswith("postgresql"):
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("TRUNCATE datasets CASCADE")
    path = write_jsonl(tmp_path / "t.jsonl", [make_trace(n) for n in range(20)])
    assert cli("trace", "upload", str(path)).exit_code == 0
    return cli


def one_line(result: Any, code: int, text: str) -> None:
    assert result.exit_code == code, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: ")
    assert text in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


# --- 1. integer options stored in a column: the same range on both databases ---------------


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--limit", "99999999999999999999"),
        ("--limit", "2147483648"),
        ("--limit", "0"),
        ("--seed", "9223372036854775808"),
        ("--seed", "-1"),
    ],
)
def test_out_of_range_integers_are_usage_errors(cli: Cli, option: str, value: str) -> None:
    bad = cli("dataset", "build", "d", option, value)
    one_line(bad, 2, f"{value} is out of range (")
    assert option in bad.stderr
    assert "database" not in bad.stderr
    assert cli("dataset", "list", "--json").json() == []


def test_the_largest_limit_and_seed_are_stored(cli: Cli) -> None:
    built = cli("dataset", "build", "d", "--limit", "2147483647", "--seed", str(2**63 - 1))
    assert built.exit_code == 0, built.stderr
    shown = cli("dataset", "show", "d", "--json").json()
    assert (shown["limit"], shown["seed"]) == (2**31 - 1, 2**63 - 1)


def test_help_shows_readable_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    text = invoke(["dataset", "build", "-h"]).stdout
    assert "1 to 2,147,483,647" in text
    assert "0 to 2^63-1" in text
    assert "9223372036854775807" not in text


# --- 2. dataset list counts each split ------------------------------------------------------


def test_list_json_counts_each_split(cli: Cli) -> None:
    assert cli("dataset", "build", "d", "--split", "train=0.5,validation=0.5").exit_code == 0
    shown = cli("dataset", "show", "d", "--json").json()
    [listed] = cli("dataset", "list", "--json").json()
    assert listed["splits"] == shown["splits"]
    assert sum(listed["splits"].values()) == listed["trace_count"] == 20
    assert all(listed["splits"].values())


# --- 3. split names YAML would read as numbers or booleans ---------------------------------


def test_numeric_and_boolean_split_names_load(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    datasets = pytest.importorskip("datasets")
    assert cli("dataset", "build", "d", "--split", "1=0.5,true=0.5").exit_code == 0
    out = tmp_path / "out"
    assert cli("dataset", "export", "d", "--to", "jsonl", "--out", str(out)).exit_code == 0
    card = (out / "README.md").read_text()
    assert '- split: "1"\n    path: "1.jsonl"' in card
    assert '- split: "true"\n    path: "true.jsonl"' in card
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    loaded = datasets.load_dataset(str(out))
    assert sorted(loaded) == ["1", "true"]
    assert loaded["1"].num_rows + loaded["true"].num_rows == 20


# --- 5. dataset delete: --dry-run, and a missing dataset named first ------------------------


def test_delete_dry_run_changes_nothing(cli: Cli) -> None:
    assert cli("dataset", "build", "d").exit_code == 0
    dry = cli("dataset", "delete", "d", "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert "would delete dataset d@v1 (20 traces" in dry.stderr
    assert [d["label"] for d in cli("dataset", "list", "--json").json()] == ["d@v1"]
    refused = cli("dataset", "delete", "d")  # no terminal here
    one_line(refused, 1, "not deleting dataset d@v1 (20 traces")
    assert "pass --yes" in refused.stderr
    assert cli("dataset", "delete", "d", "--yes").exit_code == 0
    assert cli("dataset", "list", "--json").json() == []


@pytest.mark.parametrize("more", [[], ["--dry-run"], ["--yes"]])
def test_deleting_a_missing_dataset_says_so(cli: Cli, more: list[str]) -> None:
    one_line(cli("dataset", "delete", "nope", *more), 1, "dataset nope not found")


# --- 6. dataset export --out: a file, or empty ----------------------------------------------


def test_export_into_a_file_or_nothing_is_refused(cli: Cli, tmp_path: Path) -> None:
    assert cli("dataset", "build", "d").exit_code == 0
    afile = tmp_path / "afile"
    afile.write_text("mine")
    for out, says in ((str(afile), "is a file, not a folder"), (os.devnull, "is not a folder")):
        bad = cli("dataset", "export", "d", "--to", "jsonl", "--out", out)
        one_line(bad, 1, f"--out {out} {says}")
        assert "File exists" not in bad.stderr
    assert afile.read_text() == "mine"
    empty = cli("dataset", "export", "d", "--to", "jsonl", "--out", "")
    one_line(empty, 2, "--out is empty")
    assert not Path("train.jsonl").exists()


# --- 7. SOURCE_DATE_EPOCH -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("99999999999999999", "SOURCE_DATE_EPOCH 99999999999999999 is out of range: at most"),
        (" 17", "SOURCE_DATE_EPOCH ' 17' is not a whole number of seconds"),
        ("17 ", "is not a whole number of seconds"),
        ("-1", "is not a whole number of seconds"),
    ],
)
def test_a_bad_source_date_epoch_is_one_line(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, says: str
) -> None:
    assert cli("dataset", "build", "d").exit_code == 0
    monkeypatch.setenv("SOURCE_DATE_EPOCH", value)
    out = tmp_path / "o"
    one_line(cli("dataset", "export", "d", "--to", "jsonl", "--out", str(out)), 1, says)
    assert not out.exists()


# --- 4. dataset verify: an edited record, and malformed manifest fields ---------------------


def rehash(out: Path, name: str) -> None:
    doc = json.loads((out / "manifest.json").read_bytes())
    data = (out / name).read_bytes()
    doc["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    (out / "manifest.json").write_text(json.dumps(doc, indent=2))


def test_an_edited_record_rehashed_in_the_manifest_is_caught(cli: Cli, tmp_path: Path) -> None:
    assert cli("dataset", "build", "d").exit_code == 0
    out = tmp_path / "out"
    assert cli("dataset", "export", "d", "--to", "jsonl", "--out", str(out)).exit_code == 0
    lines = (out / "train.jsonl").read_bytes().splitlines(keepends=True)
    record = json.loads(lines[3])
    record["payload"]["final_answer"] = "something else"
    lines[3] = json.dumps(record).encode() + b"\n"
    (out / "train.jsonl").write_bytes(b"".join(lines))
    rehash(out, "train.jsonl")
    bad = invoke(["dataset", "verify", str(out)])
    assert bad.exit_code == 1
    assert (
        f"inconsistent: train.jsonl: 1 record(s) whose payload does not match its content "
        f"hash in the manifest ({record['id']})" in bad.stderr
    )
    assert "changed:" not in bad.stderr
