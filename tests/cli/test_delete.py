"""`trace delete` through the CLI and real processes, on SQLite and PostgreSQL.

The question is asked only on a terminal: those tests run tunix-rt on a pseudo-terminal
(stdin and stderr), answer it, and read what it printed.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.helpers import Cli, invoke, make_trace, write_jsonl

TUNIX = [sys.executable, "-m", "tunix_rt"]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def upload(cli: Cli, tmp_path: Path, traces: list[Any], name: str = "t") -> list[str]:
    result = cli("trace", "upload", str(write_jsonl(tmp_path / f"{name}.jsonl", traces)))
    assert result.exit_code == 0, result.stderr
    return result.lines()


def stored(cli: Cli) -> list[str]:
    result = cli("trace", "list", "--all", "--jsonl")
    assert result.exit_code == 0, result.stderr
    return sorted(json.loads(line)["id"] for line in result.lines())


def tag_counts(cli: Cli) -> dict[str, int]:
    return {r["tag"]: r["count"] for r in cli("trace", "tags", "--json").json()["data"]}


@pytest.fixture
def five(cli: Cli, tmp_path: Path) -> list[str]:
    """Five traces; 0 and 1 tagged junk (1 also keep), 4 tagged keep."""
    ids = upload(cli, tmp_path, [make_trace(n) for n in range(5)])
    assert cli("trace", "tag", "add", "junk", ids[0], ids[1]).exit_code == 0
    assert cli("trace", "tag", "add", "keep", ids[1], ids[4]).exit_code == 0
    return ids


class Pty:
    """tunix-rt with stdin and stderr on a pseudo-terminal (stdout a pipe)."""

    def __init__(self, args: list[str]) -> None:
        master, slave = pty.openpty()
        self.master = master
        self.proc = subprocess.Popen(
            [*TUNIX, *args], stdin=slave, stdout=subprocess.PIPE, stderr=slave, close_fds=True
        )
        os.close(slave)
        self.seen = b""

    def read_until(self, needle: bytes) -> None:
        while needle not in self.seen:
            ready, _, _ = select.select([self.master], [], [], 120)
            assert ready, f"no {needle!r} in {self.seen!r}"
            if not self._read():
                raise AssertionError(f"ended without {needle!r}: {self.seen!r}")

    def _read(self) -> bool:
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: the process closed the terminal
            return False
        self.seen += chunk
        return bool(chunk)

    def answer(self, text: str) -> None:
        os.write(self.master, text.encode() + b"\n")

    def finish(self) -> tuple[int, str, str]:
        assert self.proc.stdout is not None
        out = self.proc.stdout.read().decode()
        code = self.proc.wait(timeout=120)
        while self._read():
            pass
        os.close(self.master)
        return code, out, ANSI.sub("", self.seen.decode()).replace("\r\n", "\n")


@pytest.mark.parametrize("answer", ["y", "n"])
def test_asks_on_a_terminal(cli: Cli, db_url: str, five: list[str], answer: str) -> None:
    """On a terminal it shows the count and the traces, asks, and does what the answer says."""
    term = Pty(["--db", db_url, "trace", "delete", "--tag", "junk"])
    term.read_until(b"[y/N]")
    term.answer(answer)
    code, out, err = term.finish()
    assert out == ""
    assert "about to delete 2 traces (and 3 tags): tag junk" in err
    assert five[0][:8] in err
    assert five[1][:8] in err
    assert "Delete 2 traces (and 3 tags)? [y/N]" in err
    if answer == "y":
        assert code == 0
        assert "deleted 2 traces (and 3 tags)" in err
        assert stored(cli) == sorted(five[2:])
        assert tag_counts(cli) == {"keep": 1}
    else:
        assert code == 1
        assert "error: aborted: nothing deleted" in err
        assert stored(cli) == sorted(five)


def test_refuses_without_a_terminal(cli: Cli, db_url: str, five: list[str]) -> None:
    """Not on a terminal and no --yes: one line, exit 1, nothing deleted."""
    result = subprocess.run(
        [*TUNIX, "--db", db_url, "trace", "delete", "--tag", "junk"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout == b""
    assert result.stderr == (
        b"error: not deleting without confirmation: stdin or stderr is not a terminal; "
        b"pass --yes to delete, or --dry-run to see what would be deleted\n"
    )
    assert stored(cli) == sorted(five)


def test_yes_deletes_without_asking(cli: Cli, five: list[str]) -> None:
    """--yes: no question, a one-line report, their tags gone with them (cascade)."""
    result = cli("trace", "delete", "--tag", "junk", "--yes")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines()[0] == "deleted 2 traces (and 3 tags)"
    assert stored(cli) == sorted(five[2:])
    assert tag_counts(cli) == {"keep": 1}


def test_dry_run_only_shows(cli: Cli, five: list[str]) -> None:
    """--dry-run shows the count and the first traces, exits 0 and deletes nothing."""
    result = cli("trace", "delete", "--since", "1d", "--dry-run")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "would delete 5 traces (and 4 tags): since" in result.stderr
    assert all(i[:8] in result.stderr for i in five)
    assert "nothing deleted (--dry-run)" in result.stderr
    assert stored(cli) == sorted(five)
    assert tag_counts(cli) == {"junk": 2, "keep": 2}


def test_preview_shows_the_first_few_and_how_many_more(cli: Cli, tmp_path: Path) -> None:
    """More than five: the five newest are listed, then "... and N more"."""
    ids = upload(cli, tmp_path, [make_trace(n) for n in range(8)])
    result = cli("trace", "delete", "--all", "--dry-run")
    assert "would delete 8 traces: all traces" in result.stderr
    assert sum(i[:8] in result.stderr for i in ids) == 5
    assert all(i[:8] in result.stderr for i in ids[-5:])  # newest first
    assert "... and 3 more" in result.stderr


def test_everything_needs_all(cli: Cli, five: list[str]) -> None:
    """No ids and no filter is refused with a hint; --all alone deletes everything."""
    bare = cli("trace", "delete", "--yes")
    assert bare.exit_code == 2
    assert "or --all for every trace" in bare.stderr
    mixed = cli("trace", "delete", "--all", "--tag", "junk", "--yes")
    assert mixed.exit_code == 2
    assert stored(cli) == sorted(five)
    everything = cli("trace", "delete", "--all", "--yes", "--json")
    assert everything.exit_code == 0, everything.stderr
    assert everything.json()["deleted"] == 5
    assert everything.json()["tags"] == 4
    assert stored(cli) == []
    assert tag_counts(cli) == {}


def test_older_than_is_retention(cli: Cli, tmp_path: Path) -> None:
    """--older-than 30d deletes what was created more than 30 days ago, nothing newer."""
    now = datetime.now(UTC)
    ages = [400, 31, 29, 0]
    traces = [
        {"payload": make_trace(n), "created_at": (now - timedelta(days=d)).isoformat()}
        for n, d in enumerate(ages)
    ]
    ids = upload(cli, tmp_path, traces)
    result = cli("trace", "delete", "--older-than", "30d", "--yes")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.startswith("deleted 2 traces\n")
    assert stored(cli) == sorted(ids[2:])
    both = cli("trace", "delete", "--older-than", "1d", "--until", "60d", "--dry-run")
    assert "no traces match" in both.stderr  # both bounds hold: created before the older one


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--older-than", "30"], "is not an age"),
        (["--older-than", "2026-01-01"], "is not an age"),
        (["--steps", "x"], "--steps"),
        (["--since", "garbage"], "--since"),
        (["--tag", "Junk"], "--tag"),
        (["--tga", "junk"], "No such option"),
        (["junk"], "is not a trace id or prefix"),
    ],
)
def test_a_mistyped_option_never_deletes(
    cli: Cli, five: list[str], args: list[str], needle: str
) -> None:
    """Bad values, unknown options and a word where an id belongs: usage errors, exit 2."""
    result = cli("trace", "delete", *args, "--yes")
    assert result.exit_code == 2
    assert needle in result.stderr
    assert stored(cli) == sorted(five)


def test_a_typo_in_a_tag_matches_nothing(cli: Cli, five: list[str]) -> None:
    """A well-formed tag no trace has selects nothing: exit 0, nothing deleted."""
    result = cli("trace", "delete", "--tag", "jnuk", "--yes")
    assert result.exit_code == 0
    assert result.stderr.startswith("no traces match: tag jnuk: nothing deleted\n")
    assert stored(cli) == sorted(five)


def test_ids_with_a_filter_delete_the_intersection(cli: Cli, five: list[str]) -> None:
    """Ids AND filter: of the ids given, only those the filter selects go."""
    result = cli("trace", "delete", five[0][:8], five[2], "--tag", "junk", "--yes")
    assert result.exit_code == 0, result.stderr
    assert stored(cli) == sorted(five[1:])
    unknown = cli("trace", "delete", five[1], "0" * 32, "--yes")
    assert unknown.exit_code == 1
    assert "not found" in unknown.stderr
    assert stored(cli) == sorted(five[1:])


def test_ids_from_a_pipe_with_yes(cli: Cli, five: list[str]) -> None:
    """`trace list --tag keep --jsonl | trace delete --ids-from - --yes`."""
    listed = cli("trace", "list", "--all", "--jsonl", "--tag", "keep").stdout
    result = cli("trace", "delete", "--ids-from", "-", "--yes", input=listed)
    assert result.exit_code == 0, result.stderr
    assert result.stderr.startswith("deleted 2 traces (and 3 tags)")
    assert stored(cli) == sorted([five[0], five[2], five[3]])


@pytest.fixture
def failing_tag_delete(db_url: str) -> Iterator[None]:
    """A trigger that refuses to delete the tag `boom` (so a cascade fails half-way)."""
    if db_url.startswith("sqlite"):
        with sqlite3.connect(db_url.removeprefix("sqlite:///")) as conn:
            conn.execute(
                "CREATE TRIGGER boom BEFORE DELETE ON trace_tags WHEN old.tag = 'boom' "
                "BEGIN SELECT RAISE(ABORT, 'refused by a test trigger'); END"
            )
        yield
        return
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF OLD.tag = 'boom' THEN RAISE EXCEPTION 'refused by a test trigger'; END IF; "
            "RETURN OLD; END $$"
        )
        conn.execute(
            "CREATE TRIGGER boom BEFORE DELETE ON trace_tags FOR EACH ROW EXECUTE FUNCTION boom()"
        )
    try:
        yield
    finally:
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("DROP TRIGGER boom ON trace_tags")
            conn.execute("DROP FUNCTION boom()")


def test_a_failing_delete_leaves_everything(
    cli: Cli, five: list[str], failing_tag_delete: None
) -> None:
    """One transaction: when deleting one trace's tags fails, no trace and no tag is gone."""
    assert cli("trace", "tag", "add", "boom", five[3]).exit_code == 0
    result = cli("trace", "delete", "--all", "--yes")
    assert result.exit_code == 1
    assert "refused by a test trigger" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert stored(cli) == sorted(five)
    assert tag_counts(cli) == {"boom": 1, "junk": 2, "keep": 2}


