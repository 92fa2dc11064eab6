"""`tunix-rt trace upload`: validate traces and store them, all or nothing."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any, TextIO, cast

import typer

from tunix_rt.cli._options import JsonFlag
from tunix_rt.cli._output import (
    data_out,
    fail,
    handle_errors,
    say,
    stderr,
)
from tunix_rt.cli._state import state
from tunix_rt.errors import OutputError

if TYPE_CHECKING:
    from tunix_rt.ingest import RawRecord
    from tunix_rt.ingest.validate import RecordError
    from tunix_rt.services.upload import Outcome, Progress, UploadResult

SHOWN_DUPLICATES = 20


def _outcome_json(item: Outcome) -> dict[str, Any]:
    return {"id": str(item.id), "content_hash": item.content_hash, **item.location.as_dict()}


def _write_report(result: UploadResult, out: TextIO) -> None:
    """One JSON object, streamed (an upload may hold millions of outcomes)."""
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


class _Rejects:
    """The `--rejects` file: one JSON line per invalid record.

    Written to a temporary file in the target's folder, flushed to disk before the upload's
    transaction ends (a full disk stops the upload: nothing stored), and renamed into place
    at the end, only when something was rejected; a failed or interrupted upload leaves no
    file. A pipe or character device (`>(gzip > r.gz)`, `/dev/stderr`) is written directly.
    A file named `*.gz` is written gzip-compressed (so it reads back as what its name says).
    """

    def __init__(
        self,
        shown: str,
        handle: IO[bytes],
        *,
        final: Path | None = None,
        temp: Path | None = None,
        replaces: bool = False,
    ) -> None:
        self.shown, self.handle = shown, handle
        self.final, self.temp, self.replaces = final, temp, replaces
        self.out: IO[bytes] = handle
        if final is not None and final.name.lower().endswith(".gz"):
            import gzip

            self.out = cast(IO[bytes], gzip.GzipFile(fileobj=handle, mode="wb"))
        self.count = 0
        self.error: str | None = None  # set when the finished file could not be put in place

    def _failed(self, exc: OSError) -> OutputError:
        return OutputError(f"cannot write --rejects {self.shown}: {_reason(exc)}")

    def write(self, raw: RawRecord, errors: list[RecordError]) -> None:
        import orjson

        record = {
            **raw.location.as_dict(),
            "errors": [e.as_dict() for e in errors],
            "raw": raw.raw.decode("utf-8", "replace"),
        }
        try:
            self.out.write(orjson.dumps(record) + b"\n")
        except OSError as exc:
            raise self._failed(exc) from None
        self.count += 1

    def flush(self) -> None:
        """Before the transaction ends: every rejected record is on disk, or nothing is stored."""
        try:
            if self.out is not self.handle:
                self.out.close()  # the gzip trailer (the file itself stays open)
            self.handle.flush()
            if self.temp is not None and self.count:
                os.fsync(self.handle.fileno())
        except OSError as exc:
            raise self._failed(exc) from None

    def where(self) -> str:
        if self.error is not None and self.temp is not None:
            return _display(str(self.temp))
        return self.shown

    def publish(self) -> None:
        """After the transaction: put the file in place (or remove it: nothing was rejected).

        A failure here comes after the commit, so it is kept in `error` (the summary says
        what was stored, then the command fails) and the rejects stay in the temporary file.
        """
        try:
            self.handle.close()
            if self.temp is None or self.final is None:
                return
            if not self.count:
                self.temp.unlink()
                if self.replaces:  # --force-rejects: the old file is not this upload's
                    self.final.unlink(missing_ok=True)
            elif self.replaces:
                os.replace(self.temp, self.final)
            else:
                _link_new(self.temp, self.final)
        except OSError as exc:
            why = (
                "a file of that name appeared during the upload"
                if isinstance(exc, FileExistsError)
                else _reason(exc)
            )
            where = _display(str(self.temp))
            self.error = f"cannot write --rejects {self.shown}: {why}; the rejects are in {where}"

    def discard(self) -> None:
        """On the way out: close, and remove the temporary file unless it holds the rejects."""
        with contextlib.suppress(OSError):
            self.handle.close()
        if self.temp is not None and self.error is None:
            with contextlib.suppress(OSError):
                self.temp.unlink()


def _link_new(temp: Path, final: Path) -> None:
    """Rename `temp` to `final`, which must not exist (a hard link cannot replace a file)."""
    try:
        os.link(temp, final)
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links
        if os.path.lexists(final):
            raise FileExistsError(errno.EEXIST, "File exists", str(final)) from None
        os.rename(temp, final)
    else:
        temp.unlink()


def _display(path: str) -> str:
    """A file name for a one-line message (undecodable bytes and newlines escaped)."""
    from tunix_rt.ingest.readers import shown_name

    return shown_name(path)


def _reason(exc: OSError) -> str:
    text = exc.strerror or str(exc)
    return text[:1].lower() + text[1:]


def _identity(path: str | Path) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    return info.st_dev, info.st_ino


def _resolved(path: str | Path) -> Path | None:
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError, ValueError):  # RuntimeError: a symbolic link loop
        return None


def _stream_identity(fd: int) -> tuple[int, int] | None:
    """A standard stream that is a file or a pipe (not a terminal or /dev/null)."""
    try:
        info = os.fstat(fd)
    except OSError:
        return None
    if stat.S_ISREG(info.st_mode) or stat.S_ISFIFO(info.st_mode) or stat.S_ISSOCK(info.st_mode):
        return info.st_dev, info.st_ino
    return None


def _protected(
    inputs: list[str], db_url: str
) -> tuple[dict[Path, str], dict[tuple[int, int], str]]:
    """What `--rejects` must never write over, by path and by inode (hard links)."""
    from tunix_rt.db.engine import sqlite_path
    from tunix_rt.ingest.readers import STDIN

    by_path: dict[Path, str] = {}
    by_inode: dict[tuple[int, int], str] = {}

    def add(path: str, what: str) -> None:
        resolved, identity = _resolved(path), _identity(path)
        if resolved is not None:
            by_path.setdefault(resolved, what)
        if identity is not None:
            by_inode.setdefault(identity, what)

    database = sqlite_path(db_url)
    if database is not None:
        add(str(database), "the database")
        for suffix in ("-wal", "-shm", "-journal"):
            add(f"{database}{suffix}", f"the database's {suffix[1:]} file")
    for source in inputs:
        if source != STDIN:
            add(source, "an input of this upload")
    stdin = _stream_identity(0)
    if stdin is not None:
        by_inode.setdefault(stdin, "the standard input of this command")
    stdout = _stream_identity(1)
    if stdout is not None:
        by_inode.setdefault(stdout, "this command's stdout, which carries the stored ids")
    return by_path, by_inode


def _open_rejects(
    spelled: str, *, force: bool, inputs: list[str], folders: list[str], db_url: str
) -> _Rejects:
    """Check `--rejects` against everything it could destroy, then open it (see `_Rejects`)."""
    import tempfile

    from tunix_rt.ingest.readers import is_trace_name

    shown = _display(spelled)

    def refuse(why: str) -> OutputError:
        return OutputError(f"cannot write --rejects {shown}: {why}")

    if not spelled or spelled.endswith(os.sep):
        raise refuse("a file name is needed, not a folder")
    target = _resolved(spelled)
    try:
        info: os.stat_result | None = os.stat(spelled)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise refuse(_reason(exc)) from None
    if target is None:  # pragma: no cover - os.stat has already said ELOOP
        raise refuse("too many levels of symbolic links")
    by_path, by_inode = _protected(inputs, db_url)
    what = by_path.get(target)
    if what is None and info is not None:
        what = by_inode.get((info.st_dev, info.st_ino))
    if what is not None:
        raise refuse(f"it is {what}")
    for folder in folders:
        inside = _resolved(folder)
        if inside is not None and target.is_relative_to(inside) and is_trace_name(target):
            raise refuse(
                f"it is inside the uploaded folder {_display(folder)}, whose next upload "
                "would read it as traces"
            )
    if info is not None:
        mode = info.st_mode
        if (info.st_dev, info.st_ino) == _stream_identity(2):  # /dev/stderr, even into a file
            return _Rejects(shown, os.fdopen(os.dup(2), "wb", buffering=1 << 16))
        if stat.S_ISDIR(mode):
            raise refuse("it is a folder")
        if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode):
            return _Rejects(shown, _open_direct(spelled, refuse))
        if not stat.S_ISREG(mode):
            raise refuse("it is not a regular file, pipe or character device")
        if not force:
            raise refuse("it already exists (add --force-rejects to replace it)")
        perms = stat.S_IMODE(mode) & 0o777
    else:
        for folder in (os.path.dirname(spelled) or ".", str(target.parent)):
            if not os.path.isdir(folder):  # as spelled (`nofolder/../r`), and where it leads
                raise refuse(f"folder {_display(folder)} does not exist")
        umask = os.umask(0)
        os.umask(umask)
        perms = 0o666 & ~umask
    try:
        fd, temp = tempfile.mkstemp(
            prefix=f".{target.name[:100]}.", suffix=".tmp", dir=target.parent
        )
    except OSError as exc:
        raise refuse(_reason(exc)) from None
    os.fchmod(fd, perms)
    handle = os.fdopen(fd, "wb", buffering=1 << 16)
    return _Rejects(shown, handle, final=target, temp=Path(temp), replaces=info is not None)


def _open_direct(spelled: str, refuse: Callable[[str], OutputError]) -> IO[bytes]:
    """A pipe or character device, opened without blocking on a pipe nobody reads."""
    import fcntl

    try:
        fd = os.open(spelled, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise refuse("it is a pipe that nobody reads") from None
        raise refuse(_reason(exc)) from None
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    return os.fdopen(fd, "wb", buffering=1 << 16)


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
            metavar="FILE",
            help="JSON, JSON Lines or JSON-array files (.gz too), folders (searched "
            "recursively), or - for stdin.",
            show_default=False,
        ),
    ],
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Store the valid records, skip the others.")
    ] = False,
    rejects: Annotated[
        str | None,
        typer.Option(
            "--rejects",
            metavar="FILE",
            help="Write each invalid record here as one JSON line (location, errors, raw "
            "text); created only when a record is invalid. Never an input or the database; "
            "an existing file only with --force-rejects. A pipe or device is written "
            "directly; - is refused (stdout carries the ids).",
            show_default=False,
        ),
    ] = None,
    force_rejects: Annotated[
        bool,
        typer.Option(
            "--force-rejects",
            help="Replace an existing --rejects file (removed if nothing is rejected).",
        ),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and count new/duplicate/invalid only.")
    ] = False,
    max_errors: Annotated[
        int, typer.Option("--max-errors", min=0, help="How many errors to print.")
    ] = 20,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress, duplicates or summary.")
    ] = False,
    ids: Annotated[
        bool,
        typer.Option(
            "--ids",
            help="Print the stored ids on a terminal too (they are always printed when "
            "stdout is a pipe or a file).",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Validate traces and store them: all of them, or nothing if any is invalid."""
    from tunix_rt.ingest.readers import STDIN, expand_inputs
    from tunix_rt.services.upload import upload as upload_service

    if rejects == "-":
        raise fail(
            "--rejects -: stdout carries the stored ids; give a file (or /dev/stderr)", code=2
        )
    if force_rejects and rejects is None:
        raise fail("--force-rejects needs --rejects FILE", code=2)
    out = data_out()  # a closed stdout is an error before anything is stored
    stdin = sys.stdin.buffer if sys.stdin is not None else None
    if STDIN in files and stdin is None:
        raise fail("-: cannot read stdin: it is closed")
    inputs = expand_inputs(files)
    show_bar = not quiet and sys.stderr is not None and sys.stderr.isatty()
    with contextlib.ExitStack() as stack:
        sink = None
        if rejects is not None:
            folders = [f for f in files if f != STDIN and os.path.isdir(f)]
            db_url = state(ctx).settings().database_url
            sink = _open_rejects(
                rejects, force=force_rejects, inputs=inputs, folders=folders, db_url=db_url
            )
            stack.callback(sink.discard)
        db = stack.enter_context(state(ctx).database())
        with _progress_bar(show_bar) as progress:  # gone before the report is printed
            result = upload_service(
                db,
                inputs,
                stdin=stdin,
                skip_invalid=skip_invalid,
                dry_run=dry_run,
                max_errors=max_errors,
                on_reject=sink.write if sink else None,
                progress=progress,
                before_end=sink.flush if sink else None,
            )
        stack.callback(result.close)
        if sink is not None:
            sink.publish()
        show_ids = as_json or ids or not out.isatty()
        _report(
            result,
            out,
            as_json=as_json,
            show_ids=show_ids,
            quiet=quiet,
            skip_invalid=skip_invalid,
            rejects=sink,
        )


