"""`tunix-rt trace contamination --evalset FILE [filter]`: eval items leaking into traces.

A table (one row per matching trace, grouped by eval item) or `--json`; the summary on
stderr. Exit code 0 whatever was found (it is a report), 1 with `--fail` when anything was.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tunix_rt.cli._options import JsonFlag, tag_name, with_filter
from tunix_rt.cli._output import (
    count_traces,
    data_out,
    handle_errors,
    literal_text,
    say,
    stdout,
    write_json,
)
from tunix_rt.cli._state import state
from tunix_rt.filters import TraceFilter

if TYPE_CHECKING:
    from tunix_rt.services.contamination import Report

SHORT_ID = 8


def report_record(report: Report, evalset: str) -> dict[str, Any]:
    """The JSON shape of a report."""
    return {
        "evalset": evalset,
        "eval_items": len(report.items),
        "short_items": report.short_items,
        "checked": report.checked,
        "contaminated": report.contaminated,
        "items": [
            {
                "id": item.id,
                "prompt": item.prompt,
                "matches": [
                    {"trace": m.trace_id, "kind": m.kind, "prompt": m.prompt} for m in matches
                ],
            }
            for item, matches in report.found()
        ],
        "tag": report.tag,
        "tagged": report.tagged,
    }


def _render(report: Report) -> None:
    from rich.table import Table

    table = Table(header_style="bold")
    table.add_column("eval item", no_wrap=True, max_width=20, overflow="ellipsis")
    table.add_column("eval prompt", ratio=1, overflow="fold")
    table.add_column("match", no_wrap=True)
    table.add_column("trace", no_wrap=True)
    table.add_column("trace prompt", ratio=1, overflow="fold")
    for item, matches in report.found():
        for n, m in enumerate(matches):
            table.add_row(
                literal_text(item.id) if n == 0 else "",
                literal_text(" ".join(item.prompt.split())) if n == 0 else "",
                m.kind,
                m.trace_id[:SHORT_ID],
                literal_text(" ".join(m.prompt.split())),
                end_section=n == len(matches) - 1,
            )
    stdout().print(table)


@with_filter
@handle_errors
def contamination(
    ctx: typer.Context,
    evalset: Annotated[
        str,
        typer.Option(
            "--evalset",
            metavar="FILE",
            help="Eval items, one JSON object per line with id and prompt "
            "(evalset_v2.jsonl's format; .gz, a JSON array and - work too).",
            show_default=False,
        ),
    ],
    tag_as: Annotated[
        str | None,
        typer.Option(
            "--tag-as",
            metavar="TAG",
            callback=tag_name,
            help="Give TAG to every matching trace (then `dataset build --no-tag TAG`).",
            show_default=False,
        ),
    ] = None,
    fail_on_match: Annotated[
        bool, typer.Option("--fail", help="Exit 1 when any trace matches (for CI).")
    ] = False,
    as_json: JsonFlag = False,
    *,
    selection: TraceFilter,
) -> None:
    """Find traces whose prompt equals, contains or shares a word 8-gram with an eval item."""
    from tunix_rt.services import contamination as service

    data_out()
    settings = state(ctx).settings()
    stdin = sys.stdin.buffer if sys.stdin is not None else None
    items = service.load_evalset(evalset, max_bytes=settings.trace_max_bytes, stdin=stdin)
    with state(ctx).database() as db:
        report = service.check(db, items=items, selection=selection, tag=tag_as)
    if as_json:
        write_json(report_record(report, evalset))
    elif report.contaminated:
        _render(report)
    if not report.checked:
        say(
            f"no traces match: {selection.describe()}"
            if not selection.is_empty
            else "no traces yet"
        )
    else:
        found = len(report.matches)
        say(
            f"{found:,} of {len(report.items):,} eval items found in "
            f"{report.contaminated:,} of {count_traces(report.checked)}"
        )
    if report.tagged:
        say(f"tagged {count_traces(report.tagged)} with {tag_as}")
    if fail_on_match and report.contaminated:
        data_out().flush()
        raise typer.Exit(1)
