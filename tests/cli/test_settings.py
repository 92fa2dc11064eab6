"""Settings resolution and validation, through the CLI.

Every user mistake in a setting (a malformed URL, an in-memory database, a `.env` that cannot
be read, a SQLite path that cannot be a file) is one line `error: ...` and exit code 1 in every
command, and a failed check in `db doctor`; the database password is never printed.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import Run, invoke, make_trace, write_jsonl
from tunix_rt.db.revisions import HEAD
from tunix_rt.settings import load_settings, mask_url, normalise_database_url

TUNIX = [sys.executable, "-m", "tunix_rt"]


@pytest.mark.parametrize(
    ("var", "value", "expected"),
    [
        (
            "TUNIX_RT_DB_POOL_SIZE",
            "0",
            "TUNIX_RT_DB_POOL_SIZE=0 is invalid: must be an integer from 1 to 50",
        ),
        ("TUNIX_RT_DB_MAX_OVERFLOW", "51", "from 0 to 50"),
        (
            "TUNIX_RT_DB_POOL_TIMEOUT",
            "abc",
            "TUNIX_RT_DB_POOL_TIMEOUT=abc is invalid: must be an integer from 1 to 300",
        ),
        ("TUNIX_RT_TRACE_MAX_BYTES", "100", "from 1024 to 10485760"),
        ("TUNIX_RT_DATABASE_URL", "mysql://x/y", "unsupported scheme 'mysql'"),
    ],
)
def test_invalid_setting_is_one_line_error(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str, expected: str
) -> None:
    """A bad value exits 1 with one line naming the variable, value and allowed range."""
    monkeypatch.setenv(var, value)
    result = invoke(["trace", "list"])
    assert result.exit_code == 1
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_invalid_value_in_env_file_says_so(isolated_env: Path) -> None:
    """A bad value from .env is named as coming from there (the environment would hide it)."""
    (isolated_env / ".env").write_text("TUNIX_RT_DB_POOL_SIZE=0\n")
    result = invoke(["trace", "list"])
    assert result.exit_code == 1
    assert result.stderr == (
        "error: TUNIX_RT_DB_POOL_SIZE=0 (from .env) is invalid: must be an integer from 1 to 50\n"
    )


def test_default_database_is_in_user_data_dir(isolated_env: Path) -> None:
    """With no settings, traces go to a SQLite file under XDG_DATA_HOME, created on first use."""
    result = invoke(["trace", "upload", str(write_jsonl(isolated_env / "t.jsonl", [make_trace()]))])
    assert result.exit_code == 0, result.stderr
    db = isolated_env.parent / "home" / ".local" / "share" / "tunix-rt" / "tunix-rt.db"
    assert db.is_file()
    assert len(invoke(["trace", "list", "--json"]).json()["data"]) == 1


def test_env_file_and_flag_precedence(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--db` beats the environment, which beats `.env` in the working directory."""
    env_db, dotenv_db, flag_db = (isolated_env / n for n in ("env.db", "dotenv.db", "flag.db"))
    (isolated_env / ".env").write_text(f"TUNIX_RT_DATABASE_URL=sqlite:///{dotenv_db}\n")
    trace = str(write_jsonl(isolated_env / "t.jsonl", [make_trace()]))
    assert invoke(["trace", "upload", trace]).exit_code == 0
    assert dotenv_db.exists()
    monkeypatch.setenv("TUNIX_RT_DATABASE_URL", f"sqlite:///{env_db}")
    assert invoke(["trace", "upload", trace]).exit_code == 0
    assert env_db.exists()
    assert invoke(["--db", f"sqlite:///{flag_db}", "trace", "upload", trace]).exit_code == 0
    assert flag_db.exists()


