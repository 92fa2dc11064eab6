"""SQLModel tables.

`traces` holds one row per distinct trace. `created_at` is stored in UTC; SQLite has no
timezone-aware type, so `UTCDateTime` attaches UTC on the way out and converts on the way in,
which keeps ordering and cursors identical on both databases. The single composite index
`ix_traces_created_at` on (created_at, id) serves both "newest first" and keyset pagination;
a separate one-column index would be a strict prefix of it and only slow every insert down.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware datetime that is always UTC, on SQLite as on PostgreSQL."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class JSONPayload(sa.TypeDecorator[dict[str, Any]]):
    """JSON on SQLite, JSONB on PostgreSQL.

    Equivalent to `JSON().with_variant(JSONB(), "postgresql")` (what the first migration
    created), but the PostgreSQL dialect is only imported when a PostgreSQL database is used:
    importing it costs every SQLite command about 20 ms of start-up.
    """

    impl = sa.JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(sa.JSON())


class Trace(SQLModel, table=True):
    """A stored reasoning trace."""

    __tablename__ = "traces"
    __table_args__ = (sa.Index("ix_traces_created_at", "created_at", "id"),)

    id: uuid.UUID = Field(primary_key=True)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    trace_version: str = Field(max_length=64, nullable=False)
    content_hash: str = Field(max_length=64, nullable=False, unique=True)
    payload: dict[str, Any] = Field(sa_type=JSONPayload, nullable=False)
