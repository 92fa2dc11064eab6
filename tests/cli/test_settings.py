"""Settings resolution and validation, through the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import invoke, make_trace, write_jsonl
from tunix_rt.settings import load_settings, mask_url, normalise_database_url


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
