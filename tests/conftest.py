"""Shared fixtures: an isolated environment per test and real databases.

Every test runs with no `TUNIX_RT_*` variables, a private HOME/XDG data directory and an empty
working directory. `db_url` is parametrized over a SQLite file and, when
`TUNIX_RT_TEST_POSTGRES_URL` is set, a PostgreSQL database created for this test run (migrated
once with the real migrations, emptied before each test, dropped at the end).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from tests.helpers import (
    PG_ADMIN_URL,
    REQUIRE_PG,
    Cli,
    Run,
    create_pg_database,
    drop_pg_database,
    invoke,
)
from tunix_rt.cli import app


def pytest_configure(config: pytest.Config) -> None:
    if REQUIRE_PG and not PG_ADMIN_URL:
        raise pytest.UsageError(
            "TUNIX_RT_TEST_REQUIRE_POSTGRES=1 but TUNIX_RT_TEST_POSTGRES_URL is not set"
        )


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No TUNIX_RT_* settings, a private home and data directory, an empty working dir."""
    for key in list(os.environ):
        if key.startswith("TUNIX_RT_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("COLUMNS", "160")  # Rich tables: wide enough to show whole prompts
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@pytest.fixture(scope="session")
def pg_session_db() -> Iterator[str]:
    if not PG_ADMIN_URL:
        pytest.skip("TUNIX_RT_TEST_POSTGRES_URL is not set")
    name, url = create_pg_database()
    try:
        result = CliRunner().invoke(app, ["--db", url, "db", "upgrade"])
        assert result.exit_code == 0, result.output
        yield url
    finally:
        drop_pg_database(name)


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    """A new, empty PostgreSQL database for this test only."""
    if not PG_ADMIN_URL:
        pytest.skip("TUNIX_RT_TEST_POSTGRES_URL is not set")
    name, url = create_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(name)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'traces.db'}"
    url: str = request.getfixturevalue("pg_session_db")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE traces CASCADE")
    return url


@pytest.fixture
def cli(db_url: str) -> Cli:
    """Run tunix-rt against the test database: cli("trace", "list", input=...)."""

    def run(*args: str, input: str | bytes | None = None) -> Run:
        return invoke(["--db", db_url, *args], input=input)

    return run
