from __future__ import annotations

import pytest

from tunix_rt.cli._output import literal


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain ünïcode 中文", "plain ünïcode 中文"),
        ("tab\tand\nnewline", "tab\tand\nnewline"),
        ("\x1b[31mred", "\\x1b[31mred"),
        ("\x07\x7f\x9b", "\\x07\\x7f\\x9b"),
        ("a\u200bb\u200fc", "a\\u200bb\\u200fc"),
        ("\u202e\u2066\u2069", "\\u202e\\u2066\\u2069"),
        ("\u2028\u2029\ufeff\u061c", "\\u2028\\u2029\\ufeff\\u061c"),
        ("\U000e0001\U000e007f", "\\U000e0001\\U000e007f"),
        ("name-\udcff\udc80.jsonl", "name-\\xff\\x80.jsonl"),  # a non-UTF-8 file name
    ],
)
def test_literal(text: str, shown: str) -> None:
    assert literal(text) == shown
