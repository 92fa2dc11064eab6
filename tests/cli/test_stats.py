"""`trace stats` numbers checked against a hand-computed fixture, on both databases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Cli, make_trace, write_jsonl


def _trace(prompt: str, answer: str, steps: list[tuple[str, str]], **meta: Any) -> dict[str, Any]:
    return make_trace(
        prompt=prompt,
        final_answer=answer,
        steps=[{"i": i, "type": t, "content": c} for i, (t, c) in enumerate(steps)],
        meta=meta,
    )


FIXTURE = [
    # prompt chars 5, answer 1, steps: 3 (4, 2, 6 chars)
    _trace("abcde", "x", [("parse", "abcd"), ("calc", "ab"), ("calc", "abcdef")], src="a", k=2),
    # prompt 3, answer 3, steps: 1 (10 chars)
    _trace("abc", "xyz", [("calc", "abcdefghij")], src="b", k="2"),
    # prompt 5 (same as the first), answer 2, steps: 2 (1, 1)
    _trace("abcde", "xy", [("parse", "a"), ("verify", "b")], src="a", k=[2, 3]),
    # prompt 10, answer 4, steps: 3 (3, 3, 3); different version
    {
        **_trace("0123456789", "wxyz", [("calc", "aaa"), ("calc", "bbb"), ("calc", "ccc")]),
        "trace_version": "2.0",
    },
]


@pytest.fixture
def loaded(cli: Cli, tmp_path: Path) -> Cli:
    assert cli("trace", "upload", str(write_jsonl(tmp_path / "s.jsonl", FIXTURE))).exit_code == 0
    return cli


def test_numbers_match_the_hand_computed_fixture(loaded: Cli) -> None:
    out = loaded("trace", "stats", "--json", "--meta-values", "k").json()
    assert out["count"] == 4
    assert out["steps_histogram"] == {"1": 1, "2": 1, "3": 2}
    assert out["steps_per_trace"] == {
        "count": 4, "min": 1, "p50": 2, "p90": 3, "p99": 3, "max": 3, "mean": 2.2,
    }  # fmt: skip
    assert out["chars"]["prompt"] == {
        "count": 4, "min": 3, "p50": 5, "p90": 10, "p99": 10, "max": 10, "mean": 5.8,
    }  # fmt: skip
    # step lengths: 4 2 6 10 1 1 3 3 3 -> sorted 1 1 2 3 3 3 4 6 10
    assert out["chars"]["step"] == {
        "count": 9, "min": 1, "p50": 3, "p90": 10, "p99": 10, "max": 10, "mean": 3.7,
    }  # fmt: skip
    assert out["chars"]["final_answer"] == {
        "count": 4, "min": 1, "p50": 2, "p90": 4, "p99": 4, "max": 4, "mean": 2.5,
    }  # fmt: skip
    assert out["step_types"] == {"calc": 6, "parse": 2, "verify": 1}
    assert out["versions"] == {"1.0": 3, "2.0": 1}
    assert out["duplicate_prompts"] == {
        "groups": 1,
        "traces": 2,
        "top": [{"prompt": "abcde", "traces": 2}],
    }
    # 2 (a number), "2" (a string), [2, 3] (a list: each element), missing
    assert out["meta_values"] == {"key": "k", "top": {"2": 3, "(none)": 1, "3": 1}}
    assert out["tags"] == {}
    assert out["untagged"] == 4


def test_filter_and_group_by(loaded: Cli) -> None:
    out = loaded("trace", "stats", "--json", "--meta", "src=a", "--by", "version").json()
    assert out["selection"] == "meta.src=a"
    assert out["count"] == 2
    assert [(g["key"], g["count"]) for g in out["groups"]] == [("1.0", 2)]
    by_src = loaded("trace", "stats", "--json", "--by", "meta.src").json()
    assert [(g["key"], g["count"]) for g in by_src["groups"]] == [
        ("a", 2),
        ("(none)", 1),
        ("b", 1),
    ]
    by_tag = loaded("trace", "stats", "--json", "--by", "tag").json()
    assert [(g["key"], g["count"]) for g in by_tag["groups"]] == [("(none)", 4)]


def test_table_and_charts(loaded: Cli) -> None:
    result = loaded("trace", "stats", "--by", "meta.src", "--meta-values", "src")
    assert result.exit_code == 0
    text = result.stdout
    assert "4 traces (all traces)" in text
    for heading in ("Lengths (characters)", "Steps per trace (traces)", "Step types (steps)"):
        assert heading in text
    assert "Duplicate prompts: 1 prompts are shared by 2 traces" in text
    assert "By meta.src" in text
    assert "█" in text


def test_empty_selection_says_so(loaded: Cli) -> None:
    result = loaded("trace", "stats", "--meta", "src=none")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == "no traces match: meta.src=none\n"
    empty = loaded("trace", "stats", "--json", "--steps", "9").json()
    assert empty["count"] == 0


@pytest.mark.parametrize("by", ["steps", "meta.", "meta.a b", "Tag"])
def test_bad_by_is_a_usage_error(loaded: Cli, by: str) -> None:
    result = loaded("trace", "stats", "--by", by)
    assert result.exit_code == 2
    assert "--by" in result.stderr


def test_tag_filters_work_with_tag_counts(loaded: Cli) -> None:
    """`--tag` / `--no-tag` inside a query that itself reads the tags table (was a crash)."""
    assert loaded("trace", "tag", "add", "a", "--meta", "src=a").exit_code == 0
    tagged = loaded("trace", "stats", "--json", "--tag", "a").json()
    assert (tagged["count"], tagged["tags"], tagged["untagged"]) == (2, {"a": 2}, 0)
    other = loaded("trace", "stats", "--json", "--no-tag", "a", "--by", "tag").json()
    assert (other["count"], other["tags"]) == (2, {})
