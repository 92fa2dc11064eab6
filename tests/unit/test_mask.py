"""`mask_url` and `redact`: the one place that hides database passwords.

Each password is written into URLs the way users write them (raw, percent-encoded, in the
query string) and must never come out of `mask_url`, in any form SQLAlchemy, psycopg or libpq
could echo it; the URL SQLAlchemy parses after normalisation must carry exactly that password.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from sqlalchemy.engine import make_url

from tunix_rt.settings import mask_url, normalise_database_url, redact, url_secrets

# (as written in the URL, the password the server must receive)
PASSWORDS = [
    ("s3cret-Pa55", "s3cret-Pa55"),
    ("pa/ss/w0rd", "pa/ss/w0rd"),  # `/`: the old mask cut the URL at the first slash
    ("p@ss@w0rd", "p@ss@w0rd"),  # raw `@`: SQLAlchemy alone stops the password at the first
    ("p%40ss%2Fw0rd", "p@ss/w0rd"),  # percent-encoded
    ("100%pure", "100%pure"),  # a raw % that is not an escape
    ("a:b:c:d", "a:b:c:d"),
    ("hash#tag#", "hash#tag#"),
    ("why?not?", "why?not?"),
    ("with spaces  in it", "with spaces  in it"),
    ("pässwörd-密码", "pässwörd-密码"),
    ("q'uo\\te\"", "q'uo\\te\""),
    ("/@:?#%", "/@:?#%"),
]


@pytest.mark.parametrize(("written", "password"), PASSWORDS)
def test_mask_url_hides_every_password(written: str, password: str) -> None:
    """The password is replaced by *** and nothing of it is left, whatever it contains."""
    url = f"postgresql://alice:{written}@db.example:5432/traces?sslmode=prefer"
    masked = mask_url(url)
    assert masked == "postgresql://alice:***@db.example:5432/traces?sslmode=prefer"
    normalised = normalise_database_url(url)
    assert mask_url(normalised) == masked.replace("postgresql:", "postgresql+psycopg:")
    parsed = make_url(normalised)
    assert (parsed.password, parsed.username, parsed.host) == (password, "alice", "db.example")
    assert (parsed.port, parsed.database) == (5432, "traces")


@pytest.mark.parametrize(("written", "password"), PASSWORDS)
def test_redact_removes_every_form_of_the_password(written: str, password: str) -> None:
    """A driver message echoing the password (raw, decoded, encoded, libpq-quoted) is cleaned."""
    url = f"postgresql://alice:{written}@db.example/traces"
    libpq_quoted = password.replace("\\", "\\\\").replace("'", "\\'")
    for form in {written, password, quote(password, safe=""), libpq_quoted}:
        message = f'connection to "db.example" failed: password={form} rejected'
        assert redact(message, url) == 'connection to "db.example" failed: password=*** rejected'
    assert password in url_secrets(url)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # the password in the query string, under any spelling libpq and SQLAlchemy accept
        ("postgresql://u@h/d?password=s3cret&x=1", "postgresql://u@h/d?password=***&x=1"),
        ("postgresql://u@h/d?x=1&PASSWORD=s3cret", "postgresql://u@h/d?x=1&PASSWORD=***"),
        ("postgresql://u@h/d?p%61ssword=s3cret", "postgresql://u@h/d?p%61ssword=***"),
        ("postgresql://u@h/d?sslpassword=s3cret", "postgresql://u@h/d?sslpassword=***"),
        ("postgresql://u:a@h/d?password=b", "postgresql://u:***@h/d?password=***"),
        # no password at all: nothing to hide
        ("postgresql://u@h:5432/d", "postgresql://u@h:5432/d"),
        ("postgresql:///d?host=/run/postgresql", "postgresql:///d?host=/run/postgresql"),
        ("sqlite:///a/b.db", "sqlite:///a/b.db"),
        ("sqlite:////tmp/we:ird@name.db", "sqlite:////tmp/we:ird@name.db"),
        # an Azure-style user name with an @ in it
        ("postgresql://u@srv:s3cret@srv.example/d", "postgresql://u@srv:***@srv.example/d"),
    ],
)
def test_mask_url_cases(url: str, expected: str) -> None:
    assert mask_url(url) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # unparseable URLs are masked conservatively: nothing between :// and the last @
        ("postgresql://h/d?application_name=a:s3cret@b", "postgresql://***@b"),
        ("postgresql://u:s3cret@[::1/x", "postgresql://u:***@[::1/x"),
        ("postgresql://u:s3cret@h:abc/x", "postgresql://u:***@h:abc/x"),
        # an `@host` forgotten: what looks like a port may be the password
        ("postgresql://alice:s3cret/traces", "postgresql://alice:***/traces"),
        ("postgresql://h:5432/traces", "postgresql://h:5432/traces"),
        # not a URL at all
        ("alice:s3cret@db.example/traces", "***@db.example/traces"),
        # libpq's keyword/value form, given where a URL belongs
        ("host=h password=s3cret port=5", "host=h password=*** port=5"),
        ("host=h password = 's3 cret\\' x' port=5", "host=h password = *** port=5"),
    ],
)
def test_mask_url_conservative_when_unsure(url: str, expected: str) -> None:
    masked = mask_url(url)
    assert masked == expected
    assert "s3cret" not in masked
    assert "s3 cret" not in masked


def test_mask_url_never_raises_and_shows_bad_bytes_escaped() -> None:
    """Bytes that were not UTF-8 (lone surrogates) are shown as escapes, not printed raw."""
    assert mask_url("sqlite:////tmp/\udcff.db") == "sqlite:////tmp/\\udcff.db"
    assert mask_url("postgresql://u:\udcff@h/d") == "postgresql://u:***@h/d"
    odd = {"": "", "://": "://", "@": "***@", ":@": "***@", "postgresql://:@": "postgresql://:***@"}
    for text, expected in odd.items():
        assert mask_url(text) == expected


def test_redact_short_passwords_only_where_they_stand_alone() -> None:
    """A one-letter password does not eat every letter of the message, but is still removed."""
    url = "postgresql://u:s@h/d"
    assert redact("password 's' is not accepted for users", url) == (
        "password '***' is not accepted for users"
    )
    assert redact("anything", None, "") == "anything"
