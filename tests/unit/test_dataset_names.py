"""Split names (Hugging Face's rule, one file per split) and the shares' messages."""

from __future__ import annotations

import re
from fractions import Fraction

import pytest

from tunix_rt import dataset as ds


@pytest.mark.parametrize("name", ["train", "validation", "test_2", "_x", "1", "a.b", "v1.dev.x"])
def test_hugging_face_split_names_are_accepted(name: str) -> None:
    assert ds.parse_ratios(f"{name}=1").names == (name,)


@pytest.mark.parametrize("name", ["val-1", "a..b", "x.", ".x", "a b", "é", "a/b", "x" * 65])
def test_other_names_are_refused_naming_the_split(name: str) -> None:
    with pytest.raises(ds.DatasetNameError, match=f"split name {re.escape(repr(name))}"):
        ds.parse_ratios(f"{name}=1")


def test_the_rule_is_hugging_faces() -> None:
    naming = pytest.importorskip("datasets.naming")
    for name in ["train", "val-1", "a..b", "x.", "a.b", "_", "a b"]:
        assert bool(re.match(naming._split_re, name)) == bool(ds.SPLIT_RE.match(name)), name


def test_names_differing_only_in_case_are_refused() -> None:
    with pytest.raises(ds.DatasetNameError, match="train and TRAIN differ only in case"):
        ds.parse_ratios("train=0.5,TRAIN=0.5")
    with pytest.raises(ds.DatasetNameError, match="split train is named twice"):
        ds.parse_ratios("train=0.5,train=0.5")
    with pytest.raises(ds.DatasetNameError, match="device name on Windows"):
        ds.parse_ratios("train=0.5,CON=0.5")


def test_shares_that_do_not_add_up_say_by_how_much() -> None:
    cases = {
        "a=0.333,b=0.333,c=0.333": "add up to 0.999, not 1 (0.001 short): 0.333 + 0.333 + 0.333",
        "a=0.3333333333333,b=0.6666666666666": "add up to 0.9999999999999, not 1 "
        "(0.0000000000001 short)",
        "a=0.5,b=0.6": "add up to 1.1, not 1 (0.1 over)",
        "a=1/3,b=1/3": "add up to 2/3, not 1 (1/3 short): 1/3 + 1/3",
    }
    for text, message in cases.items():
        with pytest.raises(ds.DatasetNameError, match=re.escape(message)):
            ds.parse_ratios(text)


def test_shares_are_kept_without_loss() -> None:
    """What is stored (`str`) parses back to the same shares: thirds add up to 1 again."""
    ratios = ds.parse_ratios("a=1/3,b=1/3,c=1/3")
    assert str(ratios) == "a=1/3,b=1/3,c=1/3"
    assert ds.parse_ratios(str(ratios)) == ratios
    assert ds.parse_ratios("train=0.9,test=0.1").as_dict() == {"train": "0.9", "test": "0.1"}
    assert ds.exact(Fraction(1, 20)) == "0.05"
    assert ds.exact(Fraction(1)) == "1"
    assert ds.exact(Fraction(-1, 8)) == "-0.125"


def test_stored_ratios_of_earlier_builds_still_read() -> None:
    """Earlier versions allowed '-': a dataset built then can still be listed and shown."""
    assert ds.parse_ratios("train=0.9,val-1=0.1", stored=True).names == ("train", "val-1")
