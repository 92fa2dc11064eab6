"""`tunix-rt trace ...`: upload, list and show reasoning traces."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tunix_rt.cli._output import (
    fail,
    handle_errors,
    literal,
    literal_text,
    say,
    stdout,
    write_json,
    write_line,
)
from tunix_rt.cli._state import state

if TYPE_CHECKING:
    from tunix_rt.repositories.traces import TraceRow
    from tunix_rt.services.upload import Outcome, UploadResult

app = typer.Typer(help="Upload, list and show reasoning traces.", no_args_is_help=True)

SHOWN_DUPLICATES = 20

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _outcome_json(item: Outcome) -> dict[str, Any]:
    return {"id": str(item.id), "content_hash": item.content_hash, **item.location.as_dict()}


def _report_upload(result: UploadResult, as_json: bool) -> None:
    if as_json:
        write_json(
            {
                "stored": len(result.created),
                "duplicates_count": len(result.duplicates),
                "invalid": result.invalid_records,
                "created": [_outcome_json(o) for o in result.created],
                "duplicates": [_outcome_json(o) for o in result.duplicates],
                "errors": [
                    {**e.location.as_dict(), "field": e.field, "message": e.message}
                    for e in result.errors
                ],
            }
        )
    else:
        for item in result.created:
            write_line(str(item.id))
    for item in result.duplicates[:SHOWN_DUPLICATES]:
        say(f"{item.location}: duplicate of trace {item.id}")
    hidden = len(result.duplicates) - SHOWN_DUPLICATES
    if hidden > 0 and not as_json:
        say(f"... and {hidden} more duplicates (--json lists them all)")


@app.command()
@handle_errors
def upload(
    ctx: typer.Context,
    files: Annotated[
        list[str],
        typer.Argument(
            metavar="FILE...",
            help="JSON, JSON Lines or JSON-array files, folders (searched recursively), "
            "or - for stdin.",
            show_default=False,
        ),
    ],
    as_json: JsonFlag = False,
) -> None:
    """Validate traces and store them: all of them, or nothing if any is invalid."""
    from tunix_rt.services.upload import upload as upload_service

    with state(ctx).database() as db:
        result = upload_service(db, files, stdin=sys.stdin.buffer)
    if result.errors:
        for error in result.errors:
            say(str(error))
        if as_json:
            _report_upload(result, as_json=True)
        n = result.invalid_records
        raise fail(f"{n} invalid record{'s' if n != 1 else ''}: nothing stored")
    _report_upload(result, as_json)
    say(f"stored {len(result.created)}, duplicates {len(result.duplicates)}")


def _short(text: str) -> str:
    return literal(" ".join(text.split()))


def _table(rows: list[TraceRow], *, header: bool = True) -> Any:
    from rich.table import Table

    table = Table(show_header=header, header_style="bold", expand=True, box=None, pad_edge=False)
    table.add_column("ID", no_wrap=True, style="cyan", min_width=8, max_width=8)
    table.add_column("Created (UTC)", no_wrap=True, min_width=19, max_width=19)
    table.add_column("Version", no_wrap=True, max_width=10)
    table.add_column("Steps", justify="right", no_wrap=True)
    table.add_column("Prompt", no_wrap=True, overflow="ellipsis", ratio=3)
    table.add_column("Final answer", no_wrap=True, overflow="ellipsis", ratio=2)
    from rich.text import Text

    for row in rows:
        payload = row.payload
        table.add_row(
            str(row.id)[:8],
            row.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            Text(_short(row.trace_version)),
            str(len(payload.get("steps", []))),
            Text(_short(str(payload.get("prompt", "")))),
            Text(_short(str(payload.get("final_answer", "")))),
        )
    return table


@app.command("list")
@handle_errors
def list_traces(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Traces per page.")] = 20,
    cursor: Annotated[
        str | None,
        typer.Option(help="Continue after the page that printed this token.", show_default=False),
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Stream every trace.")] = False,
    as_json: JsonFlag = False,
    as_jsonl: Annotated[bool, typer.Option("--jsonl", help="One JSON record per line.")] = False,
) -> None:
    """List traces, newest first (ties broken by id)."""
    from tunix_rt.services import traces as service

    if as_json and as_jsonl:
        raise fail("--json and --jsonl cannot be combined", code=2)
    with state(ctx).database() as db:
        if all_:
            _list_all(service.iter_all(db, cursor=cursor), as_json=as_json, as_jsonl=as_jsonl)
            return
        page = service.list_page(db, limit=limit, cursor=cursor)
    if as_json:
        write_json(
            {"data": [service.record(r) for r in page.rows], "next_cursor": page.next_cursor}
        )
        return
    if as_jsonl:
        for row in page.rows:
            write_json(service.record(row))
    elif page.rows:
        stdout().print(_table(page.rows))
    else:
        say("no traces yet: add some with `tunix-rt trace upload FILE`")
    if page.next_cursor:
        say(f"more: tunix-rt trace list --cursor {page.next_cursor}")


def _list_all(rows: Any, *, as_json: bool, as_jsonl: bool) -> None:
    from tunix_rt.services.traces import record

    out = sys.stdout
    if as_json:
        out.write('{"data": [')
        for n, row in enumerate(rows):
            out.write(("," if n else "") + json.dumps(record(row), ensure_ascii=False))
        out.write('], "next_cursor": null}\n')
        return
    if as_jsonl:
        for row in rows:
            write_json(record(row))
        return
    chunk: list[TraceRow] = []
    first = True
    for row in rows:
        chunk.append(row)
        if len(chunk) == 1000:
            stdout().print(_table(chunk, header=first))
            chunk, first = [], False
    if chunk or first:
        stdout().print(_table(chunk, header=first))


def _show_view(row: TraceRow) -> Any:
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table

    payload = row.payload
    steps = Table(show_header=True, header_style="bold", box=None, expand=True)
    steps.add_column("i", justify="right", no_wrap=True, style="cyan")
    steps.add_column("type", no_wrap=True, style="magenta")
    steps.add_column("content", ratio=1)
    for step in payload.get("steps", []):
        steps.add_row(
            str(step.get("i")),
            literal_text(str(step.get("type", ""))),
            literal_text(str(step.get("content", ""))),
        )
    parts: list[Any] = [
        Panel(literal_text(str(payload.get("prompt", ""))), title="Prompt", title_align="left"),
        Panel(steps, title=f"Steps ({len(payload.get('steps', []))})", title_align="left"),
        Panel(
            literal_text(str(payload.get("final_answer", ""))),
            title="Final answer",
            title_align="left",
        ),
    ]
    if payload.get("meta") is not None:
        meta = json.dumps(payload["meta"], indent=2, ensure_ascii=False)
        parts.append(Panel(literal_text(meta), title="Meta", title_align="left"))
    header = literal_text(
        f"trace {row.id}  created {row.created_at.isoformat()}  "
        f"version {row.trace_version}  sha256 {row.content_hash[:12]}",
        style="bold",
    )
    return Group(header, *parts)


@app.command()
@handle_errors
def show(
    ctx: typer.Context,
    trace_id: Annotated[
        str, typer.Argument(metavar="ID", help="A trace id or a unique prefix of one.")
    ],
    as_json: JsonFlag = False,
) -> None:
    """Show one trace: prompt, numbered steps, final answer and meta."""
    from tunix_rt.services import traces as service

    with state(ctx).database() as db:
        row = service.show(db, trace_id)
    if as_json:
        write_json(service.record(row))
    else:
        stdout().print(_show_view(row))
