"""`tunix-grpo`: rows for Tunix's GRPOLearner, in the shape of Tunix's own example datasets.

`{"id", "prompts", "question", "answer", "completion"}`, every value a string in every row
(Tunix's loader needs each column to have one shape; `meta` is left out because it is ragged):

- `prompts`: Tunix's template, `<start_of_turn>user\\nQUESTION<end_of_turn>\\n
  <start_of_turn>model` (no newline at the end; with `--system`: `SYSTEM\\n\\nQUESTION` inside
  the user turn). Tunix does not sanitise a column named `prompts`: export with `--sanitize`
  when the report finds control tokens;
- `question`: the prompt; `answer`: the final answer (a string, as Tunix's `check_answer`
  needs);
- `completion`, for SFT warm-up before GRPO: `<reasoning>STEPS</reasoning><answer>ANSWER
  </answer>` (steps in ascending `i`, one per line), the form Tunix's format reward matches.

A completion "matches" when `tunix/cli/reward_fn/simple_math.py`'s `check_format` regular
expression finds it and extracts exactly the answer; the export reports those that do not
(`REWARD_MISMATCH`), and `--strict` fails on them.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from tunix_rt.formats._text import (
    END_OF_TURN,
    REWARD_MISMATCH,
    START_OF_TURN,
    Options,
    Parsed,
    parse,
    with_system,
)
from tunix_rt.records import RawRow

# simple_math.py's check_format, as Tunix compiles it
REWARD_FORMAT = re.compile(
    r"^[\s]{0,}<reasoning>.+?</reasoning>.*?<answer>(.+?)</answer>[\s]{0,}$",
    flags=re.MULTILINE | re.DOTALL,
)


def completion(steps: list[str], answer: str) -> str:
    return "<reasoning>" + "\n".join(steps) + "</reasoning><answer>" + answer + "</answer>"


def matches_reward(text: str, answer: str) -> bool:
    """Tunix's format reward matches `text` and its answer extraction gives back `answer`."""
    found = REWARD_FORMAT.search(text)
    return found is not None and found.group(1) == answer


def record(t: Parsed, options: Options) -> dict[str, Any]:
    question = with_system(t.prompt, options.system)
    return {
        "id": t.id,
        "prompts": f"{START_OF_TURN}user\n{question}{END_OF_TURN}\n{START_OF_TURN}model",
        "question": t.prompt,
        "answer": t.final_answer,
        "completion": completion(t.contents, t.final_answer),
    }


def render(row: RawRow, options: Options) -> tuple[bytes, int]:
    t = parse(row, options)
    out = record(t, options)
    flags = t.flags
    if not matches_reward(out["completion"], t.final_answer):
        flags |= REWARD_MISMATCH
    return orjson.dumps(out, option=orjson.OPT_APPEND_NEWLINE), flags
