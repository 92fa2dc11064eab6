"""`--rejects` never destroys anything: not an input, not the database, not an existing file.

Through the CLI on SQLite and PostgreSQL; real processes where a signal, a pipe or a
device is needed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import Cli, Run, invoke, make_trace, write_jsonl

TUNIX = [sys.executable, "-m", "tunix_rt"]


def _count(cli: Cli) -> int:
    return len(cli("trace", "list", "--all", "--jsonl").lines())


def _mixed(path: Path, n: int = 4) -> Path:
    """`n` traces, then one invalid record."""
    return write_jsonl(path, [*(make_trace(i) for i in range(n)), {"nope": True}])


def _refused(result: Run, why: str) -> None:
    assert result.exit_code == 1, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: cannot write --rejects "), lines[0]
    assert why in lines[0]
    assert result.stdout == ""


def _snapshot(db: Path) -> str:
    return invoke(["--db", f"sqlite:///{db}", "trace", "list", "--all", "--jsonl"]).stdout


def test_rejects_pointing_at_the_database_leaves_it_intact(tmp_path: Path) -> None:
    """The acceptance line: `trace upload x.jsonl --rejects <the database file>`."""
    db = tmp_path / "traces.db"
    url = f"sqlite:///{db}"
    stored = invoke(["--db", url, "trace", "upload", str(_mixed(tmp_path / "a.jsonl"))])
    assert stored.exit_code == 1  # the control: the bad record made it all or nothing
    ok = invoke(["--db", url, "trace", "upload", str(tmp_path / "a.jsonl"), "--skip-invalid", "-q"])
    assert ok.exit_code == 0
    before = _snapshot(db)
    assert len(before.splitlines()) == 4
    (tmp_path / "sub").mkdir()
    os.link(db, tmp_path / "hard.db")
    (tmp_path / "soft.db").symlink_to(db)
    new = str(write_jsonl(tmp_path / "new.jsonl", [make_trace(9), {"bad": 1}]))
    spellings = [
        str(db),
        f"{tmp_path}/sub/../traces.db",
        str(tmp_path / "hard.db"),  # a hard link: the same inode
        str(tmp_path / "soft.db"),
        f"{db}-wal",
        f"{db}-shm",
    ]
    for spelling in spellings:
        for force in ([], ["--force-rejects"]):
            args = ["trace", "upload", new, "--skip-invalid", "--rejects", spelling, *force]
            result = invoke(["--db", url, *args])
            _refused(result, "it is the database")
    assert _snapshot(db) == before
    assert db.stat().st_nlink == 2  # nothing replaced by a rename either


def test_rejects_pointing_at_the_default_database(tmp_path: Path) -> None:
    """Without --db: the default SQLite file in the user data directory is protected too."""
    path = str(_mixed(tmp_path / "a.jsonl"))
    assert invoke(["trace", "upload", path, "--skip-invalid", "-q"]).exit_code == 0
    default = Path(os.environ["XDG_DATA_HOME"]) / "tunix-rt" / "tunix-rt.db"
    assert default.is_file()
    result = invoke(["trace", "upload", path, "--skip-invalid", "--rejects", str(default)])
    _refused(result, "it is the database")
    assert len(invoke(["trace", "list", "--all", "--jsonl"]).lines()) == 4


def test_rejects_never_an_input(cli: Cli, tmp_path: Path) -> None:
    """An input (as given, spelled differently, hard-linked, found in a folder) is refused."""
    data = tmp_path / "data"
    data.mkdir()
    path = _mixed(data / "a.jsonl")
    original = path.read_bytes()
    os.link(path, tmp_path / "alias.jsonl")
    for spelling in [str(path), f"{data}/../data/a.jsonl", str(tmp_path / "alias.jsonl")]:
        for force in ([], ["--force-rejects"]):
            result = cli("trace", "upload", str(path), "--rejects", spelling, *force)
            _refused(result, "it is an input of this upload")
    result = cli("trace", "upload", str(data), "--rejects", str(path), "--force-rejects")
    _refused(result, "it is an input of this upload")
    assert path.read_bytes() == original
    assert _count(cli) == 0


def test_rejects_never_inside_an_uploaded_folder(cli: Cli, tmp_path: Path) -> None:
    """A rejects file the next upload of the folder would read as traces is refused."""
    data = tmp_path / "data"
    data.mkdir()
    _mixed(data / "a.jsonl")
    _refused(
        cli("trace", "upload", str(data), "--skip-invalid", "--rejects", str(data / "r.jsonl")),
        "inside the uploaded folder",
    )
    assert not (data / "r.jsonl").exists()
    assert _count(cli) == 0
    ok = cli("trace", "upload", str(data), "--skip-invalid", "--rejects", str(data / "r.txt"))
    assert ok.exit_code == 0, ok.stderr
    assert json.loads((data / "r.txt").read_text())["line"] == 5


def test_rejects_of_stdin_read_from_that_file(cli: Cli, tmp_path: Path) -> None:
    """`upload - < r.jsonl --rejects r.jsonl`: refused (standard input is never written)."""
    path = _mixed(tmp_path / "in.jsonl")
    with path.open("rb") as fh:
        result = subprocess.run(
            [*TUNIX, "--db", f"sqlite:///{tmp_path / 'x.db'}", "trace", "upload", "-",
             "--rejects", str(path), "--force-rejects"],
            stdin=fh, capture_output=True, timeout=120, check=False,
        )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.decode().splitlines() == [
        f"error: cannot write --rejects {path}: it is the standard input of this command"
    ]
    assert path.read_bytes().count(b"\n") == 5


def test_existing_file_needs_force(cli: Cli, tmp_path: Path) -> None:
    """An existing file is kept unless --force-rejects; forced, it holds this run's rejects."""
    path = str(_mixed(tmp_path / "a.jsonl"))
    old = tmp_path / "r.jsonl"
    old.write_text("precious\n")
    _refused(
        cli("trace", "upload", path, "--skip-invalid", "--rejects", str(old)),
        "it already exists (add --force-rejects to replace it)",
    )
    assert old.read_text() == "precious\n"
    assert _count(cli) == 0
    old.chmod(0o640)
    forced = cli(
        "trace", "upload", path, "--skip-invalid", "--rejects", str(old), "--force-rejects"
    )
    assert forced.exit_code == 0, forced.stderr
    assert [json.loads(x)["line"] for x in old.read_text().splitlines()] == [5]
    assert old.stat().st_mode & 0o777 == 0o640  # a replaced file keeps its permissions
    clean = write_jsonl(tmp_path / "clean.jsonl", [make_trace(7)])
    again = cli("trace", "upload", str(clean), "--rejects", str(old), "--force-rejects")
    assert again.exit_code == 0
    assert not old.exists()  # nothing rejected: no stale file from the previous run


