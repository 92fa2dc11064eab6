"""What the formats share: the Gemma turn text, chat control tokens, the parsed trace.

Pure functions, byte-exact where formats.md says so (section 1, the original service's
renderer). Steps are always rendered in ascending `i` (the numbering is the order).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from tunix_rt.records import DamagedTraceError, RawRow, parse_raw

START_OF_TURN = "<start_of_turn>"
END_OF_TURN = "<end_of_turn>"
GENERATION_PROMPT = f"{START_OF_TURN}model\n"  # the open model turn
ANSWER_SUFFIX = "\n\nPlease show your reasoning steps."  # training_example's prompt

# Tunix's `_CONTROL_TOKENS` (tunix/utils/token_sanitization.py): its chat template adapter
# strips them from every message.
CONTROL_TOKENS = (
    "<start_of_turn>",
    "<end_of_turn>",
    "<bos>",
    "<eos>",
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eot_id|>",
    "<|im_start|>",
    "<|im_end|>",
)
_CONTROL = re.compile("|".join(map(re.escape, CONTROL_TOKENS)))
# The same tokens in the stored bytes (JSON leaves `<`, `|`, `_` and `>` as they are): one
# search of the whole payload, behind a test for `<` that nearly every trace fails.
_CONTROL_BYTES = re.compile(b"|".join(re.escape(t.encode()) for t in CONTROL_TOKENS))

# problem flags a renderer returns with its line
CONTROL_TOKENS_LEFT = 1  # control tokens in the rendered text, left as they are
SANITIZED = 2  # control tokens were stripped (--sanitize)
REWARD_MISMATCH = 4  # tunix-grpo: the completion does not pass Tunix's format reward


def turn(role: str, content: str) -> str:
    """One Gemma turn: `<start_of_turn>ROLE\\nCONTENT<end_of_turn>`."""
    return f"{START_OF_TURN}{role}\n{content}{END_OF_TURN}"


def with_system(prompt: str, system: str | None) -> str:
    """The system instruction Gemma's way: before the prompt, in the same user turn."""
    return f"{system}\n\n{prompt}" if system else prompt


def reasoning(steps: Sequence[str]) -> str:
    """`Reasoning:\\n1. a\\n2. b\\n` (empty when there are no steps)."""
    if not steps:
        return ""
    return "Reasoning:\n" + "".join([f"{k}. {text}\n" for k, text in enumerate(steps, start=1)])


def model_text(steps: Sequence[str], answer: str) -> str:
    """The model turn's content: the numbered reasoning, then `Answer: X`."""
    return f"{reasoning(steps)}Answer: {answer}"


def sft_text(prompt: str, steps: Sequence[str], answer: str, system: str | None = None) -> str:
    """The original service's SFT text: the user turn, a newline, the model turn."""
    user = turn("user", with_system(prompt, system))
    return f"{user}\n{turn('model', model_text(steps, answer))}"


def has_control_tokens(text: str) -> bool:
    return _CONTROL.search(text) is not None


def strip_control_tokens(text: str) -> str:
    """Remove control tokens until none is left (so `<start_<bos>of_turn>` cannot survive)."""
    while True:
        stripped = _CONTROL.sub("", text)
        if stripped == text:
            return text
        text = stripped


@dataclass(frozen=True, slots=True)
class Options:
    """How to render: `system` instruction (added the way each format does it), `sanitize`
    (strip chat control tokens from every rendered text)."""

    system: str | None = None
    sanitize: bool = False


class Parsed(NamedTuple):
    """A stored trace, parsed, with the text the formats render.

    `steps` are the step objects in ascending `i`; `contents` their texts. With `sanitize`,
    `prompt`, `final_answer` and `contents` have their control tokens stripped (the step
    objects keep the stored text); `meta` is None when the trace has none. (A NamedTuple:
    it is built once per exported trace, and a tuple is the cheapest thing to build.)
    """

    id: str
    created_at: str
    content_hash: str
    trace_version: str
    prompt: str
    final_answer: str
    steps: list[dict[str, Any]]
    contents: list[str]
    meta: dict[str, Any] | None
    tags: tuple[str, ...]
    flags: int  # CONTROL_TOKENS_LEFT or SANITIZED, or 0


def _step_index(step: dict[str, Any]) -> Any:
    return step["i"]


def parse(row: RawRow, options: Options) -> Parsed:
    """The stored trace `row`, parsed and checked for control tokens (stripped on request)."""
    try:
        payload = orjson.loads(row.payload)
    except orjson.JSONDecodeError:
        payload = parse_raw(row)  # raises the DamagedTraceError that names the trace
    try:
        steps: list[dict[str, Any]] = payload["steps"]
        contents: list[str] = [s["content"] for s in steps]
        if len(steps) > 1:
            order = [s["i"] for s in steps]
            if order != sorted(order):
                steps = sorted(steps, key=_step_index)
                contents = [s["content"] for s in steps]
        prompt: str = payload["prompt"]
        answer: str = payload["final_answer"]
        version: str = payload["trace_version"]
    except (KeyError, TypeError):
        raise DamagedTraceError(
            f"trace {row.id} is damaged (its stored payload is not a trace): "
            "run `tunix-rt db doctor --deep`"
        ) from None
    flags = 0
    raw = row.payload
    if (
        b"<" in raw
        and _CONTROL_BYTES.search(raw)
        and (
            has_control_tokens(prompt)
            or has_control_tokens(answer)
            or any(map(has_control_tokens, contents))
        )
    ):
        if options.sanitize:
            prompt = strip_control_tokens(prompt)
            answer = strip_control_tokens(answer)
            contents = [strip_control_tokens(c) for c in contents]
            flags = SANITIZED
        else:
            flags = CONTROL_TOKENS_LEFT
    return Parsed(
        row.id,
        row.created_at,
        row.content_hash,
        version,
        prompt,
        answer,
        steps,
        contents,
        payload.get("meta"),
        row.tags,
        flags,
    )


def metadata(t: Parsed, first: dict[str, Any]) -> dict[str, Any]:
    """The original service's `metadata`: `first`, then the trace's meta (meta wins a clash,
    as theirs did)."""
    if t.meta:
        first.update(t.meta)
    return first
