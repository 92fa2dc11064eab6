"""`tunix-rt db ...` and the schema checks every other command makes."""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.helpers import (
    DATA,
    PG_ADMIN_URL,
    Run,
    create_pg_database,
    drop_pg_database,
    invoke,
    make_trace,
    pg_url_for,
    write_jsonl,
)
from tunix_rt.db.migrate import MIGRATION_LOCK_KEY
from tunix_rt.db.revisions import HEAD, SCHEMA_REVISIONS

TUNIX = [sys.executable, "-m", "tunix_rt"]
DATA_FILE = DATA / "e2e_ingest.jsonl"


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


@pytest.mark.parametrize("revision", ["", "head+1", "heads+1", "@", "head@", "nope", " "])
@pytest.mark.parametrize("action", ["upgrade", "downgrade"])
def test_malformed_target_revision_is_one_line(db_url: str, action: str, revision: str) -> None:
    """Targets Alembic cannot resolve (some it answers with a bare assertion) are one line."""
    assert invoke(["--db", db_url, "db", "upgrade"]).exit_code == 0
    args = ["--db", db_url, "db", action, revision] + (["--yes"] if action == "downgrade" else [])
    result = invoke(args)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: cannot {action} to ")
    assert result.stderr.endswith("(see `tunix-rt db history`)\n")
    assert result.stderr.count("\n") == 1
    assert invoke(["--db", db_url, "db", "current", "--json"]).json()["at_head"]


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


def _every_command(tmp_path: Path) -> list[list[str]]:
    traces = str(write_jsonl(tmp_path / "t.jsonl", [make_trace()]))
    return [
        ["trace", "list"],
        ["trace", "upload", traces],
        ["trace", "show", "abc"],
        ["db", "upgrade"],
        ["db", "downgrade", "--yes"],
        ["db", "current"],
        ["db", "history"],
    ]


def _one_line(result: Run, start: str) -> None:
    __tracebackhide__ = True
    assert result.exit_code == 1, result.stdout
    assert result.stderr.startswith(start), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert "s3cret" not in result.stderr + result.stdout


def test_postgres_down_is_one_line_without_password(tmp_path: Path) -> None:
    """An unreachable server gives one line, no traceback, and never the password."""
    url = f"postgresql://u:s3cret@127.0.0.1:{_closed_port()}/x"
    for args in _every_command(tmp_path):
        result = invoke(["--db", url, *args])
        _one_line(result, "error: cannot use database postgresql+psycopg://u:***@")
        assert "Connection refused" in result.stderr


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("target", "refusal"),
    [
        ("postgresql://no_such_role_tunix:s3cret@{host}/postgres", 'role "no_such_role_tunix"'),
        ("postgresql://postgres:s3cret@{host}/no_such_db_tunix", 'database "no_such_db_tunix"'),
        ("postgresql://postgres:s3cret@no-such-host.invalid/x", "failed to resolve host"),
    ],
    ids=["unknown-role", "unknown-database", "unknown-host"],
)
def test_postgres_refusing_is_one_line(tmp_path: Path, target: str, refusal: str) -> None:
    """A server that answers but refuses (role, database) or a host that does not resolve."""
    host = pg_url_for("x").split("@")[-1].rsplit("/", 1)[0]
    url = target.format(host=host)
    for args in _every_command(tmp_path):
        result = invoke(["--db", url, *args])
        _one_line(result, "error: cannot use database postgresql+psycopg://")
        assert refusal in result.stderr


# --- concurrent migrations -----------------------------------------------------------------


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*TUNIX, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _outcomes(procs: list[subprocess.Popen[str]]) -> list[str]:
    """The last stderr line of each process (all must succeed), sorted."""
    finals = []
    for proc in procs:
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        lines = err.splitlines()
        waiting = (
            "note: another tunix-rt is migrating this database: waiting for it to finish",
            "note: another process is writing to ",  # SQLite: the write lock
        )
        assert all(line.startswith(waiting) for line in lines[:-1]), err
        finals.append(lines[-1])
    return sorted(finals)


