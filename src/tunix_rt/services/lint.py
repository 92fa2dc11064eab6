"""`trace lint`: the lint rules (`tunix_rt.lint`) over stored traces or over files.

Findings are handed to `emit` as they are found, so a store of millions streams in constant
memory (only the ids of offending traces are kept, to tag them).

Stored traces are read newest first, as `trace list` shows them. With a tag, the whole run is
one write transaction: the selected traces are written down first (`repositories.selected`;
on PostgreSQL that also keeps them from being deleted meanwhile), linted, and the offenders
tagged before the commit, so the tag marks exactly the traces this run judged.

Files are read with upload's readers and checked with upload's validator first: a record that
upload would refuse is reported with upload's wording (rule `invalid`), a valid one is linted.
A record that is a stored record (`trace list --jsonl`) is linted by its payload, and its
pointers start with `/payload`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

from tunix_rt import lint as rules
from tunix_rt.db.database import Database
from tunix_rt.db.engine import translate_errors, writing
from tunix_rt.filters import TraceFilter
from tunix_rt.ingest.readers import Location, expand_inputs, read_records
from tunix_rt.ingest.validate import check
from tunix_rt.repositories import selected as chosen
from tunix_rt.repositories import tags as tag_repo
from tunix_rt.repositories import traces as repo
from tunix_rt.services import selection as select


@dataclass(frozen=True, slots=True)
class Located:
    """A finding and what it is about: a stored trace (its id) or a record in a file."""

    finding: rules.Finding
    trace_id: str | None = None
    location: Location | None = None

    @property
    def where(self) -> str:
        return self.trace_id if self.trace_id is not None else str(self.location)


Emit = Callable[[Located], None]


@dataclass
class Summary:
    """What a lint run found. `offenders` are the traces (or records) with a finding of the
    `fail_on` severity or worse: they make the exit code 1 and get the tag."""

    checked: int = 0
    with_findings: int = 0
    offenders: int = 0
    counts: dict[rules.Severity, int] = field(
        default_factory=lambda: dict.fromkeys(rules.SEVERITIES, 0)
    )
    tag: str | None = None
    tagged: int = 0

    def add(self, findings: list[rules.Finding], fail_on: rules.Severity) -> bool:
        """Count one trace's findings; True when it is an offender."""
        self.checked += 1
        if not findings:
            return False
        self.with_findings += 1
        limit = rules.SEVERITIES.index(fail_on)
        offends = False
        for f in findings:
            self.counts[f.severity] += 1
            offends = offends or rules.SEVERITIES.index(f.severity) <= limit
        self.offenders += offends
        return offends


def lint_stored(
    db: Database,
    *,
    selection: TraceFilter,
    options: rules.Options,
    fail_on: rules.Severity,
    emit: Emit,
    tag: str | None = None,
) -> Summary:
    """Lint the selected stored traces; with `tag`, give it to every offender."""
    summary = Summary(tag=tag)
    lint = rules.lint
    with translate_errors(db.url), db.engine.connect() as conn:
        if tag is None:
            where = select.conditions(conn=conn, selection=selection)
            for row in repo.page(conn=conn, limit=None, after=None, where=where):
                findings = lint(row.payload, options)
                summary.add(findings, fail_on)
                ident = str(row.id)
                for f in findings:
                    emit(Located(f, trace_id=ident))
            return summary
        writer = writing(conn)
        with writer.begin():
            where = select.conditions(conn=writer, selection=selection)
            offenders = []
            if chosen.remember(conn=writer, where=where):
                mine = [chosen.condition(conn=writer)]
                for row in repo.page(conn=writer, limit=None, after=None, where=mine):
                    findings = lint(row.payload, options)
                    if summary.add(findings, fail_on):
                        offenders.append(row.id)
                    ident = str(row.id)
                    for f in findings:
                        emit(Located(f, trace_id=ident))
                tag_repo.add_pairs(conn=writer, pairs=[(ident, tag) for ident in offenders])
            chosen.forget(conn=writer)
        summary.tagged = len(offenders)
    return summary


def lint_files(
    sources: list[str],
    *,
    stdin: IO[bytes] | None,
    max_bytes: int,
    options: rules.Options,
    fail_on: rules.Severity,
    emit: Emit,
) -> Summary:
    """Lint every record of files, folders and `-` (as `trace upload` reads them)."""
    summary = Summary()
    lint = rules.lint
    for source in expand_inputs(sources):
        for raw in read_records(source, stdin, max_bytes=max_bytes):
            outcome = check(raw, max_bytes)
            if isinstance(outcome, list):
                findings = [rules.invalid(e.field, e.message) for e in outcome]
            elif "payload" in raw.value:
                findings = lint(raw.value["payload"], options, prefix="/payload")
            else:
                findings = lint(raw.value, options)
            summary.add(findings, fail_on)
            for f in findings:
                emit(Located(f, location=raw.location))
    return summary
