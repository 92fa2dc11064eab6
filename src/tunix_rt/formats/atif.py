"""`atif`: one ATIF trajectory per trace (Harbor's Agent Trajectory Interchange Format).

`{"schema_version": "ATIF-v1.7", "session_id": ID, "trajectory_id": ID, "agent": {"name":
"tunix-rt", "version": V}, "steps": [...], "final_metrics": {"total_steps": N}, "extra":
{"trace_version", "content_hash", "created_at", "meta" (when the trace has one)}}` with the
steps

1. `{"step_id": 1, "source": "system", "message": SYSTEM}` (only with `--system`);
2. `{"source": "user", "message": PROMPT}`;
3. `{"source": "agent", "message": ANSWER, "reasoning_content": STEPS, "extra":
   {"reasoning_steps": [{"i", "type", "content"}, ...]}}`, the reasoning steps' contents one
   per line in ascending `i`, and the steps themselves so their types survive.

One agent step per trace: Harbor turns each agent step into a training conversation
(`<think>REASONING</think>\\nANSWER`), so this gives exactly one per trace. `ATIF-v1.7` is
what Harbor's own agents and Tunix's experimental trajectory store write. The trace's meta is
kept under `extra.meta` rather than merged, so no meta key can overwrite the others.
"""

from __future__ import annotations

from typing import Any

import orjson

from tunix_rt import __version__
from tunix_rt.formats._text import Options, Parsed, parse
from tunix_rt.records import RawRow

SCHEMA_VERSION = "ATIF-v1.7"
AGENT = {"name": "tunix-rt", "version": __version__}


def record(t: Parsed, options: Options) -> dict[str, Any]:
    steps: list[dict[str, Any]] = []
    if options.system:
        steps.append({"step_id": 1, "source": "system", "message": options.system})
    steps.append({"step_id": len(steps) + 1, "source": "user", "message": t.prompt})
    steps.append(
        {
            "step_id": len(steps) + 1,
            "source": "agent",
            "message": t.final_answer,
            "reasoning_content": "\n".join(t.contents),
            "extra": {
                "reasoning_steps": [
                    {"i": s["i"], "type": s["type"], "content": c}
                    for s, c in zip(t.steps, t.contents, strict=True)
                ]
            },
        }
    )
    extra: dict[str, Any] = {
        "trace_version": t.trace_version,
        "content_hash": t.content_hash,
        "created_at": t.created_at,
    }
    if t.meta is not None:
        extra["meta"] = t.meta
    return {
        "schema_version": SCHEMA_VERSION,
        "session_id": t.id,
        "trajectory_id": t.id,
        "agent": AGENT,
        "steps": steps,
        "final_metrics": {"total_steps": len(steps)},
        "extra": extra,
    }


def render(row: RawRow, options: Options) -> tuple[bytes, int]:
    t = parse(row, options)
    return orjson.dumps(record(t, options), option=orjson.OPT_APPEND_NEWLINE), t.flags
