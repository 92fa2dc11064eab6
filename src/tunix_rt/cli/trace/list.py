"""`tunix-rt trace list`: traces newest first, a page at a time or all of them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from tunix_rt.cli._options import Cursor, JsonFlag, JsonlFlag, Limit, with_filter
from tunix_rt.cli._output import data_out, emit_rows, handle_errors, output_format, say
from tunix_rt.cli._state import state

if TYPE_CHECKING:
    from tunix_rt.filters import TraceFilter


@with_filter
@handle_errors
def list_traces(
    ctx: typer.Context,
    limit: Limit = 20,
    cursor: Cursor = None,
    all_: Annotated[bool, typer.Option("--all", help="Stream every trace.")] = False,
    as_json: JsonFlag = False,
    as_jsonl: JsonlFlag = False,
    *,
    selection: TraceFilter,
) -> None:
    """List traces, newest first (ties broken by id), all or those a filter selects."""
    from tunix_rt.cli._views import trace_table
    from tunix_rt.records import to_record
    from tunix_rt.services import traces as service

    fmt = output_format(as_json=as_json, as_jsonl=as_jsonl)
    if fmt == "jsonl":
        _jsonl(ctx, limit=limit, cursor=cursor, all_=all_, selection=selection)
        return
    with state(ctx).database() as db:
        if all_:
            emit_rows(
                service.iter_all(db, cursor=cursor, selection=selection),
                fmt,
                record=to_record,
                table=trace_table,
            )
            return
        page = service.list_page(db, limit=limit, cursor=cursor, selection=selection)
    if not page.rows and fmt == "table":
        if selection.is_empty:
            say("no traces yet: add some with `tunix-rt trace upload FILE`")
        else:
            say(f"no traces match: {selection.describe()}")
    else:
        emit_rows(
            iter(page.rows),
            fmt,
            record=to_record,
            table=trace_table,
            next_cursor=page.next_cursor,
        )
    if page.next_cursor and fmt != "json":
        if selection.is_empty:
            say(f"more: tunix-rt trace list --cursor {page.next_cursor}")
        else:
            say(f"more: the same command with --cursor {page.next_cursor}")


def _jsonl(
    ctx: typer.Context, *, limit: int, cursor: str | None, all_: bool, selection: TraceFilter
) -> None:
    """`--jsonl`: the stored records as stored, streamed without decoding their payloads
    (`records.record_line`), the same lines as `trace export --to jsonl`."""
    from tunix_rt.services import export as service

    out = data_out()
    out.flush()
    report = service.ExportReport("jsonl")
    next_cursor = None
    with state(ctx).database() as db:
        if all_:
            blocks = service.stream(db, cursor=cursor, selection=selection)
            service.write_record_lines(blocks, out.buffer, report)
        else:
            next_cursor = service.page(
                db, limit=limit, cursor=cursor, selection=selection, out=out.buffer, report=report
            )
    out.buffer.flush()
    if next_cursor:
        if selection.is_empty:
            say(f"more: tunix-rt trace list --cursor {next_cursor}")
        else:
            say(f"more: the same command with --cursor {next_cursor}")
