"""`tunix-sft` (also `tunix_sft`): the original service's `tunix_sft` record, plus the
prompt / completion split a Tunix SFT pipeline tokenises.

`{"id", "prompts", "final_answer", "metadata": {"created_at", "trace_version", "format":
"tunix_sft", **meta}, "prompt", "completion"}`:

- `prompts`: the Gemma text, byte-exact with the original service:
  `<start_of_turn>user\\nPROMPT<end_of_turn>\\n<start_of_turn>model\\nReasoning:\\n1. ...\\n
  Answer: X<end_of_turn>` (what their training scripts read);
- `prompt`: the user turn followed by the open model turn `<start_of_turn>model\\n`
  (mask these tokens);
- `completion`: the model turn's content followed by `<end_of_turn>` (train on these);
- `prompt + completion == prompts`.

Tunix SFT takes tokens, not text, and silently drops examples longer than its maximum length.
With `--system`, the instruction goes inside the user turn (`SYSTEM\\n\\nPROMPT`), Gemma's way.
"""

from __future__ import annotations

from typing import Any

import orjson

from tunix_rt.formats._text import (
    END_OF_TURN,
    GENERATION_PROMPT,
    Options,
    Parsed,
    metadata,
    model_text,
    parse,
    turn,
    with_system,
)
from tunix_rt.records import RawRow


def record(t: Parsed, options: Options) -> dict[str, Any]:
    prompt = f"{turn('user', with_system(t.prompt, options.system))}\n{GENERATION_PROMPT}"
    completion = model_text(t.contents, t.final_answer) + END_OF_TURN
    return {
        "id": t.id,
        "prompts": prompt + completion,
        "final_answer": t.final_answer,
        "metadata": metadata(
            t,
            {"created_at": t.created_at, "trace_version": t.trace_version, "format": "tunix_sft"},
        ),
        "prompt": prompt,
        "completion": completion,
    }


def render(row: RawRow, options: Options) -> tuple[bytes, int]:
    t = parse(row, options)
    return orjson.dumps(record(t, options), option=orjson.OPT_APPEND_NEWLINE), t.flags
