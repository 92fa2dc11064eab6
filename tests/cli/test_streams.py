"""Streams, signals and exit codes a script can trust (real processes, both databases)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import Cli, invoke, make_trace, write_jsonl

TUNIX = [sys.executable, "-m", "tunix_rt"]


def run(*args: str, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [*TUNIX, *args], check=False, timeout=120, **kwargs
    )


@pytest.fixture
def loaded(cli: Cli, db_url: str, tmp_path: Path) -> str:
    path = write_jsonl(tmp_path / "t.jsonl", [make_trace(n) for n in range(3000)])
    assert cli("trace", "upload", str(path), "-q").exit_code == 0
    return db_url


def test_broken_pipe_exits_zero_quietly(loaded: str) -> None:
    """`trace list --all --jsonl | head -1`: the reader went away; exit 0, nothing on stderr."""
    with subprocess.Popen(
        [*TUNIX, "--db", loaded, "trace", "list", "--all", "--jsonl"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        assert proc.stdout is not None
        assert proc.stderr is not None
        assert proc.stdout.readline().startswith(b'{"id":"')
        proc.stdout.close()
        err = proc.stderr.read()
        assert proc.wait(timeout=60) == 0
    assert err == b""


def test_closed_stdout_is_an_error_not_silence(loaded: str) -> None:
    """`trace list >&-`: results cannot be written: one line, exit 1."""
    result = run("--db", loaded, "trace", "list", "--json", stdout=subprocess.DEVNULL)
    assert result.returncode == 0  # the control: an open stdout works
    closed = subprocess.run(
        [*TUNIX, "--db", loaded, "trace", "list", "--json"],
        stdin=subprocess.DEVNULL,
        stdout=None,
        stderr=subprocess.PIPE,
        timeout=120,
        check=False,
        preexec_fn=lambda: os.close(1),
    )
    assert closed.returncode == 1
    assert closed.stderr == b"error: cannot write results: stdout is closed\n"


def test_closed_stderr_keeps_the_exit_code(loaded: str) -> None:
    ok = subprocess.run(
        [*TUNIX, "--db", loaded, "trace", "show", "0"],
        stdout=subprocess.PIPE,
        timeout=120,
        check=False,
        preexec_fn=lambda: os.close(2),
    )
    assert ok.returncode == 1  # "trace 0 not found" went nowhere, but the code stands


def test_closed_stdin_never_becomes_the_database(tmp_path: Path) -> None:
    """With fd 0 closed, the SQLite file must not take descriptor 0 (or 1, 2)."""
    db = tmp_path / "x.db"
    result = subprocess.run(
        [*TUNIX, "--db", f"sqlite:///{db}", "trace", "list", "--json"],
        stdout=subprocess.PIPE,
        timeout=120,
        check=False,
        preexec_fn=lambda: os.close(0),
    )
    assert result.returncode == 0
    assert result.stdout == b'{"data": [], "next_cursor": null}\n'


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_full_disk_is_one_line(loaded: str) -> None:
    with open("/dev/full", "wb") as full:
        result = run("--db", loaded, "trace", "list", "--all", "--jsonl", stdout=full)
    assert result.returncode == 1
    assert result.stderr == b"error: No space left on device\n"


def test_sigterm_rolls_back_like_ctrl_c(db_url: str, tmp_path: Path) -> None:
    """SIGTERM mid-upload: exit 143, one line, nothing stored, no worker noise."""
    path = write_jsonl(tmp_path / "big.jsonl", [make_trace(n) for n in range(60_000)])
    assert invoke(["--db", db_url, "trace", "list"]).exit_code == 0  # migrate first
    with subprocess.Popen(
        [*TUNIX, "--db", db_url, "trace", "upload", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    ) as proc:
        time.sleep(2.0)  # well into the upload (workers started, batches written)
        proc.send_signal(signal.SIGTERM)
        assert proc.stderr is not None
        err = proc.stderr.read().decode()
        code = proc.wait(timeout=60)
    if code == 0:  # pragma: no cover - a very fast machine finished first
        pytest.skip("the upload finished before SIGTERM")
    assert code == 143
    assert err == "terminated: stopped (nothing half-written was kept)\n"
    assert invoke(["--db", db_url, "trace", "list", "--all", "--jsonl"]).stdout == ""


@pytest.mark.parametrize(
    "args",
    [
        ["trace", "list", "--limit", "0"],
        ["trace", "list", "--limit", "99999999999999999999"],
        ["trace", "list", "--limit", "-5"],
    ],
)
def test_out_of_range_limit_is_a_usage_error(cli: Cli, args: list[str]) -> None:
    result = cli(*args)
    assert result.exit_code == 2
    assert "--limit" in result.stderr


@pytest.mark.parametrize(
    "stamp",
    [
        "0001-01-01T00:00:00+10:00",  # before year 1 in UTC
        "9999-12-31T23:59:59-10:00",  # after year 9999 in UTC
        "2020-01-01T00:00:00",  # no timezone
        "not a time",
    ],
)
def test_out_of_range_cursor_is_one_line(cli: Cli, stamp: str) -> None:
    import base64

    token = base64.urlsafe_b64encode(f"{stamp}|{'0' * 32}".encode()).decode()
    result = cli("trace", "list", "--cursor", token)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: invalid --cursor ")
    assert len(result.stderr.splitlines()) == 1


def test_huge_cursor_is_not_echoed_whole(cli: Cli) -> None:
    result = cli("trace", "list", "--cursor", "A" * 100_000)
    assert result.exit_code == 2
    assert len(result.stderr) < 200


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts(shell: str) -> None:
    result = invoke(["completion", shell])
    assert result.exit_code == 0
    assert "_TUNIX_RT_COMPLETE" in result.stdout
    assert "tunix-rt" in result.stdout


def test_completion_unknown_shell_is_a_usage_error() -> None:
    assert invoke(["completion", "tcsh"]).exit_code == 2


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completes_commands_and_options(tmp_path: Path) -> None:
    """The printed script, loaded in a real bash, completes through tunix-rt itself."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "tunix-rt"
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m tunix_rt "$@"\n')
    shim.chmod(0o755)
    script = (
        'eval "$(tunix-rt completion bash)"\n'
        "COMP_WORDS=(tunix-rt tr); COMP_CWORD=1; _tunix_rt_completion tunix-rt\n"
        'echo "${COMPREPLY[@]}"\n'
        "COMP_WORDS=(tunix-rt trace list --js); COMP_CWORD=3; _tunix_rt_completion tunix-rt\n"
        'echo "${COMPREPLY[@]}"\n'
    )
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"}
    out = subprocess.run(
        ["bash", "-c", script], check=False, capture_output=True, text=True, env=env, timeout=60
    )
    assert out.stdout.splitlines() == ["trace", "--json --jsonl"], out.stderr


