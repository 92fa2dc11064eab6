"""Output helpers shared by every command.

Stdout carries data (ids, JSON, tables); stderr carries messages for people. Trace text is
data, so it is never parsed as Rich markup and terminal control characters are shown as
visible escapes (`\\x1b`) instead of being sent to the terminal.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TextIO, TypeVar

import typer

from tunix_rt.errors import CursorError, OutputError, TunixRtError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")
Format = Literal["table", "json", "jsonl"]
TABLE_CHUNK = 1000

# Shown as visible escapes, never sent to the terminal: C0 controls except tab and newline,
# DEL, C1 controls; and the invisible or direction-changing characters that make text read
# differently from what is stored: zero-width space/joiners and direction marks
# (U+200B..U+200F), bidi embeddings and overrides (U+202A..U+202E), the line and paragraph
# separators (U+2028/9), bidi isolates (U+2066..U+2069), the Arabic letter mark (U+061C),
# the byte-order mark / zero-width no-break space (U+FEFF) and tag characters
# (U+E0000..U+E007F, which can hide text).
_UNSAFE = [*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F, *range(0x80, 0xA0)]
_UNSAFE += [0x061C, *range(0x200B, 0x2010), 0x2028, 0x2029, *range(0x202A, 0x202F)]
_UNSAFE += [*range(0x2066, 0x206A), 0xFEFF, *range(0xE0000, 0xE0080)]
_ESCAPES = {
    c: (f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}" if c < 0x10000 else f"\\U{c:08x}")
    for c in _UNSAFE
}


def literal(text: str) -> str:
    """`text` with control and invisible characters replaced by visible escapes.

    Also safe for file names that are not valid UTF-8 (Python keeps their bytes as lone
    surrogates, which no terminal or encoder accepts): those are shown as `\\xNN`.
    """
    text = text.translate(_ESCAPES)
    if any("\udc80" <= ch <= "\udcff" for ch in text):
        text = "".join(
            f"\\x{ord(ch) - 0xDC00:02x}" if "\udc80" <= ch <= "\udcff" else ch for ch in text
        )
    return text


def literal_text(text: str, style: str = "") -> Text:
    """A Rich Text (never markup-parsed) showing `text` literally."""
    from rich.text import Text

    return Text(literal(text), style=style)


@functools.cache
def stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, emoji=False)


@functools.cache
def stdout() -> Console:
    from rich.console import Console

    data_out()
    return Console(highlight=False, emoji=False)


def count_traces(n: int) -> str:
    """`1 trace`, `2 traces`, `1,204 traces`."""
    return f"{n:,} trace{'' if n == 1 else 's'}"


def say(message: str) -> None:
    """A message for people, on stderr."""
    stderr().print(literal(message), markup=False, highlight=False, soft_wrap=True)


def note(message: str) -> None:
    say(f"note: {message}")


def fail(message: str, code: int = 1) -> typer.Exit:
    say(f"error: {message}")
    return typer.Exit(code)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that transactions roll back on the way out."""


def data_out() -> TextIO:
    """Stdout, for data; an error when it was closed before tunix-rt started (`>&-`).

    (`main` reopens a closed stdout on /dev/null so no file tunix-rt opens can take its
    descriptor, but keeps `sys.stdout` None: writing results into nothing would be a silent
    partial result.)
    """
    if sys.stdout is None:
        raise OutputError("cannot write results: stdout is closed")
    return sys.stdout


def write_json(obj: Any) -> None:
    out = data_out()
    out.write(json.dumps(obj, ensure_ascii=False))
    out.write("\n")


def write_line(line: str) -> None:
    out = data_out()
    out.write(line)
    out.write("\n")


def _silence_stdout() -> None:
    """The reader of stdout went away: send what is still buffered into /dev/null."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, AttributeError, ValueError):  # pragma: no cover - stdout already gone
        pass


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn domain errors into `error: <message>` on stderr and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            result = fn(*args, **kwargs)
            if sys.stdout is not None:
                sys.stdout.flush()  # a full disk must fail here, not at interpreter exit
            return result
        except CursorError as exc:  # a value the user typed: a usage error, like --limit 0
            raise fail(str(exc), code=2) from None
        except TunixRtError as exc:
            raise fail(str(exc)) from None
        except BrokenPipeError:
            # The reader went away (`tunix-rt trace list --all --jsonl | head -1`): that is
            # what it asked for, so stop quietly with success.
            _silence_stdout()
            raise typer.Exit(0) from None
        except Terminated:
            say("terminated: stopped (nothing half-written was kept)")
            raise typer.Exit(143) from None
        except KeyboardInterrupt:
            say("interrupted: stopped (nothing half-written was kept)")
            raise typer.Exit(130) from None
        except OSError as exc:
            # A full disk, an I/O error, a vanished file: one line, never a traceback.
            where = f"{literal(str(exc.filename))}: " if exc.filename else ""
            raise fail(f"{where}{exc.strerror or exc}") from None

    return wrapper


def output_format(*, as_json: bool, as_jsonl: bool) -> Format:
    """The one output choice of a command with `--json` and `--jsonl`."""
    if as_json and as_jsonl:
        raise fail("--json and --jsonl cannot be combined", code=2)
    return "json" if as_json else "jsonl" if as_jsonl else "table"


def emit_rows(
    rows: Iterator[T],
    fmt: Format,
    *,
    record: Callable[[T], Any],
    table: Callable[..., Any],
    next_cursor: str | None = None,
) -> None:
    """Print rows as a table, one JSON document `{"data": [...], "next_cursor"}`, or JSON Lines.

    Streams: JSON is written record by record and tables in chunks of TABLE_CHUNK rows, so
    `--all` over millions of traces runs in constant memory.
    """
    out = data_out()
    if fmt == "json":
        out.write('{"data": [')
        for n, row in enumerate(rows):
            out.write(("," if n else "") + json.dumps(record(row), ensure_ascii=False))
        out.write('], "next_cursor": ' + json.dumps(next_cursor) + "}\n")
        return
    if fmt == "jsonl":
        for row in rows:
            write_json(record(row))
        return
    console = stdout()
    chunk: list[T] = []
    first = True
    for row in rows:
        chunk.append(row)
        if len(chunk) == TABLE_CHUNK:
            console.print(table(chunk, header=first))
            chunk, first = [], False
    if chunk or first:
        console.print(table(chunk, header=first))


def emit_one(
    item: T, *, as_json: bool, record: Callable[[T], Any], view: Callable[[T], Any]
) -> None:
    """Print one item as JSON or as a Rich view."""
    if as_json:
        write_json(record(item))
    else:
        data_out()
        stdout().print(view(item))
