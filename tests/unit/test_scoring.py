"""The baseline score against the worked cases of formats.md section 7."""

from __future__ import annotations

import pytest

from tunix_rt.filters import FilterValueError, ScoreMatch, parse_score
from tunix_rt.scoring import baseline


@pytest.mark.parametrize(
    ("lengths", "expected"),
    [([10], 6.0), ([500] * 10, 100.0), ([1000] * 20, 100.0), ([5, 100, 400], 31.83)],
)
def test_baseline_worked_cases(lengths: list[int], expected: float) -> None:
    assert baseline(["x" * n for n in lengths]).value == expected


def test_baseline_details() -> None:
    score = baseline(["a" * 5, "b" * 100, "c" * 400])
    assert score.details == {
        "step_count": 3,
        "avg_step_length": 168.33,
        "total_chars": 505,
        "step_score": 15.0,
        "length_score": 16.83,
        "criteria": "baseline",
    }


def test_baseline_no_steps() -> None:
    assert baseline([]).value == 0.0
    assert baseline([]).details["avg_step_length"] == 0.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("baseline>=50", ScoreMatch("baseline", ">=", 50.0)),
        (" r.1 <= -0.5 ", ScoreMatch("r.1", "<=", -0.5)),
        ("human=1", ScoreMatch("human", "=", 1.0)),
    ],
)
def test_parse_score(text: str, expected: ScoreMatch) -> None:
    assert parse_score(text) == expected


@pytest.mark.parametrize(
    "text", ["baseline>50", "baseline>=x", ">=1", "Base>=1", "b>=nan", "b>=inf"]
)
def test_parse_score_rejects(text: str) -> None:
    with pytest.raises(FilterValueError):
        parse_score(text)
