"""Settings: one place where configuration is resolved.

Precedence: the global `--db` flag, then `TUNIX_RT_*` environment variables, then a `.env`
file in the working directory, then defaults (a SQLite file in the user data directory, found
with platformdirs). Validation errors become one line naming the variable, the value (its
password hidden) and the allowed range, raised as `SettingsError`.

This module is also the one place that knows where a password sits in a database URL:
`mask_url` hides it in a URL and `redact` removes it from any other text (a driver's error
message), so nothing tunix-rt prints can carry it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, quote_plus, unquote, unquote_plus

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tunix_rt.errors import SettingsError

ENV_PREFIX = "TUNIX_RT_"
APP_NAME = "tunix-rt"
ENV_FILE = ".env"
Source = Literal["flag", "environment", ".env", "default"]
MASK = "***"

# Range limits live here once; the validation message and `tunix-rt config` read them.
LIMITS: dict[str, tuple[int, int]] = {
    "db_pool_size": (1, 50),
    "db_max_overflow": (0, 50),
    "db_pool_timeout": (1, 300),
    "trace_max_bytes": (1024, 10_485_760),
}
_POSTGRES_SCHEMES = ("postgres", "postgresql", "postgresql+psycopg2", "postgresql+psycopg")
_SQLITE_SCHEMES = ("sqlite", "sqlite+pysqlite")


def default_data_dir() -> Path:
    """The per-user data directory (honours XDG_DATA_HOME on Linux)."""
    from platformdirs import user_data_path

    return user_data_path(APP_NAME, appauthor=False)


def default_database_path() -> Path:
    return default_data_dir() / "tunix-rt.db"


def default_database_url() -> str:
    return sqlite_url(default_database_path())


def sqlite_url(path: Path | str) -> str:
    """The URL of a SQLite file; SQLAlchemy percent-decodes the path and ends it at `?`."""
    return "sqlite:///" + str(path).replace("%", "%25").replace("?", "%3F")


class Settings(BaseSettings):
    """Effective configuration of one tunix-rt process."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=ENV_FILE,
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    database_url: str = Field(default_factory=default_database_url)
    db_pool_size: int = Field(default=5, ge=1, le=50)
    db_max_overflow: int = Field(default=10, ge=0, le=50)
    db_pool_timeout: int = Field(default=30, ge=1, le=300)
    trace_max_bytes: int = Field(default=1_048_576, ge=1024, le=10_485_760)

    @field_validator("database_url")
    @classmethod
    def _normalise_url(cls, value: str) -> str:
        return normalise_database_url(value)


# --- URLs ------------------------------------------------------------------------------------
#
# Where the password is: everything between `://` and the LAST `@` is the user information,
# and the user name ends at its first `:`. So a password may contain any character (`@`, `/`,
# `?`, `#`, `:`, spaces, unicode) without percent-encoding, and the text after the last `@`
# (host, port, database, query) can never hold a piece of it. An `@` after the host (in the
# database name or the query) must be written `%40`. Percent-escapes in the user information
# are decoded, as every URL parser does (write a literal `%` followed by two hex digits as `%25`).


def _split_userinfo(rest: str) -> tuple[str | None, str]:
    """(user information or None, the rest) of the part of a URL after `://`."""
    if rest.startswith("/"):  # `sqlite:///path`, `postgresql:///db`: no authority at all
        return None, rest
    userinfo, at, hostpart = rest.rpartition("@")
    return (userinfo, hostpart) if at else (None, rest)


def _is_secret_key(key: str) -> bool:
    return unquote_plus(key).strip().lower().endswith("password")


_OPTION_KEY = re.compile(r"[?&]([^=&?]*)=")


