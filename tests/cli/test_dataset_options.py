"""`dataset build` refuses bad --split and --pick in one line (exit 2), before any work."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import invoke


@pytest.mark.parametrize(
    ("split", "message"),
    [
        ("train=0.5,TRAIN=0.5", "--split: split names train and TRAIN differ only in case"),
        ("train=0.9,val-1=0.1", "--split: split name 'val-1' is not valid"),
        ("a=0.333,b=0.333,c=0.333", "--split: split shares add up to 0.999, not 1 (0.001 short)"),
        ("train", "--split: split 'train' is not NAME=SHARE"),
    ],
)
def test_bad_splits_are_one_line(tmp_path: Path, split: str, message: str) -> None:
    db = f"sqlite:///{tmp_path / 'x.db'}"
    bad = invoke(["--db", db, "dataset", "build", "d", "--split", split])
    assert bad.exit_code == 2
    assert bad.stderr.startswith("error: --split: ")
    assert message in bad.stderr
    assert bad.stderr.count("\n") == 1


def test_a_bad_pick_is_one_line(tmp_path: Path) -> None:
    bad = invoke(["--db", f"sqlite:///{tmp_path / 'x.db'}", "dataset", "build", "d", "--pick", "x"])
    assert (bad.exit_code, bad.stderr) == (2, "error: --pick x: choose latest or random\n")
