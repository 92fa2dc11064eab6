"""Unit tests for the pure step diff in tunix_rt.diff."""

from __future__ import annotations

from typing import Any

from tunix_rt import diff


def payload(steps: list[str], answer: str = "4") -> dict[str, Any]:
    return {
        "prompt": "p",
        "final_answer": answer,
        "steps": [{"i": i, "type": "s", "content": c} for i, c in enumerate(steps)],
    }


def ops(d: diff.StepDiff) -> list[tuple[str, int | None, int | None]]:
    return [(p.op, p.a, p.b) for p in d.pairs]


def test_identical_is_all_equal() -> None:
    d = diff.compare(payload(["a b", "c d"]), payload(["a b", "c d"]))
    assert ops(d) == [("equal", 0, 0), ("equal", 1, 1)]
    assert d.first_divergence is None
    assert d.answers_agree


def test_normalised_case_and_whitespace_are_equal() -> None:
    d = diff.compare(payload(["Add  Two\tNumbers"], " FOUR "), payload(["add two numbers"], "four"))
    assert ops(d) == [("equal", 0, 0)]
    assert d.answers_agree


def test_edited_step_has_word_changes() -> None:
    d = diff.compare(payload(["x", "2 + 2 = 4", "y"]), payload(["x", "2 + 3 = 5", "y"]))
    assert ops(d) == [("equal", 0, 0), ("replace", 1, 1), ("equal", 2, 2)]
    assert d.first_divergence == 1
    changed = [(w.op, w.a, w.b) for w in d.pairs[1].words if w.op != "equal"]
    assert changed == [("replace", "2", "3"), ("replace", "4", "5")]


def test_inserted_and_deleted_steps() -> None:
    d = diff.compare(payload(["a", "b", "c"]), payload(["a", "new", "b"]))
    assert ops(d) == [("equal", 0, 0), ("insert", None, 1), ("equal", 1, 2), ("delete", 2, None)]
    assert d.first_divergence == 1


def test_reordered_steps_keep_the_longest_match() -> None:
    d = diff.compare(payload(["a", "b", "c", "d"]), payload(["a", "c", "d", "b"]))
    equal = [(p.a, p.b) for p in d.pairs if p.op == "equal"]
    assert equal == [(0, 0), (2, 1), (3, 2)]
    assert ("delete", 1, None) in ops(d)
    assert ("insert", None, 3) in ops(d)


def test_different_answers_and_empty_steps() -> None:
    d = diff.compare(payload([], "4"), payload(["a"], "5"))
    assert ops(d) == [("insert", None, 0)]
    assert d.first_divergence == 0
    assert not d.answers_agree


def test_uneven_replace_block() -> None:
    pairs = diff.align(["one two", "three"], ["one 2"])
    assert [(p.op, p.a, p.b) for p in pairs] == [("replace", 0, 0), ("delete", 1, None)]


def test_to_json_shape() -> None:
    j = diff.compare(payload(["a b"]), payload(["a c"])).to_json()
    assert j["first_divergence"] == 0
    assert j["answers_agree"] is True
    assert j["pairs"][0]["op"] == "replace"
    assert {"op": "replace", "a": "b", "b": "c"} in j["pairs"][0]["words"]


def test_edited_step_pairs_with_its_partner_not_its_position() -> None:
    a = ["Add 15 and 27", "15 + 27 = 42", "42 - 27 = 15, so the sum is right"]
    b = ["add 15 and 27", "Add the tens first, then the ones", "15 + 27 = 43"]
    assert [(p.op, p.a, p.b) for p in diff.align(a, b)] == [
        ("equal", 0, 0),
        ("insert", None, 1),
        ("replace", 1, 2),
        ("delete", 2, None),
    ]


def test_unrelated_steps_are_delete_and_insert() -> None:
    pairs = diff.align(["alpha beta gamma"], ["one two three"])
    assert [(p.op, p.a, p.b) for p in pairs] == [("delete", 0, None), ("insert", None, 0)]
