"""Input readers.

Every record comes out as a `RawRecord`: where it was (file, line, array index), the parsed
JSON value, or why it could not be parsed. Parsing never raises for bad input; the caller
collects every problem in one pass.

Formats: JSON Lines (by extension `.jsonl`/`.ndjson`, or when the first non-blank line is a
complete JSON object), a JSON array of objects, or one or more (pretty-printed) JSON objects.
`.gz` files are decompressed on the fly. JSON Lines are read line by line in constant memory;
arrays and pretty-printed documents are read whole (they cannot be streamed line by line).

Lines are parsed with orjson (several times faster than the standard library). orjson turns
integers beyond 64 bits into floats silently, so a record whose free-form parts hold a float
is parsed again by the standard library, whose hooks enforce the rules below (schema fields
are strings or strict integers, so they cannot hide one). When orjson rejects a line, the
standard library is asked for a more specific message.

Defined outcomes for hostile input (identical on every database): invalid UTF-8, invalid
JSON (including lone surrogates), `NaN`/`Infinity` and numbers that overflow a double,
integers outside the signed 64-bit range, and nesting deeper than `MAX_DEPTH` make the record
invalid, with its location.
"""

from __future__ import annotations

import gzip
import itertools
import json
import math
import sys
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

import orjson

from tunix_rt.errors import InvalidInputError

LINE_EXTENSIONS = (".jsonl", ".ndjson")
TRACE_EXTENSIONS = (".json", ".jsonl", ".ndjson")
MAX_DEPTH = 64
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
STDIN = "-"
BOM = b"\xef\xbb\xbf"


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
    raw: bytes  # the record as written (for size checks and rejects files)
    value: Any = None
    error: str | None = None
    parsed: bool = True  # False: a JSON Lines record left for the caller to `parse_line`