def _print_results(result: UploadResult, out: TextIO, *, as_json: bool, show_ids: bool) -> str:
    """The ids (or the JSON report) on stdout; why they could not be written, or ""."""
    try:
        if as_json:
            _write_report(result, out)
        elif result.committed and show_ids:
            out.writelines(f"{ident}\n" for ident in result.created.ids())
        out.flush()
    except BrokenPipeError:
        # The reader went away (`| head -1`): what it asked for. The upload stands.
        _stdout_to_devnull()
    except OSError as exc:
        _stdout_to_devnull()
        return _reason(exc)
    return ""


def _stdout_to_devnull() -> None:
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _report(
    result: UploadResult,
    out: TextIO,
    *,
    as_json: bool,
    show_ids: bool,
    quiet: bool,
    skip_invalid: bool,
    rejects: _Rejects | None,
) -> None:
    for error in result.errors:
        say(str(error))
    hidden = result.error_count - len(result.errors)
    if hidden > 0:
        say(f"... and {hidden} more errors ({result.error_count} in all)")
    lost = _print_results(result, out, as_json=as_json, show_ids=show_ids)
    if not quiet:
        for n, item in enumerate(result.duplicates):
            if n == SHOWN_DUPLICATES:
                rest = result.duplicates.count - SHOWN_DUPLICATES
                say(f"... and {rest} more duplicates (--json lists them all)")
                break
            say(f"{item.location}: duplicate of trace {item.id}")
    n = result.invalid_records
    invalid = f"{n} invalid record{'s' if n != 1 else ''}"
    kept = f" (written to {rejects.where()})" if rejects is not None and n else ""
    if result.dry_run:
        if not quiet:
            say(
                f"dry run: {result.created.count} new, {result.duplicates.count} duplicates, "
                f"{invalid}{kept}; nothing written"
            )
        if rejects is not None and rejects.error:
            raise fail(rejects.error)
        if n:
            raise typer.Exit(1)
        return
    if n and not skip_invalid:
        if rejects is not None and rejects.error:
            say(f"error: {rejects.error}")
        raise fail(f"{invalid}{kept}: nothing stored")
    if not quiet:
        tail = f", skipped {invalid}{kept}" if n else ""
        say(f"stored {result.created.count}, duplicates {result.duplicates.count}{tail}")
    if lost:
        raise fail(
            f"stored {result.created.count} traces, but could not write their ids to stdout: {lost}"
        )
    if rejects is not None and rejects.error:
        raise fail(rejects.error)
