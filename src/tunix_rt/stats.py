"""Statistics over a selection of traces: pure code, one pass, constant work per trace.

`Accumulator.add` takes each selected payload once (as parsed JSON) and keeps counts and the
lengths needed for percentiles; `Accumulator.summary()` turns them into plain data for the
table, the charts and `--json`. Lengths count characters (what the schema limits count).
"""

from __future__ import annotations

from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

PERCENTILES = (50, 90, 99)
TOP_VALUES = 10
TOP_DUPLICATES = 10
NONE_GROUP = "(none)"


def percentile(sorted_values: array[int] | list[int], p: float) -> int:
    """Nearest-rank percentile of already sorted values (an actual value, never interpolated)."""
    if not sorted_values:
        return 0
    rank = max(1, -(-len(sorted_values) * p // 100))  # ceil(n * p / 100), at least 1
    return int(sorted_values[int(rank) - 1])


@dataclass(frozen=True)
class Lengths:
    count: int
    min: int
    p50: int
    p90: int
    p99: int
    max: int
    mean: float

    @staticmethod
    def of(values: array[int]) -> Lengths:
        ordered = sorted(values)
        if not ordered:
            return Lengths(0, 0, 0, 0, 0, 0, 0.0)
        return Lengths(
            len(ordered),
            ordered[0],
            percentile(ordered, 50),
            percentile(ordered, 90),
            percentile(ordered, 99),
            ordered[-1],
            round(sum(ordered) / len(ordered), 1),
        )


@dataclass(frozen=True)
class Summary:
    count: int
    steps_histogram: dict[int, int]  # steps per trace -> traces
    steps: Lengths  # steps per trace
    prompt_chars: Lengths
    step_chars: Lengths
    answer_chars: Lengths
    step_types: list[tuple[str, int]]  # most common first
    versions: list[tuple[str, int]]
    meta_values: list[tuple[str, int]]  # of the --meta-key, most common first
    duplicate_prompts: list[tuple[str, int]]  # prompt, traces sharing it (> 1)
    duplicate_groups: int
    duplicate_traces: int


def _value_text(value: Any) -> str:
    import orjson

    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


@dataclass
class Accumulator:
    """Feed every selected payload to `add`; read `summary()`."""

    meta_key: tuple[str, ...] | None = None
    count: int = 0
    steps_per_trace: array[int] = field(default_factory=lambda: array("l"))
    prompt_chars: array[int] = field(default_factory=lambda: array("l"))
    step_chars: array[int] = field(default_factory=lambda: array("l"))
    answer_chars: array[int] = field(default_factory=lambda: array("l"))
    step_types: Counter[str] = field(default_factory=Counter)
    versions: Counter[str] = field(default_factory=Counter)
    meta_values: Counter[str] = field(default_factory=Counter)
    prompts: dict[int, int] = field(default_factory=dict)
    prompt_text: dict[int, str] = field(default_factory=dict)

    def add(self, payload: dict[str, Any]) -> None:
        """Count one payload (a stored, validated trace: the fast path indexes directly)."""
        try:
            steps = payload["steps"]
            prompt: str = payload["prompt"]
            answer_chars = len(payload["final_answer"])
            step_chars = [len(step["content"]) for step in steps]
            step_types = [step["type"] for step in steps]
        except (KeyError, TypeError):  # not a valid trace (a damaged row): count what is there
            raw = payload.get("steps")
            steps = [s for s in raw if isinstance(s, dict)] if isinstance(raw, list) else []
            prompt = str(payload.get("prompt", ""))
            answer_chars = len(str(payload.get("final_answer", "")))
            step_chars = [len(str(s.get("content", ""))) for s in steps]
            step_types = [str(s.get("type", "")) for s in steps]
        self.count += 1
        self.steps_per_trace.append(len(steps))
        self.prompt_chars.append(len(prompt))
        self.answer_chars.append(answer_chars)
        self.step_chars.extend(step_chars)
        self.step_types.update(step_types)
        self.versions[str(payload.get("trace_version", ""))] += 1
        if self.meta_key is not None:
            self._meta_value(payload.get("meta"))
        key = hash(prompt)  # 64 bits: a collision among a million prompts is ~1e-7 likely
        seen = self.prompts[key] = self.prompts.get(key, 0) + 1
        if seen == 2:
            self.prompt_text[key] = prompt

    def _meta_value(self, value: Any) -> None:
        assert self.meta_key is not None
        for key in self.meta_key:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, list):
            for item in value:
                self.meta_values[_value_text(item)] += 1
        elif value is not None:
            self.meta_values[_value_text(value)] += 1
        else:
            self.meta_values[NONE_GROUP] += 1

    def summary(self) -> Summary:
        histogram = Counter(self.steps_per_trace)
        dupes = [(d, n) for d, n in self.prompts.items() if n > 1]
        dupes.sort(key=lambda item: (-item[1], self.prompt_text[item[0]]))
        return Summary(
            count=self.count,
            steps_histogram=dict(sorted(histogram.items())),
            steps=Lengths.of(self.steps_per_trace),
            prompt_chars=Lengths.of(self.prompt_chars),
            step_chars=Lengths.of(self.step_chars),
            answer_chars=Lengths.of(self.answer_chars),
            step_types=_ranked(self.step_types),
            versions=_ranked(self.versions),
            meta_values=_ranked(self.meta_values)[:TOP_VALUES],
            duplicate_prompts=[(self.prompt_text[d], n) for d, n in dupes[:TOP_DUPLICATES]],
            duplicate_groups=len(dupes),
            duplicate_traces=sum(n for _, n in dupes),
        )


def _ranked(counter: Counter[str]) -> list[tuple[str, int]]:
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))


def bar(value: int, largest: int, width: int) -> str:
    """A horizontal bar of block characters, `width` cells for `largest` (eighths resolution)."""
    if largest <= 0 or width <= 0 or value <= 0:
        return ""
    eighths = max(1, round(value * width * 8 / largest))
    full, rest = divmod(eighths, 8)
    return "█" * full + ("" if not rest else " ▏▎▍▌▋▊▉"[rest])
