"""Hostile input handling and exit codes a script can trust, for `trace upload`.

Bad input is one line `error: ...` naming the file, exit code 1, no traceback and nothing
stored, on SQLite and PostgreSQL. Real processes (with a memory cap and a timeout) where a
device, a closed stream, a pipe or a terminal is needed.
"""

from __future__ import annotations

import gzip
import json
import os
import pty
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.helpers import Cli, Run, invoke, make_trace, write_jsonl

TUNIX = [sys.executable, "-m", "tunix_rt"]
MEMORY_CAP = 1 << 30  # far above what a bounded upload needs, far below "read it all"
UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _count(url: str) -> int:
    return len(invoke(["--db", url, "trace", "list", "--all", "--jsonl"]).lines())


def _one_line(result: Run, *parts: str) -> None:
    """Exit 1, nothing on stdout, exactly one `error: ...` line holding every part."""
    assert result.exit_code == 1, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for part in parts:
        assert part in lines[0], lines[0]


# tunix-rt with at most MEMORY_CAP bytes of address space (set before exec, no preexec_fn).
_CAP = (
    "import os, resource, sys; "
    f"resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_CAP}, {MEMORY_CAP})); "
    "os.close(0) if sys.argv[1] == 'close-stdin' else None; "
    "os.execv(sys.executable, [sys.executable, '-m', 'tunix_rt', *sys.argv[2:]])"
)
CAPPED = [sys.executable, "-c", _CAP, "keep-stdin"]
CAPPED_NO_STDIN = [sys.executable, "-c", _CAP, "close-stdin"]


def _run(*args: str, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    """tunix-rt in a child process with at most 1 GiB of memory and a timeout."""
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    command = kwargs.pop("command", CAPPED)
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [*command, *args], timeout=120, check=False, **kwargs
    )


def _stderr_line(proc: subprocess.CompletedProcess[bytes]) -> str:
    lines = proc.stderr.decode().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


# --- names ------------------------------------------------------------------------------


def test_undecodable_file_name_shown_escaped(cli: Cli, tmp_path: Path) -> None:
    """A name that is not UTF-8 (plus ESC): escaped in messages, --json and rejects."""
    name = os.fsdecode(str(tmp_path).encode() + b"/caf\xe9\x1b[31m.jsonl")
    shown = f"{tmp_path}/caf\\xe9\\x1b[31m.jsonl"
    write_jsonl(Path(name), [make_trace(1), {"nope": 1}])
    failed = cli("trace", "upload", name)
    assert failed.exit_code == 1
    assert f"{shown}:2: nope: unknown field" in failed.stderr
    assert "\x1b" not in failed.stderr
    report = cli("trace", "upload", name, "--json").json()
    assert report["errors"][0]["file"] == f"{tmp_path}/caf\\xe9\x1b[31m.jsonl"
    rejects = tmp_path / "r.txt"
    ok = cli("trace", "upload", name, "--skip-invalid", "--rejects", str(rejects), "--json")
    assert ok.exit_code == 0, ok.stderr
    assert ok.json()["created"][0]["file"] == f"{tmp_path}/caf\\xe9\x1b[31m.jsonl"
    assert json.loads(rejects.read_text())["file"] == f"{tmp_path}/caf\\xe9\x1b[31m.jsonl"


def test_newline_in_a_file_name_keeps_messages_on_one_line(cli: Cli, tmp_path: Path) -> None:
    """Every message about `new<LF>line.jsonl` is one line, showing the newline as `\\n`."""
    path = write_jsonl(tmp_path / "new\nline.jsonl", [make_trace(1), {"nope": 1}])
    shown = f"{tmp_path}/new\\nline.jsonl"
    result = cli("trace", "upload", str(path))
    assert result.exit_code == 1
    *errors, summary = result.stderr.splitlines()
    assert len(errors) == 5  # four missing fields and the unknown one
    assert all(line.startswith(f"{shown}:2: ") for line in errors)
    assert summary == "error: 1 invalid record: nothing stored"
    _one_line(cli("trace", "upload", f"{tmp_path}/no\nsuch.jsonl"), "no\\nsuch.jsonl: no such")
    (tmp_path / "r\n.txt").write_text("old")
    _one_line(
        cli("trace", "upload", str(path), "--rejects", str(tmp_path / "r\n.txt")),
        "--rejects " + str(tmp_path) + "/r\\n.txt: it already exists",
    )


