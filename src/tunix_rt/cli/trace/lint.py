"""`tunix-rt trace lint [FILE]... [filter]`: check traces before they reach a trainer.

Findings are data (stdout), one per line as compilers print them, `WHERE: POINTER: severity
[rule] message`; the summary is for people (stderr). Exit code 1 when a finding of the
`--fail-on` severity (error by default) or worse was found.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tunix_rt.cli._options import JsonFlag, tag_name, with_filter
from tunix_rt.cli._output import data_out, fail, handle_errors, literal, say, stdout, write_json
from tunix_rt.cli._state import state
from tunix_rt.filters import TraceFilter

if TYPE_CHECKING:
    from tunix_rt.services.lint import Located, Summary

SEVERITY_CHOICES = ("error", "warning", "info")


def _rule_ids(values: list[str] | None) -> list[str]:
    from tunix_rt.lint import RULES_BY_ID

    out = []
    for value in values or ():
        for part in value.split(","):
            rule = part.strip()
            if rule not in RULES_BY_ID:
                known = ", ".join(RULES_BY_ID)
                raise typer.BadParameter(
                    f"{rule!r} is not a rule; the rules are {known}", param_hint="'--ignore'"
                )
            out.append(rule)
    return out


def _severity(value: str) -> str:
    if value not in SEVERITY_CHOICES:
        raise typer.BadParameter(f"{value!r}: use error, warning or info")
    return value


def finding_record(item: Located) -> dict[str, Any]:
    """The JSON shape of one finding."""
    f = item.finding
    loc = item.location
    return {
        "trace": item.trace_id,
        "file": None if loc is None else loc.source,
        "line": None if loc is None else loc.line,
        "index": None if loc is None else loc.index,
        "rule": f.rule,
        "severity": f.severity,
        "pointer": f.pointer,
        "message": f.message,
    }


def finding_line(item: Located) -> str:
    """`WHERE: POINTER: severity[rule] message` (no pointer when it is the whole record)."""
    f = item.finding
    pointer = f"{f.pointer}: " if f.pointer else ""
    return literal(f"{item.where}: {pointer}{f.severity}[{f.rule}] {f.message}")


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 or word == 'info' else 's'}"


def summary_line(s: Summary, what: str) -> str:
    if not s.with_findings:
        return f"no findings in {_plural(s.checked, what)}"
    counts = ", ".join(_plural(n, sev) for sev, n in s.counts.items() if n)
    return f"{counts} in {s.with_findings:,} of {_plural(s.checked, what)}"


def _summary_record(s: Summary, fail_on: str) -> dict[str, Any]:
    return {
        "checked": s.checked,
        "with_findings": s.with_findings,
        "errors": s.counts["error"],
        "warnings": s.counts["warning"],
        "info": s.counts["info"],
        "fail_on": fail_on,
        "offenders": s.offenders,
        "tag": s.tag,
        "tagged": s.tagged,
    }


def _print_rules(as_json: bool) -> None:
    from rich.table import Table

    from tunix_rt.lint import RULES

    if as_json:
        write_json([{"id": r.id, "severity": r.severity, "summary": r.summary} for r in RULES])
        return
    data_out()
    table = Table(header_style="bold", box=None, pad_edge=False)
    table.add_column("rule", no_wrap=True)
    table.add_column("severity", no_wrap=True)
    table.add_column("what it finds")
    for r in RULES:
        table.add_row(r.id, r.severity, r.summary)
    stdout().print(table)


class _JsonStream:
    """`{"findings": [...], "summary": {...}}`, the findings written as they come."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, item: Located) -> None:
        import json

        out = data_out()
        out.write(('{"findings": [' if not self.count else ",") + "\n  ")
        out.write(json.dumps(finding_record(item), ensure_ascii=False))
        self.count += 1

    def close(self, summary: dict[str, Any]) -> None:
        import json

        out = data_out()
        out.write('{"findings": [' if not self.count else "\n")
        out.write('], "summary": ' + json.dumps(summary) + "}\n")


def _print_line(item: Located) -> None:
    out = data_out()
    out.write(finding_line(item))
    out.write("\n")


@with_filter
@handle_errors
def lint(
    ctx: typer.Context,
    files: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="FILE",
            help="Check these files, folders or - (stdin) instead of stored traces, before "
            "uploading them (the formats `trace upload` reads).",
            show_default=False,
        ),
    ] = None,
    list_rules: Annotated[
        bool, typer.Option("--rules", help="List the rules, their severities and what they find.")
    ] = False,
    max_chars: Annotated[
        int,
        typer.Option(
            "--max-chars",
            min=1,
            metavar="N",
            help="too-long: flag traces whose prompt, steps and final answer exceed N characters.",
        ),
    ] = 32_000,
    ignore: Annotated[
        list[str] | None,
        typer.Option(
            "--ignore",
            metavar="RULE",
            help="Do not report RULE (repeat, or separate with commas).",
            show_default=False,
        ),
    ] = None,
    fail_on: Annotated[
        str,
        typer.Option(
            "--fail-on",
            metavar="error|warning|info",
            callback=_severity,
            help="Exit 1 (and tag, with --tag-as) when a finding this severe or worse is found.",
        ),
    ] = "error",
    tag_as: Annotated[
        str | None,
        typer.Option(
            "--tag-as",
            metavar="TAG",
            callback=tag_name,
            help="Give TAG to every stored trace with a --fail-on finding (then `trace list "
            "--tag TAG`, `dataset build --no-tag TAG`).",
            show_default=False,
        ),
    ] = None,
    as_json: JsonFlag = False,
    *,
    selection: TraceFilter,
) -> None:
    """Check traces for chat-template breakers, broken tags, empty, repeated and looping steps,
    answers the reasoning never reaches, numbering gaps and length outliers."""
    from tunix_rt.lint import Options
    from tunix_rt.services import lint as service

    if list_rules:
        _print_rules(as_json)
        return
    ignored = frozenset(_rule_ids(ignore))
    if files and not selection.is_empty:
        raise fail("the filter options select stored traces: not with FILE arguments", code=2)
    if files and tag_as is not None:
        raise fail("--tag-as tags stored traces: it cannot be used with FILE arguments", code=2)
    options = Options(max_chars=max_chars, ignore=ignored)
    severity: Any = fail_on
    stream = _JsonStream() if as_json else None
    buffered: list[Located] = []
    # With a tag, print only after the commit: a reader that goes away must not undo it.
    emit = buffered.append if tag_as is not None else stream or _print_line
    data_out()
    if files:
        stdin = sys.stdin.buffer if sys.stdin is not None else None
        max_bytes = state(ctx).settings().trace_max_bytes
        summary = service.lint_files(
            files,
            stdin=stdin,
            max_bytes=max_bytes,
            options=options,
            fail_on=severity,
            emit=emit,
        )
        what = "record"
    else:
        with state(ctx).database() as db:
            summary = service.lint_stored(
                db, selection=selection, options=options, fail_on=severity, emit=emit, tag=tag_as
            )
        what = "trace"
    for item in buffered:
        (stream or _print_line)(item)
    if stream is not None:
        stream.close(_summary_record(summary, fail_on))
    if summary.checked:
        say(summary_line(summary, what))
    elif files:
        say("no records in the given input")
    else:
        say(
            f"no traces match: {selection.describe()}"
            if not selection.is_empty
            else "no traces yet"
        )
    if tag_as is not None and summary.tagged:
        say(f"tagged {_plural(summary.tagged, 'trace')} with {tag_as}")
    if summary.offenders:
        data_out().flush()
        raise typer.Exit(1)
