"""Shared test helpers: running the CLI, making traces, PostgreSQL databases per test run."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from typer.testing import CliRunner

from tunix_rt.cli import app

PG_ADMIN_URL = os.environ.get("TUNIX_RT_TEST_POSTGRES_URL")
REQUIRE_PG = os.environ.get("TUNIX_RT_TEST_REQUIRE_POSTGRES") == "1"
DATA = Path(__file__).parent / "data" / "shared"  # copies of ../shared/data, nothing else


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


def query_rows(db_url: str, sql: str) -> list[tuple[Any, ...]]:
    """Rows of `sql` read straight from the database (SQLite file or PostgreSQL), no tunix-rt."""
    if db_url.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(db_url.removeprefix("sqlite:///")) as conn:
            return list(conn.execute(sql).fetchall())
    with psycopg.connect(_libpq(db_url)) as pg:
        return list(pg.execute(sql).fetchall())  # type: ignore[call-overload]
