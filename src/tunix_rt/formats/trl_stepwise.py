"""`trl-stepwise`: TRL's stepwise-supervision type (process reward models).

`{"prompt": PROMPT, "completions": [step contents, ascending i], "labels": [true, ...]}`:
one label per step, all true (every stored step is taken as correct); or, with
`--labels SCORE_NAME`, true where the step's stored score SCORE_NAME (`trace score set NAME
VALUE ID --step I`, or `trace score --with MODULE:FN --per-step`) is >= `--label-threshold`
(default 0.5) (`render_labelled`). With `--system`, the prompt is `SYSTEM\\n\\nPROMPT`.
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


def unlabelled_step(row: RawRow, scores: dict[int, float] | None) -> int | None:
    """The `i` of the first step (ascending) without a score in `scores`, or None."""
    t = parse(row, Options())
    for step in t.steps:
        if scores is None or step["i"] not in scores:
            return int(step["i"])
    return None


def render_labelled(
    row: RawRow, options: Options, scores: dict[int, float], threshold: float
) -> tuple[bytes, int]:
    """`render`, each step labelled by its score (step `i` -> value) against `threshold`."""
    t = parse(row, options)
    out = record(t, options)
    out["labels"] = [scores[step["i"]] >= threshold for step in t.steps]
    return orjson.dumps(out, option=orjson.OPT_APPEND_NEWLINE), t.flags
