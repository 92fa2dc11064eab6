"""Contamination matching as pure functions: normal form, tokens, the three rules."""

from __future__ import annotations

import json

import pytest

from tests.helpers import DATA
from tunix_rt.contamination import (
    EvalFileError,
    EvalItem,
    Matcher,
    ngrams,
    parse_items,
    tokens,
    words,
)
from tunix_rt.ingest.readers import Location, RawRecord, read_records

LONG = "A store sells apples at $2 each. Tom buys 3 apples and pays with $10. What is his change?"
ITEMS = [
    EvalItem("add", "What is 1 + 1?"),
    EvalItem("div", "What is 1 ÷ 1?"),
    EvalItem("long", LONG),
    EvalItem("frac", "What is 1/4 + 1/2?"),
    EvalItem("dec", "How many minutes are in 2.5 hours?"),
    EvalItem("zh", "二加二等于几"),
]
MATCHER = Matcher(ITEMS)


def matches(prompt: str) -> list[tuple[str, str]]:
    return [(ITEMS[m.item].id, m.kind) for m in MATCHER.match(prompt)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("What is 1 + 1?", ["what", "is", "1", "+", "1", "?"]),
        ("what is 1+1 ?", ["what", "is", "1", "+", "1", "?"]),
        ("WHAT  is\n1÷1", ["what", "is", "1", "÷", "1"]),
        (
            "2.5 hours, 1,000 km, [2,4,6]",
            ["2.5", "hours", ",", "1,000", "km", ",", "[", "2", ",", "4", ",", "6", "]"],
        ),
        ("STRASSE straße", ["strasse", "strasse"]),
        ("cafe\u0301", ["café"]),
        ("二加二 abc", ["二", "加", "二", "abc"]),
        ("हिन्दी", ["हिन्दी"]),
        ("snake_case x2", ["snake_case", "x2"]),
    ],
)
def test_tokens(text: str, expected: list[str]) -> None:
    assert tokens(text) == expected


def test_words_leave_symbols_out() -> None:
    assert words("What is 1 + 1? It's $2.50.") == ["what", "is", "1", "1", "it", "s", "2.50"]


def test_ngrams() -> None:
    assert ngrams(["a", "b", "c"], 2) == {("a", "b"), ("b", "c")}
    assert ngrams(["a"], 2) == set()


def test_short_items_are_the_ones_under_eight_words() -> None:
    assert MATCHER.short_count == 5  # all but LONG


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("What is 1 + 1?", [("add", "equal")]),
        ("  what IS 1+1 ? ", [("add", "equal")]),
        ("Quick one: what is 1 + 1? Answer in words.", [("add", "contains")]),
        ("What is 2 + 1?", []),
        ("What is 1 + 11?", []),
        ("What is 1 + 1", []),  # the item's ? is part of it
        ("What is 1 ÷ 1?", [("div", "equal")]),
        ("What is 1 / 1?", []),
        ("What is 1/4 + 1/3?", []),  # short items never match by a part of themselves
        ("How many minutes are in 2.5 hours?", [("dec", "equal")]),
        ("How many minutes are in 2 hours?", []),
        ("How many minutes are in 2.55 hours?", []),
        ("请问二加二等于几\uff1f", [("zh", "contains")]),
        (LONG, [("long", "equal")]),
        (LONG.upper().replace(" ", "  "), [("long", "equal")]),
        ("Tom buys 3 apples and pays with cash.", []),  # 7 words in common
        ("Tom buys 3 apples and pays with $10. What now?", [("long", "8-gram")]),
        ("A store sells apples at $2 each. Tom buys 3", [("long", "8-gram")]),  # truncated
    ],
)
def test_match_rules(prompt: str, expected: list[tuple[str, str]]) -> None:
    assert matches(prompt) == expected


def test_one_word_in_ten_changed_still_shares_an_8_gram() -> None:
    changed = LONG.split()
    changed[9] = "sells"  # the 10th word
    assert matches(" ".join(changed)) == [("long", "8-gram")]


def test_a_prompt_matching_several_items_lists_each_once_by_item_order() -> None:
    prompt = f"What is 1 ÷ 1? And what is 1 + 1? {LONG}"
    assert matches(prompt) == [("add", "contains"), ("div", "contains"), ("long", "8-gram")]


def test_match_all_yields_only_matching_prompts() -> None:
    out = list(MATCHER.match_all([("a", "nothing here"), ("b", "What is 1 + 1?")]))
    assert [(key, [m.kind for m in found]) for key, found in out] == [("b", ["equal"])]


def _raw(line: int, value: object = None, error: str | None = None) -> RawRecord:
    return RawRecord(Location("e.jsonl", line), b"", value, error)


def test_parse_items_reads_the_shared_eval_set() -> None:
    items = parse_items(read_records(str(DATA / "evalset_v2.jsonl")))
    assert len(items) == 100
    assert items[0] == EvalItem("eval-v2-001", "What is 15 + 27?", 1)
    assert Matcher(items).short_count == 63


def test_parse_items_accepts_integer_ids_and_ignores_other_keys() -> None:
    items = parse_items([_raw(1, {"id": 7, "prompt": "p", "section": "core", "x": [1]})])
    assert items == [EvalItem("7", "p", 1)]


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (None, "invalid JSON: x", "e.jsonl:2: invalid JSON: x"),
        ([1], None, "e.jsonl:2: an eval item must be a JSON object with id and prompt"),
        ({"id": "b"}, None, "e.jsonl:2: prompt: must be a non-empty string"),
        ({"id": "b", "prompt": "  "}, None, "e.jsonl:2: prompt: must be a non-empty string"),
        ({"id": "b", "prompt": 5}, None, "e.jsonl:2: prompt: must be a non-empty string"),
        ({"prompt": "p"}, None, "e.jsonl:2: id: must be a non-empty string or an integer"),
        ({"id": True, "prompt": "p"}, None, "e.jsonl:2: id: must be a non-empty string or an"),
        ({"id": "a", "prompt": "p"}, None, "e.jsonl:2: id: 'a' is also the id of line 1"),
    ],
)
def test_parse_items_names_the_first_bad_line(
    value: object, error: str | None, message: str
) -> None:
    with pytest.raises(EvalFileError) as exc:
        parse_items([_raw(1, {"id": "a", "prompt": "first"}), _raw(2, value, error)])
    assert str(exc.value).startswith(message)


def test_the_shared_eval_set_never_matches_its_neighbours_by_number() -> None:
    """Every item matches itself; changing one number in a short item breaks the match."""
    lines = (DATA / "evalset_v2.jsonl").read_text(encoding="utf-8").splitlines()
    items = [EvalItem(str(json.loads(x)["id"]), json.loads(x)["prompt"]) for x in lines]
    matcher = Matcher(items)
    for n, item in enumerate(items):
        assert n in {m.item for m in matcher.match(item.prompt)}
    assert matcher.match("What is 15 + 28?") == []
