"""`tunix-rt db ...` and the schema checks every other command makes."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import psycopg
import pytest

from tests.helpers import invoke, make_trace, write_jsonl
from tunix_rt.db.revisions import HEAD, SCHEMA_REVISIONS


def test_help_lists_trace_and_db() -> None:
    """`tunix-rt --help` lists the trace and db command groups."""
    result = invoke(["--help"])
    assert result.exit_code == 0
    assert "trace" in result.stdout
    assert "db" in result.stdout


def test_version_flag() -> None:
    """`--version` prints the version."""
    assert invoke(["--version"]).stdout.startswith("tunix-rt ")


def test_upgrade_current_history_downgrade(db_url: str) -> None:
    """upgrade reaches head; current says so; history marks it; downgrade --yes steps back."""
    assert invoke(["--db", db_url, "db", "upgrade"]).exit_code == 0
    current = invoke(["--db", db_url, "db", "current", "--json"]).json()
    assert current == {"revision": HEAD, "head": HEAD, "at_head": True}
    assert f"{HEAD} (head)" in invoke(["--db", db_url, "db", "current"]).stdout
    history = invoke(["--db", db_url, "db", "history", "--json"]).json()
    assert [h["revision"] for h in history] == list(reversed(SCHEMA_REVISIONS))
    assert history[0]["head"]
    assert history[0]["current"]
    assert HEAD in invoke(["--db", db_url, "db", "history"]).stdout
    down = invoke(["--db", db_url, "db", "downgrade", "--yes"])
    assert down.exit_code == 0, down.stderr
    assert f"downgraded {HEAD} -> {SCHEMA_REVISIONS[-2]}" in down.stderr
    behind = invoke(["--db", db_url, "db", "current"]).stdout
    assert f"{SCHEMA_REVISIONS[-2]} (behind head {HEAD})" in behind
    up = invoke(["--db", db_url, "db", "upgrade"])
    assert f"upgraded {SCHEMA_REVISIONS[-2]} -> {HEAD}" in up.stderr
    again = invoke(["--db", db_url, "db", "upgrade"])
    assert "already at" in again.stderr


def test_downgrade_asks_for_confirmation(db_url: str) -> None:
    """Without --yes, downgrade asks; answering no changes nothing."""
    invoke(["--db", db_url, "db", "upgrade"])
    result = invoke(["--db", db_url, "db", "downgrade"], input="n\n")
    assert result.exit_code == 1
    assert "aborted" in result.stderr
    assert invoke(["--db", db_url, "db", "current", "--json"]).json()["at_head"]


def test_downgrade_at_base_is_clear(tmp_path: Path) -> None:
    """Downgrading an empty database says there is nothing to downgrade."""
    result = invoke(["--db", f"sqlite:///{tmp_path / 'e.db'}", "db", "downgrade", "--yes"])
    assert result.exit_code == 1
    assert "nothing to downgrade" in result.stderr


def test_upgrade_to_unknown_revision_is_one_line(tmp_path: Path) -> None:
    """An unknown target revision is an error, not a traceback."""
    result = invoke(["--db", f"sqlite:///{tmp_path / 'e.db'}", "db", "upgrade", "nope"])
    assert result.exit_code == 1
    assert "cannot upgrade to nope" in result.stderr


def test_sqlite_behind_is_migrated_with_a_note(tmp_path: Path) -> None:
    """An existing SQLite file behind head is upgraded on use, with a note on stderr."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    assert invoke(["--db", url, "db", "upgrade", SCHEMA_REVISIONS[0]]).exit_code == 0
    result = invoke(["--db", url, "trace", "list"])
    assert result.exit_code == 0
    assert f"migrated {tmp_path / 'old.db'} from {SCHEMA_REVISIONS[0]} to {HEAD}" in result.stderr
    quiet = invoke(["--db", url, "trace", "list"])
    assert "migrated" not in quiet.stderr


def test_new_sqlite_file_created_without_note(tmp_path: Path) -> None:
    """A brand-new SQLite file is created at head silently."""
    result = invoke(["--db", f"sqlite:///{tmp_path / 'new.db'}", "trace", "list"])
    assert result.exit_code == 0
    assert "migrated" not in result.stderr


def test_sqlite_in_missing_directory(tmp_path: Path) -> None:
    """A SQLite path in a directory that does not exist is a one-line error."""
    result = invoke(["--db", f"sqlite:///{tmp_path / 'nope' / 'x.db'}", "trace", "list"])
    assert result.exit_code == 1
    assert "does not exist" in result.stderr


def test_garbage_sqlite_file(tmp_path: Path) -> None:
    """A file that is not a SQLite database is named as such."""
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not a database at all" * 100)
    result = invoke(["--db", f"sqlite:///{bad}", "trace", "list"])
    assert result.exit_code == 1
    assert "is not a SQLite database" in result.stderr


def _stamp(db_url: str, revision: str) -> None:
    if db_url.startswith("sqlite"):
        with sqlite3.connect(db_url.removeprefix("sqlite:///")) as conn:
            conn.execute("UPDATE alembic_version SET version_num = ?", (revision,))
    else:
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("UPDATE alembic_version SET version_num = %s", (revision,))


def test_schema_ahead_says_tool_is_older(db_url: str) -> None:
    """A database stamped with an unknown (future) revision is refused on both databases."""
    invoke(["--db", db_url, "db", "upgrade"])
    _stamp(db_url, "ffffffffffff")
    try:
        result = invoke(["--db", db_url, "trace", "list"])
        assert result.exit_code == 1
        assert "this tunix-rt is older than the database" in result.stderr
        assert invoke(["--db", db_url, "db", "upgrade"]).exit_code == 1
    finally:
        _stamp(db_url, HEAD)


def test_postgres_behind_is_not_migrated(fresh_pg_url: str) -> None:
    """A PostgreSQL database behind head stops commands and says to run db upgrade."""
    empty = invoke(["--db", fresh_pg_url, "trace", "list"])
    assert empty.exit_code == 1
    assert (
        f"database schema is at base (empty), this tunix-rt needs {HEAD}: "
        "run `tunix-rt db upgrade`" in empty.stderr
    )
    invoke(["--db", fresh_pg_url, "db", "upgrade", SCHEMA_REVISIONS[0]])
    behind = invoke(["--db", fresh_pg_url, "trace", "show", "abc"])
    assert f"database schema is at {SCHEMA_REVISIONS[0]}" in behind.stderr
    assert (
        invoke(["--db", fresh_pg_url, "db", "current", "--json"]).json()["revision"]
        == (SCHEMA_REVISIONS[0])
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_postgres_down_is_one_line_without_password(tmp_path: Path) -> None:
    """An unreachable server gives one line, no traceback, and never the password."""
    url = f"postgresql://u:s3cret@127.0.0.1:{_closed_port()}/x"
    path = write_jsonl(tmp_path / "t.jsonl", [make_trace()])
    for args in (["trace", "list"], ["trace", "upload", str(path)], ["db", "upgrade"]):
        result = invoke(["--db", url, *args])
        assert result.exit_code == 1
        assert result.stderr.startswith("error: cannot use database postgresql+psycopg://u:***@")
        assert "s3cret" not in result.stderr + result.stdout
        assert "Traceback" not in result.stderr


@pytest.mark.postgres
def test_tables_without_version_table_refused(fresh_pg_url: str) -> None:
    """A traces table with no alembic_version is refused with a pointer to db doctor."""
    with psycopg.connect(fresh_pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE traces (id int)")
    result = invoke(["--db", fresh_pg_url, "trace", "list"])
    assert result.exit_code == 1
    assert "no schema version" in result.stderr