def test_name_too_long_is_one_short_line(cli: Cli, tmp_path: Path) -> None:
    result = cli("trace", "upload", str(tmp_path / ("x" * 5000)))
    _one_line(result, "file name too long")
    assert len(result.stderr) < 300


# --- unreadable inputs: one line, nothing stored -----------------------------------------


def _gz(path: Path, damage: str) -> None:
    data = gzip.compress(b"".join(json.dumps(make_trace(n)).encode() + b"\n" for n in range(50)))
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "crc":
        data = data[:-8] + bytes([data[-8] ^ 0xFF]) + data[-7:]
    elif damage == "header":
        data = b"\x1f\x8b\x08\x00" + b"\xff" * 40
    path.write_bytes(data)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("truncated", "truncated gzip file"),
        ("crc", "corrupt gzip file (CRC check failed"),
        ("header", "corrupt gzip file"),
    ],
)
def test_corrupt_gzip_is_one_line(
    cli: Cli, db_url: str, tmp_path: Path, damage: str, message: str
) -> None:
    """A corrupt .gz after a good file: one line naming it, nothing stored (even skipping)."""
    good = write_jsonl(tmp_path / "a.jsonl", [make_trace(100)])
    bad = tmp_path / "b.jsonl.gz"
    _gz(bad, damage)
    for extra in ([], ["--skip-invalid"]):
        _one_line(cli("trace", "upload", str(good), str(bad), *extra), f"{bad}: {message}")
    assert _count(db_url) == 0


def _folder(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    write_jsonl(data / "a.jsonl", [make_trace(1)])
    write_jsonl(data / "sub" / "b.jsonl", [make_trace(2)])
    return data


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: (d / "c").symlink_to(d / "gone"), "c: broken symbolic link"),
        (lambda d: (d / "loop").symlink_to(d / "loop"), "loop: too many levels of symbolic"),
        (lambda d: os.mkfifo(d / "sub" / "p.jsonl"), "p.jsonl: not a regular file"),
        (
            lambda d: socket.socket(socket.AF_UNIX).bind(str(d / "s.jsonl")),
            "s.jsonl: not a regular file",
        ),
    ],
)
def test_folder_entry_that_cannot_be_read(
    cli: Cli, db_url: str, tmp_path: Path, setup: object, message: str
) -> None:
    """Anything in a folder that cannot be read fails the upload; never silently skipped."""
    data = _folder(tmp_path)
    assert cli("trace", "upload", str(data), "--dry-run").exit_code == 0  # the control
    setup(data)  # type: ignore[operator]
    _one_line(cli("trace", "upload", str(data)), message)
    assert _count(db_url) == 0


@pytest.mark.parametrize("content", [None, "notes.txt"])
def test_folder_without_trace_files(
    cli: Cli, db_url: str, tmp_path: Path, content: str | None
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    if content:
        (empty / content).write_text("x")
    good = write_jsonl(tmp_path / "a.jsonl", [make_trace(1)])
    result = cli("trace", "upload", str(good), str(empty))
    _one_line(result, f"no trace files (.json, .jsonl, .ndjson, optionally .gz) in {empty}")
    assert _count(db_url) == 0


def test_socket_named_on_the_command_line(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    try:
        _one_line(cli("trace", "upload", str(path)), f"{path}: not a file, folder or pipe")
    finally:
        sock.close()


def _unprivileged() -> list[str]:
    """A command prefix that makes file permissions apply (root bypasses them)."""
    if os.geteuid() != 0:
        return []
    for tool in ("/usr/bin/setpriv", "/bin/setpriv"):
        if Path(tool).exists():  # root without the two capabilities that bypass permissions
            return [tool, "--bounding-set=-dac_override,-dac_read_search"]
    pytest.skip("running as root without setpriv: permissions cannot be tested")


@pytest.mark.parametrize("what", ["folder", "file"])
def test_unreadable_part_of_a_folder_fails(db_url: str, tmp_path: Path, what: str) -> None:
    """A sub-folder or file without read permission: one line naming it, nothing stored."""
    data = _folder(tmp_path)
    locked = data / "sub" if what == "folder" else data / "sub" / "b.jsonl"
    locked.chmod(0)
    try:
        proc = subprocess.run(
            [*_unprivileged(), *TUNIX, "--db", db_url, "trace", "upload", str(data)],
            capture_output=True, timeout=120, check=False,
        )  # fmt: skip
    finally:
        locked.chmod(0o755)
    assert proc.returncode == 1
    reason = "cannot read folder" if what == "folder" else "cannot read"
    assert _stderr_line(proc) == f"error: {locked}: {reason}: permission denied"
    assert proc.stdout == b""
    assert _count(db_url) == 0


# --- bounded memory ----------------------------------------------------------------------


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "zero.jsonl"])
def test_endless_devices_end_quickly(db_url: str, tmp_path: Path, device: str) -> None:
    """/dev/zero, /dev/urandom, and /dev/zero named *.jsonl: one line, within 1 GiB."""
    if device == "zero.jsonl":
        device = str(tmp_path / device)
        Path(device).symlink_to("/dev/zero")
    proc = _run("--db", db_url, "trace", "upload", device)
    assert proc.returncode == 1
    line = _stderr_line(proc)
    assert line.startswith(f"error: {device}:1: ")
    expected = "trace exceeds maximum of 1048576 bytes" if device.endswith("l") else "not JSON"
    assert expected in line


