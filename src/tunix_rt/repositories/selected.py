"""The traces a command chose, written down once inside its transaction.

Commands that change many traces (`trace tag add/rm`, `trace delete`) first copy the keys of
the traces their filter selects into a temporary table, then count, show and change exactly
those rows. Counting and changing the same WHERE twice would not be the same set on
PostgreSQL (READ COMMITTED sees a trace committed in between) and would evaluate a costly
filter (a JSON path, a search) twice.

The key is the row's `rowid` on SQLite (its table B-tree key: deleting by it needs no index
lookup; the caller holds the write lock, so no rowid moves) and `id` on PostgreSQL. The table
is dropped at commit on PostgreSQL (ON COMMIT DROP) and by `forget` on SQLite; a rollback
removes it on both.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Connection

from tunix_rt.models import Trace

traces = Trace.__table__  # type: ignore[attr-defined]
TEMP_NAME = "tunix_rt_selected"
COUNTED = {"preserve_rowcount": True}  # SQLAlchemy keeps an INSERT's row count only when asked


def _temp(dialect: str) -> sa.Table:
    if dialect == "sqlite":
        column = sa.Column("key", sa.Integer(), primary_key=True, autoincrement=False)
        return sa.Table(TEMP_NAME, sa.MetaData(), column, prefixes=["TEMPORARY"])
    return sa.Table(
        TEMP_NAME,
        sa.MetaData(),
        sa.Column("key", sa.Uuid(), primary_key=True),
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DROP",
    )


def _key(dialect: str) -> ColumnElement[object]:
    return sa.literal_column("traces.rowid") if dialect == "sqlite" else traces.c.id


def remember(*, conn: Connection, where: Sequence[ColumnElement[bool]], lock: bool = False) -> int:
    """Write down the traces `where` selects; return how many.

    On PostgreSQL the rows are locked until the transaction ends: FOR UPDATE with `lock`
    (they are about to be deleted), FOR KEY SHARE otherwise (no one deletes them while
    they are tagged). SQLite needs neither: the caller holds its write lock.
    """
    dialect = conn.dialect.name
    temp = _temp(dialect)
    temp.drop(conn, checkfirst=True)
    temp.create(conn)
    chosen = sa.select(_key(dialect)).select_from(traces).where(*where)
    if dialect == "postgresql":
        chosen = chosen.with_for_update(read=not lock, key_share=not lock, of=traces)
    stmt = sa.insert(temp).from_select(["key"], chosen)
    return int(conn.execute(stmt, execution_options=COUNTED).rowcount)


def condition(*, conn: Connection) -> ColumnElement[bool]:
    """`traces` rows that `remember` wrote down (for a WHERE on `traces`)."""
    dialect = conn.dialect.name
    temp = _temp(dialect)
    return _key(dialect).in_(sa.select(temp.c.key))


def delete(*, conn: Connection) -> int:
    """Delete the traces written down (their tags go with them: ON DELETE CASCADE)."""
    return int(conn.execute(sa.delete(traces).where(condition(conn=conn))).rowcount)


def forget(*, conn: Connection) -> None:
    """Drop the list (PostgreSQL drops it at commit anyway)."""
    _temp(conn.dialect.name).drop(conn, checkfirst=True)


def table_exists(*, conn: Connection, name: str) -> bool:
    if conn.dialect.name == "sqlite":
        query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name"
    else:
        query = "SELECT 1 WHERE to_regclass(:name) IS NOT NULL"
    return conn.execute(sa.text(query), {"name": name}).first() is not None


def count_referencing(
    *, conn: Connection, table: str, column: str, where: Sequence[ColumnElement[bool]]
) -> int:
    """How many of the traces `where` selects `table.column` names (each trace once)."""
    other = sa.table(table, sa.column(column, sa.Uuid()))
    held = sa.select(sa.func.count()).select_from(traces)
    held = held.where(sa.exists().where(other.c[column] == traces.c.id), *where)
    return int(conn.execute(held).scalar_one())
