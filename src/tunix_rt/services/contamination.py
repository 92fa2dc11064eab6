"""`trace contamination`: which stored traces' prompts leak which items of an eval set.

The eval file is read and checked before the database is opened (a bad file is one line
naming FILE:LINE); the matching rules are in `tunix_rt.contamination`. Traces are read newest
first, as `trace list` shows them, so each item's matches come in that order. With a tag, the
run is one write transaction (like `trace lint --tag-as`): the selected traces are written
down, checked, and the matching ones tagged before the commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO

from sqlalchemy import ColumnElement, Connection

from tunix_rt.contamination import EvalFileError, EvalItem, Kind, Matcher, parse_items
from tunix_rt.db.database import Database
from tunix_rt.db.engine import translate_errors, writing
from tunix_rt.errors import InvalidInputError
from tunix_rt.filters import TraceFilter
from tunix_rt.ingest.readers import read_records, shown_name
from tunix_rt.repositories import selected as chosen
from tunix_rt.repositories import tags as tag_repo
from tunix_rt.repositories import traces as repo
from tunix_rt.services import selection as select


def load_evalset(path: str, *, max_bytes: int, stdin: IO[bytes] | None = None) -> list[EvalItem]:
    """The items of an eval file (JSON Lines, a JSON array, `.gz`, or `-`); one error naming
    FILE:LINE when it cannot be used."""
    try:
        items = parse_items(read_records(path, stdin, max_bytes=max_bytes))
    except (EvalFileError, InvalidInputError) as exc:
        raise InvalidInputError(f"eval set {exc}") from None
    if not items:
        raise InvalidInputError(f"eval set {shown_name(path)}: no eval items in it")
    return items


@dataclass(frozen=True, slots=True)
class TraceMatch:
    trace_id: str
    kind: Kind
    prompt: str


@dataclass
class Report:
    items: list[EvalItem]
    short_items: int
    checked: int = 0
    matches: dict[int, list[TraceMatch]] = field(default_factory=dict)  # item index -> traces
    contaminated: int = 0  # traces that match at least one item
    tag: str | None = None
    tagged: int = 0

    def found(self) -> list[tuple[EvalItem, list[TraceMatch]]]:
        """Each item that some trace matches, in eval-file order, with its traces."""
        return [(self.items[n], self.matches[n]) for n in sorted(self.matches)]


def _run(
    conn: Connection, where: Sequence[ColumnElement[bool]], matcher: Matcher, report: Report
) -> list[uuid.UUID]:
    """Match every trace `where` selects; the ids of those that match something."""
    hits: list[uuid.UUID] = []
    match = matcher.match
    matches = report.matches
    for row in repo.page(conn=conn, limit=None, after=None, where=where):
        report.checked += 1
        prompt = row.payload["prompt"]
        found = match(prompt)
        if found:
            hits.append(row.id)
            ident = str(row.id)
            for m in found:
                matches.setdefault(m.item, []).append(TraceMatch(ident, m.kind, prompt))
    report.contaminated = len(hits)
    return hits


def check(
    db: Database, *, items: list[EvalItem], selection: TraceFilter, tag: str | None = None
) -> Report:
    """Match the selected traces' prompts against `items`; with `tag`, tag the matches."""
    matcher = Matcher(items)
    report = Report(items, matcher.short_count, tag=tag)
    with translate_errors(db.url), db.engine.connect() as conn:
        if tag is None:
            _run(conn, select.conditions(conn=conn, selection=selection), matcher, report)
            return report
        writer = writing(conn)
        with writer.begin():
            where = select.conditions(conn=writer, selection=selection)
            if chosen.remember(conn=writer, where=where):
                hits = _run(writer, [chosen.condition(conn=writer)], matcher, report)
                tag_repo.add_pairs(conn=writer, pairs=[(ident, tag) for ident in hits])
                report.tagged = len(hits)
            chosen.forget(conn=writer)
    return report
