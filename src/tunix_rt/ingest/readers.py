"""Input readers.

Every record comes out as a `RawRecord`: where it was (file, line, array index), the parsed
JSON value, or why it could not be parsed. Parsing never raises for bad input; the caller
collects every problem in one pass.

Formats: JSON Lines (by extension `.jsonl`/`.ndjson`, or when the first non-blank line is a
complete JSON object), a JSON array of objects, or one or more (pretty-printed) JSON objects.
`.gz` files are decompressed on the fly. JSON Lines are read line by line in constant memory;
arrays and pretty-printed documents are read whole (they cannot be streamed line by line).

Memory is bounded whatever the input (`/dev/zero`, a gzip bomb, a 2 GB line): a line is read
up to `line_limit` (4 x the trace size limit; a longer one is an invalid record, skipped
without being held), a document up to `document_limit` (64 x the trace size limit; a bigger
one stops the upload). A stream that is not JSON at all, cannot be read, or is a corrupt
`.gz` stops the upload with one `InvalidInputError` naming it.

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

import errno
import gzip
import json
import math
import os
import stat
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
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
GZIP_MAGIC = b"\x1f\x8b"
DEFAULT_MAX_BYTES = 1_048_576  # the TUNIX_RT_TRACE_MAX_BYTES default
LINE_FACTOR = 4  # a line may be 4 x the trace limit (escapes, whitespace, the envelope)
DOCUMENT_FACTOR = 64  # a JSON array / pretty-printed file may be 64 x the trace limit
SHOWN_RAW = 200  # bytes of an unreadable record kept for the rejects file
MAX_SHOWN_NAME = 200
NO_TRACE_FILES = "no trace files (.json, .jsonl, .ndjson, optionally .gz)"


@dataclass(frozen=True, slots=True)
class Location:
    """Where a record came from: `file:line`, plus the index inside a JSON array."""

    source: str
    line: int
    index: int | None = None

    def __str__(self) -> str:
        where = f"{_one_line(self.source)}:{self.line}"
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


def display_name(path: str) -> str:
    """A file name as text every encoder accepts.

    Bytes of a name that are not valid UTF-8 (kept by Python as lone surrogates) are shown
    as `\\xNN`; control characters are left to the printer (see `cli/_output.literal`).
    """
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raw = path.encode("utf-8", "surrogateescape" if _escaped_only(path) else "replace")
        return raw.decode("utf-8", "backslashreplace")
    return path


def _one_line(name: str) -> str:
    """A name inside a one-line message: a newline in it is shown as `\\n`."""
    return name.replace("\n", "\\n")


def _escaped_only(path: str) -> bool:
    return all(not "\ud800" <= ch <= "\udfff" or "\udc80" <= ch <= "\udcff" for ch in path)


def shown_name(path: str) -> str:
    """A file name for a one-line message: `display_name` with newlines escaped, shortened
    when absurdly long (a name too long for the system)."""
    name = _one_line(display_name(path))
    return name if len(name) <= MAX_SHOWN_NAME else f"{name[:80]}...{name[-40:]}"


def _reason(exc: BaseException) -> str:
    """`Permission denied` -> `permission denied`."""
    text = (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
    return text[:1].lower() + text[1:]


def line_limit(max_bytes: int) -> int:
    """Longest JSON Lines line read into memory: room for a trace at the limit written with
    `\\uXXXX` escapes (up to 3x its canonical size) and its envelope."""
    return LINE_FACTOR * max_bytes


def document_limit(max_bytes: int) -> int:
    """Biggest JSON document (array or pretty-printed objects) read into memory."""
    return DOCUMENT_FACTOR * max_bytes


def _lines(
    readline: Callable[[int], bytes],
    name: str,
    max_bytes: int,
    line_no: int,
    pending: bytes | None,
) -> Iterator[tuple[int, bytes, bool]]:
    """(line number, line, too long) for each line, never holding more than `line_limit`.

    A line longer than that yields its first bytes and True; the rest of it is skipped
    without being kept, so reading can go on with the next line. A "line" that runs on for
    more than `document_limit` bytes (`/dev/zero`, a binary file) stops the reading.
    """
    limit = line_limit(max_bytes)
    line = readline(limit + 1) if pending is None else pending
    while line:
        if len(line) > limit and not line.endswith(b"\n"):
            _skip_line(readline, name, line_no, len(line), max_bytes)
            yield line_no, line[:SHOWN_RAW], True
        else:
            yield line_no, line, False
        line_no += 1
        line = readline(limit + 1)


def _skip_line(
    readline: Callable[[int], bytes], name: str, line_no: int, done: int, max_bytes: int
) -> None:
    budget, chunk_size = document_limit(max_bytes), line_limit(max_bytes) + 1
    while True:
        chunk = readline(chunk_size)
        if not chunk or chunk.endswith(b"\n"):
            return
        done += len(chunk)
        if done > budget:
            raise InvalidInputError(
                f"{_one_line(name)}:{line_no}: trace exceeds maximum of {max_bytes} bytes "
                f"(a line longer than {budget} bytes: stopped reading)"
            )


def _read_lines(
    lines: Iterator[tuple[int, bytes, bool]], name: str, max_bytes: int, *, parse: bool
) -> Iterator[RawRecord]:
    too_long = f"trace exceeds maximum of {max_bytes} bytes"
    for line_no, line, overlong in lines:
        if overlong:
            yield RawRecord(Location(name, line_no), line, error=too_long)
            continue
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


class _LineCounter:
    """Line numbers of positions in a document, counted forward (positions only grow)."""

    def __init__(self, text: str, first_line: int) -> None:
        self.text, self.pos, self.line, self.first = text, 0, first_line, first_line

    def at(self, pos: int) -> int:
        if pos >= self.pos:
            self.line += self.text.count("\n", self.pos, pos)
        else:  # pragma: no cover - positions are visited in order
            self.line -= self.text.count("\n", pos, self.pos)
        self.pos = pos
        return self.line


_WS = " \t\r\n"


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos


def _decode_at(text: str, pos: int) -> tuple[Any, int]:
    value, end = _DECODER.raw_decode(text, pos)
    return _checked(value)[0], end


def _read_document(data: bytes, name: str, first_line: int = 1) -> Iterator[RawRecord]:
    """A JSON array of objects, or one or more JSON values one after another.

    `first_line` is the line `data` starts on (blank lines before it were skipped).
    """
    if data.startswith(BOM):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + first_line
        yield RawRecord(Location(name, line), b"", error="invalid UTF-8")
        return
    lines = _LineCounter(text, first_line)
    pos = _skip_ws(text, 0)
    if pos < len(text) and text[pos] == "[":
        yield from _read_array(text, pos, name, lines)
        return
    while pos < len(text):
        loc = Location(name, lines.at(pos))
        try:
            value, end = _decode_at(text, pos)
        except (_ParseError, RecursionError, json.JSONDecodeError) as exc:
            if isinstance(exc, json.JSONDecodeError):
                loc = Location(name, exc.lineno + first_line - 1)
            yield RawRecord(loc, text[pos : pos + SHOWN_RAW].encode(), error=_json_error(exc))
            return
        yield RawRecord(loc, text[pos:end].encode(), value)
        pos = _skip_ws(text, end)


def _read_array(text: str, pos: int, name: str, lines: _LineCounter) -> Iterator[RawRecord]:
    first_line = lines.first
    pos = _skip_ws(text, pos + 1)
    index = 0
    if pos < len(text) and text[pos] == "]":
        pos = _skip_ws(text, pos + 1)
    else:
        while True:
            loc = Location(name, lines.at(pos), index)
            try:
                value, end = _decode_at(text, pos)
            except (_ParseError, RecursionError, json.JSONDecodeError) as exc:
                if isinstance(exc, json.JSONDecodeError):
                    loc = Location(name, exc.lineno + first_line - 1, index)
                raw = text[pos : pos + SHOWN_RAW].encode()
                yield RawRecord(loc, raw, error=_json_error(exc))
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
            loc = Location(name, lines.at(pos))
            yield RawRecord(loc, b"", error="invalid JSON: expected ',' or ']' in array")
            return
    if pos < len(text):
        loc = Location(name, lines.at(pos))
        yield RawRecord(loc, b"", error="invalid JSON: extra data after array")


def _looks_like_lines(first_line: bytes) -> bool:
    stripped = first_line.strip()
    if stripped.startswith(BOM):
        stripped = stripped[3:].strip()
    if not stripped.startswith(b"{"):
        return False
    value, error = parse_line(stripped)
    return error is None and isinstance(value, dict)


def _not_json(name: str, line_no: int, start: bytes) -> InvalidInputError:
    if start.startswith(GZIP_MAGIC):
        return InvalidInputError(
            f"{_one_line(name)}: is gzip-compressed: name it *.gz, or decompress it "
            "(zcat FILE | tunix-rt trace upload -)"
        )
    shown = repr(start[:16])[2:-1] + ("..." if len(start) > 16 else "")
    return InvalidInputError(
        f"{_one_line(name)}:{line_no}: not JSON (a JSON object, array or JSON Lines starts with "
        f"{{ or [; this starts with {shown})"
    )


def _read_stream(
    stream: IO[bytes], name: str, *, lines: bool | None, parse: bool, max_bytes: int
) -> Iterator[RawRecord]:
    """Sniff the format (unless the extension said) and read the stream, in bounded memory."""
    readline = stream.readline
    line_no, first = 1, None
    if lines is None:
        limit = line_limit(max_bytes)
        while True:  # skip blank lines (counting them) up to the first non-blank one
            chunk = readline(limit + 1)
            if not chunk:
                return
            content = chunk[3:] if line_no == 1 and chunk.startswith(BOM) else chunk
            if content.strip():
                first = chunk
                break
            if chunk.endswith(b"\n"):
                line_no += 1
        whole_line = len(first) <= limit or first.endswith(b"\n")
        lines = whole_line and _looks_like_lines(first)
        if not lines:
            yield from _read_document_stream(stream, first, line_no, name, max_bytes)
            return
    else:
        first = readline(line_limit(max_bytes) + 1)
        if first.startswith(GZIP_MAGIC):  # x.jsonl that is really x.jsonl.gz
            raise _not_json(name, 1, first)
    yield from _read_lines(
        _lines(readline, name, max_bytes, line_no, first), name, max_bytes, parse=parse
    )


def _read_document_stream(
    stream: IO[bytes], first: bytes, line_no: int, name: str, max_bytes: int
) -> Iterator[RawRecord]:
    """A document that starts with `first`: read whole, up to `document_limit` bytes."""
    start = first[3:] if line_no == 1 and first.startswith(BOM) else first
    start = start.lstrip()
    if not start.startswith((b"{", b"[")):
        raise _not_json(name, line_no, start)
    limit = document_limit(max_bytes)
    data = first + stream.read(limit + 1 - len(first))
    if len(data) > limit:
        raise InvalidInputError(
            f"{_one_line(name)}: JSON document (array or pretty-printed) larger than {limit} bytes "
            f"({DOCUMENT_FACTOR} x TUNIX_RT_TRACE_MAX_BYTES): upload big inputs as JSON "
            "Lines, one trace per line (e.g. jq -c '.[]' FILE > FILE.jsonl)"
        )
    yield from _read_document(data, name, line_no)


def _is_gz(path: str | Path) -> bool:
    return str(path).lower().endswith(".gz")


def _open(path: Path) -> IO[bytes]:
    if _is_gz(path):
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb", buffering=1 << 20)


def _base_suffix(path: str | Path) -> str:
    name = Path(path).name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return Path(name).suffix


def is_trace_name(path: str | Path) -> bool:
    """Whether a folder upload reads this file (by its extension)."""
    return _base_suffix(path) in TRACE_EXTENSIONS


def _stat(path: str) -> os.stat_result:
    """`os.stat`, or an error naming the path and saying what is wrong with it."""
    try:
        return os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ENOENT and os.path.islink(path):
            raise InvalidInputError(f"{shown_name(path)}: broken symbolic link") from None
        if exc.errno == errno.ENAMETOOLONG:
            raise InvalidInputError(f"{shown_name(path)}: file name too long") from None
        raise InvalidInputError(f"{shown_name(path)}: {_reason(exc)}") from None


def _check_readable(path: str) -> None:
    if not os.access(path, os.R_OK):
        raise InvalidInputError(f"{shown_name(path)}: cannot read: permission denied")


def _folder_files(root: str) -> list[str]:
    """Trace files under `root`, recursively, sorted; any folder or trace file that cannot
    be read is an error (never skipped silently). Symbolic links are followed, each folder
    is visited once (a link back up the tree is not a loop)."""
    found: list[str] = []
    seen: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        folder = stack.pop()
        info = _stat(folder)
        if (info.st_dev, info.st_ino) in seen:
            continue
        seen.add((info.st_dev, info.st_ino))
        try:
            with os.scandir(folder) as entries:
                children = [entry.path for entry in entries]
        except OSError as exc:
            raise InvalidInputError(
                f"{shown_name(folder)}: cannot read folder: {_reason(exc)}"
            ) from None
        for child in children:
            mode = _stat(child).st_mode
            if stat.S_ISDIR(mode):
                stack.append(child)
            elif is_trace_name(child):
                if not stat.S_ISREG(mode):
                    raise InvalidInputError(
                        f"{shown_name(child)}: not a regular file (pipes and devices are read "
                        "only when named on the command line)"
                    )
                _check_readable(child)
                found.append(child)
    return sorted(found, key=lambda p: Path(p).parts)


def expand_inputs(inputs: list[str]) -> list[str]:
    """Files as given; folders expanded recursively to trace files (sorted); `-` kept.

    Fails (`InvalidInputError`, naming the path) for anything that cannot be read: a missing
    path or broken link, a folder or trace file without permission, a folder with no trace
    files, a socket. Pipes and character devices named here are read like files
    (`<(generate)`, `/dev/stdin`). Applied to its own output, it returns it unchanged.
    """
    out: list[str] = []
    for item in inputs:
        if item == STDIN:
            out.append(item)
            continue
        if not item:
            raise InvalidInputError("'' (an empty argument) is not a file name")
        mode = _stat(item).st_mode
        if stat.S_ISDIR(mode):
            root = str(Path(item))
            found = _folder_files(root)
            if not found:
                raise InvalidInputError(f"{NO_TRACE_FILES} in {shown_name(item)}")
            out.extend(found)
        elif stat.S_ISREG(mode) or stat.S_ISFIFO(mode) or stat.S_ISCHR(mode):
            _check_readable(item)
            out.append(item)
        else:
            raise InvalidInputError(f"{shown_name(item)}: not a file, folder or pipe")
    return out


def input_size(sources: list[str]) -> int | None:
    """Total bytes to read, when known (not for stdin, pipes, devices or compressed files)."""
    total = 0
    for source in sources:
        if source == STDIN or _is_gz(source):
            return None
        try:
            info = os.stat(source)
        except OSError:
            return None
        if not stat.S_ISREG(info.st_mode):
            return None
        total += info.st_size
    return total


def _read_error(source: str, exc: BaseException) -> InvalidInputError:
    name = shown_name(source)
    if _is_gz(source):
        if isinstance(exc, EOFError):
            return InvalidInputError(f"{name}: truncated gzip file (it ends mid-stream)")
        if isinstance(exc, gzip.BadGzipFile) and str(exc).startswith("Not a gzipped file"):
            return InvalidInputError(f"{name}: not a gzip file, although its name ends in .gz")
        if isinstance(exc, gzip.BadGzipFile | zlib.error):
            return InvalidInputError(f"{name}: corrupt gzip file ({exc})")
    return InvalidInputError(f"{name}: cannot read: {_reason(exc)}")


def read_records(
    source: str,
    stdin: IO[bytes] | None = None,
    *,
    parse_lines: bool = True,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Iterator[RawRecord]:
    """Every record of one input (a file path or `-`).

    With `parse_lines=False`, JSON Lines records come unparsed (`parsed=False`) so that the
    caller can parse them elsewhere (in worker processes); documents are always parsed here.
    `max_bytes` is the trace size limit, which bounds the memory spent on one line
    (`line_limit`) or one document (`document_limit`). A stream that cannot be read
    (I/O error, corrupt gzip, not JSON at all, too big) raises `InvalidInputError`.
    """
    if source == STDIN:
        stream = stdin if stdin is not None else sys.stdin.buffer if sys.stdin else None
        if stream is None:
            raise InvalidInputError("-: cannot read stdin: it is closed")
        try:
            yield from _read_stream(
                stream, "<stdin>", lines=None, parse=parse_lines, max_bytes=max_bytes
            )
        except OSError as exc:
            raise InvalidInputError(f"<stdin>: cannot read: {_reason(exc)}") from None
        return
    name = display_name(source)
    path = Path(source)
    lines = True if _base_suffix(path) in LINE_EXTENSIONS else None
    try:
        stream = _open(path)
    except OSError as exc:
        raise InvalidInputError(f"{shown_name(source)}: cannot read: {_reason(exc)}") from None
    with stream:
        try:
            yield from _read_stream(
                stream, name, lines=lines, parse=parse_lines, max_bytes=max_bytes
            )
        except (OSError, EOFError, zlib.error) as exc:
            raise _read_error(source, exc) from None