def _secret_spans(text: str) -> list[tuple[int, int]]:
    """Where the values of `password=`-like options are in `text` (anywhere, to be safe).

    A value runs to the next `&` or the end, as Python's and libpq's query parsers read it,
    so a raw `@`, `?` or `#` in a password given in the query string is part of it.
    """
    spans: list[tuple[int, int]] = []
    done = 0
    for match in _OPTION_KEY.finditer(text):
        if match.start() < done or not _is_secret_key(match[1]):
            continue
        stop = text.find("&", match.end())
        done = len(text) if stop < 0 else stop
        spans.append((match.end(), done))
    return spans


def _mask_options(text: str) -> str:
    """Hide the value of every `password=` (and `sslpassword=`...) option in `text`."""
    out: list[str] = []
    last = 0
    for start, end in _secret_spans(text):
        out += [text[last:start], MASK]
        last = end
    out.append(text[last:])
    return "".join(out)


_CONNINFO_PASSWORD = re.compile(r"(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'?|\S*)")


def _mask_authority_without_at(hostpart: str) -> str:
    """`user:secret/db` (an `@host` forgotten): hide what would be taken for a bad port."""
    authority = re.split(r"[/?]", hostpart, maxsplit=1)[0]
    if authority.startswith("["):
        return hostpart
    host, colon, port = authority.partition(":")
    if not colon or (port.isascii() and port.isdigit()) or not port:
        return hostpart
    return f"{host}:{MASK}" + hostpart[len(authority) :]


