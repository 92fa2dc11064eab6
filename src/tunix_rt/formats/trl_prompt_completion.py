"""`trl-prompt-completion`: TRL's conversational prompt-completion type (loss on the
completion only).

`{"prompt": [system (with --system), user], "completion": [assistant]}`, the messages of
`trl-messages` split where the model's turn starts (the assistant message carries the
reasoning in `reasoning_content`).
"""

from __future__ import annotations

from typing import Any

import orjson

from tunix_rt.formats._text import Options, Parsed, parse
from tunix_rt.formats.trl_messages import answer_message, prompt_messages
from tunix_rt.records import RawRow


def record(t: Parsed, options: Options) -> dict[str, Any]:
    return {"prompt": prompt_messages(t, options), "completion": [answer_message(t)]}


def render(row: RawRow, options: Options) -> tuple[bytes, int]:
    t = parse(row, options)
    return orjson.dumps(record(t, options), option=orjson.OPT_APPEND_NEWLINE), t.flags
