"""`dataset export --out DIR` into a folder that already has files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers import invoke, make_trace, write_jsonl


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'e.db'}"
    path = write_jsonl(tmp_path / "t.jsonl", [make_trace(n) for n in range(20)])
    assert invoke(["--db", url, "trace", "upload", str(path)]).exit_code == 0
    for name, split in (("d", "train=0.5,validation=0.5"), ("d@v2", "train=0.5,test=0.5")):
        assert invoke(["--db", url, "dataset", "build", name, "--split", split]).exit_code == 0
    return url


def export(db: str, name: str, out: Path, *more: str) -> Any:
    return invoke(
        ["--db", db, "dataset", "export", name, "--to", "jsonl", "--out", str(out), *more]
    )


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_folder_of_other_files_is_refused_unless_forced(db: str, tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    refused = export(db, "d", out)
    assert refused.exit_code == 1
    assert refused.stderr.count("\n") == 1
    assert "is not empty and holds no earlier export (notes.txt)" in refused.stderr
    assert "add --force" in refused.stderr
    assert names(out) == ["notes.txt"]
    forced = export(db, "d", out, "--force")
    assert forced.exit_code == 0, forced.stderr
    assert (out / "notes.txt").read_text() == "mine"  # only our files are written
    checked = invoke(["dataset", "verify", str(out)])
    assert checked.exit_code == 1
    assert "extra: notes.txt" in checked.stderr


def test_hidden_files_do_not_count(db: str, tmp_path: Path) -> None:
    """A fresh clone of a Hugging Face dataset repository takes an export as is."""
    out = tmp_path / "repo"
    (out / ".git").mkdir(parents=True)
    (out / ".gitattributes").write_text("*.jsonl filter=lfs\n")
    assert export(db, "d", out).exit_code == 0
    assert invoke(["dataset", "verify", str(out)]).exit_code == 0


def test_forcing_over_an_earlier_export_replaces_it_whole(db: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert export(db, "d@v1", out).exit_code == 0
    assert "validation.jsonl" in names(out)
    again = export(db, "d@v2", out)
    assert again.exit_code == 1
    assert "already has train.jsonl, README.md, manifest.json: add --force" in again.stderr
    assert export(db, "d@v2", out, "--force").exit_code == 0
    assert names(out) == ["README.md", "manifest.json", "test.jsonl", "train.jsonl"]
    assert invoke(["dataset", "verify", str(out)]).exit_code == 0