class _ParseError(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _ParseError(f"{name} is not valid JSON (NaN and Infinity are not allowed)")


def _parse_int(text: str) -> int:
    value = int(text)
    if not INT64_MIN <= value <= INT64_MAX:
        raise _ParseError(f"integer {text[:30]} is outside the signed 64-bit range")
    return value


def _parse_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _ParseError(f"number {text[:30]} overflows a double")
    return value


_DECODER = json.JSONDecoder(
    parse_constant=_reject_constant, parse_int=_parse_int, parse_float=_parse_float
)


def _scan(value: Any, start: int) -> bool:
    """Depth rule for a free-form value; True when it holds a float (see `parse_line`)."""
    has_float = False
    stack: list[tuple[Any, int]] = [(value, start)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            has_float = has_float or isinstance(item, float)
            continue
        if depth > MAX_DEPTH:
            raise _ParseError(f"nesting is deeper than {MAX_DEPTH} levels")
        stack.extend((child, depth + 1) for child in children)
    return has_float


def _checked(value: Any) -> tuple[Any, bool]:
    """Apply the depth rule to the free-form parts (`meta`, unknown keys, a bare array).

    Returns the value and whether a free-form part holds a float: the only place where an
    integer beyond 64 bits (which orjson turns into a float) could hide, since every schema
    field is a string or a strict integer.
    """
    if isinstance(value, dict):
        has_float = False
        for key, child in value.items():
            if key == "payload" and isinstance(child, dict):
                has_float = _checked(child)[1] or has_float
            elif key != "steps" and isinstance(child, dict | list | float):
                has_float = _scan(child, 2) or has_float
        return value, has_float
    if isinstance(value, list | float):
        return value, _scan(value, 1)
    return value, False


def _json_error(exc: Exception) -> str:
    if isinstance(exc, _ParseError):
        return str(exc)
    if isinstance(exc, RecursionError):
        return f"nesting is deeper than {MAX_DEPTH} levels"
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON: {exc.msg} (column {exc.colno})"
    return f"invalid JSON: {exc}"  # pragma: no cover - defensive


def _stdlib_parse(text: str) -> Any:
    return _checked(_DECODER.decode(text))[0]


def parse_line(raw: bytes) -> tuple[Any, str | None]:
    """(value, None) or (None, error message) for one JSON Lines record.

    orjson first; the standard library (whose hooks enforce the integer and NaN rules) when
    orjson fails, or when a free-form part holds a float that might be a large integer.
    """
    fast_error = None
    try:
        value, has_float = _checked(orjson.loads(raw))
        if not has_float:
            return value, None
    except _ParseError as exc:
        return None, str(exc)
    except orjson.JSONDecodeError as exc:
        fast_error = f"invalid JSON: {exc}"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"invalid UTF-8 (byte {exc.start + 1} of the line)"
    try:
        value = _stdlib_parse(text)
    except (_ParseError, RecursionError, json.JSONDecodeError) as exc:
        return None, _json_error(exc)
    if fast_error is not None:  # e.g. a lone surrogate, which only orjson rejects
        return None, fast_error
    return value, None


def _read_lines(stream: Iterable[bytes], name: str, *, parse: bool) -> Iterator[RawRecord]:
    for line_no, line in enumerate(stream, start=1):
        stripped = line.strip()
        if line_no == 1 and stripped.startswith(BOM):
            stripped = stripped[3:].strip()
        if not stripped:
            continue
        if not parse:
            yield RawRecord(Location(name, line_no), stripped, parsed=False)
            continue
        value, error = parse_line(stripped)
        yield RawRecord(Location(name, line_no), stripped, value, error)


def _line_of(pos: int, line_starts: list[int]) -> int:
    return bisect_right(line_starts, pos)


_WS = " \t\r\n"


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos


def _decode_at(text: str, pos: int) -> tuple[Any, int]:
    value, end = _DECODER.raw_decode(text, pos)
    return _checked(value)[0], end


def _read_document(data: bytes, name: str) -> Iterator[RawRecord]:
    """A JSON array of objects, or one or more JSON values one after another."""
    if data.startswith(BOM):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        yield RawRecord(Location(name, line), b"", error="invalid UTF-8")
        return
    starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
    pos = _skip_ws(text, 0)
    if pos < len(text) and text[pos] == "[":
        yield from _read_array(text, pos, name, starts)
        return
    while pos < len(text):
        loc = Location(name, _line_of(pos, starts))
        try:
            value, end = _decode_at(text, pos)
        except (_ParseError, RecursionError, json.JSONDecodeError) as exc:
            if isinstance(exc, json.JSONDecodeError):
                loc = Location(name, exc.lineno)
            yield RawRecord(loc, text[pos : pos + 200].encode(), error=_json_error(exc))
            return
        yield RawRecord(loc, text[pos:end].encode(), value)
        pos = _skip_ws(text, end)


def _read_array(text: str, pos: int, name: str, starts: list[int]) -> Iterator[RawRecord]:
    pos = _skip_ws(text, pos + 1)
    index = 0
    if pos < len(text) and text[pos] == "]":
        pos = _skip_ws(text, pos + 1)
    else:
        while True:
            loc = Location(name, _line_of(pos, starts), index)
            try:
                value, end = _decode_at(text, pos)
            except (_ParseError, RecursionError, json.JSONDecodeError) as exc:
                if isinstance(exc, json.JSONDecodeError):
                    loc = Location(name, exc.lineno, index)
                yield RawRecord(loc, text[pos : pos + 200].encode(), error=_json_error(exc))
                return
            yield RawRecord(loc, text[pos:end].encode(), value)
            index += 1
            pos = _skip_ws(text, end)
            if pos < len(text) and text[pos] == ",":
                pos = _skip_ws(text, pos + 1)
                continue
            if pos < len(text) and text[pos] == "]":
                pos = _skip_ws(text, pos + 1)
                break
            loc = Location(name, _line_of(pos, starts))
            yield RawRecord(loc, b"", error="invalid JSON: expected ',' or ']' in array")
            return
    if pos < len(text):
        loc = Location(name, _line_of(pos, starts))
        yield RawRecord(loc, b"", error="invalid JSON: extra data after array")


def _looks_like_lines(first_line: bytes) -> bool:
    stripped = first_line.strip()
    if stripped.startswith(BOM):
        stripped = stripped[3:].strip()
    if not stripped.startswith(b"{"):
        return False
    value, error = parse_line(stripped)
    return error is None and isinstance(value, dict)


def _read_stream(
    stream: IO[bytes], name: str, *, lines: bool | None, parse: bool
) -> Iterator[RawRecord]:
    """Sniff the format (unless the extension said) and read the stream."""
    head: list[bytes] = []
    if lines is None:
        for line in stream:
            head.append(line)
            if line.strip() and line.strip() != BOM:
                break
        lines = bool(head) and _looks_like_lines(head[-1])
    if lines:
        yield from _read_lines(itertools.chain(head, stream), name, parse=parse)
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


def input_size(sources: list[str]) -> int | None:
    """Total bytes to read, when known (not for stdin or compressed files)."""
    total = 0
    for source in sources:
        if source == STDIN or source.endswith(".gz"):
            return None
        total += Path(source).stat().st_size
    return total


def read_records(
    source: str, stdin: IO[bytes] | None = None, *, parse_lines: bool = True
) -> Iterator[RawRecord]:
    """Every record of one input (a file path or `-`).

    With `parse_lines=False`, JSON Lines records come unparsed (`parsed=False`) so that the
    caller can parse them elsewhere (in worker processes); documents are always parsed here.
    """
    if source == STDIN:
        stream = stdin if stdin is not None else sys.stdin.buffer
        yield from _read_stream(stream, "<stdin>", lines=None, parse=parse_lines)
        return
    path = Path(source)
    lines = True if _base_suffix(path) in LINE_EXTENSIONS else None
    try:
        stream = _open(path)
    except OSError as exc:
        raise InvalidInputError(f"{source}: cannot read: {exc.strerror or exc}") from None
    with stream:
        try:
            yield from _read_stream(stream, source, lines=lines, parse=parse_lines)
        except (OSError, EOFError) as exc:
            raise InvalidInputError(f"{source}: cannot read: {exc}") from None
