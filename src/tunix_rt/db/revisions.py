"""The schema revisions this tunix-rt knows, and a cheap at-head check.

Runtime commands must not import Alembic (it costs start-up time on every `trace list`), so
the revision chain is listed here, oldest first. `tests/test_migrations.py` asserts that it
equals the chain in `migrations/versions`, so a new migration cannot be forgotten here.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

SCHEMA_REVISIONS: tuple[str, ...] = (
    "8c7fc19a235e",
    "81321f8ddcd5",
    "bfd47cbe5af2",
    "39285fa4ba26",
    "0156b0cf5fc5",
    "e908cddca7f1",
    "d048f274c71d",
    "5c0e7a1b9d42",
    "b18039e10e3f",
)
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
