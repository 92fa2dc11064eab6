"""Input readers.

Every record comes out as a `RawRecord`: where it was (file, line, array index), the parsed
JSON value, or why it could not be parsed. Parsing never raises for bad input; the caller
collects every problem in one pass.

Formats: JSON Lines (by extension `.jsonl`/`.ndjson`, or when the first non-blank line is a
complete JSON value), a JSON array of objects, or one or more (pretty-printed) JSON objects.
`.gz` files are decompressed on the fly. JSON Lines are read line by line in constant memory;
arrays and pretty-printed documents are read whole (they cannot be streamed line-wise).

Defined outcomes for hostile input (identical on every database): invalid UTF-8, invalid
JSON, `NaN`/`Infinity`, integers outside the signed 64-bit range and nesting deeper than
`MAX_DEPTH` are rejected as invalid records with their location.
"""

from __future__ import annotations

import gzip
import itertools
import json
import sys
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from tunix_rt.errors import InvalidInputError

LINE_EXTENSIONS = (".jsonl", ".ndjson")
TRACE_EXTENSIONS = (".json", ".jsonl", ".ndjson")
MAX_DEPTH = 64
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
STDIN = "-"


@dataclass(frozen=True, slots=True)
class Location:
    """Where a record came from: `file:line`, plus the index inside a JSON array."""

    source: str
    line: int
    index: int | None = None

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}"
        return where if self.index is None else f"{where} (item {self.index})"

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.source, "line": self.line, "index": self.index}


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One input record: a parsed value, or the reason it could not be parsed."""

    location: Location
    text: str
    value: Any = None
    error: str | None = None
    size: int = 0  # bytes of the record as written


class _ParseError(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _ParseError(f"{name} is not valid JSON (NaN and Infinity are not allowed)")


def _parse_int(text: str) -> int:
    value = int(text)
    if not INT64_MIN <= value <= INT64_MAX:
        raise _ParseError(f"integer {text[:30]} is outside the signed 64-bit range")
    return value


_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_int=_parse_int)


def _depth_ok(value: Any) -> bool:
    """True when no container is nested deeper than MAX_DEPTH (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_DEPTH:
            return False
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return True


def _checked(value: Any) -> Any:
    if not _depth_ok(value):
        raise _ParseError(f"nesting is deeper than {MAX_DEPTH} levels")
    return value


def _json_error(exc: Exception) -> str:
    if isinstance(exc, _ParseError):
        return str(exc)
    if isinstance(exc, RecursionError):
        return f"nesting is deeper than {MAX_DEPTH} levels"
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON: {exc.msg} (column {exc.colno})"
    return f"invalid JSON: {exc}"


def parse_text(text: str) -> Any:
    """Parse one JSON value with the hostile-input rules; raises ValueError."""
    try:
        return _checked(_DECODER.decode(text))
    except (_ParseError, RecursionError, json.JSONDecodeError) as exc:
        raise ValueError(_json_error(exc)) from None


def _read_lines(stream: Iterable[bytes], name: str) -> Iterator[RawRecord]:
    for line_no, raw in enumerate(stream, start=1):
        stripped = raw.strip()
        if line_no == 1 and stripped.startswith(b"\xef\xbb\xbf"):
            stripped = stripped[3:].strip()
        if not stripped:
            continue
        loc = Location(name, line_no)
        try:
            text = stripped.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield RawRecord(
                loc,
                stripped.decode("utf-8", "replace"),
                error=f"invalid UTF-8 (byte {exc.start + 1} of the line)",
                size=len(stripped),
            )
            continue
        try:
            value = parse_text(text)
        except ValueError as exc:
            yield RawRecord(loc, text, error=str(exc), size=len(stripped))
            continue
        yield RawRecord(loc, text, value=value, size=len(stripped))


def _line_of(text: str, pos: int, line_starts: list[int]) -> int:
    return bisect_right(line_starts, pos)


_WS = " \t\r\n"


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos


def _read_document(data: bytes, name: str) -> Iterator[RawRecord]:
    """A JSON array of objects, or one or more JSON values one after another."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        yield RawRecord(Location(name, line), "", error="invalid UTF-8")
        return
    starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
    pos = _skip_ws(text, 0)
    if pos < len(text) and text[pos] == "[":
        yield from _read_array(text, pos, name, starts)
        return
    while pos < len(text):
        loc = Location(name, _line_of(text, pos, starts))
        try:
            value, end = _DECODER.raw_decode(text, pos)
            value = _checked(value)
        except (_ParseError, RecursionError, json.JSONDecodeError) as exc:
            if isinstance(exc, json.JSONDecodeError):
                loc = Location(name, exc.lineno)
            yield RawRecord(loc, text[pos : pos + 200], error=_json_error(exc))
            return
        chunk = text[pos:end]
        yield RawRecord(loc, chunk, value=value, size=len(chunk.encode("utf-8")))
        pos = _skip_ws(text, end)


def _read_array(text: str, pos: int, name: str, starts: list[int]) -> Iterator[RawRecord]:
    pos = _skip_ws(text, pos + 1)
    index = 0
    if pos < len(text) and text[pos] == "]":
        pos = _skip_ws(text, pos + 1)
    else:
        while True:
            loc = Location(name, _line_of(text, pos, starts), index)
            try:
                value, end = _DECODER.raw_decode(text, pos)
                value = _checked(value)
            except (_ParseError, RecursionError, json.JSONDecodeError) as exc:
                if isinstance(exc, json.JSONDecodeError):
                    loc = Location(name, exc.lineno, index)
                yield RawRecord(loc, text[pos : pos + 200], error=_json_error(exc))
                return
            chunk = text[pos:end]
            yield RawRecord(loc, chunk, value=value, size=len(chunk.encode("utf-8")))
            index += 1
            pos = _skip_ws(text, end)
            if pos < len(text) and text[pos] == ",":
                pos = _skip_ws(text, pos + 1)
                continue
            if pos < len(text) and text[pos] == "]":
                pos = _skip_ws(text, pos + 1)
                break
            line = _line_of(text, pos, starts)
            yield RawRecord(
                Location(name, line), "", error="invalid JSON: expected ',' or ']' in array"
            )
            return
    if pos < len(text):
        line = _line_of(text, pos, starts)
        yield RawRecord(Location(name, line), "", error="invalid JSON: extra data after array")


def _looks_like_lines(first_line: bytes) -> bool:
    stripped = first_line.strip()
    if stripped.startswith(b"\xef\xbb\xbf"):
        stripped = stripped[3:].strip()
    if not stripped.startswith(b"{"):
        return False
    try:
        json.loads(stripped)
    except ValueError:
        return False
    return True


def _read_stream(stream: IO[bytes], name: str, *, lines: bool | None) -> Iterator[RawRecord]:
    """Sniff the format (unless the extension said) and read the stream."""
    head: list[bytes] = []
    if lines is None:
        for raw in stream:
            head.append(raw)
            if raw.strip() and raw.strip() != b"\xef\xbb\xbf":
                break
        lines = bool(head) and _looks_like_lines(head[-1])
    if lines:
        yield from _read_lines(itertools.chain(head, stream), name)
    else:
        yield from _read_document(b"".join(head) + stream.read(), name)


def _open(path: Path) -> IO[bytes]:
    if path.suffix == ".gz":
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb", buffering=1 << 20)


def _base_suffix(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return Path(name).suffix


def expand_inputs(inputs: list[str]) -> list[str]:
    """Files as given; folders expanded recursively to trace files (sorted); `-` kept."""
    out: list[str] = []
    for item in inputs:
        if item == STDIN:
            out.append(item)
            continue
        path = Path(item)
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.is_file() and _base_suffix(p) in TRACE_EXTENSIONS
            )
            out.extend(str(p) for p in found)
        elif path.exists():
            out.append(item)
        else:
            raise InvalidInputError(f"{item}: no such file or directory")
    return out


def read_records(source: str, stdin: IO[bytes] | None = None) -> Iterator[RawRecord]:
    """Every record of one input (a file path or `-`)."""
    if source == STDIN:
        stream = stdin if stdin is not None else sys.stdin.buffer
        yield from _read_stream(stream, "<stdin>", lines=None)
        return
    path = Path(source)
    suffix = _base_suffix(path)
    lines = True if suffix in LINE_EXTENSIONS else None
    try:
        stream = _open(path)
    except OSError as exc:
        raise InvalidInputError(f"{source}: cannot read: {exc.strerror or exc}") from None
    with stream:
        try:
            yield from _read_stream(stream, source, lines=lines)
        except (OSError, EOFError) as exc:
            raise InvalidInputError(f"{source}: cannot read: {exc}") from None
