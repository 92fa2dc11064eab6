"""`tunix-rt db doctor`: each broken setup is produced for real and named.

Every test also asserts that the password in the URL appears in no output.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.helpers import DATA, PG_ADMIN_URL, Run, invoke, pg_admin
from tunix_rt.db.revisions import HEAD, SCHEMA_REVISIONS

SECRET = "s3cret-Pa55"


def with_password(url: str) -> str:
    """The same libpq URL with a password (ignored by trust auth, but it must never leak)."""
    scheme, rest = url.split("://", 1)
    userinfo, at, hostpart = rest.rpartition("@")
    user = userinfo.split(":")[0] if at else "postgres"
    return f"{scheme}://{user}:{SECRET}@{hostpart}"


def doctor(url: str, *extra: str) -> tuple[Run, dict[str, Any]]:
    result = invoke(["--db", url, "db", "doctor", "--json", *extra])
    assert SECRET not in result.stdout + result.stderr
    report = result.json()
    assert report["ok"] is (result.exit_code == 0)
    return result, {c["name"]: c for c in report["checks"]}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def healthy_sqlite(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'ok.db'}"
    assert invoke(["--db", url, "trace", "upload", str(DATA / "e2e_ingest.jsonl")]).exit_code == 0
    return url


@pytest.fixture
def healthy_pg(fresh_pg_url: str) -> str:
    url = with_password(fresh_pg_url)
    assert invoke(["--db", url, "db", "upgrade"]).exit_code == 0
    assert invoke(["--db", url, "trace", "upload", str(DATA / "e2e_ingest.jsonl")]).exit_code == 0
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def healthy(request: pytest.FixtureRequest) -> str:
    name = "healthy_sqlite" if request.param == "sqlite" else "healthy_pg"
    url: str = request.getfixturevalue(name)
    return url


def raw_sql(url: str, sql: str) -> None:
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            conn.execute(sql)
    else:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]


def test_healthy_database_all_ok(healthy: str) -> None:
    """A healthy database passes every check and exits 0."""
    result, checks = doctor(healthy)
    assert result.exit_code == 0
    assert {c["status"] for c in checks.values()} == {"ok"}
    assert list(checks) == [
        "settings", "connection", "server", "migrations", "schema", "access", "data", "latency",
    ]  # fmt: skip
    assert "3 traces" in checks["data"]["detail"]


def test_healthy_table_output(healthy_sqlite: str) -> None:
    """The human view is a table and ends with "healthy" on stderr."""
    result = invoke(["--db", healthy_sqlite, "db", "doctor"])
    assert result.exit_code == 0
    assert "migrations" in result.stdout
    assert "healthy" in result.stderr


def test_default_database_not_created_yet_is_a_warning() -> None:
    """A fresh install (no default file yet) warns, exits 0 and creates nothing."""
    result = invoke(["db", "doctor", "--json"])
    assert result.exit_code == 0
    checks = {c["name"]: c for c in result.json()["checks"]}
    assert checks["connection"]["status"] == "warn"
    assert checks["migrations"]["status"] == "skipped"
    assert not list(Path(os.environ["XDG_DATA_HOME"]).glob("**/*.db"))


def test_server_not_listening() -> None:
    """A closed port: connection fails fast, says not reachable on that port, no password."""
    port = closed_port()
    start = time.monotonic()
    result, checks = doctor(f"postgresql://u:{SECRET}@127.0.0.1:{port}/x")
    assert time.monotonic() - start < 5
    assert result.exit_code == 1
    assert f"not reachable on 127.0.0.1:{port}" in checks["connection"]["detail"]
    assert "start PostgreSQL" in checks["connection"]["fix"]
    assert checks["server"]["status"] == "skipped"


def test_invalid_setting_is_a_failed_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad TUNIX_RT_* value fails the settings check instead of crashing."""
    monkeypatch.setenv("TUNIX_RT_DB_POOL_SIZE", "500")
    result = invoke(["db", "doctor", "--json"])
    assert result.exit_code == 1
    checks = {c["name"]: c for c in result.json()["checks"]}
    assert "TUNIX_RT_DB_POOL_SIZE=500" in checks["settings"]["detail"]
    assert checks["latency"]["status"] == "skipped"


@pytest.mark.postgres
def test_database_missing(fresh_pg_url: str) -> None:
    """A database that does not exist is named with the createdb command that fixes it."""
    url = with_password(fresh_pg_url.rsplit("/", 1)[0] + "/no_such_db_here")
    result, checks = doctor(url)
    assert result.exit_code == 1
    assert "'no_such_db_here' does not exist" in checks["connection"]["detail"]
    assert "createdb" in checks["connection"]["fix"]


def _initdb() -> str | None:
    # Debian keeps the real binaries here (a wrapper on PATH may not accept -D).
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return found[-1] if found else shutil.which("initdb")