def test_traces_held_by_a_dataset_need_force(cli: Cli, five: list[str], tmp_path: Path) -> None:
    """A trace a frozen dataset holds is not deleted unless --force (the datasets hook)."""
    (tmp_path / "held").write_text(five[0] + "\n")
    built = cli("dataset", "build", "held-by-delete-test", "--ids-from", str(tmp_path / "held"))
    assert built.exit_code == 0, built.stderr
    try:
        refused = cli("trace", "delete", "--tag", "junk", "--yes")
        assert refused.exit_code == 1
        assert "a frozen dataset holds 1 of the 2 selected traces: nothing deleted" in (
            refused.stderr
        )
        assert stored(cli) == sorted(five)
        shown = cli("trace", "delete", "--tag", "junk", "--dry-run")
        assert "note: a frozen dataset holds 1 of them (deleting needs --force)" in shown.stderr
        assert cli("trace", "delete", five[2], "--yes").exit_code == 0  # not held: no --force
        forced = cli("trace", "delete", "--tag", "junk", "--yes", "--force")
        assert forced.exit_code == 0, forced.stderr
        assert stored(cli) == sorted([five[3], five[4]])
    finally:
        cli("dataset", "delete", "held-by-delete-test", "--yes")


def test_count_shown_is_count_deleted(cli: Cli, db_url: str, tmp_path: Path) -> None:
    """A trace uploaded while the question is open, matching the filter, is not deleted
    unseen: SQLite's upload waits for the delete's write lock; PostgreSQL's commits at once
    and is not on the delete's list."""
    upload(cli, tmp_path, [make_trace(n) for n in range(3)])
    late = write_jsonl(tmp_path / "late.jsonl", [make_trace(99)])
    term = Pty(["--db", db_url, "trace", "delete", "--since", "1d"])
    term.read_until(b"[y/N]")
    with subprocess.Popen(
        [*TUNIX, "--db", db_url, "trace", "upload", str(late)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as uploader:
        assert uploader.stderr is not None
        if db_url.startswith("sqlite"):
            assert b"another process is writing" in uploader.stderr.readline()
        else:
            assert uploader.wait(timeout=120) == 0
        term.answer("y")
        code, _, err = term.finish()
        assert uploader.wait(timeout=120) == 0
        assert uploader.stdout is not None
        (late_id,) = uploader.stdout.read().decode().split()
    assert code == 0
    assert "about to delete 3 traces" in err
    assert "deleted 3 traces" in err
    assert stored(cli) == [late_id]


def _sqlite_file(tmp_path: Path) -> tuple[str, Path]:
    path = tmp_path / "space.db"
    return f"sqlite:///{path}", path


def _size(path: Path) -> int:
    """The database file and its write-ahead log (gone once the last connection closed)."""
    wal = Path(f"{path}-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def test_vacuum_gives_the_space_back(tmp_path: Path) -> None:
    """SQLite: without --vacuum it says how much is free; with it the file shrinks."""
    url, path = _sqlite_file(tmp_path)
    big = [make_trace(n, prompt=f"{n} " + "x" * 4000) for n in range(1000)]
    file = write_jsonl(tmp_path / "big.jsonl", big)
    assert invoke(["--db", url, "trace", "upload", str(file), "-q"]).exit_code == 0
    keep = invoke(["--db", url, "trace", "delete", "--all", "--yes", "--json"])
    assert keep.exit_code == 0, keep.stderr
    free = keep.json()["reclaimable_bytes"]
    assert free > 3_000_000
    assert "of the database file is free space now" in keep.stderr
    assert "--vacuum gives it back to the disk" in keep.stderr
    size = _size(path)
    assert invoke(["--db", url, "trace", "upload", str(file), "-q"]).exit_code == 0
    vac = invoke(["--db", url, "trace", "delete", "--all", "--yes", "--vacuum", "--json"])
    assert vac.exit_code == 0, vac.stderr
    before, after = vac.json()["file_bytes"]["before"], vac.json()["file_bytes"]["after"]
    assert after < before - 3_000_000
    assert after < size
    assert _size(path) == after
    assert "vacuumed: the database file went from" in vac.stderr


def test_vacuum_with_nothing_selected_still_vacuums(tmp_path: Path) -> None:
    """--vacuum when the filter matches nothing gives back what an earlier delete freed."""
    url, _ = _sqlite_file(tmp_path)
    big = [make_trace(n, prompt="y" * 4000) for n in range(500)]
    file = write_jsonl(tmp_path / "big.jsonl", big)
    assert invoke(["--db", url, "trace", "upload", str(file), "-q"]).exit_code == 0
    assert invoke(["--db", url, "trace", "delete", "--all", "--yes"]).exit_code == 0
    vac = invoke(["--db", url, "trace", "delete", "--tag", "none", "--yes", "--vacuum", "--json"])
    assert vac.json()["deleted"] == 0
    before, after = vac.json()["file_bytes"]["before"], vac.json()["file_bytes"]["after"]
    assert after < before - 1_000_000


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_vacuum_on_postgresql_is_a_note(cli: Cli, db_url: str, five: list[str]) -> None:
    """PostgreSQL reuses freed space itself: --vacuum deletes and says so."""
    result = cli("trace", "delete", "--tag", "junk", "--yes", "--vacuum")
    assert result.exit_code == 0
    assert "note: --vacuum is for SQLite files" in result.stderr
    assert stored(cli) == sorted(five[2:])


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_search_while_another_catch_up_runs(cli: Cli, db_url: str, tmp_path: Path) -> None:
    """PostgreSQL, search index busy (another catch-up holds its lock): `-q` matches the
    unindexed traces on the delete's own connection, and the delete still works on it."""
    from tunix_rt.repositories.search import PG_LOCK_KEY

    ids = upload(cli, tmp_path, [make_trace(1), make_trace(2, prompt="Reverse the string")])
    with psycopg.connect(db_url, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (PG_LOCK_KEY,))
        tagged = cli("trace", "tag", "add", "rev", "-q", "reverse")
        assert tagged.exit_code == 0, tagged.stderr
        assert tagged.stderr == "tagged 1 trace with rev\n"
        result = cli("trace", "delete", "-q", "reverse", "--yes")
        assert result.exit_code == 0, result.stderr
        assert result.stderr == "deleted 1 trace (and 1 tag)\n"
    assert stored(cli) == [ids[0]]


def _search_rows(db_url: str) -> int:
    sql = "SELECT count(*) FROM trace_search"
    if db_url.startswith("sqlite"):
        with sqlite3.connect(db_url.removeprefix("sqlite:///")) as conn:
            return int(conn.execute(sql).fetchone()[0])
    with psycopg.connect(db_url) as conn:
        row = conn.execute(sql).fetchone()
        assert row is not None
        return int(row[0])


def test_search_index_rows_go_with_their_traces(cli: Cli, db_url: str, five: list[str]) -> None:
    """Deleted traces leave nothing in the search index; a search afterwards finds the rest."""
    assert cli("trace", "list", "-q", "what").exit_code == 0  # the index catches up
    assert _search_rows(db_url) == 5
    assert cli("trace", "delete", "--tag", "junk", "--yes").exit_code == 0
    assert _search_rows(db_url) == 3
    found = cli("trace", "list", "--all", "--jsonl", "-q", "what is")
    assert sorted(json.loads(line)["id"] for line in found.lines()) == sorted(five[2:])