def test_two_gigabyte_line_on_stdin(db_url: str, tmp_path: Path) -> None:
    """A generator writing a 2 GB line into stdin: one line, long before 1 GiB is used."""
    with subprocess.Popen(
        [*CAPPED, "--db", db_url, "trace", "upload", "-"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    ) as proc:  # fmt: skip
        assert proc.stdin is not None

        def generate() -> None:
            assert proc.stdin is not None
            chunk = b"x" * (1 << 20)
            try:
                proc.stdin.write(b'{"prompt": "')
                for _ in range(2048):
                    proc.stdin.write(chunk)
                proc.stdin.write(b'"}\n')
                proc.stdin.close()
            except (BrokenPipeError, ValueError):
                pass  # the upload stopped reading: what this test wants

        writer = threading.Thread(target=generate, daemon=True)
        writer.start()
        assert proc.stdout is not None
        assert proc.stderr is not None
        out, err = proc.stdout.read(), proc.stderr.read()  # not communicate(): it closes stdin
        proc.wait(timeout=120)
        writer.join(timeout=60)
    assert proc.returncode == 1
    assert out == b""
    lines = err.decode().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: <stdin>: JSON document (array or pretty-printed) larger")


def test_overlong_line_is_skipped_with_skip_invalid(
    cli: Cli, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A line past the limit is one located error; --skip-invalid stores the others."""
    monkeypatch.setenv("TUNIX_RT_TRACE_MAX_BYTES", "1024")
    path = tmp_path / "t.jsonl"
    huge = json.dumps(make_trace(2, prompt="y" * 50_000))
    path.write_text("\n".join([json.dumps(make_trace(1)), huge, json.dumps(make_trace(3))]))
    failed = cli("trace", "upload", str(path))
    assert failed.exit_code == 1
    assert f"{path}:2: trace exceeds maximum of 1024 bytes" in failed.stderr
    assert _count(db_url) == 0
    rejects = tmp_path / "r.txt"
    ok = cli("trace", "upload", str(path), "--skip-invalid", "--rejects", str(rejects))
    assert ok.exit_code == 0, ok.stderr
    assert "stored 2, duplicates 0, skipped 1 invalid record" in ok.stderr
    assert json.loads(rejects.read_text())["line"] == 2
    assert _count(db_url) == 2


def test_document_too_big_is_one_line(
    cli: Cli, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A JSON array bigger than 64 x the trace limit: one line saying what to do."""
    monkeypatch.setenv("TUNIX_RT_TRACE_MAX_BYTES", "1024")
    path = tmp_path / "big.json"
    path.write_text(json.dumps([make_trace(n) for n in range(400)]))
    assert path.stat().st_size > 64 * 1024
    _one_line(cli("trace", "upload", str(path)), f"{path}: JSON document", "JSON Lines")
    assert _count(db_url) == 0
    path.write_text(json.dumps([make_trace(n) for n in range(3)]))
    assert "stored 3" in cli("trace", "upload", str(path)).stderr


def test_a_pipe_named_on_the_command_line_is_read(db_url: str) -> None:
    """`tunix-rt trace upload <(generate)`: a pipe named as a file is read like stdin."""
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "wb") as fh:
        fh.write(json.dumps(make_trace(1)).encode() + b"\n")
    try:
        proc = _run("--db", db_url, "trace", "upload", f"/dev/fd/{read_end}", pass_fds=(read_end,))
    finally:
        os.close(read_end)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == b"stored 1, duplicates 0\n"


# --- standard streams --------------------------------------------------------------------


def test_closed_stdin_is_one_line(db_url: str) -> None:
    """`tunix-rt trace upload - <&-`."""
    proc = _run("--db", db_url, "trace", "upload", "-", command=CAPPED_NO_STDIN)
    assert proc.returncode == 1
    assert proc.stderr == b"error: -: cannot read stdin: it is closed\n"


def test_closed_stderr_keeps_working(db_url: str, tmp_path: Path) -> None:
    """`2>&-`: no progress bar, no crash; the ids and the exit code stand."""
    path = write_jsonl(tmp_path / "t.jsonl", [make_trace(n) for n in range(3)])
    proc = subprocess.run(
        [*TUNIX, "--db", db_url, "trace", "upload", str(path)],
        stdout=subprocess.PIPE, timeout=120, check=False, preexec_fn=lambda: os.close(2),
    )  # fmt: skip
    assert proc.returncode == 0
    assert len(UUID.findall(proc.stdout)) == 3
    assert _count(db_url) == 3


def test_stdout_closed_early_still_commits_and_reports(db_url: str, tmp_path: Path) -> None:
    """`tunix-rt trace upload big.jsonl | head -1`: summary on stderr, exit 0, all stored."""
    path = write_jsonl(tmp_path / "t.jsonl", [make_trace(n) for n in range(5000)])
    with subprocess.Popen(
        [*TUNIX, "--db", db_url, "trace", "upload", str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    ) as proc:  # fmt: skip
        assert proc.stdout is not None
        assert proc.stderr is not None
        assert UUID.fullmatch(proc.stdout.readline().strip())
        proc.stdout.close()  # 5000 ids do not fit in a pipe: the upload meets a closed pipe
        err = proc.stderr.read()
        assert proc.wait(timeout=120) == 0
    assert err == b"stored 5000, duplicates 0\n"
    assert _count(db_url) == 5000


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_ids_lost_to_a_full_disk_say_what_was_stored(db_url: str, tmp_path: Path) -> None:
    """Stdout on a full disk after the commit: exit 1, saying the traces were stored."""
    path = write_jsonl(tmp_path / "t.jsonl", [make_trace(n) for n in range(3)])
    with open("/dev/full", "wb") as full:
        proc = _run("--db", db_url, "trace", "upload", str(path), stdout=full)
    assert proc.returncode == 1
    assert proc.stderr.decode().splitlines() == [
        "stored 3, duplicates 0",
        "error: stored 3 traces, but could not write their ids to stdout: no space left on device",
    ]
    assert _count(db_url) == 3


def _on_terminal(db_url: str, *args: str) -> tuple[int, bytes]:
    """Run an upload with stdout and stderr on a terminal; what the screen shows."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [*TUNIX, "--db", db_url, "trace", "upload", *args],
        stdin=subprocess.DEVNULL, stdout=follower, stderr=follower,
        env={**os.environ, "COLUMNS": "120", "TERM": "xterm"},
    )  # fmt: skip
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return proc.wait(timeout=120), b"".join(chunks)


def test_terminal_gets_the_summary_not_the_ids(db_url: str, tmp_path: Path) -> None:
    """Stdout on a terminal: no flood of ids unless --ids; a pipe always gets them."""
    first = write_jsonl(tmp_path / "a.jsonl", [make_trace(n) for n in range(50)])
    code, screen = _on_terminal(db_url, str(first))
    assert code == 0
    assert b"stored 50, duplicates 0" in screen
    assert UUID.findall(screen) == []
    second = write_jsonl(tmp_path / "b.jsonl", [make_trace(n) for n in range(50, 53)])
    code, screen = _on_terminal(db_url, str(second), "--ids")
    assert code == 0
    assert len(set(UUID.findall(screen))) == 3
    piped = invoke(["--db", db_url, "trace", "upload", str(first), "--dry-run"])
    assert piped.exit_code == 0  # the control: nothing new, nothing printed
    assert _count(db_url) == 53