def test_invisible_characters_are_shown_escaped(cli: Cli, tmp_path: Path) -> None:
    """Zero-width, bidi marks, BOM, tag characters in trace text print as escapes."""
    prompt = "a\u200bb\u202ec\u2066d\ufeffe\U000e0041f\u061cg\u2028h"
    path = write_jsonl(tmp_path / "t.jsonl", [make_trace(prompt=prompt)])
    assert cli("trace", "upload", str(path)).exit_code == 0
    shown = cli("trace", "show", cli("trace", "list", "--json").json()["data"][0]["id"]).stdout
    for escape in ("\\u200b", "\\u202e", "\\u2066", "\\ufeff", "\\U000e0041", "\\u061c"):
        assert escape in shown
    assert not any(ch in shown for ch in "\u200b\u202e\u2066\ufeff\U000e0041\u061c\u2028")
    # JSON output is data: it keeps the characters exactly
    assert cli("trace", "list", "--json").json()["data"][0]["payload"]["prompt"] == prompt


def test_upload_waiting_for_another_sqlite_writer_says_so(tmp_path: Path) -> None:
    """A second writer waits for the first (no "database is locked") and says why it waits."""
    import sqlite3

    db = tmp_path / "w.db"
    url = f"sqlite:///{db}"
    assert invoke(["--db", url, "trace", "list"]).exit_code == 0  # create and migrate
    path = write_jsonl(tmp_path / "t.jsonl", [make_trace(1)])
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with subprocess.Popen(
            [*TUNIX, "--db", url, "trace", "upload", str(path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        ) as proc:
            assert proc.stderr is not None
            first = proc.stderr.readline()  # printed while the lock is still held
            holder.execute("COMMIT")
            rest = proc.stderr.read()
            assert proc.wait(timeout=60) == 0
    finally:
        holder.close()
    assert first == (
        f"note: another process is writing to {db}: waiting for it to finish (up to 10 minutes)\n"
    )
    assert rest == "stored 1, duplicates 0\n"


def test_empty_cursor_is_refused_not_page_one(cli: Cli) -> None:
    """`--cursor "$next"` with an empty $next must not loop on the first page forever."""
    result = cli("trace", "list", "--cursor", "")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: invalid --cursor ''")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_help_onto_a_full_disk_is_one_line() -> None:
    with open("/dev/full", "wb") as full:
        result = run("trace", "list", "--help", stdout=full)
    assert result.returncode == 1
    assert result.stderr == b"error: No space left on device\n"


def test_ctrl_c_prints_one_line(db_url: str, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "big.jsonl", [make_trace(n) for n in range(60_000)])
    assert invoke(["--db", db_url, "trace", "list"]).exit_code == 0
    with subprocess.Popen(
        [*TUNIX, "--db", db_url, "trace", "upload", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    ) as proc:
        time.sleep(2.0)
        proc.send_signal(signal.SIGINT)
        assert proc.stderr is not None
        err = proc.stderr.read().decode()
        code = proc.wait(timeout=60)
    if code == 0:  # pragma: no cover - a very fast machine finished first
        pytest.skip("the upload finished before SIGINT")
    assert code == 130
    assert err == "interrupted: stopped (nothing half-written was kept)\n"
    assert invoke(["--db", db_url, "trace", "list", "--all", "--jsonl"]).stdout == ""
