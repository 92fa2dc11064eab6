"""The searchable body of a trace and the pieces of SQL text built from a query (pure)."""

from __future__ import annotations

import pytest

from tunix_rt.filters import fold, parse_search
from tunix_rt.repositories.search import (
    MIN_INDEXED,
    SEPARATOR,
    body_matches,
    fold_field,
    fts5_query,
    like_pattern,
    search_body,
)

SAMPLES = [
    "Plain ASCII, with  double  spaces",
    "tabs\tand\nnewlines\r\nand\x0bvertical\x0cfeeds",
    "ASCII separators \x1c\x1d\x1e\x1f are whitespace to str.split",
    "STRASSE straße Straße",
    "CAFÉ café cafe\u0301 Cafe",
    "ΣΊΣΥΦΟΣ σίσυφος",
    "我喜欢学习中文",
    "東京タワーはとても高いです",
    "ما هي عاصمة مصر؟",
    "emoji 🍕 and 👍🏽",
    "\u00a0no-break\u2003em space\u3000ideographic space",
    "",
    "   ",
    "İstanbul ǅ ﬁ",
]


@pytest.mark.parametrize("text", SAMPLES)
def test_fold_field_is_fold(text: str) -> None:
    """The ASCII fast path never changes the result."""
    assert fold_field(text) == fold(text)


def test_fold_field_ascii_controls() -> None:
    """Every ASCII character, alone and between words, folds as `fold` does."""
    for code in range(128):
        text = f"a{chr(code)}B{chr(code)}"
        assert fold_field(text) == fold(text), code


def test_body_order_and_separator() -> None:
    """Prompt, step contents by ascending i, final answer; folded; U+001F between fields."""
    payload = {
        "prompt": "What  is\nIt?",
        "steps": [
            {"i": 7, "type": "b", "content": "Second STEP"},
            {"i": 2, "type": "a", "content": "First\tstep"},
        ],
        "final_answer": "Straße",
        "meta": {"not": "searched"},
    }
    assert search_body(payload) == SEPARATOR.join(
        ["what is it?", "first step", "second step", "strasse"]
    )


def test_fields_never_contain_the_separator() -> None:
    """Folding turns U+001F (and the other separators) into a space, so a term or a phrase
    can never contain it and never spans two fields."""
    body = search_body(
        {"prompt": "alpha\x1fbeta", "steps": [{"i": 0, "content": "gamma"}], "final_answer": "d"}
    )
    assert body.split(SEPARATOR) == ["alpha beta", "gamma", "d"]
    query = parse_search('"beta gamma" beta\x1fgamma')
    assert all(SEPARATOR not in term for term in query.terms)
    assert not body_matches(body, parse_search('"beta gamma"').terms)
    assert body_matches(body, parse_search('"alpha beta" gamma').terms)


def test_body_matches_is_every_term_as_a_substring() -> None:
    body = search_body(
        {
            "prompt": "The quick brown fox",
            "steps": [{"i": 0, "content": "jumps over the lazy dog"}],
            "final_answer": "done",
        }
    )
    assert body_matches(body, parse_search("QUICK dog").terms)
    assert body_matches(body, parse_search("ick bro").terms)  # substrings, not words
    assert body_matches(body, parse_search('"quick brown"').terms)
    assert not body_matches(body, parse_search('"brown quick"').terms)
    assert not body_matches(body, parse_search("quick cat").terms)


@pytest.mark.parametrize(
    ("query", "text", "found"),
    [
        ("STRASSE", "Die Straße", True),
        ("straße", "DIE STRASSE", True),
        ("CAFÉ", "un café", True),
        ("café", "un cafe\u0301", True),  # decomposed in the trace, composed in the query
        ("cafe", "un café", False),  # accent-sensitive
        ("café", "un cafe", False),
        ("σίσυφος", "ΣΊΣΥΦΟΣ", True),  # final sigma folds like sigma
        ("中", "学习中文", True),
        ("中文", "学习中文", True),
        ("习中文", "学习中文", True),
        ("中国", "学习中文", False),
        ("とても", "東京タワーはとても高い", True),
        ("مصر", "ما هي عاصمة مصر؟", True),
        ("🍕", "I love 🍕", True),
    ],
)
def test_case_folding_and_accents(query: str, text: str, found: bool) -> None:
    body = search_body({"prompt": text, "steps": [], "final_answer": "x"})
    assert body_matches(body, parse_search(query).terms) is found


def test_fts5_query_covers_each_term_with_trigrams() -> None:
    """Every third trigram and the last, each quoted (quotes doubled), AND-ed."""
    assert fts5_query(["abcdefgh"]) == '"abc" AND "def" AND "fgh"'
    assert fts5_query(["abc"]) == '"abc"'
    assert fts5_query(["abcd", "xyz"]) == '"abc" AND "bcd" AND "xyz"'
    assert fts5_query(['a"b"c']) == '"a""b" AND "b""c"'
    assert fts5_query(["中文字符"]) == '"中文字" AND "文字符"'


def test_fts5_query_trigrams_cover_the_whole_term() -> None:
    for term in ["abcdefghijk", "abcdefghij", "abcdefghi", "x" * 3, "quick brown fox"]:
        grams = [g.strip('"') for g in fts5_query([term]).split(" AND ")]
        assert all(len(g) == MIN_INDEXED and g in term for g in grams)
        covered = {
            i
            for g in grams
            for s in range(len(term))
            if term.startswith(g, s)
            for i in range(s, s + 3)
        }
        assert covered == set(range(len(term))), term


def test_like_pattern_escapes_wildcards() -> None:
    assert like_pattern("50%_off") == "%50\\%\\_off%"
    assert like_pattern("c:\\path") == "%c:\\\\path%"
    assert like_pattern("it's") == "%it's%"
