"""`tunix-rt trace upload`: validate traces and store them, all or nothing."""

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

from tunix_rt.cli._options import JsonFlag
from tunix_rt.cli._output import (
    fail,
    handle_errors,
    say,
    stderr,
)
from tunix_rt.cli._state import state

if TYPE_CHECKING:
    from tunix_rt.ingest import RawRecord
    from tunix_rt.ingest.validate import RecordError
    from tunix_rt.services.upload import Outcome, Progress, UploadResult

SHOWN_DUPLICATES = 20


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