@dataclass
class PasswordServer:
    port: int
    sql: Callable[[str], None]  # run SQL as the superuser


@pytest.fixture(scope="module")
def password_server() -> Iterator[PasswordServer]:
    """A second, real PostgreSQL server that requires passwords (the main one trusts all)."""
    initdb = _initdb()
    if not PG_ADMIN_URL or initdb is None or os.geteuid() != 0:
        pytest.skip("needs PostgreSQL server binaries and root (to run them as postgres)")
    # Not under pytest's tmp_path: the postgres user must be able to reach it.
    base = Path(tempfile.mkdtemp(prefix="tunix-rt-pgpw-"))
    os.chmod(base, 0o777)
    data = base / "data"
    bindir = Path(initdb).parent
    as_pg = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*as_pg, initdb, "-D", str(data), "-U", "postgres", "--auth-local=trust",
         "--auth-host=scram-sha-256"],
        check=True, capture_output=True, cwd=base,
    )  # fmt: skip
    port = closed_port()
    opts = f"-p {port} -k {base} -c listen_addresses=127.0.0.1"
    subprocess.run(
        # -l: the server must not inherit our pipes, or run() waits for it forever.
        [*as_pg, str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(base / "log"),
         "-w", "-t", "30", "start"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=base,
    )  # fmt: skip

    def sql(statement: str) -> None:
        subprocess.run(
            [*as_pg, str(bindir / "psql"), "-v", "ON_ERROR_STOP=1", "-h", str(base),
             "-p", str(port), "-d", "postgres"],
            input=statement, text=True, check=True, capture_output=True, cwd=base,
        )  # fmt: skip

    try:
        sql("CREATE ROLE alice LOGIN PASSWORD 'right-password'")
        yield PasswordServer(port, sql)
    finally:
        subprocess.run(
            [*as_pg, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            check=False, capture_output=True, cwd=base,
        )  # fmt: skip
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.postgres
def test_wrong_password(password_server: PasswordServer) -> None:
    """A wrong password is classified as an authentication failure, and never printed."""
    port = password_server.port
    result, checks = doctor(f"postgresql://alice:{SECRET}@127.0.0.1:{port}/postgres")
    assert result.exit_code == 1
    assert "authentication failed for user 'alice'" in checks["connection"]["detail"]


# Every character that has a meaning in a URL or in libpq's conninfo quoting.
HOSTILE = "s3cret-p@ss/w:rd?#% é'\"\\&x=1"


@pytest.mark.postgres
def test_hostile_password_works_and_is_never_printed(
    password_server: PasswordServer, tmp_path: Path
) -> None:
    """A password with / @ : ? # % space ' " \\ & = connects as written, raw, in the URL.

    Every command, config and the doctor run against a server that checks the password;
    none of them prints it or a piece of it. A wrong one is an authentication failure.
    """
    literal = HOSTILE.replace("'", "''")
    password_server.sql(f"CREATE ROLE bob LOGIN PASSWORD '{literal}'")
    password_server.sql("CREATE DATABASE bobdb OWNER bob")
    port = password_server.port
    url = f"postgresql://bob:{HOSTILE}@127.0.0.1:{port}/bobdb"
    runs = [
        invoke(["--db", url, "db", "upgrade"]),
        invoke(["--db", url, "trace", "upload", str(DATA / "e2e_ingest.jsonl")]),
        invoke(["--db", url, "trace", "list"]),
        invoke(["--db", url, "db", "current"]),
        invoke(["--db", url, "config"]),
        invoke(["--db", url, "config", "--json"]),
        invoke(["--db", url, "db", "doctor"]),
        invoke(["--db", url, "db", "downgrade", "--yes"]),
    ]
    assert [r.exit_code for r in runs] == [0] * len(runs), [r.stderr for r in runs]
    assert runs[5].json()["settings"][0]["value"] == (
        f"postgresql+psycopg://bob:***@127.0.0.1:{port}/bobdb"
    )
    result, checks = doctor(url.replace("s3cret", "s3cret-wrong"))
    assert "authentication failed for user 'bob'" in checks["connection"]["detail"]
    wrong = invoke(["--db", url.replace("s3cret", "s3cret-wrong"), "trace", "list"])
    assert wrong.exit_code == 1
    assert 'password authentication failed for user "bob"' in wrong.stderr
    for run in [*runs, result, wrong]:
        for piece in ("s3cret", "p@ss", "w:rd", "%40", "&x=1"):
            assert piece not in run.stdout + run.stderr


@pytest.mark.postgres
def test_role_without_write_permission(healthy_pg: str) -> None:
    """A read-only role passes the earlier checks and fails access, with the GRANT."""
    role = f"ro_{os.getpid()}"
    pg_admin(f"DROP ROLE IF EXISTS {role}")
    pg_admin(f"CREATE ROLE {role} LOGIN")
    raw_sql(healthy_pg, f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    try:
        url = healthy_pg.replace("postgresql://postgres:", f"postgresql://{role}:")
        result, checks = doctor(url)
        assert result.exit_code == 1
        assert checks["migrations"]["status"] == "ok"
        assert checks["access"]["status"] == "fail"
        assert "permission denied" in checks["access"]["detail"]
        assert (
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON traces TO {role}" in checks["access"]["fix"]
        )
    finally:
        raw_sql(healthy_pg, f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}")
        pg_admin(f"DROP ROLE IF EXISTS {role}")


def test_garbage_sqlite_file(tmp_path: Path) -> None:
    """Garbage bytes are not a SQLite database: connection fails with a way out."""
    bad = tmp_path / "garbage.db"
    bad.write_bytes(os.urandom(8192))
    result, checks = doctor(f"sqlite:///{bad}")
    assert result.exit_code == 1
    assert "is not a SQLite database" in checks["connection"]["detail"]
    assert "mv " in checks["connection"]["fix"]


def test_sqlite_in_missing_directory(tmp_path: Path) -> None:
    """A SQLite path whose directory is missing fails with the mkdir that fixes it."""
    result, checks = doctor(f"sqlite:///{tmp_path / 'missing' / 'x.db'}")
    assert result.exit_code == 1
    assert "does not exist" in checks["connection"]["detail"]
    assert "mkdir -p" in checks["connection"]["fix"]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "empty.db"
        sqlite3.connect(path).close()
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("fresh_pg_url")
    return with_password(url)


def test_empty_database(empty_url: str) -> None:
    """An empty database fails the migrations check with `tunix-rt db upgrade`."""
    result, checks = doctor(empty_url)
    assert result.exit_code == 1
    assert "empty" in checks["migrations"]["detail"]
    assert "tunix-rt db upgrade" in checks["migrations"]["fix"]
    assert checks["schema"]["status"] == "skipped"


def test_schema_behind_head(empty_url: str) -> None:
    """At the first revision only: behind, listing the pending revisions."""
    invoke(["--db", empty_url, "db", "upgrade", SCHEMA_REVISIONS[0]])
    result, checks = doctor(empty_url)
    assert result.exit_code == 1
    assert f"behind: at {SCHEMA_REVISIONS[0]}" in checks["migrations"]["detail"]
    assert HEAD in checks["migrations"]["detail"]
    assert "tunix-rt db upgrade" in checks["migrations"]["fix"]


def test_schema_ahead(healthy: str) -> None:
    """An unknown future revision: the database is newer than this tunix-rt."""
    raw_sql(healthy, "UPDATE alembic_version SET version_num = 'abcdef123456'")
    result, checks = doctor(healthy)
    assert result.exit_code == 1
    assert "newer than this tunix-rt" in checks["migrations"]["detail"]
    assert "pip install -U tunix-rt" in checks["migrations"]["fix"]


def test_tables_without_version_table(healthy: str) -> None:
    """traces present but alembic_version dropped is named as such."""
    raw_sql(healthy, "DROP TABLE alembic_version")
    result, checks = doctor(healthy)
    assert result.exit_code == 1
    assert "no alembic_version table" in checks["migrations"]["detail"]


def test_dropped_index_is_a_warning(healthy: str) -> None:
    """Dropping ix_traces_created_at warns (exit 0) and gives the CREATE INDEX."""
    raw_sql(healthy, "DROP INDEX ix_traces_created_at")
    result, checks = doctor(healthy)
    assert result.exit_code == 0
    assert checks["schema"]["status"] == "warn"
    assert "ix_traces_created_at" in checks["schema"]["detail"]
    assert "CREATE INDEX ix_traces_created_at ON traces (created_at, id)" in checks["schema"]["fix"]


def test_dropped_column_is_drift(healthy_sqlite: str) -> None:
    """A table that no longer matches the models (extra column) fails the schema check."""
    raw_sql(healthy_sqlite, "ALTER TABLE traces ADD COLUMN surprise INTEGER")
    result, checks = doctor(healthy_sqlite)
    assert result.exit_code == 1
    assert "surprise" in checks["schema"]["detail"]


def test_tampered_payload_found_with_deep(healthy: str) -> None:
    """A payload changed by raw SQL no longer validates: --deep finds it."""
    tampered = '{"trace_version": "1.0", "prompt": "", "final_answer": "x", "steps": []}'
    raw_sql(healthy, f"UPDATE traces SET payload = '{tampered}'")
    result, checks = doctor(healthy, "--deep")
    assert result.exit_code == 1
    assert "3 of 3 checked traces are damaged" in checks["data"]["detail"]
    assert "trace show" in checks["data"]["fix"]


def test_hash_mismatch_found(healthy: str) -> None:
    """A valid payload whose stored content_hash is wrong is damaged too."""
    raw_sql(healthy, "UPDATE traces SET content_hash = upper(content_hash)")
    result, checks = doctor(healthy)
    assert result.exit_code == 1
    assert "content_hash does not match" in checks["data"]["detail"]


def test_unknown_host() -> None:
    """A host name that does not resolve is named, with the fix; no crash, no password."""
    result, checks = doctor(f"postgresql://u:{SECRET}@no-such-host.invalid:5432/x")
    assert result.exit_code == 1
    assert checks["connection"]["detail"].startswith("unknown host 'no-such-host.invalid'")
    assert "host name" in checks["connection"]["fix"]


@pytest.mark.postgres
def test_role_missing(fresh_pg_url: str) -> None:
    """A user that does not exist on the server is named, with createuser."""
    host = fresh_pg_url.split("@", 1)[1]
    result, checks = doctor(f"postgresql://nobody_here:{SECRET}@{host}")
    assert result.exit_code == 1
    assert "user 'nobody_here' does not exist" in checks["connection"]["detail"]
    assert "createuser" in checks["connection"]["fix"]


def test_truncated_sqlite_file(healthy_sqlite: str, tmp_path: Path) -> None:
    """A file cut short is damaged: connection fails with a way out, later checks skipped."""
    good = Path(healthy_sqlite.removeprefix("sqlite:///"))
    cut = tmp_path / "cut.db"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    result, checks = doctor(f"sqlite:///{cut}")
    assert result.exit_code == 1
    assert checks["connection"]["detail"] == f"{cut} is damaged (database disk image is malformed)"
    assert "from a backup" in checks["connection"]["fix"]
    assert checks["server"]["status"] == "skipped"


@pytest.mark.parametrize("mode", ["wal-writer", "exclusive"])
def test_sqlite_locked_by_another_process(healthy_sqlite: str, mode: str) -> None:
    """Another process holding the lock: the check that needs it fails in seconds, saying so."""
    path = Path(healthy_sqlite.removeprefix("sqlite:///"))
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        if mode == "exclusive":  # a rollback journal: even readers are locked out
            holder.execute("PRAGMA journal_mode=DELETE")
            holder.execute("BEGIN EXCLUSIVE")
        else:  # WAL: readers go on, the write probe waits
            holder.execute("BEGIN IMMEDIATE")
        start = time.monotonic()
        result, checks = doctor(healthy_sqlite)
        assert time.monotonic() - start < 20
    finally:
        holder.close()
    failed = "connection" if mode == "exclusive" else "access"
    assert result.exit_code == 1
    assert (
        checks[failed]["detail"] == f"{path} is locked by another process (still locked after 3 s)"
    )
    assert f"fuser {path}" in checks[failed]["fix"]


def test_read_only_sqlite_file(healthy_sqlite: str) -> None:
    """For a user who may not write the file, connection fails with the chmod (a real process)."""
    path = Path(healthy_sqlite.removeprefix("sqlite:///"))
    path.chmod(0o444)
    prefix: list[str] = []
    if os.geteuid() == 0:
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
        works = shutil.which("setpriv") and subprocess.run([*prefix, "true"], check=False)
        if not works or works.returncode:  # pragma: no cover - needs util-linux and CAP_SETPCAP
            pytest.skip("needs setpriv to drop root's power to write any file")
    proc = subprocess.run(
        [*prefix, sys.executable, "-m", "tunix_rt", "--db", healthy_sqlite, "db", "doctor",
         "--json"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 1
    checks = {c["name"]: c for c in json.loads(proc.stdout)["checks"]}
    assert checks["connection"]["detail"] == f"{path} or its directory is not writable by this user"
    assert f"chmod u+w {path}" in checks["connection"]["fix"]


def test_output_to_a_full_disk_is_one_line(healthy_sqlite: str) -> None:
    """The report cannot be written (stdout is /dev/full): one line on stderr, exit 1."""
    if not os.path.exists("/dev/full"):  # pragma: no cover - Linux has /dev/full
        pytest.skip("no /dev/full here")
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "tunix_rt", "--db", healthy_sqlite, "db", "doctor"],
            stdout=full, stderr=subprocess.PIPE, text=True, check=False, timeout=60,
        )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr == "error: No space left on device\n"


def test_no_server_on_the_local_socket(tmp_path: Path) -> None:
    """A URL without a host means the Unix socket; nothing listening there is named as such."""
    result, checks = doctor(f"postgresql://u:{SECRET}@/x?host={tmp_path}")
    assert result.exit_code == 1
    assert checks["connection"]["detail"].startswith("no PostgreSQL server on the local socket")
    assert "put the server's host in the URL" in checks["connection"]["fix"]
