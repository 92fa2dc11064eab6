"""Split assignment, names, ratios and random picks (`tunix_rt.dataset`): pure functions."""

from __future__ import annotations

from collections import Counter
from fractions import Fraction

import pytest

from tunix_rt import dataset as ds


def test_ratios_parse_in_order_and_must_add_up_to_one() -> None:
    ratios = ds.parse_ratios("train=0.9,validation=0.05,test=0.05")
    assert ratios.names == ("train", "validation", "test")
    assert ratios.shares == (Fraction(9, 10), Fraction(1, 20), Fraction(1, 20))
    assert str(ratios) == "train=0.9,validation=0.05,test=0.05"
    assert ratios.bounds()[-1] == 2**64
    for bad in ("train=0.9", "train=0.5,train=0.5", "train", "train=x", "train=0,test=1", "a b=1"):
        with pytest.raises(ds.DatasetNameError):
            ds.parse_ratios(bad)


def test_names_and_versions() -> None:
    assert ds.parse_ref("dev") == ds.DatasetRef("dev", None)
    assert ds.parse_ref("dev@v2") == ds.DatasetRef("dev", 2)
    assert ds.parse_ref("dev@3") == ds.DatasetRef("dev", 3)
    assert str(ds.parse_ref("dev@v2")) == "dev@v2"
    for bad in ("", "-dev", "dev@", "dev@v0", "dev@vx", "a/b", "x" * 129):
        with pytest.raises(ds.DatasetNameError):
            ds.parse_ref(bad)


def test_identical_normalised_prompts_share_a_split() -> None:
    """Case and whitespace are folded; numbers are content."""
    ratios = ds.parse_ratios("train=0.5,test=0.5")
    for seed in range(50):
        base = ds.assign_split("What is 2 + 2?", seed, ratios)
        assert ds.assign_split("  WHAT   is 2 +\t2? ", seed, ratios) == base
        assert ds.assign_split("what is 2 + 2?", seed, ratios) == base
    assert ds.prompt_key("What is 2 + 2?") != ds.prompt_key("What is 2 + 3?")
    assert ds.prompt_key("Straße") == ds.prompt_key("STRASSE")


def test_splits_follow_the_ratios_and_the_seed() -> None:
    ratios = ds.parse_ratios("train=0.8,validation=0.1,test=0.1")
    counts = Counter(ds.assign_split(f"prompt {n}", 7, ratios) for n in range(20_000))
    assert abs(counts["train"] / 20_000 - 0.8) < 0.02
    assert abs(counts["validation"] / 20_000 - 0.1) < 0.02
    assert abs(counts["test"] / 20_000 - 0.1) < 0.02
    other = [ds.assign_split(f"prompt {n}", 8, ratios) for n in range(200)]
    same = [ds.assign_split(f"prompt {n}", 7, ratios) for n in range(200)]
    assert other != same  # the seed matters
    assert same == [ds.assign_split(f"prompt {n}", 7, ratios) for n in range(200)]


def test_a_single_split_takes_everything() -> None:
    ratios = ds.parse_ratios("train=1")
    assert {ds.assign_split(f"p{n}", 1, ratios) for n in range(100)} == {"train"}


def test_random_pick_is_uniform_and_seeded() -> None:
    """Each id is picked about equally often over many seeds (not only the newest)."""
    ids = [f"00000000-0000-4000-8000-{n:012d}" for n in range(20)]
    hits: Counter[str] = Counter()
    for seed in range(2000):
        hits.update(sorted(ids, key=lambda i: ds.pick_key(seed, i))[:5])
    assert all(400 < hits[i] < 600 for i in ids)  # 2000 * 5 / 20 = 500 each
    first = sorted(ids, key=lambda i: ds.pick_key(3, i))
    assert first == sorted(ids, key=lambda i: ds.pick_key(3, i))
