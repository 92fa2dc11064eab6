"""`tunix-rt db doctor`: each broken setup is produced for real and named.

Every test also asserts that the password in the URL appears in no output.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
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


@pytest.fixture(scope="module")
def password_server() -> Iterator[int]:
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
    try:
        subprocess.run(
            [*as_pg, str(bindir / "psql"), "-h", str(base), "-p", str(port), "-c",
             "CREATE ROLE alice LOGIN PASSWORD 'right-password'"],
            check=True, capture_output=True, cwd=base,
        )  # fmt: skip
        yield port
    finally:
        subprocess.run(
            [*as_pg, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            check=False, capture_output=True, cwd=base,
        )  # fmt: skip
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.postgres
def test_wrong_password(password_server: int) -> None:
    """A wrong password is classified as an authentication failure, and never printed."""
    result, checks = doctor(f"postgresql://alice:{SECRET}@127.0.0.1:{password_server}/postgres")
    assert result.exit_code == 1
    assert "authentication failed for user 'alice'" in checks["connection"]["detail"]


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
