"""`jsonl`: the stored record, exactly what `trace list --jsonl` prints and upload reads back.

`{"id", "created_at", "trace_version", "content_hash", "payload", "tags"}` with the payload as
its stored canonical JSON, passed through without decoding (`records.record_line`). It is a
copy of the data, not training text: `--system` and `--sanitize` do not apply.
"""

from __future__ import annotations

from tunix_rt.formats._text import Options
from tunix_rt.records import RawRow, record_line


def render(row: RawRow, options: Options) -> tuple[bytes, int]:
    return record_line(row), 0
