"""`tunix-rt trace ...`: upload, list and show reasoning traces."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any

import typer

from tunix_rt.cli._output import (
    fail,
    handle_errors,
    literal,
    literal_text,
    say,
    stderr,
    stdout,
    write_json,
)
from tunix_rt.cli._state import state

if TYPE_CHECKING:
    from tunix_rt.ingest import RawRecord
    from tunix_rt.repositories.traces import TraceRow
    from tunix_rt.services.upload import Outcome, Progress, RecordError, UploadResult

app = typer.Typer(help="Upload, list and show reasoning traces.", no_args_is_help=True)

SHOWN_DUPLICATES = 20

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _outcome_json(item: Outcome) -> dict[str, Any]:
    return {"id": str(item.id), "content_hash": item.content_hash, **item.location.as_dict()}


def _write_report(result: UploadResult) -> None:
    """One JSON object, streamed (an upload may hold millions of outcomes)."""
    out = sys.stdout
    head = {
        "stored": result.created.count if result.committed else 0,
        "duplicates_count": result.duplicates.count,
        "invalid": result.invalid_records,
        "dry_run": result.dry_run,
        "errors": [
            {**e.location.as_dict(), "field": e.field, "message": e.message} for e in result.errors
        ],
    }
    out.write(json.dumps(head, ensure_ascii=False)[:-1])
    for key, spool in (("created", result.created), ("duplicates", result.duplicates)):
        out.write(f', "{key}": [')
        for n, item in enumerate(spool):
            out.write(("," if n else "") + json.dumps(_outcome_json(item), ensure_ascii=False))
        out.write("]")
    out.write("}\n")


def _rejects_writer(handle: IO[bytes]) -> Callable[[RawRecord, list[RecordError]], None]:
    import orjson

    def write(raw: RawRecord, errors: list[RecordError]) -> None:
        record = {
            **raw.location.as_dict(),
            "errors": [e.as_dict() for e in errors],
            "raw": raw.raw.decode("utf-8", "replace"),
        }
        handle.write(orjson.dumps(record) + b"\n")

    return write


@contextmanager
def _progress_bar(enabled: bool) -> Iterator[Callable[[Progress], None] | None]:
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    started = time.monotonic()
    with Bar(
        TextColumn("uploading"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[rate]} traces/s, {task.fields[invalid]} invalid"),
        TimeElapsedColumn(),
        console=stderr(),
        transient=True,
    ) as bar:
        task = bar.add_task("upload", total=None, rate="0", invalid="0")

        def update(p: Progress) -> None:
            rate = p.records / max(time.monotonic() - started, 1e-6)
            bar.update(
                task,
                completed=p.bytes_done,
                total=p.bytes_total,
                rate=f"{rate:,.0f}",
                invalid=f"{p.invalid:,}",
            )

        yield update


@app.command()
@handle_errors
def upload(
    ctx: typer.Context,
    files: Annotated[
        list[str],
        typer.Argument(
            metavar="FILE...",
            help="JSON, JSON Lines or JSON-array files (.gz too), folders (searched "
            "recursively), or - for stdin.",
            show_default=False,
        ),
    ],
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Store the valid records, skip the others.")
    ] = False,
    rejects: Annotated[
        Path | None,
        typer.Option(
            "--rejects",
            metavar="FILE",
            help="Write each invalid record here as one JSON line (location, errors, raw text).",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and count new/duplicate/invalid only.")
    ] = False,
    max_errors: Annotated[
        int, typer.Option("--max-errors", min=0, help="How many errors to print.")
    ] = 20,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress, duplicates or summary.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Validate traces and store them: all of them, or nothing if any is invalid."""
    from tunix_rt.services.upload import upload as upload_service

    show_bar = not quiet and sys.stderr.isatty()
    with contextlib.ExitStack() as stack:
        reject = None
        if rejects is not None:
            try:
                reject = _rejects_writer(stack.enter_context(rejects.open("wb")))
            except OSError as exc:
                raise fail(f"cannot write --rejects {rejects}: {exc.strerror}") from None
        db = stack.enter_context(state(ctx).database())
        progress = stack.enter_context(_progress_bar(show_bar))
        result = upload_service(
            db,
            files,
            stdin=sys.stdin.buffer,
            skip_invalid=skip_invalid,
            dry_run=dry_run,
            max_errors=max_errors,
            on_reject=reject,
            progress=progress,
        )
        stack.callback(result.close)
        _report(result, as_json=as_json, quiet=quiet, skip_invalid=skip_invalid, rejects=rejects)


def _report(
    result: UploadResult, *, as_json: bool, quiet: bool, skip_invalid: bool, rejects: Path | None
) -> None:
    for error in result.errors:
        say(str(error))
    hidden = result.error_count - len(result.errors)
    if hidden > 0:
        say(f"... and {hidden} more errors ({result.error_count} in all)")
    if as_json:
        _write_report(result)
    elif result.committed:
        sys.stdout.writelines(f"{ident}\n" for ident in result.created.ids())
    if not quiet:
        for n, item in enumerate(result.duplicates):
            if n == SHOWN_DUPLICATES:
                rest = result.duplicates.count - SHOWN_DUPLICATES
                say(f"... and {rest} more duplicates (--json lists them all)")
                break
            say(f"{item.location}: duplicate of trace {item.id}")
    n = result.invalid_records
    invalid = f"{n} invalid record{'s' if n != 1 else ''}"
    kept = f" (written to {rejects})" if rejects is not None and n else ""
    if result.dry_run:
        if not quiet:
            say(
                f"dry run: {result.created.count} new, {result.duplicates.count} duplicates, "
                f"{invalid}{kept}; nothing written"
            )
        if n:
            raise typer.Exit(1)
        return
    if n and not skip_invalid:
        raise fail(f"{invalid}{kept}: nothing stored")
    if not quiet:
        tail = f", skipped {invalid}{kept}" if n else ""
        say(f"stored {result.created.count}, duplicates {result.duplicates.count}{tail}")


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
