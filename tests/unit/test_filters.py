from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tunix_rt import filters as fl

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", datetime(2026, 11, 19, 12, 0, tzinfo=UTC)),
        ("12h", datetime(2026, 11, 26, 0, 0, tzinfo=UTC)),
        ("2w", datetime(2026, 11, 12, 12, 0, tzinfo=UTC)),
        ("90m", datetime(2026, 11, 26, 10, 30, tzinfo=UTC)),
        ("2026-01-31", datetime(2026, 1, 31, tzinfo=UTC)),
        ("2026-01-31T12:00:00", datetime(2026, 1, 31, 12, tzinfo=UTC)),
        ("2026-01-31T12:00:00+02:00", datetime(2026, 1, 31, 10, tzinfo=UTC)),
        ("999999d", fl.MIN_TIME),
    ],
)
def test_parse_time(text: str, expected: datetime) -> None:
    assert fl.parse_time(text, now=NOW) == expected


@pytest.mark.parametrize("text", ["", "7", "7y", "-7d", "yesterday", "2026-02-30", "0001-01-01"])
def test_parse_time_rejects(text: str) -> None:
    with pytest.raises(fl.FilterValueError):
        fl.parse_time(text, now=NOW)


def test_parse_age_only_relative() -> None:
    assert fl.parse_age("30d", now=NOW) == datetime(2026, 10, 27, 12, tzinfo=UTC)
    with pytest.raises(fl.FilterValueError, match="not an age"):
        fl.parse_age("2026-01-01")


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [("3..8", 3, 8), ("3..", 3, None), ("..8", None, 8), ("5", 5, 5), (" 0..0 ", 0, 0)],
)
def test_parse_steps(text: str, low: int | None, high: int | None) -> None:
    assert fl.parse_steps(text) == fl.StepRange(low, high)


@pytest.mark.parametrize("text", ["..", "8..3", "a..b", "-1..2", "1..1001", "", "1...2"])
def test_parse_steps_rejects(text: str) -> None:
    with pytest.raises(fl.FilterValueError):
        fl.parse_steps(text)


def test_parse_meta() -> None:
    m = fl.parse_meta("run.seed=7")
    assert (m.path, m.text, m.number, m.literal) == (("run", "seed"), "7", 7, None)
    assert fl.parse_meta("x=2.50").number == Decimal("2.50")
    assert fl.parse_meta("x=1e3").number == 1000
    assert fl.parse_meta("x=abc").number is None
    assert fl.parse_meta("x=nan").number is None
    assert fl.parse_meta("x=true").literal == "true"
    assert fl.parse_meta("x=a=b").text == "a=b"
    assert fl.parse_meta("x=").text == ""
    assert str(fl.parse_meta("meta.a.b=1")) == "meta.a.b=1"
    for bad in ["x", "=1", "a b=1", "a..b=1", 'a"b=1', "a.=1"]:
        with pytest.raises(fl.FilterValueError):
            fl.parse_meta(bad)


def test_parse_tag() -> None:
    assert fl.parse_tag(" math/v2:easy ") == "math/v2:easy"
    for bad in ["", "Math", "-x", "a b", "x" * 65, "é"]:
        with pytest.raises(fl.FilterValueError):
            fl.parse_tag(bad)


def test_fold_is_case_insensitive_and_accent_sensitive() -> None:
    assert fl.fold("STRASSE") == fl.fold("straße")
    assert fl.fold("CAFÉ") == fl.fold("café") == fl.fold("cafe\u0301")
    assert fl.fold("cafe") != fl.fold("café")
    assert fl.fold("  a \n\t b ") == "a b"


def test_parse_search_terms_and_phrases() -> None:
    q = fl.parse_search('Wait  "let me   RECHECK" wait 中文')
    assert q.terms == ("wait", "let me recheck", "中文")
    for bad in ["", "   ", '""', 'open "quote']:
        with pytest.raises(fl.FilterValueError):
            fl.parse_search(bad)


def test_parse_id_lines() -> None:
    full = "0123456789abcdef0123456789abcdef"
    lines = [
        "# comment",
        "",
        "ID        Created (UTC)",
        "0123abcd  2026-01-01 ...",
        '{"id": "01234567-89ab-cdef-0123-456789abcdef", "payload": {}}',
        full.upper(),
    ]
    dashed = "01234567-89ab-cdef-0123-456789abcdef"
    assert fl.parse_id_lines(lines, "f") == ["0123abcd", dashed, dashed]
    with pytest.raises(fl.FilterValueError, match="f:2"):
        fl.parse_id_lines(["abc", "xyz"], "f")
    with pytest.raises(fl.FilterValueError, match="f:1"):
        fl.parse_id_lines(['{"no": 1}'], "f")


def test_describe_and_empty() -> None:
    assert fl.TraceFilter().is_empty
    assert fl.TraceFilter().describe() == "all traces"
    f = fl.TraceFilter(
        since=NOW,
        versions=("1.0", "2.0"),
        meta=(fl.parse_meta("a=1"),),
        tags=("x",),
        no_tags=("y",),
        steps=fl.StepRange(3, None),
        search=fl.parse_search("hello"),
    ).with_ids(["abc"])
    assert not f.is_empty
    assert f.describe() == (
        "1 given id, since 2026-11-26T12:00:00+00:00, version 1.0 or 2.0, meta.a=1, tag x, "
        "without tag y, steps 3.., matching 'hello'"
    )


def test_parse_id_lines_strips_a_bom() -> None:
    assert fl.parse_id_lines(["\ufeff0123abcd\r\n"], "f") == ["0123abcd"]