def test_no_file_when_nothing_is_rejected(cli: Cli, tmp_path: Path) -> None:
    """All valid: no rejects file, and no temporary file left in the folder."""
    out = tmp_path / "out"
    out.mkdir()
    clean = write_jsonl(tmp_path / "clean.jsonl", [make_trace(1)])
    result = cli("trace", "upload", str(clean), "--rejects", str(out / "r.jsonl"))
    assert result.exit_code == 0
    assert list(out.iterdir()) == []
    bad = cli(
        "trace", "upload", str(_mixed(tmp_path / "m.jsonl")), "--rejects", str(out / "r.jsonl")
    )
    assert bad.exit_code == 1  # all or nothing, but the rejects are written
    assert "1 invalid record (written to" in bad.stderr
    assert [p.name for p in out.iterdir()] == ["r.jsonl"]


@pytest.mark.parametrize(
    ("value", "code", "message"),
    [
        ("-", 2, "error: --rejects -: stdout carries the stored ids"),
        ("DIR", 1, "it is a folder"),
        ("MISSING/r.jsonl", 1, "does not exist"),
        ("MISSING/../r.jsonl", 1, "does not exist"),  # not created next to MISSING either
        ("", 1, "a file name is needed, not a folder"),
        ("DIR/new/", 1, "a file name is needed, not a folder"),
        ("DIR/a.jsonl/r.jsonl", 1, "not a directory"),
    ],
)
def test_rejects_that_cannot_be(
    cli: Cli, tmp_path: Path, value: str, code: int, message: str
) -> None:
    path = str(_mixed(tmp_path / "a.jsonl"))
    value = value.replace("DIR", str(tmp_path)).replace("MISSING", str(tmp_path / "no"))
    result = cli("trace", "upload", path, "--skip-invalid", "--rejects", value)
    assert result.exit_code == code
    assert len(result.stderr.splitlines()) == 1
    assert message in result.stderr
    assert _count(cli) == 0
    assert [p.name for p in tmp_path.iterdir() if "r.jsonl" in p.name] == []


