"""The schema revisions this tunix-rt knows, and a cheap at-head check.

Runtime commands must not import Alembic (it costs start-up time on every `trace list`), so
the revision chain is listed here, oldest first. `tests/test_migrations.py` asserts that it
equals the chain in `migrations/versions`, so a new migration cannot be forgotten here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text

from tunix_rt.db.engine import WRITE_OPTION, is_sqlite, sqlite_path, translate_errors
from tunix_rt.errors import SchemaMismatchError

SCHEMA_REVISIONS: tuple[str, ...] = ("8c7fc19a235e", "81321f8ddcd5")
HEAD = SCHEMA_REVISIONS[-1]
UPGRADE_HINT = "run `tunix-rt db upgrade`"


@dataclass(frozen=True)
class SchemaState:
    """What the database says about its schema revision."""

    revision: str | None  # None: no alembic_version table, or an empty one
    has_traces_table: bool

    @property
    def at_head(self) -> bool:
        return self.revision == HEAD

    @property
    def known(self) -> bool:
        return self.revision is None or self.revision in SCHEMA_REVISIONS


def _table_exists(conn: Connection, name: str) -> bool:
    if conn.dialect.name == "sqlite":
        query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :n"
    else:
        query = (
            "SELECT 1 FROM pg_catalog.pg_tables "
            "WHERE tablename = :n AND schemaname = ANY(current_schemas(false))"
        )
    return conn.execute(text(query), {"n": name}).first() is not None


def read_state(conn: Connection) -> SchemaState:
    revision: str | None = None
    if _table_exists(conn, "alembic_version"):
        rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        revision = rows[0] if len(rows) == 1 else None
    return SchemaState(revision=revision, has_traces_table=_table_exists(conn, "traces"))


def describe_revision(revision: str | None) -> str:
    return revision if revision is not None else "base (empty)"


def older_tool_message(revision: str | None) -> str:
    return (
        f"database schema is at {describe_revision(revision)}, which this tunix-rt does not "
        "know: this tunix-rt is older than the database; upgrade tunix-rt "
        "(pip install -U tunix-rt)"
    )


def behind_message(revision: str | None) -> str:
    return (
        f"database schema is at {describe_revision(revision)}, this tunix-rt needs {HEAD}: "
        f"{UPGRADE_HINT}"
    )


def ensure_schema(engine: Engine, url: str, note: Callable[[str], None]) -> None:
    """Stop unless the schema is at head; bring a SQLite file there on the way.

    A SQLite file is personal, so it is created and migrated automatically (`note` is told
    when an existing file is migrated). A server database is shared by a team and is only
    migrated by `tunix-rt db upgrade`.
    """
    with translate_errors(url), engine.connect() as conn:
        state = read_state(conn)
    if state.at_head:
        return
    if state.revision is None and state.has_traces_table:
        raise SchemaMismatchError(
            "database has a traces table but no schema version (alembic_version): "
            "run `tunix-rt db doctor`"
        )
    if not state.known:
        raise SchemaMismatchError(older_tool_message(state.revision))
    if not is_sqlite(url):
        raise SchemaMismatchError(behind_message(state.revision))
    from tunix_rt.db import migrate

    with translate_errors(url):
        migrate.upgrade(engine, "head")
    if state.revision is not None or state.has_traces_table:
        path = sqlite_path(url)
        note(f"migrated {path} from {describe_revision(state.revision)} to {HEAD}")


def writing(conn: Connection) -> Connection:
    """Mark a connection as a writer (SQLite takes the write lock at BEGIN)."""
    return conn.execution_options(**{WRITE_OPTION: True})
