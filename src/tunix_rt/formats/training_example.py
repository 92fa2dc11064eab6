"""`training_example`: the original service's prompt/response pair.

`{"id", "prompt": PROMPT + "\\n\\nPlease show your reasoning steps.", "response":
"Reasoning:\\n1. ...\\n2. ...\\nAnswer: X", "metadata": {"source_trace_id", "created_at",
"trace_version", **meta}}`. Theirs drew a random `id` on every export; ours is derived from
the trace id (UUID v5, name `training_example`, the trace id as namespace), so every export
of the same trace gives the same bytes. With `--system`, the prompt starts `SYSTEM\\n\\n`.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from tunix_rt.formats._text import (
    ANSWER_SUFFIX,
    Options,
    Parsed,
    metadata,
    model_text,
    parse,
    with_system,
)
from tunix_rt.records import RawRow


def example_id(trace_id: str) -> str:
    """The example's id: the same for the same trace, never the trace's own id."""
    return str(uuid.uuid5(uuid.UUID(trace_id), "training_example"))


def record(t: Parsed, options: Options) -> dict[str, Any]:
    return {
        "id": example_id(t.id),
        "prompt": with_system(t.prompt, options.system) + ANSWER_SUFFIX,
        "response": model_text(t.contents, t.final_answer),
        "metadata": metadata(
            t,
            {
                "source_trace_id": t.id,
                "created_at": t.created_at,
                "trace_version": t.trace_version,
            },
        ),
    }


def render(row: RawRow, options: Options) -> tuple[bytes, int]:
    t = parse(row, options)
    return orjson.dumps(record(t, options), option=orjson.OPT_APPEND_NEWLINE), t.flags
