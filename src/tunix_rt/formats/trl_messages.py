"""`trl-messages`: TRL's conversational type, `{"messages": [...]}`, for SFTTrainer.

`[{"role": "system", "content": SYSTEM} (with --system), {"role": "user", "content":
PROMPT}, {"role": "assistant", "content": ANSWER, "reasoning_content": STEPS}]`: the
reasoning travels in `reasoning_content` (steps in ascending `i`, one per line), which
reasoning chat templates (Qwen3-style `<think>`) render; the answer is the content. No other
key, so `trl.data_utils.apply_chat_template` accepts the row; line N is the trace on line N of
`--to jsonl` for the same selection.
"""

from __future__ import annotations

from typing import Any

import orjson

from tunix_rt.formats._text import Options, Parsed, parse
from tunix_rt.records import RawRow


def prompt_messages(t: Parsed, options: Options) -> list[dict[str, str]]:
    head = [{"role": "system", "content": options.system}] if options.system else []
    return [*head, {"role": "user", "content": t.prompt}]


def answer_message(t: Parsed) -> dict[str, str]:
    return {
        "role": "assistant",
        "content": t.final_answer,
        "reasoning_content": "\n".join(t.contents),
    }


def record(t: Parsed, options: Options) -> dict[str, Any]:
    return {"messages": [*prompt_messages(t, options), answer_message(t)]}


def render(row: RawRow, options: Options) -> tuple[bytes, int]:
    t = parse(row, options)
    return orjson.dumps(record(t, options), option=orjson.OPT_APPEND_NEWLINE), t.flags
