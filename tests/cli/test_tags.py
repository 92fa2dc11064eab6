"""`trace tag add/rm` and `trace tags` through the CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Cli, invoke, make_trace, write_jsonl

TUNIX = [sys.executable, "-m", "tunix_rt"]


def upload(cli: Cli, tmp_path: Path, traces: list[dict[str, Any]], name: str = "t") -> list[str]:
    """Upload `traces`; their ids in input order."""
    result = cli("trace", "upload", str(write_jsonl(tmp_path / f"{name}.jsonl", traces)))
    assert result.exit_code == 0, result.stderr
    return result.lines()


def records(cli: Cli, *args: str) -> list[dict[str, Any]]:
    result = cli("trace", "list", "--all", "--jsonl", *args)
    assert result.exit_code == 0, result.stderr
    return [json.loads(line) for line in result.lines()]


def tagged(cli: Cli, tag: str) -> set[str]:
    return {r["id"] for r in records(cli, "--tag", tag)}


def tag_counts(cli: Cli) -> dict[str, int]:
    result = cli("trace", "tags", "--json")
    assert result.exit_code == 0, result.stderr
    return {row["tag"]: row["count"] for row in result.json()["data"]}


@pytest.fixture
def six(cli: Cli, tmp_path: Path) -> list[str]:
    """Six traces: 0, 2, 4 have meta source=a, 1, 3, 5 source=b."""
    traces = [make_trace(n, meta={"source": "ab"[n % 2]}) for n in range(6)]
    return upload(cli, tmp_path, traces)


def test_add_by_ids_and_prefixes(cli: Cli, six: list[str]) -> None:
    """Full ids and unique prefixes name traces; adding again changes nothing and says so."""
    result = cli("trace", "tag", "add", "math", six[0], six[1][:6])
    assert result.exit_code == 0, result.stderr
    assert result.stderr == "tagged 2 traces with math\n"
    assert result.stdout == ""
    assert tagged(cli, "math") == {six[0], six[1]}
    again = cli("trace", "tag", "add", "math", six[0])
    assert again.stderr == "tagged 0 traces with math (1 already had it)\n"


def test_add_by_filter_counts_what_it_touched(cli: Cli, six: list[str]) -> None:
    """Tagging by a filter reports how many gained the tag and how many already had it."""
    assert cli("trace", "tag", "add", "review", six[0]).exit_code == 0
    result = cli("trace", "tag", "add", "review", "--meta", "source=a")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == "tagged 2 traces with review (1 already had it)\n"
    assert tagged(cli, "review") == {six[0], six[2], six[4]}
    as_json = cli("trace", "tag", "add", "review", "--meta", "source=b", "--json")
    assert as_json.json() == {"tag": "review", "selected": 3, "changed": 3, "unchanged": 0}


def test_ids_with_a_filter_mean_those_ids_the_filter_selects(cli: Cli, six: list[str]) -> None:
    """Ids AND filter: an id the filter does not select is left alone."""
    result = cli("trace", "tag", "add", "both", six[0], six[1], "--meta", "source=a", "--json")
    assert result.json()["selected"] == 1
    assert tagged(cli, "both") == {six[0]}


def test_no_ids_and_no_filter_is_a_usage_error(cli: Cli, six: list[str]) -> None:
    """Neither ids nor a filter: exit 2, nothing tagged; --all tags every trace, alone only."""
    result = cli("trace", "tag", "add", "everything")
    assert result.exit_code == 2
    assert "--all for every trace" in result.stderr
    assert tag_counts(cli) == {}
    mixed = cli("trace", "tag", "add", "everything", "--all", six[0])
    assert mixed.exit_code == 2
    assert tag_counts(cli) == {}
    assert cli("trace", "tag", "add", "everything", "--all").stderr == (
        "tagged 6 traces with everything\n"
    )
    assert tag_counts(cli) == {"everything": 6}


def test_remove_by_id_and_by_filter(cli: Cli, six: list[str]) -> None:
    """rm takes the tag off and counts the traces that did not have it."""
    assert cli("trace", "tag", "add", "x", "--meta", "source=a").exit_code == 0
    one = cli("trace", "tag", "rm", "x", six[0][:8])
    assert one.stderr == "removed x from 1 trace\n"
    rest = cli("trace", "tag", "rm", "x", "--since", "1d")
    assert rest.exit_code == 0, rest.stderr
    assert rest.stderr == "removed x from 2 traces (4 did not have it)\n"
    assert tag_counts(cli) == {}


def test_filter_matching_nothing_changes_nothing(cli: Cli, six: list[str]) -> None:
    """A filter (say a mistyped tag) that matches nothing is not an error and changes nothing."""
    result = cli("trace", "tag", "add", "x", "--tag", "nosuchtag")
    assert result.exit_code == 0
    assert result.stderr == "no traces match: tag nosuchtag: nothing changed\n"
    assert tag_counts(cli) == {}


def test_unknown_or_malformed_id_changes_nothing(cli: Cli, six: list[str]) -> None:
    """One unknown id stops the command before anything is tagged (exit 1); a word that is
    not hexadecimal is a usage error (exit 2) naming --tag."""
    missing = cli("trace", "tag", "add", "x", six[0], "0" * 32)
    assert missing.exit_code == 1
    assert "not found" in missing.stderr
    word = cli("trace", "tag", "add", "x", "math")
    assert word.exit_code == 2
    assert "is not a trace id or prefix" in word.stderr
    assert tag_counts(cli) == {}


@pytest.mark.parametrize("name", ["Math", "has space", "x" * 65, "-lead", "", "a,b", "ü"])
def test_invalid_tag_name_is_a_usage_error(cli: Cli, six: list[str], name: str) -> None:
    """A tag name outside the allowed characters and length: exit 2 saying what is allowed."""
    result = cli("trace", "tag", "add", "--", name, six[0])
    assert result.exit_code == 2
    assert "1..64 characters, lower-case letters, digits and . _ : / = + -" in " ".join(
        result.stderr.replace("│", " ").split()
    )
    assert tag_counts(cli) == {}


def test_trace_tags_lists_every_tag_with_its_count(cli: Cli, six: list[str]) -> None:
    """`trace tags`: by name, with counts, as a table, --json, --jsonl, and under a filter."""
    assert cli("trace", "tag", "add", "b.tag", "--all").exit_code == 0
    assert cli("trace", "tag", "add", "a:tag", "--meta", "source=a").exit_code == 0
    table = cli("trace", "tags")
    assert table.exit_code == 0
    assert [line.split() for line in table.lines()] == [
        ["Tag", "Traces"],
        ["a:tag", "3"],
        ["b.tag", "6"],
    ]
    assert tag_counts(cli) == {"a:tag": 3, "b.tag": 6}
    lines = cli("trace", "tags", "--jsonl").lines()
    assert [json.loads(x) for x in lines] == [
        {"tag": "a:tag", "count": 3},
        {"tag": "b.tag", "count": 6},
    ]
    under = cli("trace", "tags", "--json", "--meta", "source=b").json()["data"]
    assert under == [{"tag": "b.tag", "count": 3}]
    assert cli("trace", "tags", "--tag", "nosuch").stderr.startswith("no tags on the traces")


def test_tags_show_in_list_show_and_json(cli: Cli, six: list[str]) -> None:
    """Tags appear sorted in list (a column), show (the header), --json and --jsonl records,
    and never change the trace's payload or content hash."""
    before = cli("trace", "show", six[0], "--json").json()
    assert before["tags"] == []
    assert cli("trace", "tag", "add", "zeta", six[0]).exit_code == 0
    assert cli("trace", "tag", "add", "alpha", six[0]).exit_code == 0
    after = cli("trace", "show", six[0], "--json").json()
    assert after["tags"] == ["alpha", "zeta"]
    assert {k: v for k, v in after.items() if k != "tags"} == {
        k: v for k, v in before.items() if k != "tags"
    }
    assert "tags alpha zeta" in cli("trace", "show", six[0][:8]).stdout
    table = cli("trace", "list", "-n", "10").stdout
    assert "Tags" in table.splitlines()[0]
    row = next(line for line in table.splitlines() if line.startswith(six[0][:8]))
    assert row.rstrip().endswith("alpha zeta")
    page = cli("trace", "list", "--json").json()["data"]
    assert {r["id"]: r["tags"] for r in page}[six[0]] == ["alpha", "zeta"]
    assert sum(1 for r in page if r["tags"]) == 1
    assert next(r for r in records(cli) if r["id"] == six[0])["tags"] == ["alpha", "zeta"]


