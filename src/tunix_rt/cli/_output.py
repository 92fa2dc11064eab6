"""Output helpers shared by every command.

Stdout carries data (ids, JSON, tables); stderr carries messages for people. Trace text is
data, so it is never parsed as Rich markup and terminal control characters are shown as
visible escapes (`\\x1b`) instead of being sent to the terminal.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar

import typer

from tunix_rt.errors import TunixRtError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")
Format = Literal["table", "json", "jsonl"]
TABLE_CHUNK = 1000

# C0 controls except tab and newline, DEL, C1 controls, and bidi overrides (which can make
# text read differently from what is stored).
_UNSAFE = [*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F, *range(0x80, 0xA0)]
_UNSAFE += [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_ESCAPES = {c: (f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}") for c in _UNSAFE}


def literal(text: str) -> str:
    """`text` with control characters replaced by visible escapes."""
    return text.translate(_ESCAPES)


def literal_text(text: str, style: str = "") -> Text:
    """A Rich Text (never markup-parsed) showing `text` literally."""
    from rich.text import Text

    return Text(literal(text), style=style)


@functools.cache
def stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


@functools.cache
def stdout() -> Console:
    from rich.console import Console

    return Console(highlight=False)


def say(message: str) -> None:
    """A message for people, on stderr."""
    stderr().print(literal(message), markup=False, highlight=False, soft_wrap=True)


def note(message: str) -> None:
    say(f"note: {message}")


def fail(message: str, code: int = 1) -> typer.Exit:
    say(f"error: {message}")
    return typer.Exit(code)


def write_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False))
    sys.stdout.write("\n")


def write_line(line: str) -> None:
    sys.stdout.write(line)
    sys.stdout.write("\n")


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn domain errors into `error: <message>` on stderr and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except TunixRtError as exc:
            raise fail(str(exc)) from None

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
    out = sys.stdout
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
    chunk: list[T] = []
    first = True
    for row in rows:
        chunk.append(row)
        if len(chunk) == TABLE_CHUNK:
            stdout().print(table(chunk, header=first))
            chunk, first = [], False
    if chunk or first:
        stdout().print(table(chunk, header=first))


def emit_one(
    item: T, *, as_json: bool, record: Callable[[T], Any], view: Callable[[T], Any]
) -> None:
    """Print one item as JSON or as a Rich view."""
    if as_json:
        write_json(record(item))
    else:
        stdout().print(view(item))
