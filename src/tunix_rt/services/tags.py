"""Tags: add or remove one tag on the traces a selection names; count every tag.

A selection is positional ids (or unique prefixes), `--ids-from`, filter options, or any mix:
all the ids given (positional and `--ids-from` together), AND every filter option, as a
filter means everywhere else. Each change is one transaction: the selected traces are
written down first (`repositories.selected`), so "N selected, M changed" describe the same
rows even while other clients write (on SQLite the write lock is taken before the count).
"""

from __future__ import annotations

from dataclasses import dataclass

from tunix_rt.db.database import Database
from tunix_rt.db.engine import translate_errors, writing
from tunix_rt.filters import TraceFilter
from tunix_rt.repositories import selected as chosen
from tunix_rt.repositories import tags as repo
from tunix_rt.services import selection as select


@dataclass(frozen=True)
class TagChange:
    """What `add` or `remove` did: `changed` of the `selected` traces gained (or lost) the tag;
    the others already had it (or did not have it)."""

    tag: str
    selected: int
    changed: int

    @property
    def unchanged(self) -> int:
        return self.selected - self.changed


def _change(db: Database, tag: str, selection: TraceFilter, *, adding: bool) -> TagChange:
    with translate_errors(db.url), db.engine.connect() as plain:
        conn = writing(plain)
        with conn.begin():
            where = select.conditions(conn=conn, selection=selection)
            count = chosen.remember(conn=conn, where=where)
            changed = 0
            if count:
                mine = [chosen.condition(conn=conn)]
                if adding:
                    changed = repo.add(conn=conn, tag=tag, where=mine)
                else:
                    changed = repo.remove(conn=conn, tag=tag, where=mine)
            chosen.forget(conn=conn)
    return TagChange(tag, count, changed)


def add(db: Database, tag: str, selection: TraceFilter) -> TagChange:
    """Give `tag` (a valid name: `filters.parse_tag`) to every selected trace."""
    return _change(db, tag, selection, adding=True)


def remove(db: Database, tag: str, selection: TraceFilter) -> TagChange:
    """Take `tag` off every selected trace."""
    return _change(db, tag, selection, adding=False)


def counts(db: Database, selection: TraceFilter | None = None) -> list[tuple[str, int]]:
    """Every tag with its number of traces (of the selected ones), by name."""
    with translate_errors(db.url), db.engine.connect() as conn:
        where = select.conditions(conn=conn, selection=selection or TraceFilter())
        return repo.counts(conn=conn, where=where)