def test_ids_from_a_real_pipe(cli: Cli, db_url: str, six: list[str]) -> None:
    """`trace list --meta ... --jsonl | trace tag add Y --ids-from -` between two processes."""
    with subprocess.Popen(
        [*TUNIX, "--db", db_url, "trace", "list", "--all", "--jsonl", "--meta", "source=b"],
        stdout=subprocess.PIPE,
    ) as lister:
        tagger = subprocess.run(
            [*TUNIX, "--db", db_url, "trace", "tag", "add", "piped", "--ids-from", "-"],
            stdin=lister.stdout,
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert lister.wait(timeout=60) == 0
    assert tagger.returncode == 0, tagger.stderr
    assert tagger.stderr == b"tagged 3 traces with piped\n"
    assert tagged(cli, "piped") == {six[1], six[3], six[5]}


def test_many_ids_and_a_big_upload_with_tags(cli: Cli, tmp_path: Path) -> None:
    """6,000 records carrying tags go through upload's worker path; 600 ids (a temporary
    id table) tag exactly those traces."""
    source = [{"payload": make_trace(n), "tags": ["bulk", f"m{n % 3}"]} for n in range(6000)]
    result = cli("trace", "upload", str(write_jsonl(tmp_path / "big.jsonl", source)), "-q")
    assert result.exit_code == 0, result.stderr
    assert tag_counts(cli) == {"bulk": 6000, "m0": 2000, "m1": 2000, "m2": 2000}
    ids = [r["id"] for r in records(cli, "--tag", "m1")][:600]
    picked = cli("trace", "tag", "add", "picked", "--ids-from", "-", input="\n".join(ids))
    assert picked.stderr == "tagged 600 traces with picked\n"
    assert tagged(cli, "picked") == set(ids)


def test_upload_applies_record_tags_to_new_and_duplicate_traces(cli: Cli, tmp_path: Path) -> None:
    """A stored record's tags are added to the trace it stores, and to the trace it is a
    duplicate of; upload never removes a tag."""
    (ident,) = upload(cli, tmp_path, [make_trace(1)])
    assert cli("trace", "tag", "add", "kept", ident).exit_code == 0
    record = cli("trace", "show", ident, "--json").json()
    new = {"payload": make_trace(2), "tags": ["fresh"]}
    again = {**record, "tags": ["extra", "extra"]}
    result = cli("trace", "upload", str(write_jsonl(tmp_path / "r.jsonl", [new, again])))
    assert result.exit_code == 0, result.stderr
    assert "stored 1, duplicates 1" in result.stderr
    assert cli("trace", "show", ident, "--json").json()["tags"] == ["extra", "kept"]
    assert tag_counts(cli) == {"extra": 1, "fresh": 1, "kept": 1}


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        (["ok", "Bad"], "tags[1]: 'Bad' is not a tag name"),
        ("math", "tags: must be a JSON array of tag names"),
        ([7], "tags[0]: 7 is not a tag name: tags are strings"),
        ([" padded"], "tags[0]: ' padded' is not a tag name: no surrounding spaces"),
    ],
)
def test_upload_refuses_bad_record_tags(
    cli: Cli, tmp_path: Path, tags: object, message: str
) -> None:
    """Invalid tags make the record invalid (FILE:LINE: tags...): nothing is stored."""
    path = write_jsonl(tmp_path / "r.jsonl", [{"payload": make_trace(1), "tags": tags}])
    result = cli("trace", "upload", str(path))
    assert result.exit_code == 1
    assert f"{path}:1: {message}" in result.stderr
    assert records(cli) == []


