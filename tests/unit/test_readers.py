"""Readers: bounded memory, located records, and paths that cannot be read (no database)."""

from __future__ import annotations

import gzip
import io
import json
import os
import re
from pathlib import Path

import pytest

from tests.helpers import make_trace
from tunix_rt.errors import InvalidInputError
from tunix_rt.ingest.readers import (
    display_name,
    document_limit,
    expand_inputs,
    input_size,
    line_limit,
    read_records,
)

LIMIT = 1024  # the smallest TUNIX_RT_TRACE_MAX_BYTES: small inputs cross every bound


class CountingStream(io.BytesIO):
    """A stream that remembers the biggest single read: what a reader held at once."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.biggest = 0

    def _note(self, data: bytes) -> bytes:
        self.biggest = max(self.biggest, len(data))
        return data

    def readline(self, size: int | None = -1) -> bytes:
        return self._note(super().readline(size))

    def read(self, size: int | None = -1) -> bytes:
        return self._note(super().read(size))


def _stdin(data: bytes) -> list[tuple[int, str | None, bool]]:
    """(line, error, parsed) of each record read from `data` as stdin."""
    stream = CountingStream(data)
    records = list(read_records("-", stream, max_bytes=LIMIT))
    return [(r.location.line, r.error, r.error is None and r.value is not None) for r in records]


def _line(n: int) -> bytes:
    return json.dumps(make_trace(n)).encode() + b"\n"


def test_an_overlong_line_is_one_invalid_record_and_reading_goes_on() -> None:
    """A line past the line limit is reported with its number; the next line is read."""
    huge = b'{"prompt": "' + b"x" * (line_limit(LIMIT) * 3) + b'"}\n'
    records = _stdin(_line(1) + huge + _line(2))
    assert records == [
        (1, None, True),
        (2, f"trace exceeds maximum of {LIMIT} bytes", False),
        (3, None, True),
    ]


def test_an_overlong_line_is_never_held_whole() -> None:
    """Reading a line 3x the limit never asks the stream for more than the limit at once."""
    huge = b'{"prompt": "' + b"x" * (line_limit(LIMIT) * 3) + b'"}\n'
    stream = CountingStream(_line(1) + huge)
    list(read_records("-", stream, max_bytes=LIMIT))
    assert stream.biggest <= line_limit(LIMIT) + 1


def test_a_line_without_end_stops_reading() -> None:
    """Past the document limit without a newline (/dev/zero as .jsonl): one error, stop."""
    stream = CountingStream(_line(1) + b"{" + b" " * (document_limit(LIMIT) + 10))
    with pytest.raises(InvalidInputError, match=r"<stdin>:2: trace exceeds maximum of 1024"):
        list(read_records("-", stream, max_bytes=LIMIT))
    assert stream.biggest <= line_limit(LIMIT) + 1


def test_stream_of_nul_bytes_is_not_json() -> None:
    """/dev/zero on stdin: one error at once, long before the document limit is read."""
    stream = CountingStream(b"\0" * (document_limit(LIMIT) * 2))
    with pytest.raises(InvalidInputError, match=r"<stdin>:1: not JSON .*\\x00\\x00"):
        list(read_records("-", stream, max_bytes=LIMIT))
    assert stream.biggest <= line_limit(LIMIT) + 1


def test_document_bigger_than_the_limit_is_refused() -> None:
    """A JSON array bigger than 64 x the trace limit is one error, read only up to the limit."""
    body = b"[" + b",".join(_line(n).strip() for n in range(400)) + b"]"
    assert len(body) > document_limit(LIMIT)
    stream = CountingStream(body)
    with pytest.raises(InvalidInputError, match="larger than 65536 bytes"):
        list(read_records("-", stream, max_bytes=LIMIT))
    assert stream.biggest <= document_limit(LIMIT) + 1
    small = b"[" + b",".join(_line(n).strip() for n in range(3)) + b"]"
    assert [r.location.index for r in read_records("-", io.BytesIO(small))] == [0, 1, 2]


def test_line_numbers_count_skipped_blank_lines() -> None:
    """Blank lines before the first record are counted, for JSON Lines and documents."""
    assert _stdin(b"\n \n" + _line(1) + b"\n" + _line(2))[1][0] == 5
    pretty = json.dumps(make_trace(prompt=""), indent=2).encode()
    records = list(read_records("-", io.BytesIO(b"\n\n" + pretty), max_bytes=LIMIT))
    assert [r.location.line for r in records] == [3]


def test_gzip_stdin_gets_a_hint() -> None:
    with pytest.raises(InvalidInputError, match="is gzip-compressed"):
        list(read_records("-", io.BytesIO(gzip.compress(_line(1)))))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: d[: len(d) // 2], "truncated gzip file"),
        (lambda d: d[:-8] + bytes([d[-8] ^ 0xFF]) + d[-7:], "corrupt gzip file (CRC check"),
        (lambda d: d[:12] + b"\xff" * 8 + d[20:], "corrupt gzip file"),
        (lambda d: b'{"a": 1}\n', "not a gzip file"),
    ],
)
def test_corrupt_gzip_is_one_error_naming_the_file(
    tmp_path: Path, damage: object, message: str
) -> None:
    data = gzip.compress(b"".join(_line(n) for n in range(200)))
    path = tmp_path / "t.jsonl.gz"
    path.write_bytes(damage(data))  # type: ignore[operator]
    with pytest.raises(InvalidInputError, match=rf"^{path}: {re.escape(message)}"):
        list(read_records(str(path)))


def test_gzip_bomb_stays_bounded(tmp_path: Path) -> None:
    """64 MiB of zeros compressed to 64 KiB: refused without inflating it all."""
    path = tmp_path / "bomb.json.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(b"[")
        for _ in range(64):
            fh.write(b" " * (1 << 20))
    with pytest.raises(InvalidInputError, match="larger than 65536 bytes"):
        list(read_records(str(path), max_bytes=LIMIT))


def test_display_name_escapes_undecodable_bytes() -> None:
    name = os.fsdecode(b"caf\xe9\xff.jsonl")
    assert display_name(name) == "caf\\xe9\\xff.jsonl"
    assert display_name("plain é.jsonl") == "plain é.jsonl"
    display_name(name).encode("utf-8")  # never raises


def test_expand_inputs_is_sorted_and_idempotent(tmp_path: Path) -> None:
    """Folders expand to trace files in path order; expanding the result changes nothing."""
    (tmp_path / "b").mkdir()
    (tmp_path / "a.jsonl").write_bytes(_line(1))
    (tmp_path / "b" / "c.json.gz").write_bytes(gzip.compress(_line(2)))
    (tmp_path / "b" / "notes.txt").write_text("ignored")
    (tmp_path / "b" / "up").symlink_to("..")  # a link back up the tree is not a loop
    files = expand_inputs([str(tmp_path)])
    assert files == [str(tmp_path / "a.jsonl"), str(tmp_path / "b" / "c.json.gz")]
    assert expand_inputs(files) == files
    assert input_size(files) is None  # compressed: unknown
    assert input_size(files[:1]) == len(_line(1))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.mkdir(), "no trace files (.json, .jsonl, .ndjson, optionally .gz) in"),
        (lambda p: p.symlink_to(p.parent / "missing"), "broken symbolic link"),
        (lambda p: p.symlink_to(p), "too many levels of symbolic links"),
    ],
)
def test_paths_that_cannot_be_read(tmp_path: Path, make: object, message: str) -> None:
    path = tmp_path / "x.jsonl"
    make(path)  # type: ignore[operator]
    with pytest.raises(InvalidInputError) as info:
        expand_inputs([str(path)])
    assert str(info.value) in (f"{path}: {message}", f"{message} {path}")


def test_folder_with_a_broken_link_or_a_pipe_fails(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(_line(1))
    (tmp_path / "sub").symlink_to(tmp_path / "gone")
    with pytest.raises(InvalidInputError, match=r"sub: broken symbolic link"):
        expand_inputs([str(tmp_path)])
    (tmp_path / "sub").unlink()
    os.mkfifo(tmp_path / "p.jsonl")
    with pytest.raises(InvalidInputError, match=r"p.jsonl: not a regular file"):
        expand_inputs([str(tmp_path)])


def test_name_too_long_is_shortened(tmp_path: Path) -> None:
    name = str(tmp_path / ("x" * 5000))
    with pytest.raises(InvalidInputError, match="file name too long") as info:
        expand_inputs([name])
    assert len(str(info.value)) < 300


def test_gzip_names_in_any_case_and_gzip_without_its_name(tmp_path: Path) -> None:
    """`X.JSONL.GZ` is decompressed; gzip data named `.jsonl` is one error, not garbage lines."""
    upper = tmp_path / "X.JSONL.GZ"
    upper.write_bytes(gzip.compress(_line(1) + _line(2)))
    assert [r.error for r in read_records(str(upper))] == [None, None]
    assert expand_inputs([str(tmp_path)]) == [str(upper)]
    assert input_size([str(upper)]) is None
    hidden = tmp_path / "y.jsonl"
    hidden.write_bytes(gzip.compress(_line(1)))
    with pytest.raises(InvalidInputError, match=rf"^{hidden}: is gzip-compressed"):
        list(read_records(str(hidden)))


def test_empty_argument_is_named() -> None:
    with pytest.raises(InvalidInputError, match=r"^'' \(an empty argument\) is not a file name$"):
        expand_inputs(["-", ""])


class _FailingStream(io.BytesIO):
    def readline(self, size: int | None = -1) -> bytes:
        raise OSError(5, "Input/output error")


def test_unreadable_streams_and_files(tmp_path: Path) -> None:
    """An I/O error on stdin, a folder opened as a file: one error each, never a traceback."""
    with pytest.raises(InvalidInputError, match=r"^<stdin>: cannot read: input/output error$"):
        list(read_records("-", _FailingStream()))
    folder = tmp_path / "x.jsonl"
    folder.mkdir()
    with pytest.raises(InvalidInputError, match=rf"^{folder}: cannot read: is a directory$"):
        list(read_records(str(folder)))
    assert list(read_records("-", io.BytesIO(b"\xef\xbb\xbf\n  \n\n"))) == []  # blank: nothing


def test_input_size_unknown_for_pipes_and_vanished_files(tmp_path: Path) -> None:
    fifo = tmp_path / "p"
    os.mkfifo(fifo)
    assert input_size([str(fifo)]) is None
    assert input_size([str(tmp_path / "gone.jsonl")]) is None
    assert input_size(["-"]) is None
