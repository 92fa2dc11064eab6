"""Migrations: one head, a full up/down/up cycle on both databases, no model drift."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.util import CommandError
from sqlalchemy import create_engine, inspect

from tests.helpers import PG_ADMIN_URL, invoke
from tunix_rt.db import migrate
from tunix_rt.db.revisions import HEAD, SCHEMA_REVISIONS
from tunix_rt.settings import normalise_database_url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'm.db'}"
    if not PG_ADMIN_URL:
        pytest.skip("TUNIX_RT_TEST_POSTGRES_URL is not set")
    url: str = request.getfixturevalue("fresh_pg_url")
    return url


def _tables(url: str) -> set[str]:
    engine = create_engine(normalise_database_url(url))
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _indexes(url: str) -> set[str]:
    engine = create_engine(normalise_database_url(url))
    try:
        return {ix["name"] for ix in inspect(engine).get_indexes("traces") if ix["name"]}
    finally:
        engine.dispose()


def test_one_head_and_known_chain_matches() -> None:
    """Alembic has one head and its chain equals the revisions the runtime check knows."""
    script = migrate.script_directory()
    assert script.get_heads() == [HEAD]
    chain = [rev.revision for rev in script.walk_revisions()]
    assert tuple(reversed(chain)) == SCHEMA_REVISIONS


def test_upgrade_downgrade_upgrade(empty_db: str) -> None:
    """head -> base -> head works and leaves the expected tables and indexes."""
    assert invoke(["--db", empty_db, "db", "upgrade"]).exit_code == 0
    assert {"traces", "alembic_version"} <= _tables(empty_db)
    assert "ix_traces_created_at" in _indexes(empty_db)
    down = invoke(["--db", empty_db, "db", "downgrade", "base", "--yes"])
    assert down.exit_code == 0, down.stderr
    assert "traces" not in _tables(empty_db)
    assert invoke(["--db", empty_db, "db", "upgrade"]).exit_code == 0
    assert "traces" in _tables(empty_db)


def test_models_and_migrations_do_not_drift(empty_db: str) -> None:
    """`alembic check` finds nothing to autogenerate against a database at head."""
    invoke(["--db", empty_db, "db", "upgrade"])
    engine = create_engine(normalise_database_url(empty_db))
    try:
        cfg = migrate.alembic_config()
        with engine.connect() as conn:
            cfg.attributes["connection"] = conn
            command.check(cfg)  # raises on drift
    finally:
        engine.dispose()


def test_check_detects_drift(tmp_path: Path) -> None:
    """The drift check can fail: at the first revision the index is missing."""
    url = f"sqlite:///{tmp_path / 'd.db'}"
    invoke(["--db", url, "db", "upgrade", SCHEMA_REVISIONS[0]])
    engine = create_engine(url)
    try:
        cfg = migrate.alembic_config()
        with engine.connect() as conn:
            cfg.attributes["connection"] = conn
            with pytest.raises(CommandError):
                command.check(cfg)
    finally:
        engine.dispose()


def test_keyset_query_uses_the_index(tmp_path: Path) -> None:
    """The deep-page query is an index range scan, not a sort of the whole table."""
    import sqlite3

    url = f"sqlite:///{tmp_path / 'k.db'}"
    invoke(["--db", url, "db", "upgrade"])
    with sqlite3.connect(tmp_path / "k.db") as conn:
        plan = " ".join(
            str(row[3])
            for row in conn.execute(
                "EXPLAIN QUERY PLAN SELECT id FROM traces WHERE (created_at, id) < (?, ?) "
                "ORDER BY created_at DESC, id DESC LIMIT 21",
                ("2026-01-01 00:00:00.000000", "0" * 32),
            )
        )
    assert "ix_traces_created_at" in plan
    assert "TEMP B-TREE" not in plan
