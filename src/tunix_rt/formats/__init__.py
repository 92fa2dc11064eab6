"""Export formats: one pure module per format, and FORMATS, the one registry.

A renderer takes a stored trace as the database holds it (`records.RawRow`) and the
`Options` and returns one UTF-8 JSON line (ending in a newline) and problem flags
(`CONTROL_TOKENS_LEFT`, `SANITIZED`, `REWARD_MISMATCH`, or 0). Renderers never touch the
database or the terminal, hold no state and never draw random numbers: the same trace and
options always give the same bytes. Steps are rendered in ascending `i`. Every module's
docstring gives its exact shape; formats.md and atif.md (in the project's shared notes) are
the sources.
"""

from __future__ import annotations

from collections.abc import Callable

from tunix_rt.formats import (
    atif,
    jsonl,
    trace,
    training_example,
    trl_messages,
    trl_prompt_completion,
    trl_stepwise,
    tunix_grpo,
    tunix_sft,
)
from tunix_rt.formats._text import (
    CONTROL_TOKENS,
    CONTROL_TOKENS_LEFT,
    REWARD_MISMATCH,
    SANITIZED,
    Options,
    has_control_tokens,
    strip_control_tokens,
)
from tunix_rt.records import RawRow

Renderer = Callable[[RawRow, Options], tuple[bytes, int]]

FORMATS: dict[str, Renderer] = {
    "jsonl": jsonl.render,
    "trace": trace.render,
    "training_example": training_example.render,
    "tunix-sft": tunix_sft.render,
    "tunix-grpo": tunix_grpo.render,
    "trl-messages": trl_messages.render,
    "trl-prompt-completion": trl_prompt_completion.render,
    "trl-stepwise": trl_stepwise.render,
    "atif": atif.render,
}
ALIASES = {"tunix_sft": "tunix-sft"}  # the original service's name
RAW = frozenset({"jsonl"})  # the stored record itself: no --system, no --sanitize

__all__ = [
    "ALIASES",
    "CONTROL_TOKENS",
    "CONTROL_TOKENS_LEFT",
    "FORMATS",
    "RAW",
    "REWARD_MISMATCH",
    "SANITIZED",
    "Options",
    "Renderer",
    "canonical_name",
    "has_control_tokens",
    "strip_control_tokens",
]


def canonical_name(name: str) -> str | None:
    """The format's name in FORMATS (aliases resolved), or None when there is no such format."""
    name = ALIASES.get(name, name)
    return name if name in FORMATS else None