def test_trace_max_bytes_setting_applies(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TUNIX_RT_TRACE_MAX_BYTES lowers the per-trace limit."""
    monkeypatch.setenv("TUNIX_RT_TRACE_MAX_BYTES", "1024")
    path = write_jsonl(isolated_env / "t.jsonl", [make_trace(prompt="p" * 2000)])
    result = invoke(["trace", "upload", str(path)])
    assert result.exit_code == 1
    assert "exceeds maximum of 1024 bytes" in result.stderr


def test_bad_db_flag_names_the_flag() -> None:
    """An unparseable --db is reported against the flag, with the password masked."""
    result = invoke(["--db", "oracle://u:hunter2@h/x", "trace", "list"])
    assert result.exit_code == 1
    assert "--db oracle://u:***@h/x is invalid" in result.stderr
    assert "hunter2" not in result.stderr


def test_postgres_scheme_normalised_to_psycopg3() -> None:
    """postgres:// and postgresql:// URLs use the psycopg 3 driver."""
    assert normalise_database_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalise_database_url("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"
    assert load_settings("sqlite:///x.db").database_url == "sqlite:///x.db"


def test_mask_url_hides_passwords() -> None:
    """Passwords in the userinfo and the query string are masked."""
    assert mask_url("postgresql://u:s3cret@h:5432/d") == "postgresql://u:***@h:5432/d"
    assert (
        mask_url("postgresql://u@h/d?password=s3cret&x=1") == "postgresql://u@h/d?password=***&x=1"
    )
    assert mask_url("sqlite:///a/b.db") == "sqlite:///a/b.db"
    assert mask_url("postgresql://u:pa/ss@h/d") == "postgresql://u:***@h/d"


def test_config_shows_sources_and_masks_password(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`config --json` reports each setting's source and never the password."""
    (isolated_env / ".env").write_text("TUNIX_RT_DB_POOL_SIZE=7\n")
    monkeypatch.setenv("TUNIX_RT_DB_POOL_TIMEOUT", "9")
    result = invoke(["--db", "postgresql://u:s3cret@db.example/x", "config", "--json"])
    assert result.exit_code == 0, result.stderr
    assert "s3cret" not in result.stdout
    report = result.json()
    by_name = {s["name"]: s for s in report["settings"]}
    assert by_name["TUNIX_RT_DATABASE_URL"] == {
        "name": "TUNIX_RT_DATABASE_URL",
        "value": "postgresql+psycopg://u:***@db.example/x",
        "source": "flag",
    }
    assert by_name["TUNIX_RT_DB_POOL_SIZE"]["source"] == ".env"
    assert by_name["TUNIX_RT_DB_POOL_SIZE"]["value"] == 7
    assert by_name["TUNIX_RT_DB_POOL_TIMEOUT"]["source"] == "environment"
    assert by_name["TUNIX_RT_TRACE_MAX_BYTES"]["source"] == "default"
    assert report["default_sqlite_path"].endswith("tunix-rt/tunix-rt.db")


def test_config_table() -> None:
    """`config` prints a table with the default SQLite path."""
    result = invoke(["config"])
    assert result.exit_code == 0
    assert "TUNIX_RT_DB_POOL_SIZE" in result.stdout
    assert "default SQLite file:" in result.stdout


# --- one line for every command ------------------------------------------------------------


def commands(tmp: Path) -> list[list[str]]:
    """Every command that reads settings, with valid arguments."""
    traces = str(write_jsonl(tmp / "t.jsonl", [make_trace()]))
    return [
        ["trace", "list"],
        ["trace", "upload", traces],
        ["trace", "upload", "--dry-run", traces],
        ["trace", "show", "abc"],
        ["db", "upgrade"],
        ["db", "downgrade", "--yes"],
        ["db", "current"],
        ["db", "history"],
        ["config"],
    ]


def assert_one_line_error(result: Run, *expected: str, secret: str = "s3cret") -> None:
    __tracebackhide__ = True
    assert result.exit_code == 1, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    for part in expected:
        assert part in lines[0], lines[0]
    assert secret not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def doctor_checks(args: list[str]) -> tuple[int, dict[str, dict[str, str]]]:
    result = invoke([*args, "db", "doctor", "--json"])
    assert "s3cret" not in result.stdout + result.stderr
    return result.exit_code, {c["name"]: c for c in result.json()["checks"]}


MALFORMED = [
    ("postgresql://u:s3cret@127.0.0.1:99999/x", "port must be a number from 1 to 65535"),
    ("postgresql://u:s3cret@127.0.0.1:abc/x", "port must be a number from 1 to 65535"),
    ("postgresql://u:s3cret@127.0.0.1:0/x", "port must be a number from 1 to 65535"),
    ("postgresql://u:s3cret@[::1/x", "host is not valid"),
    ("postgresql://u:s3cret@::1/x", "IPv6 host goes in brackets"),
    ("postgresql://u:s3cret/x", "port must be a number from 1 to 65535"),  # @host forgotten
    ("postgresql://u:s3cret@h/x?application_name=a@b", "must be written %40"),
    ("sqlite://", "in-memory SQLite database would lose every upload"),
    ("sqlite:///:memory:", "in-memory SQLite database"),
    ("sqlite:///file::memory:", "in-memory SQLite database"),
    ("sqlite:///file:x?mode=memory", "in-memory SQLite database"),
    ("sqlite:///x.db?timeout=1", "options (?...) are not supported"),
    ("sqlite://me:s3cret@localhost/x.db", "takes no user, password or host"),
    ("sqlite:///\udcff.db", "not valid UTF-8"),
    ("oracle://u:s3cret@h/x", "unsupported scheme 'oracle'"),
    ("u:s3cret@h/x", "not a database URL"),
    ("postgresql://u:s3cret@h/x?port=abc", "has invalid options"),
    ("", "must not be empty"),
]


@pytest.mark.parametrize(("url", "message"), MALFORMED)
@pytest.mark.parametrize("source", ["flag", "environment", ".env"])
def test_malformed_url_is_one_line_in_every_command(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch, url: str, message: str, source: str
) -> None:
    """No traceback, the setting named, the password hidden; nothing is created."""
    prefix: list[str] = []
    if source == "flag":
        prefix, name = ["--db", url], "--db "
    elif source == "environment":
        monkeypatch.setenv("TUNIX_RT_DATABASE_URL", url)
        name = "TUNIX_RT_DATABASE_URL="
    else:
        if "\udcff" in url:
            pytest.skip("a .env file is read as UTF-8: see test_env_file_that_is_not_utf8")
        (isolated_env / ".env").write_text(f"TUNIX_RT_DATABASE_URL='{url}'\n")
        name = " (from .env) is invalid: "
    before = sorted(isolated_env.iterdir())
    for args in commands(isolated_env.parent):
        result = invoke([*prefix, *args])
        assert_one_line_error(result, name, message, " is invalid: ")
        assert mask_url(url) in result.stderr
    assert sorted(isolated_env.iterdir()) == before
    status, checks = doctor_checks(prefix)
    assert status == 1
    assert checks["settings"]["status"] == "fail"
    assert message in checks["settings"]["detail"]
    assert "fix the database URL" in (checks["settings"]["fix"] or "")
    assert {c["status"] for n, c in checks.items() if n != "settings"} == {"skipped"}


# --- passwords ------------------------------------------------------------------------------

PASSWORDS = [
    "s3cret/with/slashes",
    "s3cret@with@ats",
    "s3cret%40encoded%2Fslash",
    "s3cret%raw%",
    "s3cret:with:colons",
    "s3cret#hash",
    "s3cret?question",
    "s3cret with spaces",
    "s3cret-ünïcødé-密码",
    "s3cret/@:?#% all",
]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("password", PASSWORDS)
def test_password_is_never_printed(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch, password: str
) -> None:
    """config, config --json, every error and db doctor hide the password, from any source."""
    port = _closed_port()
    url = f"postgresql://alice:{password}@127.0.0.1:{port}/traces"
    masked = f"postgresql+psycopg://alice:***@127.0.0.1:{port}/traces"
    (isolated_env / ".env").write_text(f"TUNIX_RT_DATABASE_URL='{url}'\n")
    env_run = invoke(["config", "--json"])
    monkeypatch.setenv("TUNIX_RT_DATABASE_URL", url)
    runs = [env_run, invoke(["config", "--json"]), invoke(["--db", url, "config", "--json"])]
    for run in runs:
        assert run.exit_code == 0, run.stderr
        by_name = {s["name"]: s for s in run.json()["settings"]}
        assert by_name["TUNIX_RT_DATABASE_URL"]["value"] == masked
    runs.append(invoke(["config"]))
    for args in commands(isolated_env.parent)[:-1]:  # all but config: connection refused
        run = invoke(["--db", url, *args])
        assert_one_line_error(run, f"cannot use database {masked}: ", "refused")
        runs.append(run)
    status, checks = doctor_checks(["--db", url])
    assert status == 1
    assert masked in checks["settings"]["detail"]
    assert checks["connection"]["detail"].startswith("the server is not reachable")
    decoded = password.replace("%40", "@").replace("%2F", "/")
    for run in runs:
        for secret in {password, decoded, "s3cret"}:
            assert secret not in run.stdout + run.stderr


@pytest.mark.parametrize("password", [p for p in PASSWORDS if "@" not in p])
def test_password_in_the_query_string_is_never_printed(password: str) -> None:
    """`?password=` is masked like the user information, however it is spelled."""
    port = _closed_port()
    base = f"postgresql://alice@127.0.0.1:{port}/traces"
    for key in ("password", "PassWord", "p%61ssword"):
        url = f"{base}?sslmode=disable&{key}={password}"
        masked = f"postgresql+psycopg{base[10:]}?sslmode=disable&{key}=***"
        config = invoke(["--db", url, "config", "--json"])
        assert config.json()["settings"][0]["value"] == masked
        assert_one_line_error(invoke(["--db", url, "trace", "list"]), masked)
        doctor_checks(["--db", url])


@pytest.mark.parametrize(
    "url",
    [
        # a raw @ in a query password, or a password that looks like the query: refused,
        # and masked conservatively (everything up to the last @, every password= value)
        "postgresql://alice@127.0.0.1:5432/traces?password=s3cret@with@ats",
        "postgresql://alice@h:1/traces?password=s3cret@with@ats/x",
        "postgresql://alice:&password=s3cret?y#z@w/v@db.example:5432/traces",
        "postgresql://alice:s3cret@h/x?application_name=a@b",
    ],
)
def test_ambiguous_password_is_refused_without_printing_it(url: str) -> None:
    for args in (["config"], ["trace", "list"]):
        result = invoke(["--db", url, *args])
        assert_one_line_error(result, "is invalid: an '@' after the host must be written %40")
        for piece in ("s3cret", "with", "ats", "w/v"):
            assert piece not in result.stderr
    doctor_checks(["--db", url])


def test_password_echoed_by_the_driver_is_removed(tmp_path: Path) -> None:
    """A driver message that repeats a value equal to the password loses it too."""
    url = "postgresql://alice:s3cret-host.invalid@s3cret-host.invalid/traces"
    result = invoke(["--db", url, "trace", "list"])
    assert_one_line_error(result, "failed to resolve host '***'")
    status, checks = doctor_checks(["--db", url])
    assert status == 1
    assert checks["connection"]["detail"].startswith("unknown host")


# --- .env -----------------------------------------------------------------------------------


def test_env_file_that_is_not_utf8(isolated_env: Path) -> None:
    """A .env in another encoding is one line naming .env, in commands and in the doctor."""
    (isolated_env / ".env").write_bytes(b"TUNIX_RT_DB_POOL_SIZE=7\nNAME=caf\xe9\n")
    for args in (["trace", "list"], ["config"], ["db", "current"]):
        assert_one_line_error(
            invoke(args), f"cannot read settings from .env in {isolated_env}: ", "not UTF-8"
        )
    status, checks = doctor_checks([])
    assert status == 1
    assert ".env" in checks["settings"]["detail"]
    assert "readable UTF-8" in (checks["settings"]["fix"] or "")


def _unprivileged() -> list[str]:
    """A command prefix that takes root's power to read any file away (none when not root)."""
    if os.geteuid() != 0:
        return []
    prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
    works = shutil.which("setpriv") and subprocess.run([*prefix, "true"], check=False)
    if not works or works.returncode:  # pragma: no cover - needs util-linux and CAP_SETPCAP
        pytest.skip("needs setpriv to drop root's power to read and write any file")
    return prefix


def test_env_file_that_cannot_be_read(isolated_env: Path) -> None:
    """An unreadable .env (chmod 000) is one line naming it, for a real process."""
    env_file = isolated_env / ".env"
    env_file.write_text("TUNIX_RT_DB_POOL_SIZE=7\n")
    env_file.chmod(0)
    prefix = _unprivileged()
    for args in (["trace", "list"], ["config"], ["db", "upgrade"]):
        proc = subprocess.run(
            [*prefix, *TUNIX, *args], capture_output=True, text=True, check=False, timeout=60
        )
        assert proc.returncode == 1, proc.stderr
        assert proc.stderr == (
            f"error: cannot read settings from .env in {isolated_env}: Permission denied\n"
        )
    doctor = subprocess.run(
        [*prefix, *TUNIX, "db", "doctor", "--json"], capture_output=True, text=True, check=False
    )
    assert doctor.returncode == 1, doctor.stderr
    checks = {c["name"]: c for c in json.loads(doctor.stdout)["checks"]}
    assert "Permission denied" in checks["settings"]["detail"]


def test_env_directory_is_not_a_settings_file(isolated_env: Path) -> None:
    """A directory named .env (a virtualenv, often) is not read and stops nothing."""
    (isolated_env / ".env" / "bin").mkdir(parents=True)
    result = invoke(["config", "--json"])
    assert result.exit_code == 0, result.stderr
    assert {s["source"] for s in result.json()["settings"]} == {"default"}
    assert invoke(["trace", "list"]).exit_code == 0


# --- SQLite paths ---------------------------------------------------------------------------


def test_tilde_is_the_same_file_for_every_command(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """~ in a SQLite URL is the home directory for trace, db (Alembic) and config commands."""
    home = Path(os.environ["HOME"])
    traces = str(write_jsonl(isolated_env / "t.jsonl", [make_trace()]))
    up = invoke(["--db", "sqlite:///~/via-flag.db", "db", "upgrade"])
    assert up.exit_code == 0, up.stderr
    assert (home / "via-flag.db").is_file()
    assert invoke(["--db", f"sqlite:///{home}/via-flag.db", "db", "current"]).stdout == (
        f"{HEAD} (head)\n"
    )
    monkeypatch.setenv("TUNIX_RT_DATABASE_URL", "sqlite:///~/via-env.db")
    assert invoke(["trace", "upload", traces]).exit_code == 0
    assert invoke(["db", "current", "--json"]).json()["at_head"]
    config = invoke(["config", "--json"]).json()["settings"]
    assert config[0]["value"] == f"sqlite:///{home}/via-env.db"
    status, checks = doctor_checks([])
    assert status == 0
    assert checks["connection"]["detail"] == f"connected to {home}/via-env.db"
    monkeypatch.delenv("TUNIX_RT_DATABASE_URL")
    (isolated_env / ".env").write_text("TUNIX_RT_DATABASE_URL=sqlite:///~/via-dotenv.db\n")
    assert invoke(["trace", "upload", traces]).exit_code == 0
    listed = invoke(["--db", f"sqlite:///{home}/via-dotenv.db", "trace", "list", "--json"])
    assert len(listed.json()["data"]) == 1
    assert not (isolated_env / "~").exists()
    assert sorted(p.name for p in home.glob("*.db")) == [
        "via-dotenv.db", "via-env.db", "via-flag.db",
    ]  # fmt: skip


def test_tilde_is_the_same_file_for_alembic_run_by_hand(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`alembic upgrade head` from a checkout reads the same settings, ~ expanded the same way."""
    ini = Path(__file__).resolve().parents[2] / "alembic.ini"
    if not ini.is_file():  # pragma: no cover - an installed tunix-rt has no alembic.ini
        pytest.skip("needs a source checkout")
    monkeypatch.setenv("TUNIX_RT_DATABASE_URL", "sqlite:///~/by-hand.db")
    proc = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ini), "upgrade", "head"],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (Path(os.environ["HOME"]) / "by-hand.db").is_file()
    assert not (isolated_env / "~").exists()
    assert invoke(["db", "current"]).stdout == f"{HEAD} (head)\n"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d, "is a directory, not a SQLite database file"),
        (lambda d: d / "missing" / "x.db", "directory {parent} does not exist"),
        (lambda d: d / "file" / "x.db", "{parent} is not a directory"),
        (lambda d: d / ("n" * 300 + ".db"), "File name too long"),
        (lambda d: d / "/".join(["d" * 200] * 25) / "x.db", "File name too long"),
        (lambda d: d / "fifo", "is not a regular file (a device, pipe or socket)"),
        (lambda d: d / "dangling", "is a symbolic link to nowhere/x.db, which does not exist"),
        (lambda d: d / "loop" / "x.db", "Too many levels of symbolic links"),
    ],
    ids=[
        "directory",
        "missing-directory",
        "parent-is-a-file",
        "long-name",
        "long-path",
        "fifo",
        "dangling-link",
        "link-loop",
    ],
)
def test_sqlite_path_that_cannot_be_a_file(
    tmp_path: Path, make: object, message: str, isolated_env: Path
) -> None:
    """One line for every command, a failed connection check in the doctor."""
    (tmp_path / "file").write_text("x")
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "dangling").symlink_to("nowhere/x.db")
    (tmp_path / "loop").symlink_to("loop")
    assert callable(make)
    path: Path = make(tmp_path)
    url = f"sqlite:///{path}"
    expected = message.format(parent=path.parent)
    for args in commands(tmp_path)[:-1]:
        assert_one_line_error(invoke(["--db", url, *args]), expected)
    status, checks = doctor_checks(["--db", url])
    assert status == 1
    assert checks["connection"]["status"] == "fail"
    assert checks["server"]["status"] == "skipped"


def test_sqlite_path_that_is_not_utf8(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 in the path, from argv or the environment: one line."""
    url = b"sqlite:///" + bytes(tmp_path) + b"/caf\xe9.db"
    env = {**os.environb, b"TUNIX_RT_DATABASE_URL": url}
    for argv, environ in (([b"--db", url], None), ([], env)):
        proc = subprocess.run(
            [*map(os.fsencode, TUNIX), *argv, b"trace", b"list"],
            capture_output=True,
            check=False,
            env=environ,
            timeout=60,
        )
        assert proc.returncode == 1
        assert proc.stderr.endswith(b"is invalid: not valid UTF-8\n")
        assert proc.stderr.count(b"\n") == 1
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith("caf")]
