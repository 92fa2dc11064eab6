"""`dataset verify DIR`: file hashes, and the manifest's own consistency with the split files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import invoke, make_trace, write_jsonl


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'v.db'}"
    path = write_jsonl(tmp_path / "t.jsonl", [make_trace(n) for n in range(30)])
    assert invoke(["--db", url, "trace", "upload", str(path)]).exit_code == 0
    built = invoke(["--db", url, "dataset", "build", "d", "--split", "train=0.5,test=0.5"])
    assert built.exit_code == 0, built.stderr
    return url


def export(db: str, out: Path, to: str = "tunix-sft") -> Path:
    result = invoke(["--db", db, "dataset", "export", "d", "--to", to, "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    return out


def verify(out: Path) -> Any:
    return invoke(["dataset", "verify", str(out)])


def edit(out: Path, change: Any) -> None:
    path = out / "manifest.json"
    doc = json.loads(path.read_bytes())
    change(doc)
    path.write_text(json.dumps(doc, indent=2))


def rehash(out: Path, doc: dict[str, Any], name: str) -> None:
    data = (out / name).read_bytes()
    doc["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def test_an_edited_count_is_inconsistent(db: str, tmp_path: Path) -> None:
    out = export(db, tmp_path / "out")
    assert verify(out).exit_code == 0
    count = json.loads((out / "manifest.json").read_bytes())["splits"]["train"]["count"]
    edit(out, lambda doc: doc["splits"]["train"].update(count=count + 1))
    bad = verify(out)
    assert bad.exit_code == 1
    assert f"inconsistent: manifest splits.train: count {count + 1}, but {count} ids" in bad.stderr
    assert f"inconsistent: train.jsonl has {count} records, the manifest says {count + 1}" in (
        bad.stderr
    )
    assert "inconsistent: manifest trace_count is 30, its splits hold 31" in bad.stderr
    assert "changed:" not in bad.stderr
    assert bad.stderr.rstrip().endswith("does not match its manifest")


def test_a_rehashed_file_with_a_record_less_is_caught(db: str, tmp_path: Path) -> None:
    """Someone drops a line and fixes the hash: the count and the ids still tell."""
    out = export(db, tmp_path / "out")
    lines = (out / "test.jsonl").read_bytes().splitlines(keepends=True)
    (out / "test.jsonl").write_bytes(b"".join(lines[1:]))
    edit(out, lambda doc: rehash(out, doc, "test.jsonl"))
    bad = verify(out)
    assert bad.exit_code == 1
    assert f"test.jsonl has {len(lines) - 1} records, the manifest says {len(lines)}" in (
        bad.stderr
    )
    assert "test.jsonl: its trace ids differ from the manifest's (0 not listed, 1 listed" in (
        bad.stderr
    )


def test_a_format_without_ids_is_checked_by_counts(db: str, tmp_path: Path) -> None:
    out = export(db, tmp_path / "out", to="trl-messages")
    assert verify(out).exit_code == 0
    (out / "train.jsonl").write_bytes((out / "train.jsonl").read_bytes() * 2)
    edit(out, lambda doc: rehash(out, doc, "train.jsonl"))
    bad = verify(out)
    assert bad.exit_code == 1
    assert "inconsistent: train.jsonl has" in bad.stderr
    assert "trace ids differ" not in bad.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "manifest.json is not valid JSON ("),
        ("[]", "is not a tunix-rt manifest: not a JSON object"),
        ('{"files": {}, "trace_count": 1}', "is not a tunix-rt manifest: no 'splits'"),
        (
            '{"files": {}, "splits": {"train": {"count": 1}}, "trace_count": 1}',
            "is not a tunix-rt manifest: splits.train.traces is missing, not a list",
        ),
        (
            '{"files": {"a": 1}, "splits": {}, "trace_count": 0}',
            "files.a is not an object with sha256 and bytes",
        ),
        ('{"files": {"a": {}}, "splits": {}, "trace_count": 0}', "files.a has no sha256"),
    ],
)
def test_a_broken_manifest_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "manifest.json").write_text(text)
    bad = verify(tmp_path)
    assert bad.exit_code == 1
    assert message in bad.stderr
    assert bad.stderr.count("\n") == 1
    assert "Traceback" not in bad.stderr


def test_hidden_files_are_not_the_datas(db: str, tmp_path: Path) -> None:
    """A clone of a Hugging Face dataset repository: .git and .gitattributes are ignored."""
    out = export(db, tmp_path / "repo")
    (out / ".gitattributes").write_text("*.jsonl filter=lfs\n")
    (out / ".git").mkdir()
    (out / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    good = verify(out)
    assert good.exit_code == 0, good.stderr
    assert "ok: 3 files match" in good.stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda doc: doc["files"]["train.jsonl"].update(bytes="many"),
            'files.train.jsonl.bytes is "many", not a whole number >= 0',
        ),
        (
            lambda doc: doc["files"]["train.jsonl"].update(bytes=-1),
            "files.train.jsonl.bytes is -1, not a whole number >= 0",
        ),
        (
            lambda doc: doc["files"]["train.jsonl"].update(bytes=1.5),
            "files.train.jsonl.bytes is 1.5, not a whole number >= 0",
        ),
        (
            lambda doc: doc.update(format="xml"),
            'format is "xml", not a format tunix-rt exports',
        ),
        (
            lambda doc: doc["splits"]["train"].update(count="x"),
            'splits.train.count is "x", not a whole number >= 0',
        ),
        (lambda doc: doc["splits"]["train"].pop("count"), "splits.train has no count"),
    ],
)
def test_a_malformed_field_is_named(db: str, tmp_path: Path, change: Any, message: str) -> None:
    out = export(db, tmp_path / "out")
    edit(out, change)
    bad = verify(out)
    assert bad.exit_code == 1
    assert bad.stderr.count("\n") == 1, bad.stderr
    assert f"is not a tunix-rt manifest: {message}" in bad.stderr


def test_a_wrong_byte_count_is_inconsistent(db: str, tmp_path: Path) -> None:
    out = export(db, tmp_path / "out")
    edit(out, lambda doc: doc["files"]["train.jsonl"].update(bytes=1))
    bad = verify(out)
    assert bad.exit_code == 1
    assert "inconsistent: manifest files.train.jsonl.bytes is 1, the file has" in bad.stderr


@pytest.mark.parametrize("to", ["tunix-sft", "jsonl", "trl-messages"])
@pytest.mark.parametrize("garbage", [b"not json\n", b"{}\n", b"[1]\n", b"[" * 5000 + b"\n"])
def test_rehashed_garbage_lines_are_caught(
    db: str, tmp_path: Path, to: str, garbage: bytes
) -> None:
    """A line replaced by something that is not a record of the format, the file's hash
    fixed in the manifest: verify names the line."""
    out = export(db, tmp_path / "out", to=to)
    lines = (out / "train.jsonl").read_bytes().splitlines(keepends=True)
    (out / "train.jsonl").write_bytes(b"".join([lines[0], garbage, *lines[2:]]))
    edit(out, lambda doc: rehash(out, doc, "train.jsonl"))
    bad = verify(out)
    assert bad.exit_code == 1
    assert "train.jsonl: 1 line(s) that are not" in bad.stderr
    assert "(line 2:" in bad.stderr