def test_bare_trace_cannot_carry_tags(cli: Cli, tmp_path: Path) -> None:
    """`tags` belongs to the stored record, not to the trace (schema v1 has no such field)."""
    path = write_jsonl(tmp_path / "r.jsonl", [{**make_trace(1), "tags": ["x"]}])
    result = cli("trace", "upload", str(path))
    assert result.exit_code == 1
    assert "tags: unknown field" in result.stderr


@pytest.mark.postgres
@pytest.mark.parametrize("direction", ["sqlite-to-postgresql", "postgresql-to-sqlite"])
def test_copying_a_database_keeps_tags(tmp_path: Path, fresh_pg_url: str, direction: str) -> None:
    """`list --all --jsonl | upload -` copies traces and tags, byte for byte, either way."""
    lite = f"sqlite:///{tmp_path / 'a.db'}"
    assert invoke(["--db", fresh_pg_url, "db", "upgrade"]).exit_code == 0
    source, target = (
        (lite, fresh_pg_url) if direction.startswith("sqlite") else (fresh_pg_url, lite)
    )
    path = write_jsonl(tmp_path / "t.jsonl", [make_trace(n) for n in range(30)])
    assert invoke(["--db", source, "trace", "upload", str(path)]).exit_code == 0
    assert invoke(["--db", source, "trace", "tag", "add", "all", "--all"]).exit_code == 0
    assert (
        invoke(
            ["--db", source, "trace", "tag", "add", "few", "--steps", "2", "--ids-from", "-"],
            input="\n".join(
                invoke(["--db", source, "trace", "list", "-n", "4", "--jsonl"]).lines()
            ),
        ).exit_code
        == 0
    )
    dump = invoke(["--db", source, "trace", "list", "--all", "--jsonl"]).stdout
    copied = invoke(["--db", target, "trace", "upload", "-"], input=dump)
    assert copied.exit_code == 0, copied.stderr
    assert invoke(["--db", target, "trace", "list", "--all", "--jsonl"]).stdout == dump
    counts = invoke(["--db", target, "trace", "tags", "--json"]).json()["data"]
    assert counts == [{"tag": "all", "count": 30}, {"tag": "few", "count": 4}]
