"""`trl-stepwise`: TRL's stepwise-supervision type (process reward models).

`{"prompt": PROMPT, "completions": [step contents, ascending i], "labels": [true, ...]}`:
one label per step, all true (every stored step is taken as correct). Labels from per-step
scores (`--labels SCORE_NAME`, `--label-threshold`) come with the scores; until then the
export refuses `--labels`. With `--system`, the prompt is `SYSTEM\\n\\nPROMPT`.
"""

from __future__ import annotations

from typing import Any

import orjson

from tunix_rt.formats._text import Options, Parsed, parse, with_system
from tunix_rt.records import RawRow


def record(t: Parsed, options: Options) -> dict[str, Any]:
    return {
        "prompt": with_system(t.prompt, options.system),
        "completions": t.contents,
        "labels": [True] * len(t.contents),
    }


def render(row: RawRow, options: Options) -> tuple[bytes, int]:
    t = parse(row, options)
    return orjson.dumps(record(t, options), option=orjson.OPT_APPEND_NEWLINE), t.flags
