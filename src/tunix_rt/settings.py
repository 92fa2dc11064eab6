"""Settings: one place where configuration is resolved.

Precedence: the global `--db` flag, then `TUNIX_RT_*` environment variables, then a `.env`
file in the working directory, then defaults (a SQLite file in the user data directory, found
with platformdirs). Validation errors become one line naming the variable, the value and the
allowed range, raised as `SettingsError`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tunix_rt.errors import SettingsError

ENV_PREFIX = "TUNIX_RT_"
APP_NAME = "tunix-rt"
Source = Literal["flag", "environment", ".env", "default"]

# Range limits live here once; the validation message and `tunix-rt config` read them.
LIMITS: dict[str, tuple[int, int]] = {
    "db_pool_size": (1, 50),
    "db_max_overflow": (0, 50),
    "db_pool_timeout": (1, 300),
    "trace_max_bytes": (1024, 10_485_760),
}


def default_data_dir() -> Path:
    """The per-user data directory (honours XDG_DATA_HOME on Linux)."""
    from platformdirs import user_data_path

    return user_data_path(APP_NAME, appauthor=False)


def default_database_path() -> Path:
    return default_data_dir() / "tunix-rt.db"


def default_database_url() -> str:
    return f"sqlite:///{default_database_path()}"


class Settings(BaseSettings):
    """Effective configuration of one tunix-rt process."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
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


def normalise_database_url(url: str) -> str:
    """Point PostgreSQL URLs at psycopg 3 and reject what SQLAlchemy cannot parse."""
    url = url.strip()
    if not url:
        raise ValueError("must not be empty")
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError("is not a database URL (expected sqlite:///PATH or postgresql://...)")
    scheme = scheme.lower()
    if scheme in ("postgres", "postgresql", "postgresql+psycopg2", "postgresql+psycopg"):
        return f"postgresql+psycopg://{rest}"
    if scheme in ("sqlite", "sqlite+pysqlite"):
        return f"sqlite://{rest}" if rest.startswith("/") else f"sqlite:///{rest}"
    raise ValueError(f"uses unsupported scheme {scheme!r} (supported: sqlite, postgresql)")


def _describe(field: str, value: Any, message: str) -> str:
    var = ENV_PREFIX + field.upper()
    shown = mask_url(str(value)) if field == "database_url" else value
    if field in LIMITS:
        low, high = LIMITS[field]
        return f"{var}={shown!s} is invalid: must be an integer from {low} to {high}"
    return f"{var}={shown!s} is invalid: {message}"


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
            raise SettingsError(f"--db {mask_url(database_url)} is invalid: {message}") from None
        raise SettingsError(_describe(field, err.get("input"), message)) from None


def setting_sources(flag_db: str | None) -> dict[str, Source]:
    """Where each setting's value came from, for `tunix-rt config` and `db doctor`."""
    from dotenv import dotenv_values

    env_file = Path(".env")
    dotenv = dotenv_values(env_file) if env_file.is_file() else {}
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


_QUERY_PASSWORD = re.compile(r"(?i)(password=)[^&]*")


def mask_url(url: str) -> str:
    """Replace the password in a URL (userinfo or `?password=`) with ***, without SQLAlchemy."""
    url = _QUERY_PASSWORD.sub(r"\1***", url)
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, tail = rest.partition("/")
    userinfo, at, host = authority.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}{slash}{tail}"
