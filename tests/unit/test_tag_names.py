"""Tag names: what `trace tag`, `--tag` and a stored record's `tags` accept (pure code)."""

from __future__ import annotations

import pytest

from tests.helpers import make_trace
from tunix_rt.filters import FilterValueError, parse_tag
from tunix_rt.ingest.readers import Location, RawRecord
from tunix_rt.ingest.validate import check, prepare

RULE = "1..64 characters, lower-case letters, digits and . _ : / = + - (starting with"
LOC = Location("f.jsonl", 2)


@pytest.mark.parametrize(
    "name",
    ["math", "a", "0", "x" * 64, "src:gsm8k", "split=train", "v1.2", "a/b", "c++", "a_b-c"],
)
def test_valid_names(name: str) -> None:
    assert parse_tag(name) == name


def test_surrounding_spaces_are_trimmed_on_the_command_line() -> None:
    assert parse_tag("  math ") == "math"


@pytest.mark.parametrize(
    "name",
    ["", " ", "Math", "x" * 65, "-lead", ".lead", "has space", "ü", "a,b", "tab\tx", "a\nb"],
)
def test_invalid_names_say_what_is_allowed(name: str) -> None:
    with pytest.raises(FilterValueError) as caught:
        parse_tag(name)
    assert f"{name!r} is not a tag name: {RULE}" in str(caught.value)


def _check(tags: object) -> object:
    return check(RawRecord(LOC, b"{}", {"payload": make_trace(1), "tags": tags}), 1 << 20)


def test_record_tags_are_sorted_and_unique() -> None:
    out = _check(["b", "a", "b"])
    assert not isinstance(out, list)
    assert out[-1] == ("a", "b")
    prepared = prepare(RawRecord(LOC, b"{}", {"payload": make_trace(1), "tags": ["z"]}), 1 << 20)
    assert not isinstance(prepared, list)
    assert prepared.row.tags == ("z",)


@pytest.mark.parametrize(("tags", "expected"), [(None, ()), ([], ())])
def test_record_without_tags(tags: object, expected: tuple[str, ...]) -> None:
    out = _check(tags)
    assert not isinstance(out, list)
    assert out[-1] == expected


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        (["ok", "Bad"], "f.jsonl:2: tags[1]: 'Bad' is not a tag name: "),
        ({"a": 1}, "f.jsonl:2: tags: must be a JSON array of tag names"),
        ([None], "f.jsonl:2: tags[0]: None is not a tag name: tags are strings"),
        (["x "], "f.jsonl:2: tags[0]: 'x ' is not a tag name: no surrounding spaces"),
        (["y" * 65], "f.jsonl:2: tags[0]: "),
    ],
)
def test_bad_record_tags_are_located(tags: object, message: str) -> None:
    out = _check(tags)
    assert isinstance(out, list)
    assert len(out) == 1
    assert str(out[0]).startswith(message)


def test_tags_are_not_part_of_a_bare_trace() -> None:
    out = check(RawRecord(LOC, b"{}", {**make_trace(1), "tags": ["x"]}), 1 << 20)
    assert isinstance(out, list)
    assert [str(e) for e in out] == ["f.jsonl:2: tags: unknown field (not part of trace schema v1)"]


def test_tags_never_change_the_content_hash() -> None:
    with_tags = _check(["a", "b"])
    without = check(RawRecord(LOC, b"{}", {"payload": make_trace(1)}), 1 << 20)
    assert not isinstance(with_tags, list)
    assert not isinstance(without, list)
    assert with_tags[:5] == without[:5]