def test_force_without_rejects_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    result = cli("trace", "upload", str(_mixed(tmp_path / "a.jsonl")), "--force-rejects")
    assert result.exit_code == 2
    assert result.stderr == "error: --force-rejects needs --rejects FILE\n"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_full_disk_for_rejects_stores_nothing(cli: Cli, tmp_path: Path) -> None:
    """/dev/full as the rejects file: ENOSPC is one line, exit 1, nothing committed."""
    path = str(_mixed(tmp_path / "a.jsonl"))
    result = cli("trace", "upload", path, "--skip-invalid", "--rejects", "/dev/full")
    assert result.exit_code == 1
    assert result.stderr == ("error: cannot write --rejects /dev/full: no space left on device\n")
    assert _count(cli) == 0


def test_rejects_into_a_pipe_and_to_stderr(db_url: str, tmp_path: Path) -> None:
    """A pipe (`>(cmd)`) or /dev/stderr is written directly; stdout (the ids) is refused."""
    path = str(_mixed(tmp_path / "a.jsonl"))
    read_end, write_end = os.pipe()
    proc = subprocess.run(
        [*TUNIX, "--db", db_url, "trace", "upload", path, "--skip-invalid", "-q",
         "--rejects", f"/dev/fd/{write_end}"],
        capture_output=True, pass_fds=(write_end,), timeout=120, check=False,
    )  # fmt: skip
    os.close(write_end)
    with os.fdopen(read_end, "rb") as fh:
        piped = fh.read()
    assert proc.returncode == 0, proc.stderr
    assert json.loads(piped)["line"] == 5
    assert len(proc.stdout.splitlines()) == 4
    with (tmp_path / "err.txt").open("wb") as err:
        to_stderr = subprocess.run(
            [*TUNIX, "--db", db_url, "trace", "upload", path, "--skip-invalid", "-q",
             "--rejects", "/dev/stderr"],
            stdout=subprocess.PIPE, stderr=err, timeout=120, check=False,
        )  # fmt: skip
    assert to_stderr.returncode == 0
    first, *messages = (tmp_path / "err.txt").read_text().splitlines()
    assert json.loads(first)["line"] == 5
    assert f"{path}:5: nope: unknown field" in messages[-1]
    into_stdout = subprocess.run(
        [*TUNIX, "--db", db_url, "trace", "upload", path, "--skip-invalid",
         "--rejects", "/dev/stdout"],
        capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert into_stdout.returncode == 1
    assert b"it is this command's stdout, which carries the stored ids" in into_stdout.stderr


def test_read_only_folder_is_one_line(db_url: str, tmp_path: Path) -> None:
    """A folder the user may not write to: one line before anything is stored."""
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    path = str(_mixed(tmp_path / "a.jsonl"))
    result = subprocess.run(
        [*_unprivileged(), *TUNIX, "--db", db_url, "trace", "upload", path, "--skip-invalid",
         "--rejects", str(ro / "r.jsonl")],
        capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.decode() == (
        f"error: cannot write --rejects {ro / 'r.jsonl'}: permission denied\n"
    )
    assert list(ro.iterdir()) == []
    assert invoke(["--db", db_url, "trace", "list", "--all", "--jsonl"]).stdout == ""


def _unprivileged() -> list[str]:
    """A command prefix that makes file permissions apply (root bypasses them)."""
    if os.geteuid() != 0:
        return []
    for tool in ("/usr/bin/setpriv", "/bin/setpriv"):
        if Path(tool).exists():  # root without the two capabilities that bypass permissions
            return [tool, "--bounding-set=-dac_override,-dac_read_search"]
    pytest.skip("running as root without setpriv: permissions cannot be tested")


def test_ctrl_c_leaves_no_rejects_file(db_url: str, tmp_path: Path) -> None:
    """Ctrl-C mid-upload: exit 130, nothing stored, neither the file nor its temporary."""
    big = tmp_path / "big.jsonl"
    with big.open("w") as fh:
        for n in range(120_000):
            fh.write(json.dumps(make_trace(n) if n % 2 else {"bad": n}) + "\n")
    out = tmp_path / "out"
    out.mkdir()
    assert invoke(["--db", db_url, "trace", "list"]).exit_code == 0  # migrate first
    with subprocess.Popen(
        [*TUNIX, "--db", db_url, "trace", "upload", str(big), "--skip-invalid", "-q",
         "--rejects", str(out / "r.jsonl")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    ) as proc:  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            temps = list(out.iterdir())
            if temps and temps[0].stat().st_size > 200_000:  # rejects are being written
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the upload finished before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        assert proc.stderr is not None
        err = proc.stderr.read()
        assert proc.wait(timeout=60) == 130, err
    assert b"Traceback" not in err
    assert list(out.iterdir()) == []
    assert invoke(["--db", db_url, "trace", "list", "--all", "--jsonl"]).stdout == ""


def test_rejects_named_gz_are_gzip(cli: Cli, tmp_path: Path) -> None:
    """`--rejects r.jsonl.gz` is written gzip-compressed: it reads back as its name says."""
    import gzip

    path = str(_mixed(tmp_path / "a.jsonl"))
    rejects = tmp_path / "r.jsonl.gz"
    result = cli("trace", "upload", path, "--skip-invalid", "--rejects", str(rejects))
    assert result.exit_code == 0, result.stderr
    with gzip.open(rejects, "rt") as fh:
        assert [json.loads(line)["line"] for line in fh] == [5]


def test_pipe_nobody_reads_is_refused_not_waited_on(cli: Cli, tmp_path: Path) -> None:
    """A FIFO without a reader would block the upload forever: one line instead."""
    fifo = tmp_path / "r.fifo"
    os.mkfifo(fifo)
    path = str(_mixed(tmp_path / "a.jsonl"))
    _refused(
        cli("trace", "upload", path, "--skip-invalid", "--rejects", str(fifo)),
        "it is a pipe that nobody reads",
    )
    assert _count(cli) == 0


def test_block_device_is_refused(cli: Cli, tmp_path: Path) -> None:
    devices = [p for p in Path("/dev").iterdir() if p.is_block_device()]
    if not devices:
        pytest.skip("no block device to point at")
    path = str(_mixed(tmp_path / "a.jsonl"))
    _refused(
        cli("trace", "upload", path, "--rejects", str(devices[0]), "--force-rejects"),
        "it is not a regular file, pipe or character device",
    )


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_full_disk_mid_upload_stores_nothing(cli: Cli, tmp_path: Path) -> None:
    """Enough rejects to fill the write buffer: ENOSPC mid-upload, one line, nothing stored."""
    records = [make_trace(n) if n % 2 else {"bad": "x" * 200} for n in range(2000)]
    path = str(write_jsonl(tmp_path / "a.jsonl", records))
    result = cli("trace", "upload", path, "--skip-invalid", "--rejects", "/dev/full")
    assert result.exit_code == 1
    assert result.stderr == "error: cannot write --rejects /dev/full: no space left on device\n"
    assert _count(cli) == 0


def test_a_file_that_appears_during_the_upload_is_not_replaced(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Someone creates the rejects file mid-upload: it is kept; the rejects stay beside it."""
    real_link = os.link
    target = tmp_path / "r.jsonl"

    def racing_link(src: object, dst: object) -> None:
        target.write_text("someone else's\n")  # appears just before the rename
        real_link(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "link", racing_link)
    path = str(_mixed(tmp_path / "a.jsonl"))
    result = cli("trace", "upload", path, "--skip-invalid", "--rejects", str(target))
    assert result.exit_code == 1
    *_, summary, error = result.stderr.splitlines()
    temps = [p for p in tmp_path.iterdir() if p.name.startswith(".r.jsonl.")]
    assert len(temps) == 1
    assert summary == f"stored 4, duplicates 0, skipped 1 invalid record (written to {temps[0]})"
    assert error == (
        f"error: cannot write --rejects {target}: a file of that name appeared during the "
        f"upload; the rejects are in {temps[0]}"
    )
    assert target.read_text() == "someone else's\n"
    assert json.loads(temps[0].read_text())["line"] == 5
    assert _count(cli) == 4  # the upload itself committed, and says so


def test_file_system_without_hard_links(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where link() is not supported (FAT, some FUSE), the file is renamed into place."""

    def no_links(src: object, dst: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    path = str(_mixed(tmp_path / "a.jsonl"))
    target = tmp_path / "r.jsonl"
    result = cli("trace", "upload", path, "--skip-invalid", "--rejects", str(target))
    assert result.exit_code == 0, result.stderr
    assert json.loads(target.read_text())["line"] == 5
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