def printable(text: str) -> str:
    """`text` with lone surrogates (bytes that were not UTF-8) shown as escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def mask_url(url: str) -> str:
    """The URL with its password replaced by ***: safe to print, whatever the URL looks like.

    Hides the value of any `password=`-like option first, then the password in the user
    information (see above). A text that is not a URL at all loses everything before its
    last `@`. Masking is done on the text, without parsing, so it cannot fail.
    """
    text = _mask_options(url)
    scheme, sep, rest = text.partition("://")
    if not sep:  # not a URL: perhaps `user:pw@host`, or libpq's `host=h password=pw`
        _head, at, tail = text.rpartition("@")
        return printable(_CONNINFO_PASSWORD.sub(rf"\1{MASK}", f"{MASK}@{tail}" if at else text))
    userinfo, hostpart = _split_userinfo(rest)
    if userinfo is None:
        return printable(f"{scheme}://{_mask_authority_without_at(hostpart)}")
    user, colon, _password = userinfo.partition(":")
    shown = f"{user}:{MASK}" if colon else user
    if any(c in user for c in "/?#[]"):  # not a user name: be conservative, hide it all
        shown = MASK
    return printable(f"{scheme}://{shown}@{hostpart}")


def url_secrets(url: str) -> set[str]:
    """Every form in which the password of `url` could appear in a message."""
    found = [url[start:end] for start, end in _secret_spans(url)]
    _scheme, sep, rest = url.partition("://")
    userinfo, _hostpart = _split_userinfo(rest) if sep else (None, url)
    if userinfo is not None and ":" in userinfo:
        found.append(userinfo.partition(":")[2])
    out: set[str] = set()
    for raw in found:
        for form in (raw, unquote(raw), unquote_plus(raw)):
            # as written, decoded, re-encoded, and quoted the way libpq's conninfo quotes it
            out |= {form, quote(form, safe=""), quote_plus(form, safe="")}
            out.add(form.replace("\\", "\\\\").replace("'", "\\'"))
            out.add(printable(form))
    return {s for s in out if s}


def redact(text: str, *urls: str | None) -> str:
    """`text` with the password of each URL removed (a driver may echo parts of a URL).

    Long passwords are replaced wherever they appear; a password shorter than six characters
    only where it stands alone, so that "s" does not eat every "s" of the message.
    """
    secrets: set[str] = set()
    for url in urls:
        if url:
            secrets |= url_secrets(url)
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 6:
            text = text.replace(secret, MASK)
        else:
            text = re.sub(rf"(?<![0-9A-Za-z]){re.escape(secret)}(?![0-9A-Za-z])", MASK, text)
    return text


def normalise_database_url(url: str) -> str:
    """Check a database URL and write it the way SQLAlchemy reads it.

    PostgreSQL URLs get the psycopg 3 driver, a checked host and port, and user information
    percent-encoded where SQLAlchemy would split it wrongly. SQLite URLs get a path with `~`
    expanded; in-memory databases are refused (every upload would be lost when the command
    ends), and so are URI filenames and options.
    """
    url = url.strip()
    if not url:
        raise ValueError("must not be empty")
    try:
        url.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not valid UTF-8") from None
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise ValueError("contains a control character (a newline or a tab?)")
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(_NOT_A_URL)
    scheme = scheme.lower()
    if scheme in _POSTGRES_SCHEMES:
        return "postgresql+psycopg://" + _normalise_postgres(rest)
    if scheme in _SQLITE_SCHEMES:
        return sqlite_url(_sqlite_file(rest))
    if not re.fullmatch(r"[a-z0-9+.\-]+", scheme):
        raise ValueError(_NOT_A_URL)
    raise ValueError(f"unsupported scheme {scheme!r} (supported: sqlite, postgresql)")


_NOT_A_URL = "not a database URL (expected sqlite:///PATH or postgresql://...)"
_IN_MEMORY = (
    "an in-memory SQLite database would lose every upload when the command ends: "
    "give a file, e.g. sqlite:///traces.db"
)
_AUTHORITY = re.compile(r"(?:\[(?P<ipv6>[^\[\]]*)\]|(?P<host>[^\[\]:]*))(?::(?P<port>.*))?")


def _normalise_postgres(rest: str) -> str:
    userinfo, hostpart = _split_userinfo(rest)
    authority = re.split(r"[/?]", hostpart, maxsplit=1)[0]
    if "," in authority:
        raise ValueError("names several hosts: give one host (and port)")
    if authority.count(":") > 1 and "[" not in authority:
        raise ValueError("an IPv6 host goes in brackets, e.g. postgresql://u@[::1]:5432/db")
    match = _AUTHORITY.fullmatch(authority)
    if match is None or (match["ipv6"] is not None and not match["ipv6"]):
        raise ValueError("the host is not valid (an IPv6 address is written [::1])")
    port = match["port"]
    if port is not None and not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
        raise ValueError("the port must be a number from 1 to 65535")
    if userinfo is not None:
        user, colon, password = userinfo.partition(":")
        # `u:pw@h/db?x=a@b`: the last `@` is in the query, so "h/db?x=a" would be taken for
        # the user or the end of the password, and "b" for the host.
        if (
            any(c in user for c in "/?#[]")
            or (not re.search(r"[/?]", hostpart) and _at_before_path(userinfo))
            or _secret_spans(userinfo)
        ):
            raise ValueError(
                "an '@' after the host must be written %40 (everything before the last '@' "
                "is the user and password)"
            )
        # SQLAlchemy ends the user name at `/` and the password at the first `@`.
        user = user.replace("@", "%40").replace("/", "%2F")
        password = password.replace("@", "%40")
        hostpart = f"{user}{colon}{password}@{hostpart}"
    from sqlalchemy import create_engine
    from sqlalchemy.exc import ArgumentError
    from sqlalchemy.pool import NullPool

    try:  # what SQLAlchemy would refuse when the engine is built (?port=abc, ?host=h:x)
        create_engine("postgresql+psycopg://" + hostpart, poolclass=NullPool).dispose()
    except (ArgumentError, ValueError, TypeError) as exc:
        raise ValueError(f"has invalid options: {redact(str(exc), hostpart)}") from None
    return hostpart


def _at_before_path(userinfo: str) -> bool:
    """Whether an `@` is followed later by `/` or `?` (in linear time, unlike a regex)."""
    first_at = userinfo.find("@")
    return first_at >= 0 and re.search(r"[/?]", userinfo[first_at:]) is not None


def _sqlite_file(rest: str) -> str:
    """The file of a SQLite URL (the part after `sqlite://`), `~` expanded."""
    if not rest.startswith("/") and "@" in rest.partition("/")[0]:
        raise ValueError("a SQLite URL takes no user, password or host: write sqlite:///PATH")
    written = rest[1:] if rest.startswith("/") else rest  # sqlite:///rel, sqlite:////abs
    written, question, options = written.partition("?")
    path = unquote(written)  # what SQLAlchemy hands to sqlite3
    if path in ("", ":memory:") or path.startswith("file:") or "mode=memory" in options.lower():
        raise ValueError(_IN_MEMORY)
    if question:
        raise ValueError(
            "options (?...) are not supported: give a plain path, sqlite:///PATH "
            "(write a ? in a file name as %3F)"
        )
    if path.endswith("/"):
        raise ValueError("the path ends with '/': give a file name, e.g. sqlite:///traces.db")
    if path.startswith("~"):
        expanded = os.path.expanduser(path)
        if expanded.startswith("~"):
            raise ValueError(f"{path.split('/')[0]!r} is not a known home directory")
        path = expanded
    return path


def _describe(field: str, value: Any, message: str) -> str:
    var = ENV_PREFIX + field.upper()
    shown = mask_url(str(value)) if field == "database_url" else printable(str(value))
    try:  # say where the bad value is: the environment or the .env file
        where = " (from .env)" if setting_sources(None).get(field) == ".env" else ""
    except SettingsError:  # pragma: no cover - the .env file was just read
        where = ""
    if field in LIMITS:
        low, high = LIMITS[field]
        return f"{var}={shown}{where} is invalid: must be an integer from {low} to {high}"
    return f"{var}={shown}{where} is invalid: {message}"


def _env_file_error(exc: Exception) -> SettingsError:
    where = Path.cwd() if os.path.isdir(".") else Path(".")
    if isinstance(exc, UnicodeDecodeError):
        reason = f"it is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})"
    elif isinstance(exc, OSError):
        reason = exc.strerror or str(exc)
    else:  # pragma: no cover - python-dotenv raises nothing else for a file it can open
        reason = str(exc)
    return SettingsError(f"cannot read settings from {ENV_FILE} in {where}: {reason}")


def load_settings(database_url: str | None = None) -> Settings:
    """Build settings; `database_url` is the `--db` flag and wins over everything else."""
    overrides: dict[str, Any] = {}
    if database_url is not None:
        overrides["database_url"] = database_url
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else "?"
        message = str(err["msg"]).removeprefix("Value error, ")
        if field == "database_url" and database_url is not None:
            shown = mask_url(database_url) or "''"
            raise SettingsError(f"--db {shown} is invalid: {message}") from None
        raise SettingsError(_describe(field, err.get("input"), message)) from None
    except (OSError, UnicodeDecodeError) as exc:  # the .env file: unreadable, not UTF-8
        raise _env_file_error(exc) from None


def setting_sources(flag_db: str | None) -> dict[str, Source]:
    """Where each setting's value came from, for `tunix-rt config` and `db doctor`."""
    from dotenv import dotenv_values

    env_file = Path(ENV_FILE)
    try:
        dotenv = dotenv_values(env_file, encoding="utf-8") if env_file.is_file() else {}
    except (OSError, UnicodeDecodeError) as exc:
        raise _env_file_error(exc) from None
    dotenv_keys = {k.upper() for k in dotenv}
    environ = {k.upper() for k in os.environ}
    sources: dict[str, Source] = {}
    for name in Settings.model_fields:
        var = ENV_PREFIX + name.upper()
        if name == "database_url" and flag_db is not None:
            sources[name] = "flag"
        elif var in environ:
            sources[name] = "environment"
        elif var in dotenv_keys:
            sources[name] = ".env"
        else:
            sources[name] = "default"
    return sources
