"""Shared fixtures: an isolated environment per test and real databases.

Every test runs with no `TUNIX_RT_*` variables, a private HOME/XDG data directory and an empty
working directory. `db_url` is parametrized over a SQLite file and, when
`TUNIX_RT_TEST_POSTGRES_URL` is set, a PostgreSQL database created for this test run (migrated
once with the real migrations, emptied before each test, dropped at the end).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from tunix_rt.cli import app

PG_ADMIN_URL = os.environ.get("TUNIX_RT_TEST_POSTGRES_URL")
REQUIRE_PG = os.environ.get("TUNIX_RT_TEST_REQUIRE_POSTGRES") == "1"
DATA = Path(__file__).parent / "data"


def pytest_configure(config: pytest.Config) -> None:
    if REQUIRE_PG and not PG_ADMIN_URL:
        raise pytest.UsageError(
            "TUNIX_RT_TEST_REQUIRE_POSTGRES=1 but TUNIX_RT_TEST_POSTGRES_URL is not set"
        )


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def pg_url_for(dbname: str) -> str:
    assert PG_ADMIN_URL
    base, _, _ = _libpq(PG_ADMIN_URL).rpartition("/")
    return f"{base}/{dbname}"


def pg_admin(sql: str) -> None:
    assert PG_ADMIN_URL
    with psycopg.connect(_libpq(PG_ADMIN_URL), autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def create_pg_database() -> tuple[str, str]:
    name = f"tunix_rt_test_{uuid.uuid4().hex[:12]}"
    pg_admin(f'CREATE DATABASE "{name}"')
    return name, pg_url_for(name)


def drop_pg_database(name: str) -> None:
    pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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
        conn.execute("TRUNCATE traces")
    return url


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def lines(self) -> list[str]:
        return self.stdout.splitlines()


Cli = Callable[..., Run]


def invoke(args: list[str], input: str | bytes | None = None) -> Run:
    result = CliRunner().invoke(app, args, input=input, catch_exceptions=False)
    return Run(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def cli(db_url: str) -> Cli:
    """Run tunix-rt against the test database: cli("trace", "list", input=...)."""

    def run(*args: str, input: str | bytes | None = None) -> Run:
        return invoke(["--db", db_url, *args], input=input)

    return run


def make_trace(n: int = 0, **overrides: Any) -> dict[str, Any]:
    trace: dict[str, Any] = {
        "trace_version": "1.0",
        "prompt": f"What is {n} + {n}?",
        "final_answer": str(2 * n),
        "steps": [
            {"i": 0, "type": "parse", "content": f"Add {n} to itself"},
            {"i": 1, "type": "compute", "content": f"{n} + {n} = {2 * n}"},
        ],
        "meta": {"source": "test"},
    }
    trace.update(overrides)
    return trace


def write_jsonl(path: Path, records: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path
