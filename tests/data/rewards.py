"""Reward functions for the tests of `trace score --with` (Tunix's signature)."""

from __future__ import annotations

import json
import os
from typing import Any


def exact_answer(
    prompts: list[str], completions: list[str], answer: list[str], **kw: Any
) -> list[float]:
    """1.0 when the completion's <answer> holds exactly the final answer."""
    return [
        1.0 if f"<answer>{a}</answer>" in c else 0.0
        for c, a in zip(completions, answer, strict=True)
    ]


def record_inputs(
    prompts: list[str], completions: list[str], answer: list[str], **kw: Any
) -> list[float]:
    """Append every call's arguments as one JSON line to $REWARD_LOG; score = len(completion)."""
    with open(os.environ["REWARD_LOG"], "a", encoding="utf-8") as log:
        log.write(
            json.dumps({"prompts": prompts, "completions": completions, "answer": answer, **kw})
            + "\n"
        )
    return [float(len(c)) for c in completions]


def fails_on_marker(
    prompts: list[str], completions: list[str], answer: list[str], question: list[str], **kw: Any
) -> list[float]:
    """Raises on a batch holding a prompt with 'BOOM' in it."""
    for q in question:
        if "BOOM" in q:
            raise ValueError("cannot score this one")
    return [0.5] * len(prompts)


def wrong_length(
    prompts: list[str], completions: list[str], answer: list[str], **kw: Any
) -> list[float]:
    return [1.0] * (len(prompts) + 1)


def not_a_number(
    prompts: list[str], completions: list[str], answer: list[str], **kw: Any
) -> list[Any]:
    return ["high"] * len(prompts)


def nan_score(
    prompts: list[str], completions: list[str], answer: list[str], **kw: Any
) -> list[float]:
    return [float("nan")] * len(prompts)


def step_length(
    prompts: list[str],
    completions: list[str],
    answer: list[str],
    step: list[int],
    previous_steps: list[list[str]],
    **kw: Any,
) -> list[float]:
    """Per step: len(step content) / 10."""
    return [len(c) / 10 for c in completions]


NOT_CALLABLE = 3


def deletes_one(
    prompts: list[str], completions: list[str], answer: list[str], **kw: Any
) -> list[float]:
    """Deletes the trace $REWARD_DELETE_ID from $REWARD_DELETE_URL while scoring (a concurrent
    `trace delete`), then scores everything 1.0."""
    url, ident = os.environ["REWARD_DELETE_URL"], os.environ["REWARD_DELETE_ID"]
    if url.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            conn.execute("DELETE FROM traces WHERE id = ?", (ident.replace("-", ""),))
    else:
        import psycopg

        with psycopg.connect(url) as pg:
            pg.execute("DELETE FROM traces WHERE id = %s", (ident,))
    return [1.0] * len(prompts)


def huge(prompts: list[str], completions: list[str], answer: list[str], **kw: Any) -> list[float]:
    return [1e308] * len(prompts)


def bigint(prompts: list[str], completions: list[str], answer: list[str], **kw: Any) -> list[int]:
    return [10**400] * len(prompts)


def as_dict(
    prompts: list[str], completions: list[str], answer: list[str], **kw: Any
) -> dict[int, float]:
    return dict.fromkeys(range(len(prompts)), 1.0)


def as_matrix(prompts: list[str], completions: list[str], answer: list[str], **kw: Any) -> Any:
    import numpy as np

    return np.ones((len(prompts), 1))


def as_array(prompts: list[str], completions: list[str], answer: list[str], **kw: Any) -> Any:
    import numpy as np

    return np.full(len(prompts), 0.25, dtype=np.float32)


def base_exception(
    prompts: list[str], completions: list[str], answer: list[str], **kw: Any
) -> list[float]:
    raise BaseException("base")


def vandal(prompts: list[str], completions: list[str], answer: list[str], **kw: Any) -> list[float]:
    """Prints, clears sys.path and closes stdout: none of it may reach the command."""
    import sys

    print("\x1b[31mprinted by the reward\x1b[0m")
    sys.path.clear()
    sys.stdout.close()
    return [1.0] * len(prompts)


def MixedCase(
    prompts: list[str], completions: list[str], answer: list[str], **kw: Any
) -> list[float]:
    return [1.0] * len(prompts)
