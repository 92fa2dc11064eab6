"""Usage errors are one line, `error: MESSAGE (see: COMMAND --help)`, exit 2, never Typer's
usage text and framed panel; and `-o` edge cases of `trace export`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import Cli, make_trace, write_jsonl


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["trace", "list", "--limit", "0"], "Invalid value for '--limit'"),
        (["trace", "lisst"], "No such command 'lisst'"),
        (["trace", "list", "--wtih"], "No such option: --wtih"),
        (["trace", "show"], "Missing argument 'ID'"),
        (["trace", "export", "--to", "tunix"], "is not a format"),
        (["dataset", "build", "x", "--limit", "0"], "Invalid value for"),
    ],
)
def test_usage_errors_are_one_line(args: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tunix_rt", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "80"},
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: ")
    assert message in done.stderr
    assert "--help)" in done.stderr
    assert "╭" not in done.stderr
    assert "Traceback" not in done.stderr


def test_a_group_without_a_command_prints_its_help() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tunix_rt", "trace"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert "Commands" in done.stdout + done.stderr


def _upload(cli: Cli, tmp_path: Path) -> None:
    result = cli("trace", "upload", str(write_jsonl(tmp_path / "t.jsonl", [make_trace(1)])))
    assert result.exit_code == 0, result.stderr


def test_export_follows_a_symbolic_link(cli: Cli, tmp_path: Path) -> None:
    _upload(cli, tmp_path)
    target = tmp_path / "target.jsonl"
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    first = cli("trace", "export", "--to", "jsonl", "-o", str(link))
    assert first.exit_code == 0, first.stderr
    assert link.is_symlink()
    assert json.loads(target.read_text(encoding="utf-8"))["payload"]["prompt"] == "What is 1 + 1?"
    again = cli("trace", "export", "--to", "jsonl", "-o", str(link))
    assert again.exit_code == 1
    assert "already exists" in again.stderr
    forced = cli("trace", "export", "--to", "tunix-sft", "-o", str(link), "--force")
    assert forced.exit_code == 0, forced.stderr
    assert link.is_symlink()
    assert "prompts" in json.loads(target.read_text(encoding="utf-8"))


def test_export_output_edge_cases(cli: Cli, tmp_path: Path) -> None:
    _upload(cli, tmp_path)
    empty = cli("trace", "export", "--to", "jsonl", "-o", "")
    assert empty.exit_code == 1
    assert "needs a file name" in empty.stderr
    full = cli("trace", "export", "--to", "jsonl", "-o", "/dev/full")
    assert full.exit_code == 1
    assert "cannot write /dev/full" in full.stderr
    stdout = cli("trace", "export", "--to", "jsonl", "-o", "/dev/stdout")
    assert stdout.exit_code == 0, stdout.stderr
    assert json.loads(stdout.stdout)["payload"]["prompt"] == "What is 1 + 1?"


def test_export_to_a_descriptor_and_never_into_the_database(
    cli: Cli, db_url: str, tmp_path: Path
) -> None:
    _upload(cli, tmp_path)
    args = ["--db", db_url, "trace", "export", "--to", "jsonl", "-o", "/dev/stderr"]
    done = subprocess.run(
        [sys.executable, "-m", "tunix_rt", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert '"payload"' in done.stderr
    if db_url.startswith("sqlite"):
        database = db_url.removeprefix("sqlite:///")
        link = tmp_path / "wal-link"
        link.symlink_to(f"{database}-wal")
        refused = cli("trace", "export", "--to", "jsonl", "-o", str(link))
        assert refused.exit_code == 1
        assert "it is the database being exported" in refused.stderr