@pytest.mark.postgres
@pytest.mark.slow
def test_concurrent_upgrades_of_a_fresh_postgres_database() -> None:
    """Two `db upgrade` at once: one migrates, the other waits, then finds nothing to do.

    Without the advisory lock both would create the tables and one would fail with a
    duplicate table or a unique violation in pg_type.
    """
    if not PG_ADMIN_URL:
        pytest.skip("TUNIX_RT_TEST_POSTGRES_URL is not set")
    for _ in range(4):
        name, url = create_pg_database()
        try:
            procs = [_start("--db", url, "db", "upgrade") for _ in range(2)]
            assert _outcomes(procs) == [
                f"already at {HEAD}: nothing to do",
                f"upgraded base (empty) -> {HEAD}",
            ]
            assert invoke(["--db", url, "db", "current", "--json"]).json()["at_head"]
        finally:
            drop_pg_database(name)


@pytest.mark.postgres
def test_upgrade_waits_for_the_migration_lock(fresh_pg_url: str) -> None:
    """While another session holds the lock, upgrade says it waits, then does the work."""
    with psycopg.connect(fresh_pg_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        proc = _start("--db", fresh_pg_url, "db", "upgrade")
        assert proc.stderr is not None
        first = proc.stderr.readline()
        assert first == (
            "note: another tunix-rt is migrating this database: waiting for it to finish\n"
        )
        assert proc.poll() is None  # still waiting
        holder.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
        _out, rest = proc.communicate(timeout=120)
    assert proc.returncode == 0, rest
    assert rest == f"upgraded base (empty) -> {HEAD}\n"
    # the lock is released when the upgrade ends
    with psycopg.connect(fresh_pg_url, autocommit=True) as conn:
        got = conn.execute("SELECT pg_try_advisory_lock(%s)", (MIGRATION_LOCK_KEY,)).fetchone()
        assert got == (True,)


@pytest.mark.postgres
def test_downgrade_stops_if_the_schema_moved_while_it_waited(fresh_pg_url: str) -> None:
    """The confirmed downgrade is from the revision the user saw, or nothing happens."""
    assert invoke(["--db", fresh_pg_url, "db", "upgrade"]).exit_code == 0
    with psycopg.connect(fresh_pg_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        proc = _start("--db", fresh_pg_url, "db", "downgrade", "--yes")
        assert proc.stderr is not None
        assert proc.stderr.readline().startswith("note: another tunix-rt is migrating")
        # meanwhile, another process downgrades one step
        holder.execute("UPDATE alembic_version SET version_num = %s", (SCHEMA_REVISIONS[-2],))
        holder.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
        _out, rest = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert rest == (
        "error: the database schema changed while this command waited: it is now at "
        f"{SCHEMA_REVISIONS[-2]}, not {HEAD}; nothing changed: run the command again\n"
    )
    current = invoke(["--db", fresh_pg_url, "db", "current", "--json"]).json()
    assert current["revision"] == SCHEMA_REVISIONS[-2]


def test_sqlite_migration_waits_for_another_writer(tmp_path: Path) -> None:
    """A SQLite migration waits for a writer (an upload may hold the lock for minutes) and says so.

    The usual 30 s busy timeout would fail with "locked for too long" behind a long upload.
    """
    db = tmp_path / "w.db"
    url = f"sqlite:///{db}"
    assert invoke(["--db", url, "db", "upgrade", SCHEMA_REVISIONS[0]]).exit_code == 0
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        proc = _start("--db", url, "db", "upgrade")
        assert proc.stderr is not None
        first = proc.stderr.readline()
        assert proc.poll() is None  # still waiting
        holder.execute("COMMIT")
        _out, rest = proc.communicate(timeout=120)
    finally:
        holder.close()
    assert first == (
        f"note: another process is writing to {db}: waiting for it to finish (up to 10 minutes)\n"
    )
    assert proc.returncode == 0, rest
    assert rest == f"upgraded {SCHEMA_REVISIONS[0]} -> {HEAD}\n"


@pytest.mark.slow
def test_concurrent_first_use_of_a_new_sqlite_file(tmp_path: Path) -> None:
    """Two commands creating the same new SQLite file at once both succeed, migrated once."""
    a = write_jsonl(tmp_path / "a.jsonl", [make_trace(1)])
    b = write_jsonl(tmp_path / "b.jsonl", [make_trace(2)])
    for i in range(3):
        url = f"sqlite:///{tmp_path / f'new{i}.db'}"
        procs = [_start("--db", url, "trace", "upload", str(p)) for p in (a, b)]
        assert _outcomes(procs) == ["stored 1, duplicates 0"] * 2
        assert len(invoke(["--db", url, "trace", "list", "--json"]).json()["data"]) == 2
        url = f"sqlite:///{tmp_path / f'up{i}.db'}"
        procs = [_start("--db", url, "db", "upgrade") for _ in range(2)]
        assert _outcomes(procs) == [
            f"already at {HEAD}: nothing to do",
            f"upgraded base (empty) -> {HEAD}",
        ]


# --- SQLite files that cannot be used -------------------------------------------------------


def test_truncated_sqlite_file(tmp_path: Path) -> None:
    """A file cut short (a copy interrupted) is damaged: one line pointing at db doctor."""
    good = tmp_path / "good.db"
    url = f"sqlite:///{good}"
    assert invoke(["--db", url, "trace", "upload", str(DATA_FILE)]).exit_code == 0
    for size in (100, 4096, good.stat().st_size // 2):
        cut = tmp_path / f"cut{size}.db"
        cut.write_bytes(good.read_bytes()[:size])
        for args in _every_command(tmp_path):
            result = invoke(["--db", f"sqlite:///{cut}", *args])
            _one_line(result, f"error: sqlite:///{cut} is damaged (database disk image is")
            assert "run `tunix-rt db doctor`" in result.stderr


def _unprivileged() -> list[str]:
    """A command prefix that takes root's power to write any file away (none when not root)."""
    if os.geteuid() != 0:
        return []
    prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
    works = shutil.which("setpriv") and subprocess.run([*prefix, "true"], check=False)
    if not works or works.returncode:  # pragma: no cover - needs util-linux and CAP_SETPCAP
        pytest.skip("needs setpriv to drop root's power to read and write any file")
    return prefix


def test_read_only_sqlite_file(tmp_path: Path) -> None:
    """Reading a read-only file works; writing to it, or migrating it, is one line."""
    db = tmp_path / "ro.db"
    url = f"sqlite:///{db}"
    assert invoke(["--db", url, "db", "upgrade", SCHEMA_REVISIONS[0]]).exit_code == 0
    behind = tmp_path / "behind.db"
    shutil.copy(db, behind)
    assert invoke(["--db", url, "db", "upgrade"]).exit_code == 0
    new = write_jsonl(tmp_path / "t.jsonl", [make_trace(7)])
    db.chmod(0o444)
    behind.chmod(0o444)
    prefix = _unprivileged()

    def run(target: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*prefix, *TUNIX, "--db", f"sqlite:///{target}", *args],
            capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip

    assert run(db, "trace", "list", "--json").returncode == 0
    for target, args in ((db, ("trace", "upload", str(new))), (behind, ("trace", "list"))):
        proc = run(target, *args)
        assert proc.returncode == 1
        assert proc.stderr == (
            f"error: cannot write to sqlite:///{target}: the file or its directory is "
            "read-only for this user\n"
        )


@pytest.mark.postgres
def test_tables_without_version_table_refused(fresh_pg_url: str) -> None:
    """A traces table with no alembic_version is refused with a pointer to db doctor."""
    with psycopg.connect(fresh_pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE traces (id int)")
    result = invoke(["--db", fresh_pg_url, "trace", "list"])
    assert result.exit_code == 1
    assert "no schema version" in result.stderr
