"""The lint rules as pure functions: each rule with a positive and a negative case."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import make_trace
from tunix_rt.lint import (
    CONTROL_TOKENS,
    RULES,
    RULES_BY_ID,
    Options,
    answer_in,
    invalid,
    lint,
    pointer,
    repeated_share,
    same_answer,
    worst,
)


def trace(*contents: str, answer: str = "4", prompt: str = "What is 2 + 2?", **kw: Any) -> Any:
    steps = kw.pop("steps", None) or [
        {"i": n, "type": "step", "content": c} for n, c in enumerate(contents)
    ]
    return make_trace(prompt=prompt, final_answer=answer, steps=steps, **kw)


def found(payload: Any, **options: Any) -> list[tuple[str, str]]:
    return [(f.rule, f.pointer) for f in lint(payload, Options(**options))]


def rules_of(payload: Any, **options: Any) -> set[str]:
    return {rule for rule, _ in found(payload, **options)}


CLEAN = trace("Add 2 and 2.", "2 + 2 = 4")


def test_a_clean_trace_has_no_findings() -> None:
    assert lint(CLEAN) == []


def test_rules_have_unique_ids_severities_and_one_line_summaries() -> None:
    assert len(RULES_BY_ID) == len(RULES)
    for rule in RULES:
        assert rule.severity in ("error", "warning", "info")
        assert "\n" not in rule.summary
        assert rule.summary


@pytest.mark.parametrize("token", CONTROL_TOKENS)
def test_control_tokens_anywhere(token: str) -> None:
    assert found(trace("Add.", f"2 + 2 = 4 {token}")) == [("control-token", "/steps/1/content")]
    assert found(trace("Add.", "2 + 2 = 4", prompt=f"{token}What?")) == [
        ("control-token", "/prompt")
    ]
    assert ("control-token", "/final_answer") in found(trace("=4", answer=f"4{token}"))


def test_control_token_in_a_step_type_and_nested_tokens() -> None:
    steps = [{"i": 0, "type": "<eos>", "content": "2 + 2 = 4"}]
    assert found(trace(steps=steps)) == [("control-token", "/steps/0/type")]
    nested = lint(trace("Add.", "<start_of<bos>_turn> 2 + 2 = 4"))
    assert [f.message for f in nested] == ["chat control token <bos>"]


def test_lookalikes_are_not_control_tokens() -> None:
    assert lint(trace("Add.", "<Start_of_turn> and <|im_start> and <bos > 2 + 2 = 4")) == []


@pytest.mark.parametrize(
    ("contents", "expected"),
    [
        (["<think>Add.", "2 + 2 = 4"], [("/steps/0/content", "<think> is never closed")]),
        (["Add.</think>", "2 + 2 = 4"], [("/steps/0/content", "</think> without an opening")]),
        (
            ["<reasoning><answer>Add.</reasoning>", "</answer> 2 + 2 = 4"],
            [
                ("/steps/0/content", "</reasoning> closes <reasoning> while <answer> is open"),
                ("/steps/1/content", "</answer> without an opening <answer>"),
            ],
        ),
        (
            ["<think><think>Add.</think></think>", "2 + 2 = 4"],
            [("/steps/0/content", "<think> opened again inside <think>")],
        ),
    ],
)
def test_unbalanced_tags(contents: list[str], expected: list[tuple[str, str]]) -> None:
    findings = [f for f in lint(trace(*contents)) if f.rule == "unbalanced-tag"]
    assert len(findings) == len(expected)
    for f, (where, message) in zip(findings, expected, strict=True):
        assert (f.pointer, f.message[: len(message)]) == (where, message)


def test_balanced_tags_across_steps_in_i_order() -> None:
    assert lint(trace("<think>Add.", "Still adding.</think>", "2 + 2 = 4")) == []
    assert lint(trace("<reasoning>2 + 2</reasoning><answer>4</answer>")) == []
    listed_backwards = [
        {"i": 1, "type": "s", "content": "2 + 2 = 4</think>"},
        {"i": 0, "type": "s", "content": "<think>Add."},
    ]
    assert rules_of(trace(steps=listed_backwards)) == {"step-order"}


def test_stray_tags_in_prompt_or_answer() -> None:
    assert found(trace("2 + 2 = 4", prompt="Use <think></think>: 2 + 2?")) == [
        ("stray-tag", "/prompt")
    ]
    in_answer = trace("2 + 2 = 4", answer="<answer>4</answer>")
    assert found(in_answer) == [("stray-tag", "/final_answer")]
    unclosed = found(trace("2 + 2 = 4", prompt="<think> 2 + 2?"))
    assert unclosed == [("unbalanced-tag", "/prompt"), ("stray-tag", "/prompt")]
    assert lint(trace("2 + 2 = 4", prompt="Use think tags: 2 + 2?")) == []


def test_empty_text_and_empty_step() -> None:
    assert ("empty-text", "/prompt") in found(trace("2 + 2 = 4", prompt=" \n\t"))
    assert ("empty-text", "/final_answer") in found(trace("2 + 2 = 4", answer="  "))
    assert found(trace("Add.", " \u3000\n", "2 + 2 = 4")) == [("empty-step", "/steps/1/content")]
    assert lint(trace(".", "2 + 2 = 4")) == []


def test_duplicate_consecutive_and_repeated_steps() -> None:
    dup = trace("Add 2 and 2.", "add 2  and 2.", "2 + 2 = 4")
    assert found(dup) == [("duplicate-step", "/steps/1/content")]
    rep = trace("Add 2 and 2.", "Carry on.", "ADD 2 AND 2.", "2 + 2 = 4")
    assert found(rep) == [("repeated-step", "/steps/2/content")]
    assert lint(trace("Add 2 and 2.", "Add 2 and 3.", "2 + 2 = 4")) == []


def test_answer_mismatch_with_an_answer_tag() -> None:
    bad = trace("Add.", "<answer>5</answer>")
    assert ("answer-mismatch", "/steps/1/content") in found(bad)
    for said in ("4", " 4.0 ", "4."):
        assert lint(trace("2 + 2 =", f"<answer>{said}</answer> so 4")) == []
    words = trace("Capital?", "<answer> Paris </answer>", answer="paris")
    assert lint(words) == []


def test_answer_missing_from_the_last_step() -> None:
    assert found(trace("2 + 2 = 4", "Done.")) == [("answer-missing", "/steps/1/content")]
    assert found(trace("2 + 2 = 14")) == [("answer-missing", "/steps/0/content")]
    assert found(trace("It is 4.5", answer="4")) == [("answer-missing", "/steps/0/content")]
    assert lint(trace("So: 4.")) == []
    assert lint(trace("Result: x=4", answer="x = 4")) == []
    by_i = [
        {"i": 1, "type": "s", "content": "2 + 2 = 4"},
        {"i": 0, "type": "s", "content": "Add."},
    ]
    assert rules_of(trace(steps=by_i)) == {"step-order"}  # the last step is the highest i


def test_repetition_in_a_long_text() -> None:
    loop = "I will check the sum again. " * 8
    assert found(trace(loop + "2 + 2 = 4")) == [("repetition", "/steps/0/content")]
    assert found(trace("2 + 2 = 4", prompt=loop)) == [("repetition", "/prompt")]
    across = [f"Step {n}: we check the sum of two and two again now." for n in range(6)]
    assert found(trace(*across, "2 + 2 = 4")) == [("repetition", "/steps")]
    prose = " ".join(f"word{n}" for n in range(60))
    assert lint(trace(prose, "2 + 2 = 4")) == []
    short_loop = "ok ok ok ok ok ok ok ok"
    assert lint(trace(short_loop, "2 + 2 = 4")) == []


def test_too_long_uses_max_chars() -> None:
    long_step = trace("x" * 200, "2 + 2 = 4")
    assert found(long_step, max_chars=100) == [("too-long", "")]
    assert lint(long_step, Options(max_chars=1000)) == []
    assert lint(long_step) == []


def test_step_numbering_order_and_gaps() -> None:
    def steps(*numbers: int) -> Any:
        return trace(
            steps=[
                {"i": i, "type": "s", "content": "= 4" if i == max(numbers) else f"step {i}"}
                for i in numbers
            ]
        )

    assert rules_of(steps(0, 1, 2)) == set()
    assert rules_of(steps(1, 2, 3)) == set()
    assert found(steps(0, 2, 3)) == [("step-gap", "/steps")]
    assert found(steps(3, 4)) == [("step-gap", "/steps")]
    assert found(steps(1, 0, 2)) == [("step-order", "/steps")]
    assert rules_of(steps(3, 0)) == {"step-order", "step-gap"}
    gap = lint(steps(0, 2, 5))
    assert gap[0].message == "no step numbered 1, 3, 4"
    assert gap[0].severity == "info"


def test_ignore_and_prefix() -> None:
    bad = trace("2 + 2 = 4", "Done.")
    assert lint(bad, Options(ignore=frozenset({"answer-missing"}))) == []
    assert [f.pointer for f in lint(bad, prefix="/payload")] == ["/payload/steps/1/content"]


def test_findings_come_in_rule_order() -> None:
    payload = trace("Done.", "<eos>", answer=" ")
    order = [r.id for r in RULES]
    rules = [f.rule for f in lint(payload)]
    assert rules == sorted(rules, key=order.index)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (None, ""),
        ("steps", "/steps"),
        ("steps[3].content", "/steps/3/content"),
        ("payload.steps[0].i", "/payload/steps/0/i"),
        ("meta.a/b", "/meta/a~1b"),
    ],
)
def test_validator_fields_as_json_pointers(path: str | None, expected: str) -> None:
    assert pointer(path) == expected


def test_invalid_keeps_the_validator_wording() -> None:
    f = invalid("steps[0].i", "field required")
    assert (f.rule, f.severity, f.pointer, f.message) == (
        "invalid",
        "error",
        "/steps/0/i",
        "steps[0].i: field required",
    )
    assert invalid(None, "invalid JSON: x").message == "invalid JSON: x"


def test_worst_severity() -> None:
    assert worst([]) is None
    assert worst(lint(trace("2 + 2 = 4", "Done."))) == "warning"
    assert worst(lint(trace("<eos>", "Done."))) == "error"


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("4", "4", True),
        ("Paris.", "paris", True),
        ("1,000", "1000.0", True),
        ("$31.5", "31.50", True),
        ("4", "5", False),
        ("four", "4", False),
    ],
)
def test_same_answer(a: str, b: str, same: bool) -> None:
    assert same_answer(a, b) is same


@pytest.mark.parametrize(
    ("answer", "text", "inside"),
    [
        ("4", "so it is 4", True),
        ("4", "so it is 14", False),
        ("4", "4.5 is wrong", False),
        ("4", "it is 4.", True),
        ("Paris", "The capital is PARIS", True),
        ("x = 4", "x=4", True),
        ("-20", "Final result: -20", True),
        ("1, 2, 3", "Count: 1,2,3", True),
        ("Yes", "It is an animal", False),
        ("   ", "anything", True),
    ],
)
def test_answer_in(answer: str, text: str, inside: bool) -> None:
    assert answer_in(answer, text) is inside


def test_repeated_share() -> None:
    assert repeated_share([]) == 0.0
    four = ["a", "b", "c", "d"]
    assert repeated_share(four) == 0.0
    assert repeated_share(four * 2) == pytest.approx(1 / 5)
    assert repeated_share(four * 5) == pytest.approx(13 / 17)
