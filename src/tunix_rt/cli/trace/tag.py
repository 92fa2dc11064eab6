"""`tunix-rt trace tag add|rm TAG [ID]... [filter]` and `tunix-rt trace tags`.

Tags are curation labels (their own table; never part of a trace's content or hash). A
command picks traces by ids or unique prefixes, by the filter options, or both (the ids that
the filter selects); with neither it is a usage error, `--all` tags every trace.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from tunix_rt.cli._options import JsonFlag, JsonlFlag, TraceIds, tag_name, target, with_filter
from tunix_rt.cli._output import (
    count_traces,
    emit_rows,
    handle_errors,
    output_format,
    say,
    write_json,
)
from tunix_rt.cli._state import state
from tunix_rt.filters import TraceFilter

if TYPE_CHECKING:
    from tunix_rt.services.tags import TagChange

app = typer.Typer(
    help="Add or remove a tag on traces chosen by id, by filter, or both.",
    no_args_is_help=True,
)


Tag = Annotated[
    str,
    typer.Argument(
        metavar="TAG",
        help="1..64 characters: lower-case letters, digits and . _ : / = + -",
        callback=tag_name,
        show_default=False,
    ),
]
AllFlag = Annotated[bool, typer.Option("--all", help="Every trace (only without ids or filter).")]


def _report(change: TagChange, selection: TraceFilter, *, added: bool, as_json: bool) -> None:
    if as_json:
        write_json(
            {
                "tag": change.tag,
                "selected": change.selected,
                "changed": change.changed,
                "unchanged": change.unchanged,
            }
        )
    if not change.selected:
        say(f"no traces match: {selection.describe()}: nothing changed")
    elif added:
        already = f" ({change.unchanged:,} already had it)" if change.unchanged else ""
        say(f"tagged {count_traces(change.changed)} with {change.tag}{already}")
    else:
        missing = f" ({change.unchanged:,} did not have it)" if change.unchanged else ""
        say(f"removed {change.tag} from {count_traces(change.changed)}{missing}")


@app.command("add")
@with_filter
@handle_errors
def add(
    ctx: typer.Context,
    label: Tag,
    ids: TraceIds = None,
    all_: AllFlag = False,
    as_json: JsonFlag = False,
    *,
    selection: TraceFilter,
) -> None:
    """Give TAG to the traces chosen by ids, a filter, or both (those ids the filter selects)."""
    from tunix_rt.services import tags as service

    chosen = target(selection, ids, all_=all_)
    with state(ctx).database() as db:
        change = service.add(db, label, chosen)
    _report(change, chosen, added=True, as_json=as_json)


@app.command("rm")
@with_filter
@handle_errors
def remove(
    ctx: typer.Context,
    label: Tag,
    ids: TraceIds = None,
    all_: AllFlag = False,
    as_json: JsonFlag = False,
    *,
    selection: TraceFilter,
) -> None:
    """Take TAG off the traces chosen by ids, a filter, or both."""
    from tunix_rt.services import tags as service

    chosen = target(selection, ids, all_=all_)
    with state(ctx).database() as db:
        change = service.remove(db, label, chosen)
    _report(change, chosen, added=False, as_json=as_json)


def _table(rows: list[tuple[str, int]], *, header: bool = True) -> Any:
    from rich.table import Table
    from rich.text import Text

    from tunix_rt.cli._output import literal

    table = Table(show_header=header, header_style="bold", box=None, pad_edge=False)
    table.add_column("Tag", style="green", no_wrap=True)
    table.add_column("Traces", justify="right", no_wrap=True)
    for tag, count in rows:
        table.add_row(Text(literal(tag)), f"{count:,}")
    return table


@with_filter
@handle_errors
def list_tags(
    ctx: typer.Context,
    as_json: JsonFlag = False,
    as_jsonl: JsonlFlag = False,
    *,
    selection: TraceFilter,
) -> None:
    """Every tag with its number of traces (of the traces a filter selects), by name."""
    from tunix_rt.services import tags as service

    fmt = output_format(as_json=as_json, as_jsonl=as_jsonl)
    with state(ctx).database() as db:
        counts = service.counts(db, selection)
    if not counts and fmt == "table":
        if selection.is_empty:
            say("no tags yet: add one with `tunix-rt trace tag add TAG ID...`")
        else:
            say(f"no tags on the traces that match: {selection.describe()}")
        return
    emit_rows(iter(counts), fmt, record=lambda r: {"tag": r[0], "count": r[1]}, table=_table)
