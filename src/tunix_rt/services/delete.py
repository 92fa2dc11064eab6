"""Delete the traces a selection names, in one transaction, after showing what will go.

Order of work, all inside ONE transaction:

1. Begin as a writer: on SQLite that takes the write lock (BEGIN IMMEDIATE) before anything
   is counted, so no other writer can add or change a trace until this one ends.
2. Resolve the selection and write down the selected traces (`repositories.selected`); on
   PostgreSQL they are locked (FOR UPDATE), so no other client can delete or tag them
   meanwhile. A trace uploaded after this point is not on the list and is never deleted
   unseen: the count shown is the count deleted.
3. Count them and their tags, ask the datasets hook (`held_by_datasets`), read the first few.
4. Ask `confirm` (the CLI asks on a terminal; `--yes` answers for the user). A dry run, an
   empty selection or a "no" roll back.
5. Delete them. Their tags (`trace_tags`) and search-index rows (`trace_search`, and on
   SQLite its FTS5 entries, by that table's trigger) go by ON DELETE CASCADE: nothing else
   to call, and nothing left behind for a later search to trip on.
6. Commit. On SQLite, then VACUUM (when asked) or measure the space that could be reclaimed.

The confirmation is asked while the transaction is open: on SQLite other writers wait (up to
their busy timeout) while the user decides; readers are never blocked.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, Connection

from tunix_rt.db.database import Database
from tunix_rt.db.engine import describe_db_error, sqlite_path, translate_errors, writing
from tunix_rt.errors import TunixRtError
from tunix_rt.filters import TraceFilter
from tunix_rt.records import TraceRow
from tunix_rt.repositories import selected as chosen
from tunix_rt.repositories import space
from tunix_rt.repositories import tags as tag_repo
from tunix_rt.repositories import traces as trace_repo
from tunix_rt.services import selection as select

PREVIEW = 5  # traces shown before asking
# SQLite page cache for the delete: every deleted trace touches a random page of the id and
# content_hash indexes; with the 2 MiB default, dirty pages spill to the log again and again
# (100,000 of 1,000,000 traces: about 10 s at the default, 7.5 s at 64 MiB; the memory is a
# bound, taken only as pages are read, as for upload).
DELETE_CACHE_KIB = 65_536
DATASET_MEMBERS = "dataset_traces"  # models.DatasetTrace: one row per (dataset, trace)


class HeldByDatasetError(TunixRtError):
    """Some selected traces belong to a frozen dataset and `force` was not given."""


@dataclass(frozen=True)
class Plan:
    """What a delete is about to do: shown before asking, and the exact count it deletes."""

    selected: int
    tags: int
    held: int  # of `selected`, held by a frozen dataset
    first: list[TraceRow]  # newest first, at most PREVIEW
    description: str  # the selection in words (`TraceFilter.describe`)


@dataclass
class DeleteResult:
    plan: Plan
    deleted: int = 0
    committed: bool = False
    dry_run: bool = False
    confirmed: bool = False
    sqlite: bool = False
    reclaimable_bytes: int | None = None  # SQLite, without vacuum: free pages in the file
    file_bytes: tuple[int, int] | None = None  # SQLite, with vacuum: size before and after
    vacuum_error: str | None = field(default=None)


Confirm = Callable[[Plan], bool]


def held_by_datasets(conn: Connection, ids_condition: ColumnElement[bool]) -> int:
    """How many of the traces `ids_condition` selects a frozen dataset holds.

    A dataset records its traces in DATASET_MEMBERS (`models.DatasetTrace`, one row per
    trace and dataset); on a database not yet upgraded to it no trace is held and this
    returns 0. `trace delete` refuses held traces unless `--force`; a forced delete leaves
    the member row (no foreign key), so `dataset export` names the trace as missing.
    """
    if not chosen.table_exists(conn=conn, name=DATASET_MEMBERS):
        return 0
    return chosen.count_referencing(
        conn=conn, table=DATASET_MEMBERS, column="trace_id", where=[ids_condition]
    )


def delete(
    db: Database,
    selection: TraceFilter,
    *,
    confirm: Confirm | None = None,
    dry_run: bool = False,
    force: bool = False,
    vacuum: bool = False,
) -> DeleteResult:
    """Delete the selected traces (see the module doc); `confirm` None means yes.

    An empty selection deletes nothing; the CLI refuses an empty *filter* (every trace)
    unless `--all`. Raises HeldByDatasetError (nothing deleted) when a frozen dataset holds
    a selected trace and not `force`.
    """
    with translate_errors(db.url), db.engine.connect() as plain:
        if plain.dialect.name == "sqlite":
            space.set_cache(conn=plain, kib=DELETE_CACHE_KIB)
        conn = writing(plain)
        with conn.begin() as tx:
            where = select.conditions(conn=conn, selection=selection)
            count = chosen.remember(conn=conn, where=where, lock=True)
            mine = chosen.condition(conn=conn)
            tags = held = 0
            first: list[TraceRow] = []
            if count:
                tags = tag_repo.count_on(conn=conn, where=[mine])
                held = held_by_datasets(conn, mine)
                shown = trace_repo.page(conn=conn, limit=PREVIEW, after=None, where=[mine])
                first = tag_repo.attach(conn=conn, rows=list(shown))
            plan = Plan(count, tags, held, first, selection.describe())
            result = DeleteResult(plan, dry_run=dry_run, sqlite=conn.dialect.name == "sqlite")
            if held and not force and not dry_run:
                raise HeldByDatasetError(
                    f"a frozen dataset holds {held:,} of the {count:,} selected traces: "
                    "nothing deleted (--force deletes them anyway)"
                )
            if count and not dry_run and (confirm is None or confirm(plan)):
                result.confirmed = True
                result.deleted = chosen.delete(conn=conn)
                chosen.forget(conn=conn)
            else:
                tx.rollback()
        result.committed = result.confirmed
        # VACUUM also runs when nothing matched: it gives back what an earlier delete freed.
        if result.sqlite and (result.confirmed or (vacuum and not count and not dry_run)):
            _sqlite_space(db, conn, result, vacuum=vacuum)
    return result


def _sqlite_space(db: Database, conn: Connection, result: DeleteResult, *, vacuum: bool) -> None:
    """After the commit: give the space back (VACUUM) or say how much could be."""
    if not vacuum:
        result.reclaimable_bytes = space.free_bytes(conn=conn)
        return
    path = sqlite_path(db.url)
    before = space.file_bytes(path)
    try:
        space.vacuum(conn=conn)
    except sqlite3.Error as exc:  # the deletion stands; say why the space did not come back
        result.vacuum_error = describe_db_error(exc, db.url)
        return
    result.file_bytes = (before, space.file_bytes(path))
