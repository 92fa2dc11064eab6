"""`trace`: the original service's trace export record.

`{"id", "prompts": prompt, "trace_steps": [step contents, ascending i], "final_answer",
"metadata": {"created_at", "trace_version", **meta}}` (the plural `prompts` is theirs). With
`--system`, `prompts` is `SYSTEM\\n\\nPROMPT`.
"""

from __future__ import annotations

from typing import Any

import orjson

from tunix_rt.formats._text import Options, Parsed, metadata, parse, with_system
from tunix_rt.records import RawRow


def record(t: Parsed, options: Options) -> dict[str, Any]:
    return {
        "id": t.id,
        "prompts": with_system(t.prompt, options.system),
        "trace_steps": t.contents,
        "final_answer": t.final_answer,
        "metadata": metadata(t, {"created_at": t.created_at, "trace_version": t.trace_version}),
    }


def render(row: RawRow, options: Options) -> tuple[bytes, int]:
    t = parse(row, options)
    return orjson.dumps(record(t, options), option=orjson.OPT_APPEND_NEWLINE), t.flags
