"""The baseline score of the original tunix-rt, exact (`formats.md` section 7). Pure.

`step_score = min(n_steps / 10, 1) * 50`; `length_score = min(avg_len / 500, 1) * 50`, where
`avg_len` is the mean character length of the step contents (0 without steps);
`score = round(step_score + length_score, 2)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

BASELINE = "baseline"


@dataclass(frozen=True)
class Score:
    """A value and the details that explain it."""

    value: float
    details: dict[str, Any]


def baseline(step_contents: Sequence[str]) -> Score:
    """Score a trace by its step contents with the original formula and details."""
    lengths = [len(content) for content in step_contents]
    n_steps = len(lengths)
    total = sum(lengths)
    avg_len = total / n_steps if n_steps else 0.0
    step_score = min(n_steps / 10, 1) * 50
    length_score = min(avg_len / 500, 1) * 50
    return Score(
        value=round(step_score + length_score, 2),
        details={
            "step_count": n_steps,
            "avg_step_length": round(avg_len, 2),
            "total_chars": total,
            "step_score": round(step_score, 2),
            "length_score": round(length_score, 2),
            "criteria": BASELINE,
        },
    )
