from __future__ import annotations

from array import array

import pytest

from tunix_rt.stats import Accumulator, Lengths, bar, percentile


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [([], 50, 0), ([7], 99, 7), ([1, 2, 3, 4], 50, 2), ([1, 2, 3, 4], 90, 4), ([1, 2], 1, 1)],
)
def test_percentile_nearest_rank(values: list[int], p: float, expected: int) -> None:
    assert percentile(values, p) == expected


def test_lengths_of_empty_and_values() -> None:
    assert Lengths.of(array("l")).count == 0
    assert Lengths.of(array("l", [3, 1, 2])) == Lengths(3, 1, 2, 3, 3, 3, 2.0)


def test_bar() -> None:
    assert bar(0, 10, 10) == ""
    assert bar(10, 10, 10) == "█" * 10
    assert bar(1, 80, 10) == "▏"
    assert bar(5, 10, 3) == "█▌"


def test_accumulator_meta_values_and_duplicates() -> None:
    acc = Accumulator(meta_key=("a", "b"))
    acc.add({"prompt": "p", "steps": [], "meta": {"a": {"b": True}}})
    acc.add({"prompt": "p", "steps": [{"type": "t", "content": "xy"}], "meta": {"a": 1}})
    summary = acc.summary()
    assert summary.meta_values == [("(none)", 1), ("true", 1)]
    assert summary.duplicate_prompts == [("p", 2)]
    assert summary.step_types == [("t", 1)]


def test_accumulator_tolerates_a_damaged_payload() -> None:
    acc = Accumulator()
    acc.add({"prompt": 5, "steps": [{"type": "t"}, "junk"]})
    summary = acc.summary()
    assert summary.count == 1
    assert summary.step_types == [("t", 1)]
    assert summary.answer_chars.max == 0
