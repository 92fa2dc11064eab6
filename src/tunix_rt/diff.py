"""Step diff of two traces: pure functions, no database, no printing.

Steps are aligned by content with `difflib.SequenceMatcher` over normalised step texts
(case folded, whitespace collapsed), so a reordered or edited step still lines up with its
partner where it can. Each aligned pair carries an op (`equal`, `replace`, `insert`,
`delete`), the step indexes on each side (None where a side has no step) and, for `replace`,
a word-level diff. `first_divergence` is the position (in the aligned list) of the first pair
that is not `equal`, or None; `answers_agree` compares final answers after the same
normalisation.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Literal

Op = Literal["equal", "replace", "insert", "delete"]


def normalise(text: str) -> str:
    """Case folded, runs of whitespace collapsed to one space, ends stripped."""
    return " ".join(text.casefold().split())


@dataclass(frozen=True, slots=True)
class WordChange:
    """One run of words: `op` equal/replace/insert/delete, the words on each side."""

    op: Op
    a: str
    b: str

    def to_json(self) -> dict[str, Any]:
        return {"op": self.op, "a": self.a, "b": self.b}


@dataclass(frozen=True, slots=True)
class Pair:
    """Two aligned steps (indexes into each trace's step list; None for a missing side)."""

    op: Op
    a: int | None
    b: int | None
    words: tuple[WordChange, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "op": self.op,
            "a": self.a,
            "b": self.b,
            "words": [w.to_json() for w in self.words],
        }


@dataclass(frozen=True, slots=True)
class StepDiff:
    pairs: tuple[Pair, ...]
    first_divergence: int | None
    answers_agree: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "pairs": [p.to_json() for p in self.pairs],
            "first_divergence": self.first_divergence,
            "answers_agree": self.answers_agree,
        }


def word_diff(a: str, b: str) -> tuple[WordChange, ...]:
    """Word-level changes from `a` to `b` (words split on whitespace, compared normalised)."""
    wa, wb = a.split(), b.split()
    matcher = difflib.SequenceMatcher(
        None, [w.casefold() for w in wa], [w.casefold() for w in wb], autojunk=False
    )
    return tuple(
        WordChange(tag, " ".join(wa[i1:i2]), " ".join(wb[j1:j2]))
        for tag, i1, i2, j1, j2 in matcher.get_opcodes()
    )


def _step_text(step: Any) -> str:
    if isinstance(step, dict):
        return str(step.get("content", ""))
    return str(step)


SIMILAR = 0.5  # word-level SequenceMatcher ratio at which two differing steps are one edited step


def _pair_block(
    steps_a: list[str],
    steps_b: list[str],
    na: list[str],
    nb: list[str],
    i1: int,
    i2: int,
    j1: int,
    j2: int,
) -> list[Pair]:
    """A block of differing steps: the most similar pair (ratio >= SIMILAR, first on ties)
    becomes a `replace` with its word diff, the blocks before and after it are paired the same
    way; steps left unpaired are `delete` (in a) or `insert` (in b)."""
    best, bi, bj = SIMILAR, -1, -1
    for i in range(i1, i2):
        words_a = na[i].split()
        for j in range(j1, j2):
            ratio = difflib.SequenceMatcher(None, words_a, nb[j].split(), autojunk=False).ratio()
            if ratio > best or (bi < 0 and ratio >= best):
                best, bi, bj = ratio, i, j
    if bi < 0:
        return [Pair("delete", i, None) for i in range(i1, i2)] + [
            Pair("insert", None, j) for j in range(j1, j2)
        ]
    return [
        *_pair_block(steps_a, steps_b, na, nb, i1, bi, j1, bj),
        Pair("replace", bi, bj, word_diff(steps_a[bi], steps_b[bj])),
        *_pair_block(steps_a, steps_b, na, nb, bi + 1, i2, bj + 1, j2),
    ]


def align(steps_a: list[str], steps_b: list[str]) -> tuple[Pair, ...]:
    """Aligned pairs of step texts: equal steps by SequenceMatcher over normalised texts, then
    within each differing block the most similar steps paired as edits (`_pair_block`)."""
    na = [normalise(s) for s in steps_a]
    nb = [normalise(s) for s in steps_b]
    matcher = difflib.SequenceMatcher(None, na, nb, autojunk=False)
    pairs: list[Pair] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            pairs += [Pair("equal", i1 + k, j1 + k) for k in range(i2 - i1)]
        elif tag == "delete":
            pairs += [Pair("delete", i, None) for i in range(i1, i2)]
        elif tag == "insert":
            pairs += [Pair("insert", None, j) for j in range(j1, j2)]
        else:
            pairs += _pair_block(steps_a, steps_b, na, nb, i1, i2, j1, j2)
    return tuple(pairs)


def compare(payload_a: dict[str, Any], payload_b: dict[str, Any]) -> StepDiff:
    """The step diff of two trace payloads."""
    a = [_step_text(s) for s in payload_a.get("steps") or []]
    b = [_step_text(s) for s in payload_b.get("steps") or []]
    pairs = align(a, b)
    first = next((n for n, p in enumerate(pairs) if p.op != "equal"), None)
    agree = normalise(str(payload_a.get("final_answer", ""))) == normalise(
        str(payload_b.get("final_answer", ""))
    )
    return StepDiff(pairs, first, agree)
