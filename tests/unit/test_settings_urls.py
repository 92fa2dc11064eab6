"""`normalise_database_url`: what a database URL means, and which URLs are refused.

The normalised URL is what every command, `db` command, Alembic and `config` use, so these
cases pin down that they all see the same database (`~` expanded, `%` kept literal).
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tunix_rt.settings import normalise_database_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://u@h/d", "postgresql+psycopg://u@h/d"),
        ("PostgreSQL://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgresql+psycopg2://u@h:5432/d", "postgresql+psycopg://u@h:5432/d"),
        ("  postgresql://u@h/d  ", "postgresql+psycopg://u@h/d"),
        ("postgresql://u@[::1]:5432/d", "postgresql+psycopg://u@[::1]:5432/d"),
        ("postgresql://u@[fe80::1%25eth0]/d", "postgresql+psycopg://u@[fe80::1%25eth0]/d"),
        # no host: libpq's local Unix socket, as `psql` does
        ("postgresql:///d", "postgresql+psycopg:///d"),
        ("postgresql://u:pw@/d", "postgresql+psycopg://u:pw@/d"),
        # user information re-encoded where SQLAlchemy would cut it
        ("postgresql://u:p@ss@h/d", "postgresql+psycopg://u:p%40ss@h/d"),
        ("postgresql://u:a@b/c@h/d", "postgresql+psycopg://u:a%40b/c@h/d"),
        ("postgresql://u:a/b@h", "postgresql+psycopg://u:a/b@h"),
        ("postgresql://me@srv:pw@h/d", "postgresql+psycopg://me%40srv:pw@h/d"),
        ("sqlite:///x.db", "sqlite:///x.db"),
        ("sqlite://x.db", "sqlite:///x.db"),
        ("sqlite+pysqlite:////abs/x.db", "sqlite:////abs/x.db"),
    ],
)
def test_accepted(url: str, expected: str) -> None:
    assert normalise_database_url(url) == expected


@pytest.mark.parametrize(
    ("written", "path"),
    [
        ("sqlite:////tmp/a b.db", "/tmp/a b.db"),
        ("sqlite:////tmp/a%20b.db", "/tmp/a b.db"),  # SQLAlchemy decodes escapes in paths
        ("sqlite:////tmp/100%.db", "/tmp/100%.db"),
        ("sqlite:////tmp/a%2520b.db", "/tmp/a%20b.db"),
        ("sqlite:////tmp/we:ird@na#me.db", "/tmp/we:ird@na#me.db"),
        ("sqlite:////tmp/ünï/コード.db", "/tmp/ünï/コード.db"),
        ("sqlite:////tmp/a%3Fb.db", "/tmp/a?b.db"),
    ],
)
def test_sqlite_path_is_the_file_sqlalchemy_opens(written: str, path: str) -> None:
    """Normalising twice changes nothing and SQLAlchemy reads back exactly the path."""
    normalised = normalise_database_url(written)
    assert make_url(normalised).database == path
    assert normalise_database_url(normalised) == normalised


def test_tilde_is_the_home_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`~` is expanded once, here, so every command and Alembic open the same file."""
    home = tmp_path / "h%41me"  # a % in HOME must not be decoded by SQLAlchemy later
    monkeypatch.setenv("HOME", str(home))
    for url in ("sqlite:///~/x.db", "sqlite://~/x.db", "sqlite:///~/sub%20dir/x.db"):
        database = make_url(normalise_database_url(url)).database
        assert database is not None
        assert database.startswith(str(home) + os.sep)
    assert make_url(normalise_database_url("sqlite:///~/x.db")).database == f"{home}/x.db"
    root_home = os.path.expanduser("~root")
    assert normalise_database_url("sqlite:///~root/x.db") == f"sqlite:///{root_home}/x.db"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("traces.db", "not a database URL"),
        ("hello world://x", "not a database URL"),
        ("mysql://u@h/d", "unsupported scheme 'mysql'"),
        ("sqlite:///a\nb.db", "control character"),
        ("postgresql://u@h/d\tx", "control character"),
        ("sqlite:///\udcff.db", "not valid UTF-8"),
        # ports
        ("postgresql://u@h:99999/d", "port must be a number from 1 to 65535"),
        ("postgresql://u@h:/d", "port must be a number from 1 to 65535"),
        ("postgresql://u@h:0/d", "port must be a number from 1 to 65535"),
        ("postgresql://u@h:abc/d", "port must be a number from 1 to 65535"),
        ("postgresql://u@h:-1/d", "port must be a number from 1 to 65535"),
        ("postgresql://u@h:\uff15\uff14/d", "port must be a number from 1 to 65535"),
        ("postgresql://u@h1:5432,h2:5433/d", "names several hosts"),
        ("postgresql://alice:s3cret/traces", "port must be a number from 1 to 65535"),
        # IPv6
        ("postgresql://u@[::1/d", "host is not valid"),
        ("postgresql://u@[]:5432/d", "host is not valid"),
        ("postgresql://u@::1/d", "IPv6 host goes in brackets"),
        ("postgresql://u@h]x/d", "host is not valid"),
        # options SQLAlchemy checks when it builds the engine
        ("postgresql://u@h/d?port=abc", "has invalid options: Received non-integer port"),
        ("postgresql://u@h/d?host=a:1&host=b:x", "has invalid options"),
        ("postgresql://u@h/d?host=a&port=1&port=2", "number of hosts and ports don't match"),
        # an @ after the host
        ("postgresql://h/d?application_name=a@b", "must be written %40"),
        ("postgresql://u:pw@h/d?application_name=a@b", "must be written %40"),
        ("postgresql://u:pw@h:5432/d@x", "must be written %40"),
        # SQLite databases that would not be a file
        ("sqlite://", "in-memory SQLite database would lose every upload"),
        ("sqlite:///", "in-memory"),
        ("sqlite:///:memory:", "in-memory"),
        ("sqlite:///file::memory:", "in-memory"),
        ("sqlite:///file::memory:?cache=shared", "in-memory"),
        ("sqlite:///file:x?mode=memory", "in-memory"),
        ("sqlite:///file:x.db", "in-memory"),
        ("sqlite:///x.db?MODE=Memory", "in-memory"),
        ("sqlite:///x.db?timeout=5", "options (?...) are not supported"),
        ("sqlite:////tmp/dir/", "ends with '/'"),
        ("sqlite://user:s3cret@/x.db", "takes no user, password or host"),
        ("sqlite:///~no_such_user_for_tunix_rt/x.db", "is not a known home directory"),
    ],
)
def test_refused(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        normalise_database_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:" + "@" * 100_000 + "x@h",
        "postgresql://u:" + "a@" * 100_000 + "h",
        "postgresql://u:p@h/d?" + "&password=" * 50_000,
        "postgresql://" + "?" * 100_000 + "=@h",
    ],
    ids=["ats", "a-ats", "options", "questions"],
)
def test_huge_hostile_urls_take_linear_time(url: str) -> None:
    """No regular expression backtracks quadratically (100,000 `@` took minutes once)."""
    from tunix_rt.settings import mask_url, redact

    start = time.monotonic()
    with contextlib.suppress(ValueError):
        normalise_database_url(url)
    mask_url(url)
    redact("message " * 100, url)
    assert time.monotonic() - start < 3


def test_sqlite_path_only_for_sqlite(tmp_path: Path) -> None:
    """The database name of a PostgreSQL URL is not a file (commands compare paths with it)."""
    from tunix_rt.db.engine import sqlite_path

    assert sqlite_path(normalise_database_url("postgresql://u@h/traces")) is None
    assert sqlite_path(normalise_database_url(f"sqlite:///{tmp_path}/a%25b.db")) == Path(
        f"{tmp_path}/a%b.db"
    )
